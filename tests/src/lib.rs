//! Support for the end-to-end tests of kx-events: real PostgreSQL, the real AWS SDK against a
//! moto server, no mocks.
//!
//! - [`TestDb`]: a fresh, uniquely named database per test on the server of
//!   `KX_TEST_DATABASE_URL`, dropped at the end.
//! - [`Moto`]: SDK clients for the moto server of `AWS_ENDPOINT_URL`, with helpers that create a
//!   queue and its DLQ with a redrive policy, a bus with a rule whose target is an SQS queue (to
//!   read what the bus delivered), and a Secrets Manager secret.
//! - [`sqs_record`] / [`sqs_event`]: `SqsEvent`s shaped as Lambda's event source mapping builds
//!   them; [`Moto::receive_as_event`] builds one from messages really received from a queue.
//! - [`Harness`]: all of the above wired to a real [`Consumer`] whose database credentials come
//!   from a real secret in moto.
//!
//! Run `scripts/services.sh up && source .state/env` first. A missing variable fails the test
//! with a message saying so; nothing is skipped.
#![warn(missing_docs)]

pub mod e2e;
pub mod tcp_proxy;

/// The repository README's Rust examples (the producer section), compiled as doctests so that
/// what a reader copies builds.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use kx_events_consumer::{
    Bus, Config, Consumer, ConsumerOptions, DbSecret, DbSettings, DeadLetterQueue, SslMode, Store,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// The value of a required environment variable, or a panic that says how to set it.
pub fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: the end-to-end tests need the local services. Run \
             `scripts/services.sh up && source .state/env` (or `make test`) first."
        ),
    }
}

/// A short unique suffix for names of test resources.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// Runs a synchronous `postgres` closure on a blocking thread (the sync client must not run on a
/// tokio worker).
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("blocking task panicked")
}

/// A database of its own for one test, created on the server of `KX_TEST_DATABASE_URL` and
/// dropped (`WITH (FORCE)`) when this value is dropped.
#[derive(Debug)]
pub struct TestDb {
    /// The database name (`kx_test_…`).
    pub name: String,
    /// Settings for the consumer's store (TLS `require`: the local server has `ssl = on`).
    pub settings: DbSettings,
    admin: DbSettings,
}

fn connect(settings: &DbSettings) -> postgres::Client {
    let mut c = postgres::Config::new();
    c.host(&settings.host)
        .port(settings.port)
        .user(&settings.user)
        .password(&settings.password)
        .dbname(&settings.dbname)
        .connect_timeout(Duration::from_secs(10));
    c.connect(postgres::NoTls).unwrap_or_else(|e| {
        panic!(
            "cannot connect to PostgreSQL at {}:{}: {e}",
            settings.host, settings.port
        )
    })
}

impl TestDb {
    /// Creates the database.
    pub async fn create() -> Self {
        let url = required_env("KX_TEST_DATABASE_URL");
        let admin = DbSettings::from_url(&url)
            .unwrap_or_else(|e| panic!("KX_TEST_DATABASE_URL is not a postgres:// URL: {e}"));
        let name = format!("kx_test_{}", Uuid::new_v4().simple());
        let (a, n) = (admin.clone(), name.clone());
        blocking(move || {
            connect(&a)
                .batch_execute(&format!("CREATE DATABASE {n}"))
                .expect("CREATE DATABASE");
        })
        .await;
        let settings = DbSettings {
            dbname: name.clone(),
            sslmode: SslMode::Require,
            connect_timeout: Duration::from_secs(3),
            ..admin.clone()
        };
        Self {
            name,
            settings,
            admin,
        }
    }

    /// Runs `sql` (no parameters) and returns each row as a JSON object (`row_to_json`).
    pub async fn rows(&self, sql: &str) -> Vec<Value> {
        let (s, sql) = (self.settings.clone(), sql.to_owned());
        blocking(move || {
            let wrapped = format!("SELECT row_to_json(t)::text FROM ({sql}) t");
            connect(&s)
                .query(&wrapped, &[])
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
                .collect()
        })
        .await
    }

    /// Runs statements.
    pub async fn execute(&self, sql: &str) {
        let (s, sql) = (self.settings.clone(), sql.to_owned());
        blocking(move || {
            connect(&s)
                .batch_execute(&sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
        .await
    }

    /// `SELECT count(*) FROM events [WHERE …]`.
    pub async fn count_events(&self, filter: &str) -> i64 {
        let sql = if filter.is_empty() {
            "SELECT count(*) AS n FROM events".to_owned()
        } else {
            format!("SELECT count(*) AS n FROM events WHERE {filter}")
        };
        self.rows(&sql).await[0]["n"].as_i64().unwrap()
    }

    /// The row of `event_id` as JSON, or `None`.
    pub async fn event_row(&self, event_id: Uuid) -> Option<Value> {
        self.rows(&format!(
            "SELECT * FROM events WHERE event_id = '{event_id}'"
        ))
        .await
        .into_iter()
        .next()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (a, n) = (self.admin.clone(), self.name.clone());
        // Drop may run on a tokio worker: use a plain thread for the sync client.
        let _ = std::thread::spawn(move || {
            let _ = connect(&a).batch_execute(&format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)"));
        })
        .join();
    }
}

/// SDK configuration for the moto server of `AWS_ENDPOINT_URL` (the consumer's own
/// [`kx_events_consumer::sdk_config`], so the same HTTP/TLS stack is tested).
pub async fn sdk() -> aws_config::SdkConfig {
    required_env("AWS_ENDPOINT_URL");
    kx_events_consumer::sdk_config().await
}

/// SDK clients for moto.
#[derive(Debug, Clone)]
pub struct Moto {
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// EventBridge.
    pub events: aws_sdk_eventbridge::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// An events queue with its DLQ (redrive after `max_receive_count` receives).
#[derive(Debug, Clone)]
pub struct Queues {
    /// The events queue.
    pub queue_url: String,
    /// Its ARN.
    pub queue_arn: String,
    /// The dead-letter queue.
    pub dlq_url: String,
    /// Its ARN.
    pub dlq_arn: String,
}

/// A message read from a queue.
#[derive(Debug, Clone)]
pub struct Received {
    /// The body.
    pub body: String,
    /// String message attributes.
    pub attributes: HashMap<String, String>,
}

impl Moto {
    /// Clients from [`sdk`].
    pub async fn new() -> Self {
        let sdk = sdk().await;
        Self {
            sqs: aws_sdk_sqs::Client::new(&sdk),
            events: aws_sdk_eventbridge::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
        }
    }

    /// Creates a standard queue.
    pub async fn create_queue(
        &self,
        name: &str,
        attributes: &[(QueueAttributeName, String)],
    ) -> (String, String) {
        let mut req = self.sqs.create_queue().queue_name(name);
        for (k, v) in attributes {
            req = req.attributes(k.clone(), v);
        }
        let url = req
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "CreateQueue {name}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })
            .queue_url()
            .unwrap()
            .to_owned();
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        (url, arn)
    }

    /// Creates `{prefix}-events` and its DLQ `{prefix}-dlq` with a redrive policy.
    pub async fn create_queues(&self, prefix: &str, max_receive_count: u32) -> Queues {
        let (dlq_url, dlq_arn) = self.create_queue(&format!("{prefix}-dlq"), &[]).await;
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count.to_string()});
        let (queue_url, queue_arn) = self
            .create_queue(
                &format!("{prefix}-events"),
                &[
                    (QueueAttributeName::RedrivePolicy, redrive.to_string()),
                    (QueueAttributeName::VisibilityTimeout, "30".into()),
                ],
            )
            .await;
        Queues {
            queue_url,
            queue_arn,
            dlq_url,
            dlq_arn,
        }
    }

    /// Creates the bus `bus_name`.
    pub async fn create_bus(&self, bus_name: &str) {
        self.events
            .create_event_bus()
            .name(bus_name)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "CreateEventBus: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                )
            });
    }

    /// Creates a rule on `bus_name` matching `source` whose target is a new queue; returns the
    /// target queue's URL. The bus itself may be created before or after.
    pub async fn create_rule_target(&self, bus_name: &str, source: &str) -> String {
        let (url, arn) = self.create_queue(&unique("bus-target"), &[]).await;
        let rule = unique("rule");
        self.events
            .put_rule()
            .name(&rule)
            .event_bus_name(bus_name)
            .event_pattern(json!({ "source": [source] }).to_string())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PutRule: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                )
            });
        self.events
            .put_targets()
            .rule(&rule)
            .event_bus_name(bus_name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("sqs")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PutTargets: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                )
            });
        url
    }

    /// Creates a secret and returns its ARN.
    pub async fn create_secret(&self, value: &Value) -> String {
        self.secrets
            .create_secret()
            .name(unique("kx-db"))
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "CreateSecret: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )
            })
            .arn()
            .unwrap()
            .to_owned()
    }

    /// Receives (and deletes) every message currently in `queue_url`. moto delivers bus events to
    /// SQS targets synchronously inside `PutEvents`, so what was published is already there.
    pub async fn drain(&self, queue_url: &str) -> Vec<Received> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .visibility_timeout(30)
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = got.messages();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                out.push(Received {
                    body: m.body().unwrap_or_default().to_owned(),
                    attributes: m
                        .message_attributes()
                        .map(|a| {
                            a.iter()
                                .filter_map(|(k, v)| {
                                    Some((k.clone(), v.string_value()?.to_owned()))
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                });
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }

    /// Drains a bus target queue and returns the EventBridge envelopes it held.
    pub async fn bus_events(&self, target_url: &str) -> Vec<Value> {
        self.drain(target_url)
            .await
            .into_iter()
            .map(|m| serde_json::from_str(&m.body).expect("bus target message is JSON"))
            .collect()
    }

    /// Sends `body` with optional string attributes; returns the message id.
    pub async fn send(&self, queue_url: &str, body: &str, attributes: &[(&str, &str)]) -> String {
        let mut req = self
            .sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(body);
        for (k, v) in attributes {
            req = req.message_attributes(
                *k,
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(*v)
                    .build()
                    .unwrap(),
            );
        }
        req.send()
            .await
            .expect("SendMessage")
            .message_id()
            .unwrap()
            .to_owned()
    }

    /// Receives up to 10 messages from `queue_url` and builds the `SqsEvent` Lambda's event
    /// source mapping would deliver for them (real message ids, receipt handles, receive counts).
    pub async fn receive_as_event(&self, queue: &Queues) -> SqsEvent {
        let got = self
            .sqs
            .receive_message()
            .queue_url(&queue.queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("ReceiveMessage");
        let mut event = SqsEvent::default();
        for m in got.messages() {
            let mut r = SqsMessage::default();
            r.message_id = m.message_id().map(Into::into);
            r.receipt_handle = m.receipt_handle().map(Into::into);
            r.body = m.body().map(Into::into);
            r.md5_of_body = m.md5_of_body().map(Into::into);
            r.md5_of_message_attributes = m.md5_of_message_attributes().map(Into::into);
            r.attributes = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(attrs) = m.message_attributes() {
                for (k, v) in attrs {
                    let mut a = SqsMessageAttribute::default();
                    a.string_value = v.string_value().map(Into::into);
                    a.data_type = Some(v.data_type().to_owned());
                    r.message_attributes.insert(k.clone(), a);
                }
            }
            r.event_source = Some("aws:sqs".into());
            r.event_source_arn = Some(queue.queue_arn.clone());
            r.aws_region = Some("us-east-1".into());
            event.records.push(r);
        }
        event
    }

    /// Deletes the messages of `event` that are not in `failures` (what the event source mapping
    /// does after a response with `ReportBatchItemFailures`), and makes the failed ones visible
    /// again at once.
    pub async fn settle(&self, queue: &Queues, event: &SqsEvent, failures: &[String]) {
        for r in &event.records {
            let handle = r.receipt_handle.clone().unwrap();
            if failures.contains(r.message_id.as_ref().unwrap()) {
                self.sqs
                    .change_message_visibility()
                    .queue_url(&queue.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .expect("ChangeMessageVisibility");
            } else {
                self.sqs
                    .delete_message()
                    .queue_url(&queue.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }
}

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

/// The consumer's `bootstrap` binary for end-to-end runs.
///
/// `KX_BOOTSTRAP` wins when set (e.g. a release build, or the arm64 artifact run under qemu by
/// the caller). Otherwise this runs `cargo build --workspace --bins` (see [`e2e::bootstrap`]; a
/// no-op when `make test` already built the workspace's binaries) with the `cargo` that runs the
/// tests and the same `CARGO_TARGET_DIR`, and takes the executable's path from cargo's JSON messages:
/// no guessing of target directories or profiles. `env!("CARGO_BIN_EXE_bootstrap")` only exists
/// inside the consumer's own package.
pub fn bootstrap_path() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(build_bootstrap).clone()
}

fn build_bootstrap() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("KX_BOOTSTRAP") {
        let path = std::path::PathBuf::from(path);
        assert!(
            path.is_file(),
            "KX_BOOTSTRAP={} is not a file",
            path.display()
        );
        return path;
    }
    // One build recipe for every test binary: the same `cargo build --workspace --bins` that
    // `make test` runs first (so a no-op there), without the test process's CARGO_* variables
    // that would make ring's build script rerun.
    crate::e2e::bootstrap()
}
