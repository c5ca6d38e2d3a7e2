//! `--api-url`: the same commands against a deployed query API, each request signed with SigV4
//! (service `execute-api`) with the credentials of the AWS SDK's default chain (environment,
//! profile, SSO, instance role …), as API Gateway's IAM authorization requires.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::{flag, Failure};

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A deployed query API.
pub struct Api {
    base: String,
    region: String,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    /// `url` is the API's base URL (the `query_api_url` output).
    pub fn new(url: &str) -> Result<Self, Failure> {
        let base = url.trim_end_matches('/').to_owned();
        let host = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or_else(|| {
                Failure::Usage(format!(
                    "--api-url: must be an http(s):// URL (the query_api_url output), got {url:?}"
                ))
            })?;
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok()
            .filter(|r| !r.is_empty())
            .or_else(|| region_of(host))
            .ok_or_else(|| {
                Failure::Usage("--api-url: set AWS_REGION (the URL does not name a region)".into())
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Other(format!("cannot start the runtime: {e}")))?;
        Ok(Self {
            base,
            region,
            runtime,
        })
    }

    /// `GET path?pairs`, signed; the JSON body of a 2xx answer. 400 → exit 2 naming the flag,
    /// 404 → 3, 503 / unreachable → 4, anything else → 1.
    pub fn get(&self, path: &str, pairs: &[(&str, String)]) -> Result<Value, Failure> {
        let mut url = format!("{}{path}", self.base);
        if !pairs.is_empty() {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
                .finish()
                .replace('+', "%20");
            url.push('?');
            url.push_str(&query);
        }
        self.runtime.block_on(self.send(&url))
    }

    async fn send(&self, url: &str) -> Result<Value, Failure> {
        let sdk = kx_events_consumer::sdk_config().await;
        let provider = sdk.credentials_provider().ok_or_else(|| {
            Failure::Other(
                "--api-url: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID)".into(),
            )
        })?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| Failure::Other(format!("--api-url: no AWS credentials: {e}")))?;
        let identity: Identity = credentials.into();
        let mut request = http::Request::builder()
            .method("GET")
            .uri(url)
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| Failure::Usage(format!("--api-url: {e}")))?;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::Other(format!("cannot sign the request: {e}")))?
            .into();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        let signable =
            SignableRequest::new("GET", url, headers.into_iter(), SignableBody::Bytes(&[]))
                .map_err(|e| Failure::Other(format!("cannot sign the request: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Failure::Other(format!("cannot sign the request: {e}")))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);

        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| Failure::Other(format!("no system root certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
        let unreachable = |e: String| Failure::Unavailable(format!("query API unreachable: {e}"));
        let response = tokio::time::timeout(TIMEOUT, client.request(request))
            .await
            .map_err(|_| unreachable(format!("no answer within {} s", TIMEOUT.as_secs())))?
            .map_err(|e| unreachable(kx_events::error_chain(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        let json: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&body).chars().take(300).collect())
        });
        let message = json["error"]
            .as_str()
            .or(json["message"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| json.to_string());
        match status {
            200..=299 => Ok(json),
            400 => Err(Failure::Usage(match (json["param"].as_str(), json["rule"].as_str()) {
                (Some(p), Some(r)) => format!("{}: {r}", flag(p)),
                _ => message,
            })),
            404 => Err(Failure::NotFound(message)),
            503 => Err(Failure::Unavailable(format!("database unavailable: {message}"))),
            401 | 403 => Err(Failure::Other(format!(
                "the query API refused the request ({status}): {message} (the credentials need execute-api:Invoke on the route)"
            ))),
            _ => Err(Failure::Other(format!("the query API answered {status}: {message}"))),
        }
    }
}

/// `abc.execute-api.eu-west-1.amazonaws.com` → `eu-west-1`.
fn region_of(host: &str) -> Option<String> {
    let host = host.split(['/', ':']).next()?;
    let mut parts = host.split('.');
    while let Some(p) = parts.next() {
        if p == "execute-api" {
            return parts.next().map(str::to_owned);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_execute_api_host() {
        assert_eq!(
            region_of("a1b2.execute-api.eu-west-1.amazonaws.com/").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of("localhost:8080"), None);
    }
}
