//! Lambda's side of a consumer test: `SqsEvent`s shaped as the event source mapping builds them
//! ([`sqs_record`], [`sqs_event`], [`failures`]), a valid event body ([`event_json`]), and
//! [`Harness`]: a database, queues, a bus with a target and a secret wired to a real
//! [`Consumer`] built the way `bootstrap` builds it (credentials from a real secret in moto).

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use kx_events_consumer::{
    Bus, Config, Consumer, ConsumerOptions, DbSecret, DbSettings, DeadLetterQueue, Store,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::db::TestDb;
use crate::env::unique;
use crate::moto::{sdk, Moto, Queues, Received};

/// One SQS record as Lambda delivers it: `body`, a message id, `ApproximateReceiveCount` =
/// `receive_count`, and string message attributes.
pub fn sqs_record(body: &str, receive_count: u32, attributes: &[(&str, &str)]) -> SqsMessage {
    let mut r = SqsMessage::default();
    r.message_id = Some(Uuid::new_v4().to_string());
    r.receipt_handle = Some(format!("AQEB{}", Uuid::new_v4().simple()));
    r.body = Some(body.to_owned());
    r.attributes = HashMap::from([
        (
            "ApproximateReceiveCount".to_owned(),
            receive_count.to_string(),
        ),
        ("SentTimestamp".to_owned(), "1705314600000".to_owned()),
        ("SenderId".to_owned(), "AIDAIENQZJOLO23YVJ4VO".to_owned()),
        (
            "ApproximateFirstReceiveTimestamp".to_owned(),
            "1705314600001".to_owned(),
        ),
    ]);
    for (k, v) in attributes {
        let mut a = SqsMessageAttribute::default();
        a.string_value = Some((*v).to_owned());
        a.data_type = Some("String".to_owned());
        r.message_attributes.insert((*k).to_owned(), a);
    }
    r.event_source = Some("aws:sqs".to_owned());
    r.event_source_arn = Some("arn:aws:sqs:us-east-1:123456789012:kx-events".to_owned());
    r.aws_region = Some("us-east-1".to_owned());
    r
}

/// An `SqsEvent` of `records`.
pub fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = records;
    e
}

/// The message ids of a batch response's failures.
pub fn failures(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// A valid event body: the given fields over a minimal valid event with a fresh UUID.
pub fn event_json(fields: Value) -> Value {
    let mut base = json!({
        "eventId": Uuid::new_v4().to_string(),
        "clientId": "client_123",
        "previousEventId": null,
        "entityType": "order",
        "eventType": "order_created",
        "occurredAt": "2024-01-15T10:30:00.000Z"
    });
    for (k, v) in fields.as_object().expect("fields is an object") {
        base[k] = v.clone();
    }
    base
}

/// Everything a consumer test needs: its own database, queues, bus with a target, a secret with
/// the database's credentials, and a [`Consumer`] built the way `bootstrap` builds it.
#[derive(Debug)]
pub struct Harness {
    /// The test's database.
    pub db: TestDb,
    /// moto clients.
    pub moto: Moto,
    /// Events queue and DLQ.
    pub queues: Queues,
    /// The bus name.
    pub bus_name: String,
    /// The event source (`kx-event-tracking`).
    pub source: String,
    /// The queue the bus rule delivers to.
    pub bus_target_url: String,
    /// The secret's ARN.
    pub secret_arn: String,
    /// The configuration, as `bootstrap` would read it from its environment.
    pub config: Config,
    /// The consumer.
    pub consumer: Consumer,
}

/// Options of [`Harness::build`].
#[derive(Debug, Clone)]
pub struct HarnessOptions {
    /// Create the bus before the test (false: the bus does not exist, every `PutEvents` fails).
    pub create_bus: bool,
    /// Consumer options (the sweep's `min_age` is 0 here by default, so tests need not wait).
    pub consumer: ConsumerOptions,
    /// PutEvents attempts per entry.
    pub bus_attempts: u32,
    /// Another EventBridge endpoint for the consumer (e.g. a fault proxy in front of moto).
    pub events_endpoint: Option<String>,
    /// Another DLQ URL for the consumer (e.g. a queue that does not exist).
    pub dlq_url: Option<String>,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        Self {
            create_bus: true,
            consumer: ConsumerOptions {
                sweep_min_age: Duration::ZERO,
                ..ConsumerOptions::default()
            },
            bus_attempts: 3,
            events_endpoint: None,
            dlq_url: None,
        }
    }
}

impl Harness {
    /// A harness with default options.
    pub async fn new() -> Self {
        Self::build(HarnessOptions::default()).await
    }

    /// A harness with `options`.
    pub async fn build(options: HarnessOptions) -> Self {
        let db = TestDb::create().await;
        let moto = Moto::new().await;
        let prefix = unique("kx");
        let queues = moto
            .create_queues(&prefix, options.consumer.max_receive_count)
            .await;
        let bus_name = format!("{prefix}-bus");
        let source = kx_events::DEFAULT_EVENT_SOURCE.to_owned();
        if options.create_bus {
            moto.create_bus(&bus_name).await;
        }
        let bus_target_url = if options.create_bus {
            moto.create_rule_target(&bus_name, &source).await
        } else {
            String::new()
        };
        // An RDS-managed secret holds only username and password; host, port and name come from
        // the environment, as Terraform sets them.
        let secret_arn = moto
            .create_secret(&json!({
                "username": db.settings.user,
                "password": db.settings.password,
                "engine": "postgres",
            }))
            .await;
        let env: HashMap<&str, String> = HashMap::from([
            ("DB_SECRET_ARN", secret_arn.clone()),
            ("DB_HOST", db.settings.host.clone()),
            ("DB_PORT", db.settings.port.to_string()),
            ("DB_NAME", db.name.clone()),
            ("DB_SSLMODE", "require".to_owned()),
            ("EVENT_BUS_NAME", bus_name.clone()),
            (
                "DEAD_LETTER_QUEUE_URL",
                options
                    .dlq_url
                    .clone()
                    .unwrap_or_else(|| queues.dlq_url.clone()),
            ),
            (
                "MAX_RECEIVE_COUNT",
                options.consumer.max_receive_count.to_string(),
            ),
        ]);
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("config");
        let consumer = Self::consumer_for(&moto, &config, &options).await;
        Self {
            db,
            moto,
            queues,
            bus_name,
            source,
            bus_target_url,
            secret_arn,
            config,
            consumer,
        }
    }

    /// A consumer built from `config` as `bootstrap` builds one (secret read from moto).
    pub async fn consumer_for(moto: &Moto, config: &Config, options: &HarnessOptions) -> Consumer {
        let secret = DbSecret::fetch(&moto.secrets, &config.db_secret_arn)
            .await
            .expect("read the secret");
        let mut settings = DbSettings::resolve(config, &secret).expect("settings");
        settings.connect_timeout = Duration::from_secs(3);
        let store = Store::connect_with_secret(settings, moto.secrets.clone(), config.clone())
            .expect("store");
        store.migrate().await.expect("migrate");
        let events = match &options.events_endpoint {
            Some(url) => aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(&sdk().await)
                    .endpoint_url(url)
                    .build(),
            ),
            None => moto.events.clone(),
        };
        Consumer::new(
            store,
            Bus::new(events, &config.event_bus_name, &config.event_source)
                .with_retries(options.bus_attempts, Duration::from_millis(50)),
            DeadLetterQueue::new(moto.sqs.clone(), &config.dead_letter_queue_url),
            options.consumer.clone(),
        )
    }

    /// Runs the handler on `records` as Lambda would (default context).
    pub async fn handle(&self, records: Vec<SqsMessage>) -> Vec<String> {
        let response = self
            .consumer
            .handle(sqs_event(records), &lambda_runtime::Context::default())
            .await
            .expect("handler");
        failures(&response)
    }

    /// Drains and returns the bus events delivered so far.
    pub async fn bus_events(&self) -> Vec<Value> {
        self.moto.bus_events(&self.bus_target_url).await
    }

    /// Drains and returns the DLQ.
    pub async fn dlq(&self) -> Vec<Received> {
        self.moto.drain(&self.queues.dlq_url).await
    }
}
