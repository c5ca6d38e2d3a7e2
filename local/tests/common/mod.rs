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
