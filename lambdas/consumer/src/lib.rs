//! # kx-events-consumer
//!
//! The consumer Lambda of kx-events: it stores each SQS batch of tracked events idempotently in
//! PostgreSQL and puts the stored events on an EventBridge custom bus.
//!
//! ```no_run
//! use kx_events_consumer::{
//!     sdk_config, Bus, Config, Consumer, ConsumerOptions, DbSecret, DbSettings, DeadLetterQueue,
//!     Store,
//! };
//!
//! # async fn cold_start() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::from_env()?;
//! let sdk = sdk_config().await;
//! let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
//! let secret = DbSecret::fetch(&secrets, &config.db_secret_arn).await?;
//! let store = Store::connect_with_secret(DbSettings::resolve(&config, &secret)?, secrets, config.clone())?;
//! store.ensure_migrated().await?;
//! let consumer = Consumer::new(
//!     store,
//!     Bus::new(aws_sdk_eventbridge::Client::new(&sdk), &config.event_bus_name, &config.event_source),
//!     DeadLetterQueue::new(aws_sdk_sqs::Client::new(&sdk), &config.dead_letter_queue_url),
//!     ConsumerOptions::from_config(&config),
//! );
//! # Ok(()) }
//! ```
//!
//! ## Delivery guarantee
//!
//! Every valid record is stored exactly once (`ON CONFLICT (event_id) DO NOTHING`) and put on the
//! bus at least once; a duplicate delivery of a published event makes neither a second row nor a
//! second bus event. The database is the outbox: a row is put on the bus only after a consumer
//! claimed it (a lease column), and marked published after EventBridge accepted it. A record is
//! reported as a batch item failure until its event is stored and on the bus, except on its last
//! receive, when a stored row is left to the outbox sweep rather than sent to the DLQ. Records
//! that can never be valid go to the DLQ, sent by the consumer with their reason.
#![warn(missing_docs)]

mod bus;
mod config;
pub mod deploy;
mod dlq;
mod handler;
pub mod metrics;
pub mod migrate;
pub mod roles;
mod startup;
mod store;
pub(crate) mod tls;

pub use bus::{
    unpublishable, Bus, EntryExtras, PublishReport, MAX_ENTRIES_PER_PUT, MAX_PUT_BYTES,
    TRANSIENT_ENTRY_ERRORS, UNPUBLISHABLE,
};
pub use config::{
    Config, ConfigError, DbSecret, DbSettings, MigrateMode, SecretError, SslMode,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT,
};
pub use dlq::{
    DeadLetterQueue, Poison, FIELD_ATTRIBUTE, MAX_ENTRIES_PER_SEND, MAX_SEND_BYTES,
    REASON_ATTRIBUTE, RULE_ATTRIBUTE, SOURCE_MESSAGE_ID_ATTRIBUTE,
};
pub use handler::{
    trace_id, Consumer, ConsumerOptions, HandlerError, PhaseTimings, Summary, REQUEUED_ATTRIBUTE,
    TRACE_HEADER_ATTRIBUTE,
};
pub use kx_events::aws::sdk_config;
pub use migrate::{MigrationError, MigrationReport, SchemaStatus};
pub use startup::{exit_on_init_error, init_json_logs, report_init_error, InitError};
pub use store::{
    row_event, with_deadline, DbCause, InsertOutcome, NewEvent, Store, StoreError, StoreStatus,
    EVENT_COLUMNS,
};
pub use tls::RDS_CA_BUNDLE;
