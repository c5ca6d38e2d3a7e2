//! `bootstrap`: the consumer Lambda's entry point. It only wires things together: JSON logs,
//! configuration, AWS clients, the database pool and migrations, then the Lambda runtime loop.
//! A bad setting fails the cold start with one log line that names it (also posted to the
//! Runtime API as the init error).

use aws_lambda_events::event::sqs::SqsEvent;
use kx_events_consumer::deploy::{run_migrate, MigrateCommandError, MigrateConfig, MigrateOutcome};
use kx_events_consumer::{
    exit_on_init_error, init_json_logs, sdk_config, Bus, Config, Consumer, ConsumerOptions,
    DbSecret, DbSettings, DeadLetterQueue, InitError, MigrateMode, Store,
};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let command = std::env::args().nth(1);
    // As a command, stdout carries the result only: logs go to stderr.
    init_json_logs(command.is_some());
    match command.as_deref() {
        Some("migrate") => return migrate_command().await,
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            return Ok(());
        }
        Some(other) => {
            eprintln!("bootstrap: unknown command {other:?}\n\n{USAGE}");
            std::process::exit(2);
        }
        None => {}
    }
    if std::env::var("KX_MODE").is_ok_and(|m| m.trim() == "migrate") {
        return migrate_function().await;
    }
    let consumer = match cold_start().await {
        Ok(consumer) => consumer,
        Err(error) => exit_on_init_error(&error),
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

const USAGE: &str = "usage:
  bootstrap            the consumer Lambda (Runtime API); with KX_MODE=migrate, the migrate function
  bootstrap migrate    apply the schema migrations and provision the roles, with the owner's
                       credentials (DB_SECRET_ARN or KX_DATABASE_URL; KX_APP_ROLE_SECRET_ARN,
                       KX_QUERY_ROLE_SECRET_ARN); prints what it did as JSON";

async fn migrate_once() -> Result<MigrateOutcome, MigrateCommandError> {
    let config = MigrateConfig::from_lookup(|name| std::env::var(name).ok())?;
    let sdk = sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    run_migrate(&config, &secrets).await
}

/// `bootstrap migrate`: one run, the outcome as JSON on stdout; exit 1 with the reason otherwise.
async fn migrate_command() -> Result<(), lambda_runtime::Error> {
    match migrate_once().await {
        Ok(outcome) => {
            println!("{}", serde_json::to_string(&outcome).unwrap_or_default());
            Ok(())
        }
        Err(error) => {
            let message = kx_events::error_chain(&error);
            tracing::error!("migrate failed: {message}");
            eprintln!("bootstrap migrate: {message}");
            std::process::exit(1);
        }
    }
}

/// `KX_MODE=migrate`: each invocation (any payload) migrates and returns the outcome; a failure
/// fails the invocation (and so the Terraform apply that invoked it).
async fn migrate_function() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        let outcome = migrate_once().await.map_err(|error| {
            let message = kx_events::error_chain(&error);
            tracing::error!("migrate failed: {message}");
            lambda_runtime::Error::from(message)
        })?;
        tracing::info!(applied = ?outcome.applied, adopted = outcome.adopted, roles = ?outcome.roles, "migrate done");
        Ok::<_, lambda_runtime::Error>(outcome)
    }))
    .await
}

/// Configuration, clients, pool and schema check; the error names what is wrong.
async fn cold_start() -> Result<Consumer, InitError> {
    let config = Config::from_env()?;
    let sdk = sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = DbSecret::read(&secrets, &config.db_secret_arn).await?;
    let settings = DbSettings::resolve(&config, &secret)?;
    let store = Store::connect_with_secret(settings, secrets, config.clone())?;
    store.set_may_migrate(config.migrate == MigrateMode::Auto);
    match store.ensure_migrated().await {
        Ok(report) => tracing::info!(
            applied = ?report.applied,
            already_applied = ?report.already_applied,
            adopted = report.adopted,
            "database schema ready"
        ),
        // The database may be back before the first batch, which checks first.
        Err(e) if e.is_retryable() => tracing::warn!(
            cause = %e,
            "database not reachable at cold start; checking the schema before the first batch"
        ),
        Err(e) => return Err(InitError::Schema(e)),
    }
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let consumer = Consumer::new(
        store,
        Bus::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            &config.event_bus_name,
            &config.event_source,
        ),
        DeadLetterQueue::new(sqs.clone(), &config.dead_letter_queue_url),
        ConsumerOptions::from_config(&config),
    );
    // One EMF record per invocation on stdout (KX_METRICS_NAMESPACE, `off` to turn it off).
    let consumer = match kx_events_consumer::metrics::Metrics::from_env() {
        Some(m) => consumer.with_metrics(m),
        None => consumer,
    };
    Ok(match &config.events_queue_url {
        Some(url) => consumer.with_requeue(sqs, url, REQUEUE_DELAY),
        None => consumer,
    })
}

/// How long a record sent back to the queue during a database outage waits before its next
/// delivery.
const REQUEUE_DELAY: std::time::Duration = std::time::Duration::from_secs(60);
