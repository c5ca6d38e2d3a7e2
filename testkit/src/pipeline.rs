//! [`Pipeline`]: one isolated copy of the system's AWS resources in moto (an events queue with
//! its DLQ, a bus, a subscriber rule with an SQS target, a database secret; unique names, so
//! tests run in parallel) and the database the consumer writes to: a fresh one on the shared
//! server ([`TestDb`]) or a [`PrivatePostgres`] a test may stop and start. The consumer runs on
//! it with [`Pipeline::start_consumer`] (see [`crate::consumer`]).

use kx_events_consumer::SslMode;
use serde_json::json;

use crate::consumer::{LocalConsumer, RunnerOptions};
use crate::db::TestDb;
use crate::env::{required_env, unique};
use crate::moto::{Moto, Queues};
use crate::postgres::{DbTarget, PrivatePostgres};

/// The database of a [`Pipeline`]: kept alive as long as the pipeline.
#[derive(Debug)]
pub enum Database {
    /// A fresh database on the shared server.
    Shared(Box<TestDb>),
    /// A private cluster.
    Private(PrivatePostgres),
}

impl Database {
    /// Where the consumer finds it.
    pub fn target(&self) -> DbTarget {
        match self {
            Database::Shared(db) => DbTarget {
                host: db.settings.host.clone(),
                port: db.settings.port,
                user: db.settings.user.clone(),
                password: db.settings.password.clone(),
                dbname: db.name.clone(),
                sslmode: match db.settings.sslmode {
                    SslMode::Disable => "disable",
                    SslMode::Require => "require",
                    SslMode::VerifyFull => "verify-full",
                },
            },
            Database::Private(pg) => pg.target(),
        }
    }
}

/// Options of [`Pipeline::create`].
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// The queue's `maxReceiveCount` and the consumer's `MAX_RECEIVE_COUNT` (default 3).
    pub max_receive_count: u32,
    /// Use a [`PrivatePostgres`] instead of a database on the shared server.
    pub private_postgres: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            max_receive_count: 3,
            private_postgres: false,
        }
    }
}

/// One isolated copy of the system's AWS resources in moto, and its database.
#[derive(Debug)]
pub struct Pipeline {
    /// The name stem of its resources.
    pub name: String,
    /// Clients for moto.
    pub moto: Moto,
    /// The events queue and its DLQ.
    pub queues: Queues,
    /// The bus.
    pub bus_name: String,
    /// The queue a rule on the bus (`source` = `kx-event-tracking`) delivers to.
    pub subscriber_url: String,
    /// The database secret (`username`, `password`).
    pub secret_arn: String,
    /// The database.
    pub db: Database,
    /// `MAX_RECEIVE_COUNT`.
    pub max_receive_count: u32,
}

impl Pipeline {
    /// Creates the resources, named after `name` plus a unique suffix.
    pub async fn create(name: &str, options: PipelineOptions) -> Pipeline {
        let moto = Moto::new().await;
        let stem = unique(name);
        let db = if options.private_postgres {
            Database::Private(
                tokio::task::spawn_blocking(PrivatePostgres::start)
                    .await
                    .expect("private PostgreSQL"),
            )
        } else {
            Database::Shared(Box::new(TestDb::create().await))
        };
        let target = db.target();
        let queues = moto.create_queues(&stem, options.max_receive_count).await;
        let bus_name = format!("{stem}-bus");
        moto.create_bus(&bus_name).await;
        let subscriber_url = moto
            .create_rule_target(&bus_name, kx_events::DEFAULT_EVENT_SOURCE)
            .await;
        let secret_arn = moto
            .create_secret(&json!({ "username": target.user, "password": target.password }))
            .await;
        Pipeline {
            name: stem,
            moto,
            queues,
            bus_name,
            subscriber_url,
            secret_arn,
            db,
            max_receive_count: options.max_receive_count,
        }
    }

    /// The consumer's environment, exactly the variables the module sets, plus the AWS endpoint
    /// (`endpoint`: moto, or a fault proxy in front of it).
    pub fn consumer_env(&self, endpoint: &str) -> Vec<(String, String)> {
        let db = self.db.target();
        [
            ("DB_SECRET_ARN", self.secret_arn.clone()),
            ("DB_HOST", db.host),
            ("DB_PORT", db.port.to_string()),
            ("DB_NAME", db.dbname),
            ("DB_SSLMODE", db.sslmode.to_string()),
            ("EVENT_BUS_NAME", self.bus_name.clone()),
            ("EVENT_SOURCE", kx_events::DEFAULT_EVENT_SOURCE.to_string()),
            ("DEAD_LETTER_QUEUE_URL", self.queues.dlq_url.clone()),
            ("MAX_RECEIVE_COUNT", self.max_receive_count.to_string()),
            ("AWS_ENDPOINT_URL", endpoint.to_string()),
            ("RUST_LOG", "info".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// `postgres://` URL of its database (no TLS), for the tests' own reads.
    pub fn database_url(&self) -> String {
        self.db.target().url()
    }

    /// Starts the runner and the real `bootstrap` on the events queue, the consumer's AWS calls
    /// going to `endpoint` (default: moto).
    pub async fn start_consumer(
        &self,
        endpoint: Option<&str>,
        runner: RunnerOptions,
    ) -> LocalConsumer {
        let moto_url = required_env("AWS_ENDPOINT_URL");
        let env = self.consumer_env(endpoint.unwrap_or(&moto_url));
        LocalConsumer::start(&self.moto, &self.queues.queue_url, env, runner).await
    }

    /// Sends a raw body to the events queue; returns the message id.
    pub async fn send(&self, body: &str) -> String {
        self.moto.send(&self.queues.queue_url, body, &[]).await
    }

    /// Rows of the consumer's database as `(stored, published, leased)` counts.
    pub async fn outbox_counts(&self) -> (i64, i64, i64) {
        let url = self.db.target().url();
        tokio::task::spawn_blocking(move || {
            let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) else {
                return (0, 0, 0);
            };
            let exists: bool = c
                .query_one("SELECT to_regclass('public.events') IS NOT NULL", &[])
                .map(|r| r.get(0))
                .unwrap_or(false);
            if !exists {
                return (0, 0, 0);
            }
            c.query_one(
                "SELECT count(*), count(published_at),
                        count(*) FILTER (WHERE published_at IS NULL AND publish_lease > now())
                   FROM events",
                &[],
            )
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .unwrap_or((0, 0, 0))
        })
        .await
        .expect("outbox counts")
    }
}
