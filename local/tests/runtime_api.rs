//! The Runtime/Extensions API driven by real `lambda_runtime` / `lambda-extension` functions (the
//! package's examples) running as child processes.
mod common;

use kx_events_local::function::{Function, FunctionConfig};
use kx_events_local::runtime_api::{InvocationOutcome, Invoke, ProtocolEvent, RuntimeApi};
use serde_json::json;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

fn sqs_event(bodies: &[&str]) -> serde_json::Value {
    let records: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("m-{i}"),
                "receiptHandle": format!("rh-{i}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                               "SenderId": "AIDA", "ApproximateFirstReceiveTimestamp": "1700000000001"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

async fn echo() -> (RuntimeApi, Function) {
    let api = RuntimeApi::start().await.expect("start runtime API");
    let mut function = Function::spawn(&api, FunctionConfig::new(common::example("echo")))
        .await
        .expect("spawn echo");
    let cold = function.wait_first_next(TIMEOUT).await.expect("first next");
    eprintln!("echo: spawn → first next {} ms", cold.as_millis());
    (api, function)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_runtime_function_round_trip_and_context_headers() {
    let (api, function) = echo().await;
    assert!(function.time_to_first_next().is_some());
    assert!(api.addr().ip().is_loopback());

    let started = Instant::now();
    let outcome = api
        .invoke(sqs_event(&["hello", "please fail", "ok"]), TIMEOUT)
        .await
        .unwrap();
    let round_trip = started.elapsed();
    eprintln!("echo: invocation round trip {} µs", round_trip.as_micros());
    assert_eq!(
        outcome,
        InvocationOutcome::Response(json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]}))
    );

    // The headers made it into lambda_runtime's Context.
    let line = function
        .wait_for_line("3 records", TIMEOUT)
        .await
        .expect("handler line");
    assert!(line.contains("3 records"), "{line}");
    assert!(
        line.contains("arn=arn:aws:lambda:us-east-1:123456789012:function:kx-events-consumer"),
        "{line}"
    );
    let deadline: u64 = line
        .split("deadline=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("deadline in output");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        deadline > now_ms && deadline <= now_ms + 10_000,
        "deadline {deadline} now {now_ms}"
    );

    // Protocol order: dispatched → response posted → runtime asks for next → completed.
    let timeline = api.timeline();
    let position = |pred: &dyn Fn(&ProtocolEvent) -> bool| {
        timeline
            .iter()
            .position(|e| pred(&e.event))
            .expect("event in timeline")
    };
    let dispatched = position(&|e| matches!(e, ProtocolEvent::InvocationDispatched { .. }));
    let posted = position(&|e| matches!(e, ProtocolEvent::ResponsePosted { .. }));
    let completed = position(&|e| matches!(e, ProtocolEvent::InvocationCompleted { .. }));
    let init = position(&|e| *e == ProtocolEvent::InitCompleted);
    assert!(init < dispatched && dispatched < posted && posted < completed);
    assert!(timeline[posted + 1..completed]
        .iter()
        .any(|e| e.event == ProtocolEvent::NextRequested));

    // Client context, Cognito identity and trace id headers reach the Context too.
    let mut invoke = Invoke::new(sqs_event(&["ctx"]), TIMEOUT);
    invoke.client_context = Some(
        json!({"client": {"installationId": "i", "appTitle": "kx-app", "appVersionName": "1",
                          "appVersionCode": "1", "appPackageName": "p"},
               "custom": {}, "environment": {}})
        .to_string(),
    );
    invoke.cognito_identity =
        Some(json!({"identityId": "id-1", "identityPoolId": "pool-1"}).to_string());
    invoke.trace_id = Some("Root=1-00000000-000000000000000000000001;Sampled=1".into());
    let outcome = api.invoke_with(invoke).await.unwrap();
    assert!(outcome.response().is_some(), "{outcome:?}");
    let line = function.wait_for_line("app=kx-app", TIMEOUT).await.unwrap();
    assert!(line.contains("app=kx-app pool=pool-1"), "{line}");
    assert!(
        line.contains("trace=Root=1-00000000-000000000000000000000001;Sampled=1"),
        "{line}"
    );

    // A second invocation reuses the warm process.
    let outcome = api.invoke(sqs_event(&["a"]), TIMEOUT).await.unwrap();
    assert_eq!(
        outcome,
        InvocationOutcome::Response(json!({"batchItemFailures": []}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_errors_timeouts_and_oversize_responses() {
    let (api, mut function) = echo().await;

    // A handler error is posted to …/error with lambda_runtime's diagnostic.
    let outcome = api.invoke(sqs_event(&["error"]), TIMEOUT).await.unwrap();
    let InvocationOutcome::FunctionError(body) = outcome else {
        panic!("expected a function error, got {outcome:?}");
    };
    assert_eq!(body["errorMessage"], "asked to fail the invocation");
    assert!(body["errorType"].is_string());

    // A panic is caught by lambda_runtime and reported too; the process lives on.
    let outcome = api.invoke(sqs_event(&["panic"]), TIMEOUT).await.unwrap();
    assert!(
        matches!(outcome, InvocationOutcome::FunctionError(_)),
        "{outcome:?}"
    );
    assert!(function.try_exit_status().is_none());

    // Over 6 MB: Lambda refuses the response.
    let outcome = api.invoke(sqs_event(&["huge"]), TIMEOUT).await.unwrap();
    let InvocationOutcome::FunctionError(body) = outcome else {
        panic!("expected a function error, got {outcome:?}");
    };
    assert_eq!(body["errorType"], "Function.ResponseSizeTooLarge");

    // A handler that overruns its deadline times out; a late response is refused.
    let started = Instant::now();
    let outcome = api
        .invoke(sqs_event(&["sleep:4000"]), Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(outcome, InvocationOutcome::Timeout);
    // At the deadline, not when the handler finally answers.
    assert!(started.elapsed() < Duration::from_millis(3000));
    assert!(api
        .wait_for_event(started, Duration::from_secs(10), |e| matches!(
            e,
            ProtocolEvent::InvalidRequestId { .. }
        ))
        .await
        .is_some());

    // After a timeout the environment is replaced, as Lambda does.
    function.restart().await.unwrap();
    let cold = function.wait_first_next(TIMEOUT).await.unwrap();
    eprintln!("echo: restart → first next {} ms", cold.as_millis());
    let outcome = api.invoke(sqs_event(&["fine"]), TIMEOUT).await.unwrap();
    assert_eq!(
        outcome,
        InvocationOutcome::Response(json!({"batchItemFailures": []}))
    );
    assert_eq!(function.restarts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_extension_finishes_its_flush_before_the_invocation_completes() {
    let flush = Duration::from_millis(300);
    let api = RuntimeApi::start().await.unwrap();
    let config = FunctionConfig::new(common::example("flush_extension"))
        .env("FLUSH_MS", flush.as_millis().to_string());
    let mut function = Function::spawn(&api, config).await.unwrap();
    function.wait_first_next(TIMEOUT).await.unwrap();
    assert_eq!(api.extension_count(), 1);

    for round in 0..2 {
        let started = Instant::now();
        let outcome = api.invoke(json!({"round": round}), TIMEOUT).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            outcome,
            InvocationOutcome::Response(json!({"ok": true, "echo": {"round": round}}))
        );
        // invoke returned only after the flush (the extension's line was printed before its
        // next `event/next`; the capture may lag a moment behind).
        let request_id = match &api
            .find_event(started, |e| {
                matches!(e, ProtocolEvent::ResponsePosted { .. })
            })
            .unwrap()
            .event
        {
            ProtocolEvent::ResponsePosted { request_id } => request_id.clone(),
            _ => unreachable!(),
        };
        assert!(
            function
                .wait_for_line(
                    &format!("extension: flushed {request_id}"),
                    Duration::from_secs(5)
                )
                .await
                .is_some(),
            "output:\n{}",
            function.output_text()
        );
        assert!(elapsed >= flush, "{elapsed:?}");
        // … and the response was posted before the extension asked for its next event.
        let posted = api
            .find_event(started, |e| {
                matches!(e, ProtocolEvent::ResponsePosted { .. })
            })
            .unwrap();
        let ext_next = api
            .find_event(posted.at, |e| {
                matches!(e, ProtocolEvent::ExtensionNextRequested { .. })
            })
            .unwrap();
        let completed = api
            .find_event(started, |e| {
                matches!(e, ProtocolEvent::InvocationCompleted { .. })
            })
            .unwrap();
        let dispatched = api
            .find_event(started, |e| {
                matches!(e, ProtocolEvent::InvocationDispatched { .. })
            })
            .unwrap();
        // (The handler signals the extension just before its response is posted, so the flush
        // overlaps the post by a little: measure it from the dispatch.)
        assert!(ext_next.at - dispatched.at >= flush);
        assert!(completed.at >= ext_next.at);
    }

    // Registration after init is refused, as on AWS.
    let (status, _, body) = common::http(
        "POST",
        &format!("http://{}/2020-01-01/extension/register", api.host_port()),
        &[("Lambda-Extension-Name", "late")],
        r#"{"events":["INVOKE"]}"#,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    function.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_protocol_init_error_shutdown_and_bad_ids() {
    let api = RuntimeApi::start().await.unwrap();
    let base = format!("http://{}", api.host_port());

    // An external-style extension registered for SHUTDOWN, with accountId.
    let (status, headers, body) = common::http(
        "POST",
        &format!("{base}/2020-01-01/extension/register"),
        &[
            ("Lambda-Extension-Name", "watcher"),
            ("Lambda-Extension-Accept-Feature", "accountId"),
        ],
        r#"{"events":["SHUTDOWN"]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = headers["lambda-extension-identifier"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["functionName"], "kx-events-consumer");
    assert_eq!(body["functionVersion"], "$LATEST");
    assert_eq!(body["handler"], "bootstrap");
    assert_eq!(body["accountId"], "123456789012");

    // Unknown ids are refused.
    let (status, _, _) = common::http(
        "POST",
        &format!("{base}/2018-06-01/runtime/invocation/nope/response"),
        &[],
        "{}",
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = common::http(
        "GET",
        &format!("{base}/2020-01-01/extension/event/next"),
        &[("Lambda-Extension-Identifier", "nope")],
        "",
    )
    .await;
    assert_eq!(status, 403);

    // The extension parks; SHUTDOWN reaches it.
    let next = tokio::spawn({
        let url = format!("{base}/2020-01-01/extension/event/next");
        let id = id.clone();
        async move { common::http("GET", &url, &[("Lambda-Extension-Identifier", &id)], "").await }
    });
    api.wait_for_event(api.started_at(), TIMEOUT, |e| {
        matches!(e, ProtocolEvent::ExtensionNextRequested { .. })
    })
    .await
    .unwrap();
    let shutdown = tokio::spawn({
        let api = api.clone();
        async move { api.shutdown().await }
    });
    let (status, _, body) = next.await.unwrap();
    assert_eq!(status, 200);
    let event: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["eventType"], "SHUTDOWN");
    assert_eq!(event["shutdownReason"], "spindown");
    assert!(event["deadlineMs"].as_u64().unwrap() > 0);
    // It does not come back for more: shutdown waits its grace period and says so.
    assert!(!shutdown.await.unwrap());

    // A runtime that fails its init: invoke reports it.
    api.reset();
    let (status, _, _) = common::http(
        "POST",
        &format!("{base}/2018-06-01/runtime/init/error"),
        &[("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")],
        r#"{"errorType":"Runtime.ConfigError","errorMessage":"DB_HOST is not set"}"#,
    )
    .await;
    assert_eq!(status, 202);
    let outcome = api.invoke(json!({}), TIMEOUT).await.unwrap();
    let InvocationOutcome::InitError(error) = outcome else {
        panic!("expected an init error, got {outcome:?}");
    };
    assert_eq!(error.error_type.as_deref(), Some("Runtime.ConfigError"));
    assert_eq!(error.body["errorMessage"], "DB_HOST is not set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrapper_command_and_lambda_environment() {
    let api = RuntimeApi::start().await.unwrap();
    // `env VAR=…` as the wrapper proves the wrapper runs the bootstrap (as qemu-aarch64 would).
    let echo = common::example("echo");
    let config = FunctionConfig::new(&echo)
        .wrapper("env ECHO_DUMP=1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512");
    let mut function = Function::spawn(&api, config).await.unwrap();
    function.wait_first_next(TIMEOUT).await.unwrap();
    let outcome = api.invoke(sqs_event(&["x"]), TIMEOUT).await.unwrap();
    assert!(outcome.response().is_some(), "{outcome:?}");
    assert!(function.wait_for_line("event: ", TIMEOUT).await.is_some());
    let env = function.lines_containing("env: ").pop().expect("env line");
    let dir = echo
        .canonicalize()
        .unwrap()
        .parent()
        .unwrap()
        .display()
        .to_string();
    for expected in [
        format!("AWS_LAMBDA_RUNTIME_API={}", api.host_port()),
        "AWS_LAMBDA_FUNCTION_NAME=kx-events-consumer".to_string(),
        "AWS_LAMBDA_FUNCTION_VERSION=$LATEST".to_string(),
        // The caller's variables win over Lambda's.
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512".to_string(),
        "_HANDLER=bootstrap".to_string(),
        format!("LAMBDA_TASK_ROOT={dir}"),
    ] {
        assert!(env.contains(&expected), "{expected} not in {env}");
    }
    // Graceful end: SIGTERM after SHUTDOWN (no extension registered for it here).
    let status = function.shutdown().await.unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "{status}");
}
