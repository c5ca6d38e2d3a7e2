//! The moto server apply-moto runs against: the given one when it answers and has the AWS
//! managed policies loaded, otherwise a private `moto_server` for this run ([`MotoServer`]).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::run::log;
use crate::env::free_port;

/// A managed policy the consumer in a VPC attaches: moto has it only when started with
/// `MOTO_IAM_LOAD_MANAGED_POLICIES=true`.
const MANAGED_POLICY: &str = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole";

/// The moto server of a run; a private one is stopped on drop.
#[derive(Debug)]
pub struct MotoServer {
    /// `http://host:port`.
    pub endpoint: String,
    private: Option<Child>,
}

/// Why no moto server could be had.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    /// `pip install moto[server]` failed.
    #[error("installing moto[server] with pip failed ({0})")]
    Install(String),
    /// `moto_server` could not be started.
    #[error("starting moto_server: {0}")]
    Spawn(#[source] std::io::Error),
    /// It started but never answered.
    #[error("private moto server did not start: see {0}")]
    NotAnswering(String),
}

impl MotoServer {
    /// `given` (`AWS_ENDPOINT_URL`) when it answers `/moto-api/` and has the managed policies,
    /// else a private server on a free port of 127.0.0.1, its output in `log_path`.
    pub async fn choose(
        given: Option<&str>,
        region: &str,
        log_path: &Path,
    ) -> Result<MotoServer, MotoError> {
        if let Some(endpoint) = given {
            if answers(endpoint) && managed_policies_loaded(endpoint, region).await {
                log(&format!("using the moto server at {endpoint}"));
                return Ok(MotoServer {
                    endpoint: endpoint.to_string(),
                    private: None,
                });
            }
            log(&format!(
                "the moto server at {endpoint} does not answer or was started without \
                 MOTO_IAM_LOAD_MANAGED_POLICIES=true: starting a private one"
            ));
        }
        Self::start_private(log_path).await
    }

    async fn start_private(log_path: &Path) -> Result<MotoServer, MotoError> {
        ensure_moto_server()?;
        let port = free_port();
        let out = File::create(log_path).map_err(MotoError::Spawn)?;
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(MotoError::Spawn)?)
            .stderr(out)
            .spawn()
            .map_err(MotoError::Spawn)?;
        let pid = child.id();
        let server = MotoServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            private: Some(child),
        };
        for _ in 0..100 {
            if answers(&server.endpoint) {
                log(&format!(
                    "private moto server at {} (pid {pid})",
                    server.endpoint
                ));
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(MotoError::NotAnswering(log_path.display().to_string()))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.private.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Installs `moto[server]` with pip when `moto_server` or its Python modules are missing.
fn ensure_moto_server() -> Result<(), MotoError> {
    let on_path = Command::new("sh")
        .args(["-c", "command -v moto_server"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let importable = Command::new("python3")
        .args(["-c", "import moto, flask"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if on_path && importable {
        return Ok(());
    }
    log("installing moto[server] (pip)");
    match Command::new("python3")
        .args(["-m", "pip", "install", "-q", "moto[server]>=5,<6"])
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(MotoError::Install(s.to_string())),
        Err(e) => Err(MotoError::Install(e.to_string())),
    }
}

/// Whether `GET <endpoint>/moto-api/` answers with a status below 400, as `curl -f` counts
/// success (an `http://host:port` endpoint; anything else does not answer).
pub fn answers(endpoint: &str) -> bool {
    let Some(authority) = endpoint
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|a| !a.is_empty() && !a.contains('/'))
    else {
        return false;
    };
    let get = || -> std::io::Result<String> {
        let addr = authority
            .to_socket_addrs()?
            .next()
            .ok_or(std::io::ErrorKind::AddrNotAvailable)?;
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET /moto-api/ HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = [0u8; 16];
        let mut read = 0;
        while read < head.len() {
            match stream.read(&mut head[read..])? {
                0 => break,
                n => read += n,
            }
        }
        Ok(String::from_utf8_lossy(&head[..read]).into_owned())
    };
    get().is_ok_and(|head| is_success_status_line(&head))
}

/// Whether an HTTP response starts with a status line below 400.
fn is_success_status_line(head: &str) -> bool {
    head.strip_prefix("HTTP/")
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(_, rest)| rest.get(..3)?.parse::<u16>().ok())
        .is_some_and(|status| (100..400).contains(&status))
}

/// Whether moto at `endpoint` knows the AWS managed policies.
async fn managed_policies_loaded(endpoint: &str, region: &str) -> bool {
    let sdk = super::verify::sdk_config(endpoint, region).await;
    aws_sdk_iam::Client::new(&sdk)
        .get_policy()
        .policy_arn(MANAGED_POLICY)
        .send()
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert!(is_success_status_line("HTTP/1.1 200 OK\r\n"));
        assert!(is_success_status_line("HTTP/1.0 204 "));
        assert!(is_success_status_line("HTTP/1.1 302 Found"));
        assert!(!is_success_status_line("HTTP/1.1 404 Not"));
        assert!(!is_success_status_line(""));
    }

    #[test]
    fn only_http_endpoints_are_tried() {
        assert!(!answers("https://127.0.0.1:1"));
        assert!(!answers("http://"));
        assert!(!answers("http://127.0.0.1:1/path"));
        let dead = free_port();
        assert!(!answers(&format!("http://127.0.0.1:{dead}")));
    }
}
