//! Helpers shared by the integration tests.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Path of one of this package's examples. `cargo test -p kx-events-local` builds them; when
/// one is missing or older than its source (e.g. `cargo test --test X` after an edit), it is
/// built here. (Not unconditionally: with a shared target directory that waits on other builds.)
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/examples/<name>
    let profile_dir = exe.parent().and_then(|p| p.parent()).expect("profile dir");
    let path = profile_dir.join("examples").join(name);
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let newest_source = [
        manifest_dir.join("examples").join(format!("{name}.rs")),
        manifest_dir.join("Cargo.toml"),
    ]
    .iter()
    .filter_map(|p| modified(p))
    .max();
    let stale = match (modified(&path), newest_source) {
        (None, _) => true,
        (Some(built), Some(source)) => built < source,
        (Some(_), None) => false,
    };
    if stale {
        BUILT.get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut command = std::process::Command::new(cargo);
            command.args(["build", "--quiet", "-p", "kx-events-local", "--examples"]);
            if profile_dir.ends_with("release") {
                command.arg("--release");
            }
            let status = command.status().expect("running cargo build --examples");
            assert!(status.success(), "building the examples failed");
        });
    }
    assert!(
        path.is_file(),
        "example {} not found at {}",
        name,
        path.display()
    );
    path
}

/// The moto endpoint; fails (never skips) when the services are not up.
pub fn moto_endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: these tests need the moto server. \
             Run `scripts/services.sh up && source .state/env` first."
        ),
    }
}

/// A raw HTTP/1.1 request; returns status, headers and body.
pub async fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, http::HeaderMap, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = client.request(request).await.expect("http request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone()
}

/// Creates the queue `name` with `attributes`; returns its URL.
pub async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(aws_sdk_sqs::types::QueueAttributeName, String)],
) -> String {
    let mut request = sqs.create_queue().queue_name(name);
    for (key, value) in attributes {
        request = request.attributes(key.clone(), value);
    }
    request.send().await.unwrap().queue_url.unwrap()
}

/// Creates `{name}-dlq` and the queue `name` redriving to it after `max_receive_count` receives
/// (plus `attributes`), as kx-events' Terraform module does; returns (queue URL, DLQ URL).
pub async fn queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
    attributes: &[(aws_sdk_sqs::types::QueueAttributeName, String)],
) -> (String, String) {
    let dlq_url = create_queue(sqs, &format!("{name}-dlq"), &[]).await;
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count,
    });
    let mut attributes = attributes.to_vec();
    attributes.push((
        aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
        redrive.to_string(),
    ));
    (create_queue(sqs, name, &attributes).await, dlq_url)
}
