//! The AWS SDK's HTTP client and configuration loader this crate sends with, for your own SDK
//! clients too.
//!
//! The SDK crates are built here without their default TLS stack (aws-lc and the legacy hyper
//! 0.14 client): [`https_client`] is the one HTTPS client, rustls with the ring provider, so a
//! Lambda that also uses this crate links one TLS stack. [`config_loader`] is
//! `aws_config::defaults` with that client: region, credentials and endpoints (such as
//! `AWS_ENDPOINT_URL`) come from the SDK's usual sources, so the same code talks to AWS and to a
//! local emulator.
//!
//! ```no_run
//! # async fn example() {
//! let sdk = kx_events::aws::config_loader().load().await;
//! let config = kx_events::Config::from_env().with_sdk_config(sdk);
//! # let _ = config;
//! # }
//! ```

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

pub use aws_config::{ConfigLoader, SdkConfig};
pub use aws_sdk_eventbridge::config::SharedHttpClient;

/// The HTTPS client for AWS SDK clients: rustls with the ring crypto provider.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `aws_config::defaults(BehaviorVersion::latest())` with [`https_client`]. Add your own
/// settings (timeouts, an endpoint) before `.load().await`.
pub fn config_loader() -> ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client())
}

/// [`config_loader`], loaded: the SDK configuration from the environment.
pub async fn sdk_config() -> SdkConfig {
    config_loader().load().await
}
