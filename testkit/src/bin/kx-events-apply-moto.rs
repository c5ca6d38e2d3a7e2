//! `scripts/terraform-checks.sh apply-moto [complete|local ...]`: applies the Terraform examples
//! against moto, checks what they created, plans again, destroys them and checks that nothing is
//! left (see [`kx_events_testkit::apply_moto`]).

use std::process::ExitCode;

use clap::Parser;
use kx_events_testkit::apply_moto::{self, Example};

/// Applies terraform/examples/{complete,local} against moto (AWS_ENDPOINT_URL, .state/env, or a
/// private moto_server), checks them with the AWS SDK, plans, destroys and checks again.
#[derive(Debug, Parser)]
#[command(name = "kx-events-apply-moto")]
struct Args {
    /// The examples to run, side by side (default: complete and local).
    #[arg(value_enum)]
    examples: Vec<Example>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    apply_moto::run(&args.examples)
}
