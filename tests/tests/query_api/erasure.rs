//! `DELETE /events?userId=`: a user's events deleted, their children kept and unlinked, only for
//! an authorized caller.

use std::time::Duration;

use kx_events_local::runtime_api::RuntimeApi;
use serde_json::{json, Value};

use crate::{call, request, row, spawn, world, Row};

#[tokio::test(flavor = "multi_thread")]
async fn erasure_deletes_a_users_events_keeps_children_and_needs_an_authorized_caller() {
    let w = world().await;
    // user_x's chain root ← user_y's child; plus user_y's own events.
    let parent = Row {
        user: Some("user_x"),
        ..row("client_e", 0, None)
    };
    let other = Row {
        user: Some("user_x"),
        ..row("client_e", 1, None)
    };
    let child = Row {
        user: Some("user_y"),
        ..row("client_e", 2, Some(parent.id))
    };
    let keep = Row {
        user: Some("user_y"),
        ..row("client_e", 3, None)
    };
    w.insert(&[parent.clone(), other, child.clone(), keep])
        .await;
    let api = RuntimeApi::start().await.unwrap();
    let f = spawn(&api, &w.env()).await;

    // No authorizer identity, or a JWT without the scope: refused, nothing deleted.
    let r = call(
        &api,
        &f,
        request("DELETE", "/events?userId=user_x", None, Value::Null),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let jwt =
        |scopes: Value| json!({"jwt": {"claims": {"sub": "dpo@example.com"}, "scopes": scopes}});
    let r = call(
        &api,
        &f,
        request(
            "DELETE",
            "/events?userId=user_x",
            None,
            jwt(json!(["kx-events/read"])),
        ),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(w.db.count_events("true").await, 4);
    // Bad parameters.
    let iam = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
        "userArn": "arn:aws:iam::123456789012:user/dpo", "userId": "AIDA"}});
    let r = call(&api, &f, request("DELETE", "/events", None, iam.clone())).await;
    assert_eq!((r.status, r.body["param"].clone()), (400, json!("userId")));
    let r = call(
        &api,
        &f,
        request("DELETE", "/events?eventType=x", None, iam.clone()),
    )
    .await;
    assert_eq!(
        (r.status, r.body["param"].clone()),
        (400, json!("eventType"))
    );

    // An IAM caller erases user_x: the child of user_y stays, unlinked.
    let r = call(
        &api,
        &f,
        request("DELETE", "/events?userId=user_x", None, iam),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"success": true, "deleted": 2, "childrenUnlinked": 1})
    );
    assert_eq!(w.db.count_events("user_id = 'user_x'").await, 0);
    let kept = w.db.event_row(child.id).await.expect("child kept");
    assert!(kept["previous_event_id"].is_null(), "{kept}");
    assert_eq!(w.db.count_events("true").await, 2);
    // Logged with who and how many, never with the erased id itself.
    let line = f
        .wait_for_line("erasure done", Duration::from_secs(5))
        .await
        .unwrap();
    let log: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        log["fields"]["erased_by"],
        "arn:aws:iam::123456789012:user/dpo"
    );
    assert_eq!(log["fields"]["deleted"], 2);
    assert!(!line.contains("user_x"), "{line}");

    // A JWT with the scope erases by client; a repeat deletes nothing.
    for expected in [2, 0] {
        let r = call(
            &api,
            &f,
            request(
                "DELETE",
                "/events?clientId=client_e",
                None,
                jwt(json!(["kx-events/erase"])),
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["deleted"], expected);
    }
    assert_eq!(w.db.count_events("true").await, 0);

    // Without the erasure secret the route is off.
    let api2 = RuntimeApi::start().await.unwrap();
    let env: Vec<_> = w
        .env()
        .into_iter()
        .filter(|(k, _)| k != "KX_ERASER_SECRET_ARN")
        .collect();
    let f2 = spawn(&api2, &env).await;
    let r = call(
        &api2,
        &f2,
        request(
            "DELETE",
            "/events?userId=u",
            None,
            jwt(json!(["kx-events/erase"])),
        ),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
}
