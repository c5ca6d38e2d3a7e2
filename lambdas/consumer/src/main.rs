//! `bootstrap`: the consumer Lambda's entry point. It only wires things together: JSON logs,
//! configuration, AWS clients, the database pool and migrations, then the Lambda runtime loop.
//! A bad setting fails the cold start with one log line that names it (also posted to the
//! Runtime API as the init error).

use aws_lambda_events::event::sqs::SqsEvent;
use kx_events_consumer::{
    report_init_error, sdk_config, Bus, Config, Consumer, ConsumerOptions, DbSecret, DbSettings,
    DeadLetterQueue, Store,
};
use lambda_runtime::{service_fn, LambdaEvent};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // `Targets` (e.g. `RUST_LOG=info,kx_events_consumer=debug`) rather than `EnvFilter`, whose
    // regex engine would add about 0.2 MB to the zip.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_target(false)
                .with_filter(filter),
        )
        .init();
    let consumer = match cold_start().await {
        Ok(consumer) => consumer,
        Err(message) => {
            tracing::error!("cold start failed: {message}");
            report_init_error("Runtime.InitError", &message);
            std::process::exit(1);
        }
    };
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        consumer
            .handle(event.payload, &event.context)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}

/// Configuration, clients, pool and migrations; the error is one line naming what is wrong.
async fn cold_start() -> Result<Consumer, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let sdk = sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = DbSecret::fetch(&secrets, &config.db_secret_arn)
        .await
        .map_err(|e| e.to_string())?;
    let settings = DbSettings::resolve(&config, &secret).map_err(|e| e.to_string())?;
    let store =
        Store::connect_with_secret(settings, secrets, config.clone()).map_err(|e| e.to_string())?;
    match store.migrate().await {
        Ok(report) => tracing::info!(
            applied = ?report.applied,
            already_applied = ?report.already_applied,
            "database schema ready"
        ),
        // The database may be back before the first batch, which migrates first.
        Err(e) if e.is_retryable() => tracing::warn!(
            cause = %e,
            "database not reachable at cold start; migrating before the first batch"
        ),
        Err(e) => return Err(format!("database: {e}")),
    }
    Ok(Consumer::new(
        store,
        Bus::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            &config.event_bus_name,
            &config.event_source,
        ),
        DeadLetterQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            &config.dead_letter_queue_url,
        ),
        ConsumerOptions::from_config(&config),
    ))
}
