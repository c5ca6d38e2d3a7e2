//! End-to-end tests of the whole pipeline, with real parts only: PostgreSQL, a moto server reached
//! over HTTP by the real AWS SDK, real `terraform`, and the real consumer `bootstrap` fed by the
//! local event-source-mapping runner (`kx-events-local`) through the Lambda Runtime API.
//!
//! - `terraform_flow::terraform_local_example_end_to_end`: `terraform apply` of
//!   `terraform/examples/local` against moto, then producer (`kx-events`) → events queue → runner
//!   → `bootstrap` → PostgreSQL → bus → the subscription module's rule → subscriber queue, wired
//!   only by the module's outputs (`consumer_environment`, `producer_environment`, batch size and
//!   window); then `terraform destroy`. Besides the demo's story (a chain, a sign-up with points, a
//!   payment, a duplicate delivery, a poison message), messages exactly as the TypeScript
//!   system's producer sends them — written by hand from that system's documented examples
//!   (`tests/fixtures/typescript/`) and sent with boto3, not with our client — go through the
//!   same flow. One test does the apply once for all its assertions: an apply against moto takes
//!   minutes (the AWS provider waits about 25 s on each SQS queue and queue policy).
//! - `fault_matrix::fault_matrix`: one fault per scenario, each with its own moto resources
//!   (unique names) and its own database (a private PostgreSQL cluster for the restart scenario),
//!   run concurrently, with a final accounting of every input event id: exactly one row and one
//!   bus event per valid event, exactly one DLQ message with a reason per invalid message
//!   (`tests/fixtures/poison/`), nothing else. The table is printed at the end.
//!
//! Both tests are in this one binary so that they run concurrently (the fault matrix runs while
//! Terraform waits on the provider). See the tables with
//! `cargo test -p kx-events-tests --test e2e -- --nocapture`.
//!
//! Waits are bounded by generous limits that only stop a hung run; nothing asserts how fast the
//! pipeline is.

mod fault_matrix;
mod terraform_flow;

use std::time::Duration;

use serde_json::Value;

/// Safety bound for one wait.
const LIMIT: Duration = Duration::from_secs(150);

/// A message body from `tests/fixtures/`: each `{{name}}` placeholder replaced by its value in
/// `values` (the parts made per run: event ids, timestamps), written as compact JSON, as
/// `JSON.stringify` and `TrackedEvent::to_json` write it. Panics on a placeholder left unfilled
/// or a fixture that is not JSON.
fn message(fixture: &str, values: &[(&str, &str)]) -> String {
    let mut text = fixture.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    assert!(!text.contains("{{"), "placeholder left unfilled in {text}");
    let json: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture is not JSON ({e}): {text}"));
    json.to_string()
}
