//! One example of `terraform/examples/` as apply-moto runs it: its name prefix, its `-var`s, and
//! `terraform` run in place with the example's own data directory, state file and logs under
//! `.state/terraform-checks/<run>/<example>/`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// An example apply-moto knows how to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Example {
    /// `examples/complete`: VPC, RDS, the query API, `emulator = true`.
    Complete,
    /// `examples/local`: an existing database, the endpoint given to the provider.
    Local,
}

impl Example {
    /// Both, in the order they are reported.
    pub const ALL: [Example; 2] = [Example::Complete, Example::Local];

    /// The directory name under `terraform/examples/`.
    pub fn name(self) -> &'static str {
        match self {
            Example::Complete => "complete",
            Example::Local => "local",
        }
    }
}

impl std::fmt::Display for Example {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A run id: `tfchk`, the time of day as `HHMMSS` and one digit (`tfchk1712345`). Lowercase,
/// starts with a letter, short: the example prefixes made from it go into RDS, SQS, Lambda and
/// bus names.
pub fn run_id(hhmmss: &str, digit: u8) -> String {
    format!("tfchk{hhmmss}{}", digit % 10)
}

/// [`run_id`] for now: the UTC time of day and a random digit.
pub fn new_run_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        % 86_400;
    let hhmmss = format!("{:02}{:02}{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    run_id(&hhmmss, uuid::Uuid::new_v4().as_bytes()[0])
}

/// The name prefix of `example` in run `run_id`: the run id and the example's first five
/// letters (`tfchk1712345-compl`), so two examples of one run never share a name.
pub fn prefix(run_id: &str, example: Example) -> String {
    let short: String = example.name().chars().take(5).collect();
    format!("{run_id}-{short}")
}

/// What the `-var`s of an example are made from.
#[derive(Debug, Clone)]
pub struct VarInputs {
    /// The placeholder zip, for every function's package.
    pub package: PathBuf,
    /// `AWS_REGION`.
    pub region: String,
    /// The moto endpoint (given to `examples/local`, whose provider block takes it).
    pub endpoint: String,
    /// `KX_PG_USER`, default `kx` (`examples/local`'s existing database).
    pub db_username: String,
    /// `KX_PG_PASSWORD`, default `kx`.
    pub db_password: String,
}

/// The `name=value` pairs given to `terraform apply|plan|destroy` as `-var`s.
pub fn vars(example: Example, prefix: &str, inputs: &VarInputs) -> Vec<(String, String)> {
    let package = inputs.package.display().to_string();
    let mut vars = vec![
        ("name_prefix", prefix.to_string()),
        ("service_name", format!("{prefix}-svc")),
        ("consumer_package_path", package.clone()),
        ("region", inputs.region.clone()),
    ];
    match example {
        Example::Complete => {
            vars.push(("emulator", "true".into()));
            vars.push(("query_package_path", package));
        }
        Example::Local => {
            vars.push(("aws_endpoint_url", inputs.endpoint.clone()));
            vars.push(("db_password", inputs.db_password.clone()));
            vars.push(("db_username", inputs.db_username.clone()));
        }
    }
    vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Where a terraform command's output goes.
#[derive(Debug)]
pub enum Output<'a> {
    /// Standard output and error to this file (created anew).
    File(&'a Path),
    /// Standard output dropped, standard error appended to this file (the example's `run.log`).
    StderrTo(&'a Path),
    /// Standard output to `stdout` (created anew), standard error appended to `stderr`.
    Split {
        /// Where standard output goes.
        stdout: &'a Path,
        /// The log standard error is appended to.
        stderr: &'a Path,
    },
}

/// `terraform` for one example, run in `terraform/examples/<example>` with the data directory
/// and state of `dir`.
#[derive(Debug, Clone)]
pub struct ExampleTf {
    /// `terraform/examples/<example>`.
    pub source: PathBuf,
    /// `.state/terraform-checks/<run>/<example>`.
    pub dir: PathBuf,
    /// The environment every command gets (endpoint, CLI config, automation flags).
    pub env: Vec<(String, String)>,
}

impl ExampleTf {
    /// The state file.
    pub fn state(&self) -> PathBuf {
        self.dir.join("terraform.tfstate")
    }

    /// `terraform <verb> -no-color <args>`, its output where `output` says.
    pub fn run(
        &self,
        verb: &str,
        args: &[String],
        output: Output<'_>,
    ) -> std::io::Result<ExitStatus> {
        let mut cmd = Command::new("terraform");
        cmd.arg(format!("-chdir={}", self.source.display()))
            .arg(verb)
            .arg("-no-color")
            .args(args)
            .env("TF_DATA_DIR", self.dir.join("tfdata"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        match output {
            Output::File(path) => {
                let file = File::create(path)?;
                cmd.stdout(file.try_clone()?).stderr(file);
            }
            Output::StderrTo(path) => {
                let file = File::options().create(true).append(true).open(path)?;
                cmd.stdout(Stdio::null()).stderr(file);
            }
            Output::Split { stdout, stderr } => {
                let log = File::options().create(true).append(true).open(stderr)?;
                cmd.stdout(File::create(stdout)?).stderr(log);
            }
        }
        cmd.status()
    }

    /// `-auto-approve`/`-detailed-exitcode`-free arguments shared by apply, plan and destroy:
    /// `-input=false -state=<state>` and the `-var`s.
    pub fn state_and_vars(&self, vars: &[(String, String)]) -> Vec<String> {
        let mut args = vec![
            "-input=false".to_string(),
            format!("-state={}", self.state().display()),
        ];
        for (k, v) in vars {
            args.push("-var".into());
            args.push(format!("{k}={v}"));
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_and_prefixes_are_short_lowercase_and_start_with_a_letter() {
        assert_eq!(run_id("171234", 15), "tfchk1712345");
        let id = new_run_id();
        assert_eq!(id.len(), "tfchk".len() + 7, "{id}");
        assert!(id.starts_with("tfchk") && id[5..].chars().all(|c| c.is_ascii_digit()));
        assert_eq!(
            prefix("tfchk1712345", Example::Complete),
            "tfchk1712345-compl"
        );
        assert_eq!(prefix("tfchk1712345", Example::Local), "tfchk1712345-local");
    }

    #[test]
    fn vars_per_example() {
        let inputs = VarInputs {
            package: PathBuf::from("/s/run/bootstrap.zip"),
            region: "us-east-1".into(),
            endpoint: "http://127.0.0.1:5000".into(),
            db_username: "kx".into(),
            db_password: "pw".into(),
        };
        let pairs = |ex| {
            vars(ex, "p-x", &inputs)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        };
        let common = [
            "name_prefix=p-x",
            "service_name=p-x-svc",
            "consumer_package_path=/s/run/bootstrap.zip",
            "region=us-east-1",
        ];
        let mut complete = common.to_vec();
        complete.extend(["emulator=true", "query_package_path=/s/run/bootstrap.zip"]);
        assert_eq!(pairs(Example::Complete), complete);
        let mut local = common.to_vec();
        local.extend([
            "aws_endpoint_url=http://127.0.0.1:5000",
            "db_password=pw",
            "db_username=kx",
        ]);
        assert_eq!(pairs(Example::Local), local);
    }

    #[test]
    fn state_and_vars_are_terraform_arguments() {
        let tf = ExampleTf {
            source: PathBuf::from("/t/examples/local"),
            dir: PathBuf::from("/s/run/local"),
            env: vec![],
        };
        assert_eq!(
            tf.state_and_vars(&[("a".into(), "b=c".into())]),
            [
                "-input=false",
                "-state=/s/run/local/terraform.tfstate",
                "-var",
                "a=b=c"
            ]
        );
    }
}
