//! Tracking from a program that is not a Lambda function (a container, a CLI, a cron job):
//! explicit ids, a chain of events linked by `previousEventId`, and `flush()` before exiting.
//!
//! Prints each tracked event's id on standard output, one per line (progress goes to standard
//! error), and exits with status 1 if any event could not be tracked. An event that is tracked but
//! cannot be delivered is retried, then logged at error level with its id and JSON.
//!
//! ```text
//! EVENTS_QUEUE_URL=… [AWS_ENDPOINT_URL=…] cargo run -p kx-events --example standalone -- [CLIENT_ID] [ORDERS]
//! ```
//!
//! Defaults: client `client_123`, 3 orders (each: created → paid → shipped).

use kx_events::{track, ExplicitContext, Tracked};
use serde_json::json;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let client_id = args.next().unwrap_or_else(|| "client_123".into());
    let orders: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);

    let mut failed = 0;
    for n in 1..=orders {
        let order_id = format!("order_{n}");
        let mut ctx = ExplicitContext::new(&client_id);
        for (step, points) in [
            ("order_created", 0),
            ("order_paid", 10),
            ("order_shipped", 0),
        ] {
            match track!(
                ctx,
                "order",
                step,
                entity_id = order_id.as_str(),
                source = "standalone",
                points_awarded = points,
                metadata = json!({ "step": step }),
            ) {
                Tracked::Queued(event_id) => {
                    println!("{event_id}");
                    eprintln!("tracked {event_id} order.{step} ({order_id})");
                    ctx = ExplicitContext::new(&client_id).with_previous_event_id(event_id);
                }
                Tracked::NotTracked(reason) => {
                    eprintln!("not tracked: {reason}");
                    failed += 1;
                }
            }
        }
    }
    // Everything tracked above is sent (or logged with its JSON) before this returns.
    kx_events::flush().await;
    if failed > 0 {
        std::process::exit(1);
    }
}
