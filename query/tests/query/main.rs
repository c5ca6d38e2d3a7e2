//! kx-events-query against a real PostgreSQL: one database per test, the schema of
//! `migrations/`, no mocks. Run `scripts/services.sh up && source .state/env` first.

mod analytics;
mod chains;
mod filters;
mod harness;
mod pagination;
mod plans;
mod read_only;
