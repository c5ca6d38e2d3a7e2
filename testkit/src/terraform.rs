//! A Terraform root configuration of the workspace run by the tests and the demo
//! ([`Terraform`]): either in isolation (`terraform/` copied into a temporary directory, so no lock
//! file, data directory or state is shared with other runs; [`Terraform::init`]) or in place with
//! a data directory and state kept across runs ([`Terraform::in_place`], what `make demo` uses
//! so a re-run against the same moto reuses its resources); initialised from the plugin mirror
//! `/opt/tf-plugins` when it exists, applied, planned and destroyed with a local state file; and
//! [`placeholder_zip`], the code moto stores for a function it never runs.
//!
//! The panicking methods (`init`, `apply`, `destroy`) are for tests; the `try_*` methods return
//! a [`TerraformError`], write each command's interleaved stdout and stderr to a log as it runs
//! and hand every line to a progress callback.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::env::{unique, workspace_root};

/// A Terraform root configuration of the workspace with its own data directory, CLI
/// configuration (an empty one: no `~/.terraformrc`), local state file and log, all in one
/// directory. Made by [`Terraform::init`] (a temporary copy of `terraform/`, removed on drop) or
/// [`Terraform::in_place`] (the configuration where it is, the directory kept).
#[derive(Debug)]
pub struct Terraform {
    root: PathBuf,
    example: PathBuf,
    log: PathBuf,
    /// Whether `root` is a temporary copy of `terraform/`, removed on drop.
    temporary: bool,
}

/// Why a Terraform command did not succeed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TerraformError {
    /// `terraform` could not be started or waited for, or a file could not be read or written.
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A command exited unsuccessfully.
    Failed {
        /// The subcommand (`init`, `apply`, …).
        command: String,
        /// The log with its whole output.
        log: PathBuf,
        /// Its whole output (stdout and stderr interleaved).
        output: String,
    },
    /// `terraform output -json` printed something that is not a JSON object.
    Outputs(serde_json::Error),
}

impl TerraformError {
    /// The last `n` lines of a failed command's output (empty for the other kinds).
    pub fn output_tail(&self, n: usize) -> String {
        match self {
            TerraformError::Failed { output, .. } => {
                let lines: Vec<&str> = output.lines().collect();
                lines[lines.len().saturating_sub(n)..].join("\n")
            }
            _ => String::new(),
        }
    }
}

impl fmt::Display for TerraformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerraformError::Io { what, .. } => f.write_str(what),
            TerraformError::Failed { command, log, .. } => {
                write!(f, "terraform {command} failed (log: {})", log.display())
            }
            TerraformError::Outputs(_) => f.write_str("terraform output -json printed no outputs"),
        }
    }
}

impl std::error::Error for TerraformError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TerraformError::Io { source, .. } => Some(source),
            TerraformError::Failed { .. } => None,
            TerraformError::Outputs(e) => Some(e),
        }
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TerraformError {
    let what = what.into();
    move |source| TerraformError::Io { what, source }
}

/// `{ name: value }` from what `terraform output -json` prints (`{ name: { "value": … } }`).
pub fn output_values(outputs: &serde_json::Value) -> serde_json::Value {
    let map = outputs
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v["value"].clone()))
        .collect();
    serde_json::Value::Object(map)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == ".terraform"
            || name_str == ".terraform.lock.hcl"
            || name_str.starts_with("terraform.tfstate")
        {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy file");
        }
    }
}

impl Terraform {
    /// Copies `terraform/` and runs `terraform init` in `terraform/<example>` (e.g.
    /// `examples/local`).
    pub fn init(example: &str) -> Terraform {
        let root = std::env::temp_dir().join(unique("kx-e2e-tf"));
        copy_tree(&workspace_root().join("terraform"), &root.join("terraform"));
        std::fs::write(root.join("terraformrc"), "").expect("CLI config");
        let tf = Terraform {
            example: root.join("terraform").join(example),
            log: root.join("terraform.log"),
            root,
            temporary: true,
        };
        tf.run(&Self::init_args());
        tf
    }

    /// `terraform/<example>` of the workspace run where it is (no copy, no `terraform init`
    /// yet), with its data directory (`tf-data`), CLI configuration (`terraformrc`), state
    /// (`terraform.tfstate`) and default log in `dir`, which is created and kept across runs.
    pub fn in_place(example: &str, dir: &Path) -> Result<Terraform, TerraformError> {
        std::fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
        let rc = dir.join("terraformrc");
        if !rc.exists() {
            std::fs::write(&rc, "").map_err(io_error(format!("writing {}", rc.display())))?;
        }
        Ok(Terraform {
            root: dir.to_path_buf(),
            example: workspace_root().join("terraform").join(example),
            log: dir.join("terraform.log"),
            temporary: false,
        })
    }

    fn init_args() -> Vec<&'static str> {
        let mut args = vec!["init", "-input=false", "-no-color"];
        if Path::new("/opt/tf-plugins").is_dir() {
            args.push("-plugin-dir=/opt/tf-plugins");
        }
        args
    }

    /// The local state file.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("terraform.tfstate")
    }

    /// Whether the state file exists and is not empty.
    pub fn has_state(&self) -> bool {
        std::fs::metadata(self.state_file()).is_ok_and(|m| m.len() > 0)
    }

    /// Removes the state file and its backup: the next apply starts from scratch (when the
    /// resources it described are gone, e.g. with the moto server that held them).
    pub fn forget_state(&self) {
        let state = self.state_file();
        let _ = std::fs::remove_file(&state);
        let _ = std::fs::remove_file(state.with_extension("tfstate.backup"));
    }

    /// `terraform init` (from the plugin mirror when it exists), its output written to `log`.
    pub fn try_init(&self, log: &Path) -> Result<(), TerraformError> {
        self.try_run(&Self::init_args(), log, &mut |_| {}).map(drop)
    }

    /// `terraform apply -auto-approve` with `vars`, its output written to `log` and handed to
    /// `progress` line by line as Terraform prints it.
    pub fn try_apply(
        &self,
        vars: &[(&str, String)],
        log: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), TerraformError> {
        self.try_change("apply", vars, log, progress)
    }

    /// `terraform destroy -auto-approve` with `vars`, its output written to `log` and handed
    /// to `progress` line by line.
    pub fn try_destroy(
        &self,
        vars: &[(&str, String)],
        log: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), TerraformError> {
        self.try_change("destroy", vars, log, progress)
    }

    fn try_change(
        &self,
        command: &str,
        vars: &[(&str, String)],
        log: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), TerraformError> {
        let state = self.state();
        let vars = Self::var_args(vars);
        let mut args = vec![
            command,
            "-input=false",
            "-no-color",
            "-auto-approve",
            &state,
        ];
        args.extend(vars.iter().map(String::as_str));
        self.try_run(&args, log, progress).map(drop)
    }

    /// What `terraform output -json` prints (stdout only), as text: an object
    /// `{ name: { "value": …, "type": …, "sensitive": … } }` (see [`output_values`]).
    pub fn try_output_json(&self) -> Result<String, TerraformError> {
        let state = self.state();
        let out = self
            .command(&["output", "-no-color", "-json", &state])
            .stdin(Stdio::null())
            .output()
            .map_err(io_error("running terraform output"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(TerraformError::Failed {
                command: "output".into(),
                log: self.log.clone(),
                output: format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(text)
    }

    /// The outputs as `{ name: value }` (see [`output_values`]).
    pub fn try_outputs(&self) -> Result<serde_json::Value, TerraformError> {
        let outputs: serde_json::Value =
            serde_json::from_str(&self.try_output_json()?).map_err(TerraformError::Outputs)?;
        Ok(output_values(&outputs))
    }

    /// Runs `terraform ARGS`, its stdout and stderr interleaved into `log` and `progress` line by
    /// line while it runs; returns the whole output.
    fn try_run(
        &self,
        args: &[&str],
        log: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<String, TerraformError> {
        let command = args.first().copied().unwrap_or_default().to_string();
        let (reader, writer) = std::io::pipe().map_err(io_error("creating a pipe"))?;
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(writer.try_clone().map_err(io_error("creating a pipe"))?)
            .stderr(writer);
        let mut child = cmd
            .spawn()
            .map_err(io_error(format!("cannot run terraform {command}")))?;
        // The command holds the pipe's write ends: drop them, so reading ends with the child.
        drop(cmd);
        let mut file =
            std::fs::File::create(log).map_err(io_error(format!("writing {}", log.display())))?;
        let mut output = String::new();
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(io_error(format!(
                    "reading the output of terraform {command}"
                )))?;
            if n == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']);
            writeln!(file, "{line}").map_err(io_error(format!("writing {}", log.display())))?;
            progress(line);
            output.push_str(line);
            output.push('\n');
        }
        let status = child
            .wait()
            .map_err(io_error(format!("waiting for terraform {command}")))?;
        if !status.success() {
            return Err(TerraformError::Failed {
                command,
                log: log.to_path_buf(),
                output,
            });
        }
        Ok(output)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("terraform");
        cmd.arg(format!("-chdir={}", self.example.display()))
            .args(args)
            .env("TF_DATA_DIR", self.root.join("tf-data"))
            .env("TF_CLI_CONFIG_FILE", self.root.join("terraformrc"))
            .env("TF_IN_AUTOMATION", "1");
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        self.try_run(args, &self.log, &mut |_| {})
            .unwrap_or_else(|e| match e {
                TerraformError::Failed {
                    command, output, ..
                } => panic!("terraform {command} failed:\n{output}"),
                other => panic!("terraform {args:?}: {other}"),
            })
    }

    fn state(&self) -> String {
        format!("-state={}", self.root.join("terraform.tfstate").display())
    }

    fn var_args(vars: &[(&str, String)]) -> Vec<String> {
        vars.iter()
            .flat_map(|(k, v)| ["-var".to_string(), format!("{k}={v}")])
            .collect()
    }

    /// `terraform apply -auto-approve` with `vars`; returns the outputs as `{ name: value }`.
    pub fn apply(&self, vars: &[(&str, String)]) -> serde_json::Value {
        let state = self.state();
        let vars = Self::var_args(vars);
        let mut args = vec![
            "apply",
            "-input=false",
            "-no-color",
            "-auto-approve",
            &state,
        ];
        args.extend(vars.iter().map(String::as_str));
        self.run(&args);
        self.try_outputs()
            .unwrap_or_else(|e| panic!("terraform output -json: {e}\n{}", e.output_tail(30)))
    }

    /// `terraform destroy -auto-approve` with `vars`; returns what `terraform state list` still
    /// lists afterwards (nothing, when the destroy was complete).
    pub fn destroy(&self, vars: &[(&str, String)]) -> Vec<String> {
        let state = self.state();
        let vars = Self::var_args(vars);
        let mut args = vec![
            "destroy",
            "-input=false",
            "-no-color",
            "-auto-approve",
            &state,
        ];
        args.extend(vars.iter().map(String::as_str));
        self.run(&args);
        self.run(&["state", "list", &state])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("Warning") && l.contains('.'))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Terraform {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// A zip that moto can store as the function's code (moto never runs it: the runner runs the
/// real `bootstrap`). Byte-for-byte stable, written to `path`.
pub fn placeholder_zip(path: &Path) {
    // A stored (uncompressed) zip with one file, built by hand: no zip crate needed.
    let name = b"bootstrap";
    let data = b"#!/bin/sh\nexit 1\n";
    let crc = crc32(data);
    let mut local = Vec::new();
    local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // version, flags, stored, time, date (1980-01-01)
    local.extend_from_slice(&crc.to_le_bytes());
    local.extend_from_slice(&(data.len() as u32).to_le_bytes());
    local.extend_from_slice(&(data.len() as u32).to_le_bytes());
    local.extend_from_slice(&(name.len() as u16).to_le_bytes());
    local.extend_from_slice(&0u16.to_le_bytes());
    local.extend_from_slice(name);
    local.extend_from_slice(data);
    let mut central = Vec::new();
    central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    central.extend_from_slice(&[20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]); // made by unix, version, flags, stored, time, date
    central.extend_from_slice(&crc.to_le_bytes());
    central.extend_from_slice(&(data.len() as u32).to_le_bytes());
    central.extend_from_slice(&(data.len() as u32).to_le_bytes());
    central.extend_from_slice(&(name.len() as u16).to_le_bytes());
    central.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // extra, comment, disk, internal attrs
    central.extend_from_slice(&(0o100_755u32 << 16).to_le_bytes());
    central.extend_from_slice(&0u32.to_le_bytes()); // offset of the local header
    central.extend_from_slice(name);
    let mut end = Vec::new();
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&(local.len() as u32).to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    let zip = [local, central, end].concat();
    std::fs::write(path, zip).expect("writing the placeholder zip");
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
