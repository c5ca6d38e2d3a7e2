//! `query`: the query API Lambda's entry point. It wires JSON logs, configuration, the AWS
//! clients and the database pools, then serves HTTP requests (API Gateway HTTP API payload v2 or
//! a Function URL) with `lambda_http`. A bad setting fails the cold start with one line naming
//! it (also posted to the Runtime API as the init error). No connection is opened before the
//! first request.

use kx_events_consumer::{report_init_error, sdk_config, DbSecret, DbSettings, Store};
use kx_events_query_api::{ApiConfig, EventsQueue, QueryApi};
use lambda_http::{service_fn, Request};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
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
    let api = match cold_start().await {
        Ok(api) => api,
        Err(message) => {
            tracing::error!("cold start failed: {message}");
            report_init_error("Runtime.InitError", &message);
            std::process::exit(1);
        }
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(api.handle(req).await)
    }))
    .await
}

async fn cold_start() -> Result<QueryApi, String> {
    let config = ApiConfig::from_env().map_err(|e| e.to_string())?;
    let sdk = sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let store = |db: kx_events_consumer::Config| {
        let secrets = secrets.clone();
        async move {
            let secret = DbSecret::fetch(&secrets, &db.db_secret_arn)
                .await
                .map_err(|e| e.to_string())?;
            let settings = DbSettings::resolve(&db, &secret).map_err(|e| e.to_string())?;
            Store::connect_with_secret(settings, secrets, db).map_err(|e| e.to_string())
        }
    };
    let mut api = QueryApi::new(store(config.database.clone()).await?);
    if let Some(db) = config.eraser_database() {
        let setting = |e: String| e.replace("DB_SECRET_ARN", "KX_ERASER_SECRET_ARN");
        api = api.with_eraser(store(db).await.map_err(setting)?, &config.erasure_scope);
    }
    if let Some(url) = &config.events_queue_url {
        api = api.with_queue(EventsQueue::new(aws_sdk_sqs::Client::new(&sdk), url));
    }
    Ok(api)
}
