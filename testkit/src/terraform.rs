//! A Terraform root configuration run in isolation ([`Terraform`]): `terraform/` copied into a
//! temporary directory (no lock file, data directory or state shared with other runs), initialised
//! from the plugin mirror `/opt/tf-plugins` when it exists, applied, planned and destroyed with a
//! local state file there; and [`placeholder_zip`], the code moto stores for a function it never
//! runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::env::{unique, workspace_root};

/// A Terraform root configuration run in isolation: `terraform/` is copied into a temporary
/// directory (so no lock file, data directory or state is shared with other runs), initialised
/// from `/opt/tf-plugins` when that mirror exists, and applied with a local state file there.
/// The directory is removed on drop.
#[derive(Debug)]
pub struct Terraform {
    root: PathBuf,
    example: PathBuf,
    log: PathBuf,
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
        };
        let mut args = vec!["init", "-input=false", "-no-color"];
        if Path::new("/opt/tf-plugins").is_dir() {
            args.push("-plugin-dir=/opt/tf-plugins");
        }
        tf.run(&args);
        tf
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
        let out = self
            .command(args)
            .output()
            .unwrap_or_else(|e| panic!("running terraform {args:?}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::write(&self.log, &text);
        assert!(
            out.status.success(),
            "terraform {} failed:\n{}",
            args.first().unwrap_or(&""),
            text
        );
        text
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
        let outputs: serde_json::Value =
            serde_json::from_str(&self.run(&["output", "-no-color", "-json", &state]))
                .expect("terraform output -json");
        let map = outputs
            .as_object()
            .expect("outputs object")
            .iter()
            .map(|(k, v)| (k.clone(), v["value"].clone()))
            .collect();
        serde_json::Value::Object(map)
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
        let _ = std::fs::remove_dir_all(&self.root);
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
