//! The `kx` CLI reading a deployed API: requests signed with SigV4 for `execute-api`, checked by a
//! stand-in for API Gateway in front of the real `query` binary.

use std::time::Duration;

use kx_events_local::runtime_api::{InvocationOutcome, RuntimeApi};
use kx_events_tests::{blocking, e2e};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{request, row, spawn, world};

/// A stand-in for API Gateway in front of the real `query` binary: it refuses a request without
/// a SigV4 `Authorization` for `execute-api` (as IAM authorization would), turns the rest into
/// payload v2 events with an IAM authorizer context, and answers with the function's response.
async fn gateway(
    api: std::sync::Arc<RuntimeApi>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (api, log) = (api.clone(), log.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (api, log) = (api.clone(), log.clone());
                    async move {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        log.lock().unwrap().push(auth.clone());
                        let signed = auth.starts_with("AWS4-HMAC-SHA256 Credential=")
                            && auth.contains("/us-east-1/execute-api/aws4_request")
                            && req.headers().contains_key("x-amz-date");
                        let (status, body) = if !signed {
                            (403, r#"{"message":"Forbidden"}"#.to_string())
                        } else {
                            let path_and_query =
                                req.uri().path_and_query().unwrap().as_str().to_owned();
                            let method = req.method().as_str().to_owned();
                            let _ = req.into_body().collect().await;
                            let iam = json!({"iam": {"accessKey": "testing", "accountId": "123456789012",
                                "callerId": "AIDA", "userArn": "arn:aws:iam::123456789012:user/reader", "userId": "AIDA"}});
                            let event = request(&method, &path_and_query, None, iam);
                            match api.invoke(event, Duration::from_secs(30)).await.unwrap() {
                                InvocationOutcome::Response(r) => (
                                    r["statusCode"].as_u64().unwrap() as u16,
                                    r["body"].as_str().unwrap_or("").to_owned(),
                                ),
                                other => (502, format!("{other:?}")),
                            }
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, seen)
}

fn kx(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(e2e::workspace_binary("kx"));
    cmd.args(args).env_remove("KX_DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn kx_reads_a_deployed_api_with_sigv4_signed_requests() {
    let w = world().await;
    let root = row("client_k", 0, None);
    let child = row("client_k", 1, Some(root.id));
    w.insert(&[root.clone(), child.clone(), row("client_k", 2, None)])
        .await;
    let api = std::sync::Arc::new(RuntimeApi::start().await.unwrap());
    let _f = spawn(&api, &w.env()).await;
    let (url, seen) = gateway(api.clone()).await;
    let creds = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let run = |args: Vec<String>| {
        let url = url.clone();
        async move {
            blocking(move || {
                let mut all = vec!["--api-url".to_string(), url];
                all.extend(args);
                let refs: Vec<&str> = all.iter().map(String::as_str).collect();
                kx(&refs, &creds)
            })
            .await
        }
    };

    let (code, out, err) = run(vec![
        "events".into(),
        "--client-id".into(),
        "client_k".into(),
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let page: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(page["count"], 3, "{out}");
    let (code, out, err) = run(vec![
        "events".into(),
        "--client-id".into(),
        "client_k".into(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "header and three rows: {out}");
    let (code, out, err) = run(vec!["chain".into(), root.id.to_string()]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&child.id.to_string()[..8]) || out.contains(&child.id.to_string()),
        "{out}"
    );
    let (code, out, _) = run(vec!["event".into(), child.id.to_string()]).await;
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["previousEventId"],
        root.id.to_string()
    );
    let (code, out, err) = run(vec![
        "analytics".into(),
        "--client-id".into(),
        "client_k".into(),
        "--format".into(),
        "json".into(),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["totalEvents"],
        3,
        "{out}"
    );
    // Exit codes carry over: not found 3, a bad parameter 2 naming the flag.
    let (code, _, err) = run(vec!["event".into(), Uuid::new_v4().to_string()]).await;
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = run(vec!["events".into(), "--since".into(), "yesterday".into()]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since"), "{err}");
    // Every request was signed for execute-api.
    let auths = seen.lock().unwrap().clone();
    assert!(
        auths.len() >= 6
            && auths
                .iter()
                .all(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=testing/")),
        "{auths:?}"
    );
}
