//! A program that tracks events and returns from `main` without flushing, for
//! `tests/tests/producer_exit.rs`: what the crate does with events still held when the process
//! exits. `kx-producer-exit COUNT [guard]` prints each tracked event's id; with `guard`, it
//! holds a `kx_events::flush_guard()` for the whole of `main` instead of relying on the exit
//! hook. `EVENTS_QUEUE_URL` and the AWS settings come from the environment. No `tracing`
//! subscriber is installed: the crate's lines go to standard error.

use kx_events::{track, ExplicitContext};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let guard = args.next().as_deref() == Some("guard");
    let _guard = guard.then(kx_events::flush_guard);
    for i in 0..count {
        let tracked = track!(
            ExplicitContext::new("client_123"),
            "job",
            "job_finished",
            points_awarded = i as i32
        );
        println!("{}", tracked.event_id().expect("queued"));
    }
    // No flush: returning from `main` ends the process.
}
