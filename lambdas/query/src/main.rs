//! `query`: the query API Lambda's entry point. It wires JSON logs, configuration, the AWS
//! clients and the database pools, then serves HTTP requests (API Gateway HTTP API payload v2 or
//! a Function URL) with `lambda_http`. A bad setting fails the cold start with one line naming
//! it (also posted to the Runtime API as the init error). No connection is opened before the
//! first request.

use kx_events_consumer::{
    exit_on_init_error, init_json_logs, sdk_config, DbSecret, DbSettings, InitError, Store,
};
use kx_events_query_api::{ApiConfig, EventsQueue, QueryApi};
use lambda_http::{service_fn, Request};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_json_logs(false);
    let api = match cold_start().await {
        Ok(api) => api,
        Err(error) => exit_on_init_error(&error),
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(api.handle(req).await)
    }))
    .await
}

async fn cold_start() -> Result<QueryApi, InitError> {
    let config = ApiConfig::from_env()?;
    let sdk = sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let store = |db: kx_events_consumer::Config| {
        let secrets = secrets.clone();
        async move {
            let secret = DbSecret::read(&secrets, &db.db_secret_arn).await?;
            let settings = DbSettings::resolve(&db, &secret)?;
            Ok::<_, InitError>(Store::connect_with_secret(settings, secrets, db)?)
        }
    };
    let mut api = QueryApi::new(store(config.database.clone()).await?);
    if let Some(db) = config.eraser_database() {
        let eraser = store(db)
            .await
            .map_err(|e| e.for_secret_setting("KX_ERASER_SECRET_ARN"))?;
        api = api.with_eraser(eraser, &config.erasure_scope);
    }
    if let Some(url) = &config.events_queue_url {
        api = api.with_queue(EventsQueue::new(aws_sdk_sqs::Client::new(&sdk), url));
    }
    Ok(api)
}
