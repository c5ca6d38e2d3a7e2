//! The end-to-end tests of kx-events (`tests/tests/*.rs`) against real PostgreSQL, the real AWS
//! SDK against moto, real `terraform` and the real consumer `bootstrap`. What runs those parts
//! is `kx-events-testkit`; this crate re-exports it under the names the tests use
//! (`kx_events_tests::{Harness, Moto, TestDb, …}`, `kx_events_tests::e2e::{Pipeline, …}`) and
//! compiles the README's examples.
#![warn(missing_docs)]

/// The repository README's Rust examples (the producer section), compiled as doctests so that
/// what a reader copies builds.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub use kx_events_testkit::*;

/// The whole pipeline: the workspace's binaries, an isolated [`Pipeline`](e2e::Pipeline), the
/// consumer under the local runner, private PostgreSQL clusters, Terraform.
pub mod e2e {
    pub use kx_events_testkit::binaries::*;
    pub use kx_events_testkit::consumer::*;
    pub use kx_events_testkit::pipeline::*;
    pub use kx_events_testkit::postgres::*;
    pub use kx_events_testkit::terraform::*;
    pub use kx_events_testkit::{free_port, until, workspace_root};
}
