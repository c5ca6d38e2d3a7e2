//! The workspace's binaries for end-to-end runs: the consumer's `bootstrap`, the query API's
//! `query`, the CLI's `kx`, built once per process by `cargo build --workspace --bins` (a no-op
//! after `make test`'s or `make demo`'s build) and located from cargo's JSON messages: no
//! guessing of target directories or profiles. `env!("CARGO_BIN_EXE_bootstrap")` only exists
//! inside the consumer's own package. `KX_BOOTSTRAP` / `KX_QUERY_BOOTSTRAP` override (a release
//! build, or the arm64 artifact run under qemu by the caller).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::env::workspace_root;

/// The real consumer binary: `KX_BOOTSTRAP` when set, otherwise the `bootstrap` that
/// `cargo build --workspace --bins` reports (the build `make test` runs first, so a no-op there;
/// run once per test process with the `cargo` and `CARGO_TARGET_DIR` that run the tests).
pub fn bootstrap() -> PathBuf {
    if let Ok(path) = std::env::var("KX_BOOTSTRAP") {
        return PathBuf::from(path);
    }
    workspace_binary("bootstrap")
}

/// The query API Lambda's binary: `KX_QUERY_BOOTSTRAP` when set, otherwise the `query` that
/// `cargo build --workspace --bins` reports (see [`bootstrap`]).
pub fn query_bootstrap() -> PathBuf {
    if let Ok(path) = std::env::var("KX_QUERY_BOOTSTRAP") {
        return PathBuf::from(path);
    }
    workspace_binary("query")
}

/// A binary of the workspace (`bootstrap`, `query`, `kx`, …), built once per test process by
/// `cargo build --workspace --bins` (a no-op after `make test`'s build), its path taken from
/// cargo's JSON messages.
pub fn workspace_binary(name: &str) -> PathBuf {
    static PATHS: OnceLock<std::collections::HashMap<String, PathBuf>> = OnceLock::new();
    let paths = PATHS.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(&cargo);
        // `cargo test` runs this binary with the tests package's CARGO_PKG_*, CARGO_MANIFEST_DIR,
        // … set; build scripts (ring's) rerun when those change, which would rebuild the TLS
        // stack here and again in the next ordinary build. Build as from a plain shell.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            let set_by_cargo_test = key.starts_with("CARGO_PKG_")
                || matches!(
                    key.as_str(),
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_MANIFEST_LINKS"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                        | "OUT_DIR"
                );
            if set_by_cargo_test {
                cmd.env_remove(&key);
            }
        }
        let out = cmd
            .current_dir(workspace_root())
            .args([
                "build",
                "--workspace",
                "--bins",
                "--message-format=json-render-diagnostics",
            ])
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
        assert!(
            out.status.success(),
            "cargo build of the workspace binaries failed"
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact")
            .filter_map(|m| {
                let exe = m["executable"].as_str()?;
                Some((m["target"]["name"].as_str()?.to_owned(), PathBuf::from(exe)))
            })
            .collect()
    });
    paths
        .get(name)
        .unwrap_or_else(|| panic!("cargo reported no {name} executable"))
        .clone()
}

/// The consumer's `bootstrap` binary, checked: `KX_BOOTSTRAP` must name a file when set;
/// otherwise [`bootstrap`]. Resolved once per process.
pub fn bootstrap_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Ok(path) = std::env::var("KX_BOOTSTRAP") {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "KX_BOOTSTRAP={} is not a file",
                path.display()
            );
            return path;
        }
        bootstrap()
    })
    .clone()
}
