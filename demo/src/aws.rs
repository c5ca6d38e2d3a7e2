//! AWS SDK configuration for the demo and the end-to-end tests.
//!
//! The SDK crates are built without their default TLS stack; this module gives them an HTTPS
//! client on rustls with the ring provider. Endpoint, region and credentials come from the SDK's
//! usual sources (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, …), so the same code
//! talks to moto locally and to AWS for real.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;

/// The HTTP client every SDK client of this crate uses: rustls with the ring provider.
pub fn http_client() -> aws_sdk_sqs::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Loads the SDK configuration from the environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}

/// Loads the SDK configuration from the environment, with the endpoint overridden (e.g. a
/// fault-injecting proxy in front of moto).
pub async fn sdk_config_with_endpoint(endpoint_url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .endpoint_url(endpoint_url)
        .load()
        .await
}

/// An SQS client for `config`.
pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// Formats an SDK error with its whole cause chain (the SDK's `Display` shows only the top).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
