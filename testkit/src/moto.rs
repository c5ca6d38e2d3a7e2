//! SDK clients for the moto server of `AWS_ENDPOINT_URL` ([`Moto`]), with the resources the
//! tests build there: a queue and its DLQ with a redrive policy, a bus with a rule whose target is
//! an SQS queue (to read what the bus delivered), a Secrets Manager secret; and the `SqsEvent`
//! Lambda's event source mapping would build from messages really received.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{json, Value};

use crate::env::{required_env, unique};

/// SDK configuration for the moto server of `AWS_ENDPOINT_URL`: kx-events' own
/// [`kx_events::aws::sdk_config`] (the environment's endpoint, credentials and region with the
/// rustls/ring HTTPS client the producer and the consumer send with), so that stack is tested.
pub async fn sdk() -> aws_config::SdkConfig {
    required_env("AWS_ENDPOINT_URL");
    kx_events::aws::sdk_config().await
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
