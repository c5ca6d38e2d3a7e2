//! AWS SDK configuration for the demo and the end-to-end tests.
//!
//! The SDK crates are built without their default TLS stack; this module gives them an HTTPS
//! client on rustls with the ring provider. Endpoint, region and credentials come from the SDK's
//! usual sources (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, …), so the same code
//! talks to moto locally and to AWS for real.

use aws_config::SdkConfig;

pub use kx_events::aws::sdk_config;
pub use kx_events::error_chain;

/// Loads the SDK configuration from the environment, with the endpoint overridden (e.g. a
/// fault-injecting proxy in front of moto).
pub async fn sdk_config_with_endpoint(endpoint_url: &str) -> SdkConfig {
    kx_events::aws::config_loader()
        .endpoint_url(endpoint_url)
        .load()
        .await
}

/// An SQS client for `config`.
pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}
