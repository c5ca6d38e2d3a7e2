//! The environment of a local run: the services `scripts/services.sh up` starts and describes in
//! `.state/env`, names unique to one run, the workspace's paths, and bounded waits.
//!
//! Nothing here names a kx-events type, so kx-events' own tests can use it (see the crate's
//! `pipeline` feature). A required setting that is missing fails with a message saying how to
//! set it: nothing is skipped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// The value of a required environment variable, or a panic that says how to set it.
pub fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: the end-to-end tests need the local services. Run \
             `scripts/services.sh up && source .state/env` (or `make test`) first."
        ),
    }
}

/// `AWS_ENDPOINT_URL`, the moto server's endpoint; a panic saying how to start one when unset.
pub fn endpoint() -> String {
    required_env("AWS_ENDPOINT_URL")
}

/// `prefix` plus a short unique suffix, for names of test resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// Runs a synchronous closure (the sync `postgres` client, a child process) on a blocking
/// thread: it must not run on a tokio worker.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking task panicked")
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// Polls `condition` every 50 ms until it holds or `limit` passes (a safety bound); returns
/// whether it held.
pub async fn until<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if condition().await {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The local services: the PostgreSQL server (a superuser role over TCP) and the moto server,
/// as `scripts/services.sh up` writes them to `.state/env` (`export K=V …` lines) and a shell
/// that sourced that file has them in its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    /// `KX_TEST_DATABASE_URL`: `postgres://user:password@host:port/postgres`.
    pub database_url: String,
    /// `AWS_ENDPOINT_URL`: the moto server.
    pub aws_endpoint_url: String,
    /// Every variable of the description, in its order (credentials and region included).
    pub vars: Vec<(String, String)>,
}

impl Services {
    /// `.state/env` of the workspace.
    pub fn state_file() -> PathBuf {
        workspace_root().join(".state").join("env")
    }

    /// From the process environment (a shell that sourced `.state/env`, or `make`); `what` says
    /// which command sets it up, for the error.
    pub fn from_env(what: &str) -> Result<Services, String> {
        let get = |name: &str| match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(format!(
                "{name} is not set: {what} (or `scripts/services.sh up && source .state/env`)"
            )),
        };
        let vars = [
            "KX_TEST_DATABASE_URL",
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
        ]
        .iter()
        .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect();
        Ok(Services {
            database_url: get("KX_TEST_DATABASE_URL")?,
            aws_endpoint_url: get("AWS_ENDPOINT_URL")?,
            vars,
        })
    }

    /// Reads a description written by `scripts/services.sh up`.
    pub fn from_file(path: &Path) -> Result<Services, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read {}: {e} (run `scripts/services.sh up` first)",
                path.display()
            )
        })?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses `export K=V K=V` lines (values without spaces or quotes, as services.sh writes
    /// them).
    pub fn parse(text: &str) -> Result<Services, String> {
        let mut vars = Vec::new();
        for line in text.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("export ") else {
                continue;
            };
            for pair in rest.split_whitespace() {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("not K=V: {pair:?}"))?;
                vars.push((k.to_string(), v.to_string()));
            }
        }
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("no {name}"))
        };
        Ok(Services {
            database_url: get("KX_TEST_DATABASE_URL")?,
            aws_endpoint_url: get("AWS_ENDPOINT_URL")?,
            vars,
        })
    }

    /// Sets every variable of the description in this process's environment (for the SDK's
    /// default chain and for child processes). Call before starting other threads.
    pub fn export(&self) {
        for (k, v) in &self.vars {
            std::env::set_var(k, v);
        }
    }

    /// The server's address and superuser from [`Services::database_url`]:
    /// `(host, port, user, password)`.
    pub fn database_parts(&self) -> Result<(String, u16, String, String), String> {
        let rest = self
            .database_url
            .strip_prefix("postgres://")
            .or_else(|| self.database_url.strip_prefix("postgresql://"))
            .ok_or("KX_TEST_DATABASE_URL is not a postgres:// URL")?;
        let (auth, host_part) = rest
            .split_once('@')
            .ok_or("KX_TEST_DATABASE_URL has no user")?;
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let host_port = host_part.split('/').next().unwrap_or_default();
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse()
                    .map_err(|_| format!("KX_TEST_DATABASE_URL: bad port {p:?}"))?,
            ),
            None => (host_port, 5432),
        };
        Ok((host.into(), port, user.into(), password.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_services_sh_writes() {
        let s = Services::parse(
            "export KX_TEST_DATABASE_URL=postgres://kx:pw@127.0.0.1:5433/postgres\n\
             export KX_PG_HOST=127.0.0.1 KX_PG_PORT=5433\n\
             export AWS_ENDPOINT_URL=http://127.0.0.1:45093\n",
        )
        .unwrap();
        assert_eq!(s.aws_endpoint_url, "http://127.0.0.1:45093");
        assert_eq!(s.vars.len(), 4);
        assert_eq!(
            s.database_parts().unwrap(),
            ("127.0.0.1".into(), 5433, "kx".into(), "pw".into())
        );
        assert!(Services::parse("export AWS_ENDPOINT_URL=x\n").is_err());
    }
}
