//! The library needs nothing but `SELECT` on `events`; that role cannot write.

use kx_events_query::{analytics, ancestors, chain, event, events, EventsRequest, Filter};
use kx_events_testdb::TestDb;

use crate::harness::varied;

#[test]
fn everything_works_under_a_select_only_role() {
    let mut db = TestDb::create();
    let mut rows = varied(20);
    rows[1].previous_event_id = Some(rows[0].event_id);
    db.insert(&rows);
    let url = db.read_only_role();
    let mut c = kx_events_testdb::connect(&url);

    let page = events(
        &mut c,
        &EventsRequest::from_query_pairs(&[("limit", "5"), ("clientId", "client_1")]).unwrap(),
    )
    .unwrap();
    assert!(!page.events.is_empty());
    assert!(event(&mut c, rows[0].event_id).unwrap().is_some());
    assert_eq!(
        chain(&mut c, rows[0].event_id, 10)
            .unwrap()
            .unwrap()
            .events
            .len(),
        2
    );
    assert_eq!(
        ancestors(&mut c, rows[1].event_id, 10)
            .unwrap()
            .unwrap()
            .events
            .len(),
        2
    );
    assert_eq!(
        analytics(&mut c, &Filter::default()).unwrap().total_events,
        20
    );

    let write = c
        .batch_execute("UPDATE events SET source = 'x'")
        .unwrap_err();
    assert_eq!(
        write.code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{write}"
    );
    let ddl = c.batch_execute("CREATE TABLE t (i int)").unwrap_err();
    assert_eq!(
        ddl.code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "{ddl}"
    );
}

#[test]
fn an_unreachable_database_is_told_apart() {
    // Nothing listens on port 1.
    let Err(err) = postgres::Config::new()
        .host("127.0.0.1")
        .port(1)
        .user("x")
        .connect(postgres::NoTls)
    else {
        panic!("connected to port 1");
    };
    assert!(kx_events_query::is_unavailable(&err), "{err:?}");

    // A query error is not an outage.
    let db = TestDb::create();
    let mut c = db.client();
    let e = c.batch_execute("SELECT nope FROM events").unwrap_err();
    assert!(!kx_events_query::is_unavailable(&e));
    // A dropped connection is.
    db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name
    ));
    let err = events(&mut c, &EventsRequest::default()).unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}
