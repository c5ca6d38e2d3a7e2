//! A function with an internal Lambda extension that "flushes" after each response, the pattern
//! kx-events' producer uses (aws-lambda-rust-runtime's `extension-internal-flush` example):
//! the extension registers for `INVOKE` during init, then, on each invocation, waits for the
//! handler to signal that it is done and flushes before asking for its next event — so the
//! sandbox must not freeze before the flush.
//!
//! `FLUSH_MS` (default 300) is how long a flush takes. Output lines: `handler: responded <id>`
//! and `extension: flushed <id>`.
use lambda_extension::{Extension, LambdaEvent as ExtensionEvent, NextEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let flush_ms: u64 = std::env::var("FLUSH_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let (done_tx, done_rx) = mpsc::unbounded_channel::<String>();
    let done_rx = Arc::new(Mutex::new(done_rx));

    let extension = Extension::new()
        .with_extension_name("flush")
        .with_events(&["INVOKE"])
        .with_events_processor(lambda_extension::service_fn(
            move |event: ExtensionEvent| {
                let done_rx = done_rx.clone();
                async move {
                    let NextEvent::Invoke(invoke) = event.next else {
                        return Err::<(), Error>("internal extensions only get INVOKE".into());
                    };
                    let handled = done_rx.lock().await.recv().await.ok_or("handler gone")?;
                    tokio::time::sleep(std::time::Duration::from_millis(flush_ms)).await;
                    println!(
                        "extension: flushed {} (handler said {handled})",
                        invoke.request_id
                    );
                    Ok(())
                }
            },
        ))
        // Registration must happen before the runtime's first `next` (the init phase).
        .register()
        .await?;

    let handler = service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let done_tx = done_tx.clone();
        async move {
            let id = event.context.request_id.clone();
            println!("handler: responded {id}");
            done_tx.send(id).map_err(Box::new)?;
            Ok::<_, Error>(serde_json::json!({"ok": true, "echo": event.payload}))
        }
    });

    tokio::try_join!(lambda_runtime::run(handler), extension.run())?;
    Ok(())
}
