//! Every documented filter is planned on an index: `EXPLAIN` on 20,000 generated rows after
//! `ANALYZE` shows no `Seq Scan on events`, for the first page and for a page after a cursor.

use kx_events_query::{events, explain_analytics, explain_chain, EventsRequest, Start};
use kx_events_testdb::TestDb;

use crate::harness::generate;

#[test]
fn no_filter_needs_a_sequential_scan() {
    let db = TestDb::create();
    generate(&db, 20_000);
    let mut c = db.client();
    let filters: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("clientId", "client_7")],
        vec![("userId", "user_42")],
        vec![("entityId", "entity_99")],
        vec![("entityType", "type_3")],
        vec![("eventType", "event_11")],
        vec![("source", "web")],
        vec![("campaignId", "campaign_12")],
        vec![("sessionId", "session_5")],
        vec![("startDate", "2024-02-20")],
        vec![("endDate", "2024-01-01")],
        vec![("startDate", "2024-01-10"), ("endDate", "2024-01-20")],
        vec![("metadata", r#"{"campaign":"k7"}"#)],
        vec![
            ("clientId", "client_7"),
            ("startDate", "2024-01-01"),
            ("endDate", "2024-02-01"),
        ],
        vec![("clientId", "client_7"), ("eventType", "event_7")],
        vec![
            ("clientId", "client_7"),
            ("metadata", r#"{"campaign":"k7"}"#),
        ],
        vec![("limit", "1000")],
        vec![("clientId", "client_7"), ("offset", "20")],
    ];
    let mut report = String::new();
    for pairs in filters {
        let mut req = EventsRequest::from_query_pairs(&pairs).unwrap();
        let plans = [
            ("first page", req.clone()),
            ("after a cursor", {
                let page = events(&mut c, &req).unwrap();
                if let (Some(cur), Start::First) = (page.next_cursor, &req.page.start) {
                    req.page.start = Start::After(cur);
                }
                req
            }),
        ];
        for (which, req) in plans {
            let plan = kx_events_query::explain_events(&mut c, &req)
                .unwrap()
                .join("\n");
            report.push_str(&format!("--- {pairs:?} ({which})\n{plan}\n"));
            assert!(
                !plan.contains("Seq Scan on events"),
                "{pairs:?} ({which}) is a sequential scan:\n{plan}"
            );
        }
    }
    // Chains: each step down by idx_events_prev, the start and the join by the primary key.
    let root = c
        .query_one("SELECT md5('1')::uuid", &[])
        .unwrap()
        .get::<_, uuid::Uuid>(0);
    for (which, ancestors) in [("chain", false), ("ancestors", true)] {
        let plan = explain_chain(&mut c, root, ancestors).unwrap().join("\n");
        report.push_str(&format!("--- {which}\n{plan}\n"));
        assert!(!plan.contains("Seq Scan on events"), "{which}:\n{plan}");
    }
    // Analytics of one client (over all clients it reads the whole table, by design).
    for pairs in [
        vec![("clientId", "client_7")],
        vec![("clientId", "client_7"), ("startDate", "2024-02-01")],
    ] {
        let filter = kx_events_query::Filter::from_query_pairs(&pairs).unwrap();
        let plan = explain_analytics(&mut c, &filter).unwrap().join("\n");
        report.push_str(&format!("--- analytics {pairs:?}\n{plan}\n"));
        assert!(
            !plan.contains("Seq Scan on events"),
            "analytics {pairs:?}:\n{plan}"
        );
    }
    println!("{report}");
}
