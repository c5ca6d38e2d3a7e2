//! `scripts/terraform-checks.sh apply-moto`: the Terraform examples `complete` and `local`
//! applied against a moto server, checked with the AWS SDK, planned again (no changes expected
//! beyond moto's known gaps), destroyed, and checked for anything left behind.
//!
//! What moto is used: the server of `AWS_ENDPOINT_URL` (or of `.state/env`) when it answers and
//! was started with the AWS managed policies (the consumer in a VPC attaches
//! `AWSLambdaVPCAccessExecutionRole` and `AWSXRayDaemonWriteAccess`, which moto knows only with
//! `MOTO_IAM_LOAD_MANAGED_POLICIES=true`); otherwise a private `moto_server` started for this run
//! on a free port of 127.0.0.1 and stopped at its end, failed or not ([`moto`]).
//!
//! Each run has an id (`tfchk` + the UTC time + a random digit) and each example a name prefix
//! made from it ([`example`]): lowercase, starting with a letter and short, because the prefix
//! goes into RDS, SQS, Lambda and bus names. Each example runs in its own directory under
//! `.state/terraform-checks/<run>/<example>/` with its own `TF_DATA_DIR`, state file and logs,
//! so runs never collide in one moto and the examples run side by side, one thread each (most
//! of an apply is the provider waiting on RDS and SQS). An example that fails after its apply
//! started is destroyed before its thread ends ([`run`](mod@run)).
//!
//! The checks ([`verify`]) read what Terraform created through the same SDK stack the producer
//! and the consumer send with ([`kx_events::aws::config_loader`]); every check prints one
//! `ok`/`FAIL` line. The plan after apply is parsed by [`plan`], which also holds the allow-list
//! of moto's known gaps.

pub mod example;
pub mod moto;
pub mod plan;
pub mod run;
pub mod verify;

pub use example::Example;
pub use run::run;
