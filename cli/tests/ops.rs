//! `kx replay` and `kx dlq` as processes against the real PostgreSQL and moto (through the
//! fault proxy of kx-events-local where a call must fail halfway).

use std::collections::HashSet;
use std::process::{Command, Output};

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use chrono::{Duration, TimeZone, Utc};
use kx_events_local::fault_proxy::{EntrySelector, FaultProxy, PUT_EVENTS, SEND_MESSAGE_BATCH};
use kx_events_testdb::{NewEvent, TestDb};
use serde_json::{json, Value};
use uuid::Uuid;

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run `scripts/services.sh up && source .state/env` first",
    )
}

fn kx(url: &str, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kx"))
        .args(args)
        .env("KX_DATABASE_URL", url)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("KX_EVENT_BUS_NAME")
        .output()
        .expect("run kx")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_out(o: &Output) -> Value {
    serde_json::from_str(&out(o))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", out(o), err(o)))
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..12])
}

struct Aws {
    rt: tokio::runtime::Runtime,
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
}

impl Aws {
    fn new() -> Self {
        endpoint();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sdk = rt.block_on(kx_events_consumer::sdk_config());
        Self {
            sqs: aws_sdk_sqs::Client::new(&sdk),
            events: aws_sdk_eventbridge::Client::new(&sdk),
            rt,
        }
    }

    fn queue(&self, name: &str) -> String {
        self.rt
            .block_on(self.sqs.create_queue().queue_name(name).send())
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned()
    }

    fn arn(&self, url: &str) -> String {
        self.rt
            .block_on(
                self.sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send(),
            )
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone()
    }

    /// A bus with a rule for kx-events' source whose target is a new queue (returned).
    fn bus(&self, bus: &str) -> String {
        let target = self.queue(&unique("target"));
        let arn = self.arn(&target);
        self.rt.block_on(async {
            self.events
                .create_event_bus()
                .name(bus)
                .send()
                .await
                .unwrap();
            let rule = unique("rule");
            self.events
                .put_rule()
                .name(&rule)
                .event_bus_name(bus)
                .event_pattern(json!({"source": [kx_events::DEFAULT_EVENT_SOURCE]}).to_string())
                .send()
                .await
                .unwrap();
            self.events
                .put_targets()
                .rule(&rule)
                .event_bus_name(bus)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id("q")
                        .arn(arn)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        });
        target
    }

    /// Receives and deletes every message of `url`: (body, string attributes).
    fn drain(&self, url: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut all = Vec::new();
        loop {
            let got = self
                .rt
                .block_on(
                    self.sqs
                        .receive_message()
                        .queue_url(url)
                        .max_number_of_messages(10)
                        .message_attribute_names("All")
                        .send(),
                )
                .unwrap();
            if got.messages().is_empty() {
                return all;
            }
            for m in got.messages() {
                let mut attrs: Vec<(String, String)> = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.clone(), v.string_value().unwrap_or("").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                attrs.sort();
                all.push((m.body().unwrap_or("").to_owned(), attrs));
                self.rt
                    .block_on(
                        self.sqs
                            .delete_message()
                            .queue_url(url)
                            .receipt_handle(m.receipt_handle().unwrap())
                            .send(),
                    )
                    .unwrap();
            }
        }
    }

    fn send(&self, url: &str, body: &str, attrs: &[(&str, &str)]) -> String {
        let mut req = self.sqs.send_message().queue_url(url).message_body(body);
        for (k, v) in attrs {
            req = req.message_attributes(
                *k,
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(*v)
                    .build()
                    .unwrap(),
            );
        }
        self.rt
            .block_on(req.send())
            .unwrap()
            .message_id()
            .unwrap()
            .to_owned()
    }

    fn depth(&self, url: &str) -> u64 {
        self.rt
            .block_on(
                self.sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .send(),
            )
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::ApproximateNumberOfMessages]
            .parse()
            .unwrap()
    }
}

fn envelopes(aws: &Aws, target: &str) -> Vec<Value> {
    aws.drain(target)
        .into_iter()
        .map(|(b, _)| serde_json::from_str(&b).unwrap())
        .collect()
}

#[test]
fn replay_puts_the_stored_events_in_order_marked_resumable_and_the_rejected_ones() {
    let db = TestDb::create();
    let aws = Aws::new();
    let bus = unique("kx-bus");
    let target = aws.bus(&bus);
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    let published = Some(t0 + Duration::days(30));
    // 25 events in the window (published), 3 before it, 2 still waiting for the outbox.
    let mut inside: Vec<NewEvent> = (0..25)
        .map(|i| {
            let mut e = NewEvent::new("shop", "order", "order_created", t0 + Duration::minutes(i));
            e.published_at = published;
            e.metadata = Some(json!({"n": i}));
            e
        })
        .collect();
    inside.reverse(); // inserted out of order: the replay orders by occurred_at
    let mut before: Vec<NewEvent> = (0..3)
        .map(|i| NewEvent::new("shop", "order", "order_created", t0 - Duration::days(1 + i)))
        .collect();
    for e in &mut before {
        e.published_at = published;
    }
    let waiting: Vec<NewEvent> = (0..2)
        .map(|i| {
            NewEvent::new(
                "shop",
                "order",
                "order_created",
                t0 + Duration::hours(1 + i),
            )
        })
        .collect();
    db.insert(&inside);
    db.insert(&before);
    db.insert(&waiting);
    inside.reverse();
    let window = ["--since", "2024-05-01", "--until", "2024-05-02"];
    let with = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["replay", "--bus-name", &bus, "--rate", "1000/s"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(window.iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |endpoint: &str, extra: &[&str]| {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kx(&db.url, endpoint, &args)
    };

    // A dry run counts and puts nothing.
    let dry = run(&endpoint(), &["--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", err(&dry));
    assert!(
        out(&dry).starts_with("dry run: 25 event(s) would be put"),
        "{}",
        out(&dry)
    );
    assert!(envelopes(&aws, &target).is_empty());

    // The 13th event's entry fails on every try: the run stops, the checkpoint is before it.
    let proxy_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let proxy = proxy_rt.block_on(FaultProxy::start(&endpoint())).unwrap();
    let stuck = inside[12].event_id.to_string();
    let fault = proxy
        .fail_entries(
            PUT_EVENTS,
            EntrySelector::PayloadContains(stuck.clone()),
            None,
        )
        .unwrap();
    let first = run(&proxy.url(), &["--format", "json"]);
    assert_eq!(first.status.code(), Some(1), "{}", err(&first));
    assert!(err(&first).contains("--resume"), "{}", err(&first));
    let report = json_out(&first);
    assert_eq!(report["finished"], false);
    assert_eq!(
        report["checkpoint"]["eventId"],
        inside[11].event_id.to_string()
    );
    let replay_id = report["replayId"].as_str().unwrap().to_owned();
    let seen_first = envelopes(&aws, &target);
    assert_eq!(seen_first.len(), 19, "10 + 9 of the second chunk");

    // --resume continues after the checkpoint, with the same replay id.
    proxy.remove(fault);
    let second = run(&proxy.url(), &["--resume", "--format", "json"]);
    assert_eq!(second.status.code(), Some(0), "{}", err(&second));
    let report = json_out(&second);
    assert_eq!(report["replayId"], replay_id.as_str());
    assert_eq!(report["resumed"], true);
    assert_eq!(report["put"], 13);
    assert_eq!(report["finished"], true);
    let seen_second = envelopes(&aws, &target);
    let ids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|e| e["detail"]["eventId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&seen_second),
        inside[12..]
            .iter()
            .map(|e| e.event_id.to_string())
            .collect::<Vec<_>>(),
        "in occurred_at order, from the checkpoint on"
    );
    let all: HashSet<String> = ids(&seen_first)
        .into_iter()
        .chain(ids(&seen_second))
        .collect();
    assert_eq!(all.len(), 25, "every event of the window, none outside it");
    for e in seen_first.iter().chain(&seen_second) {
        assert_eq!(e["detail-type"], "order.order_created");
        assert_eq!(e["source"], kx_events::DEFAULT_EVENT_SOURCE);
        assert_eq!(
            e["resources"],
            json!([format!("kx-events:replay/{replay_id}")])
        );
        assert_eq!(e["detail"]["clientId"], "shop");
        assert!(e["detail"]["metadata"]["n"].is_number());
    }
    // The checkpoint row says it is done; a second --resume finds nothing to continue.
    let mut c = db.client();
    let row = c
        .query_one(
            "SELECT put_count, finished_at IS NOT NULL FROM kx_replay_checkpoints WHERE replay_id = $1",
            &[&replay_id.parse::<Uuid>().unwrap()],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 19 + 13);
    assert!(row.get::<_, bool>(1));
    let again = run(&endpoint(), &["--resume"]);
    assert_eq!(again.status.code(), Some(2), "{}", err(&again));
    assert!(
        err(&again).contains("--resume: no unfinished replay"),
        "{}",
        err(&again)
    );

    // Rows the bus rejected for good: --failed puts them (unmarked) and marks them published.
    let rejected = [inside[3].event_id, inside[4].event_id];
    c.execute(
        "UPDATE events SET published_at = NULL, publish_failed_at = now(),
             publish_error = 'NotAuthorizedForDetailTypeException: no', publish_attempts = 1
         WHERE event_id = ANY($1)",
        &[&rejected.to_vec()],
    )
    .unwrap();
    let failed = kx(
        &db.url,
        &endpoint(),
        &["replay", "--failed", "--bus-name", &bus, "--format", "json"],
    );
    assert_eq!(failed.status.code(), Some(0), "{}", err(&failed));
    assert_eq!(json_out(&failed)["put"], 2);
    let seen = envelopes(&aws, &target);
    assert_eq!(seen.len(), 2);
    for e in &seen {
        assert_eq!(e["resources"], json!([]), "a first delivery, not marked");
    }
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM events WHERE event_id = ANY($1)
               AND (published_at IS NULL OR publish_error IS NOT NULL OR publish_failed_at IS NOT NULL)",
            &[&rejected.to_vec()],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);

    // Bad input names the flag.
    let bad = kx(
        &db.url,
        &endpoint(),
        &["replay", "--bus-name", &bus, "--rate", "0"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(err(&bad).contains("--rate: "), "{}", err(&bad));
    let no_bus = kx(&db.url, &endpoint(), &["replay", "--since", "2024-05-01"]);
    assert_eq!(no_bus.status.code(), Some(2));
    assert!(
        err(&no_bus).contains("--bus-name: required"),
        "{}",
        err(&no_bus)
    );
    let bad_time = kx(
        &db.url,
        &endpoint(),
        &["replay", "--bus-name", &bus, "--since", "May"],
    );
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(err(&bad_time).contains("--since: "), "{}", err(&bad_time));
}

#[test]
fn dlq_lists_redrives_a_subset_without_losing_any_and_purges_poison() {
    let aws = Aws::new();
    let queue = aws.queue(&unique("events"));
    let dlq = aws.queue(&unique("dlq"));
    let reason = |field: &str, rule: &str| {
        vec![
            ("kx-reason".to_owned(), format!("{field}: broke {rule}")),
            ("kx-field".to_owned(), field.to_owned()),
            ("kx-rule".to_owned(), rule.to_owned()),
            ("kx-source-message-id".to_owned(), "m-1".to_owned()),
        ]
    };
    let send = |body: &str, attrs: &[(String, String)]| {
        let a: Vec<(&str, &str)> = attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        aws.send(&dlq, body, &a)
    };
    let long_body = format!(
        "{{\"eventId\":\"not-a-uuid\",\"pad\":\"{}\"}}",
        "x".repeat(300)
    );
    let uuid_1 = send(&long_body, &reason("eventId", "uuid"));
    let uuid_2 = send("{\"eventId\":\"nope\"}", &reason("eventId", "uuid"));
    let too_long = send("{\"clientId\":\"xxxx\"}", &reason("clientId", "max_length"));
    let moved = send(
        "{\"eventId\":\"3b1f5d3e-1c8e-4c55-9d55-1f4d2a8f8b11\"}",
        &[("kx-on-bus".to_owned(), "true".to_owned())],
    );
    let e = endpoint();
    let dlq_cmd = |endpoint: &str, args: &[&str]| {
        let mut all = vec!["dlq", "--dlq-url", &dlq, "--queue-url", &queue];
        all.extend_from_slice(args);
        kx("postgres://unused@127.0.0.1/unused", endpoint, &all)
    };

    // list: every message with its reason; twice (listing gives the messages back).
    for _ in 0..2 {
        let listed = dlq_cmd(&e, &["list", "--format", "json"]);
        assert_eq!(listed.status.code(), Some(0), "{}", err(&listed));
        let v = json_out(&listed);
        assert_eq!(v["count"], 4);
        assert_eq!(
            v["byRule"],
            json!({"max_length": 1, "redrive": 1, "uuid": 2})
        );
        let by_id = |id: &str| {
            v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["messageId"] == id)
                .cloned()
                .unwrap()
        };
        let m = by_id(&uuid_1);
        assert_eq!(m["reason"], "eventId: broke uuid");
        assert_eq!(m["field"], "eventId");
        assert_eq!(m["rule"], "uuid");
        assert!(m["receiveCount"].as_u64().unwrap() >= 1);
        assert!(m["firstReceive"].as_str().unwrap().ends_with('Z'));
        assert!(m["body"].as_str().unwrap().ends_with('…'), "truncated");
        assert_eq!(by_id(&moved)["reason"], "moved by SQS redrive");
    }
    let table = dlq_cmd(&e, &["list", "--full"]);
    assert!(
        out(&table).contains("moved by SQS redrive"),
        "{}",
        out(&table)
    );
    assert!(
        out(&table).contains(&"x".repeat(300)),
        "--full shows whole bodies"
    );
    assert!(out(&table).contains("4 message(s)"), "{}", out(&table));

    // A dry run moves nothing.
    let dry = dlq_cmd(&e, &["redrive", "--reason", "uuid", "--dry-run"]);
    assert!(
        out(&dry).contains("2 message(s) would be moved"),
        "{}",
        out(&dry)
    );
    assert_eq!(aws.depth(&queue), 0);

    // The send of one of the two fails: it stays in the DLQ, the other moves.
    let proxy_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let proxy = proxy_rt.block_on(FaultProxy::start(&e)).unwrap();
    let fault = proxy
        .fail_entries(SEND_MESSAGE_BATCH, EntrySelector::EveryNth(2), Some(1))
        .unwrap();
    let half = dlq_cmd(&proxy.url(), &["redrive", "--reason", "uuid"]);
    assert_eq!(half.status.code(), Some(1), "{}", err(&half));
    assert!(out(&half).contains("moved 1 message(s)"), "{}", out(&half));
    assert!(
        err(&half).contains("run the command again"),
        "{}",
        err(&half)
    );
    proxy.remove(fault);
    assert_eq!(aws.depth(&dlq), 3, "nothing lost");
    let rest = dlq_cmd(&e, &["redrive", "--reason", "uuid"]);
    assert_eq!(rest.status.code(), Some(0), "{}", err(&rest));
    assert!(out(&rest).contains("moved 1 message(s)"), "{}", out(&rest));
    let requeued = aws.drain(&queue);
    assert_eq!(requeued.len(), 2);
    for (_, attrs) in &requeued {
        assert!(
            attrs.is_empty(),
            "the consumer's reason is not sent back: {attrs:?}"
        );
    }

    // By message id, keeping the other attributes (kx-on-bus).
    let one = dlq_cmd(&e, &["redrive", "--message-id", &moved]);
    assert!(out(&one).contains("moved 1 message(s)"), "{}", out(&one));
    let requeued = aws.drain(&queue);
    assert_eq!(
        requeued[0].1,
        vec![("kx-on-bus".to_owned(), "true".to_owned())]
    );

    // purge needs --yes, then deletes only that rule.
    let refused = dlq_cmd(&e, &["purge", "--reason", "max_length"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        err(&refused).contains("--yes: required"),
        "{}",
        err(&refused)
    );
    let purged = dlq_cmd(&e, &["purge", "--reason", "max_length", "--yes"]);
    assert!(
        out(&purged).contains("purged 1 message(s)"),
        "{}",
        out(&purged)
    );
    assert_eq!(aws.depth(&dlq), 0);
    let _ = too_long;
    let _ = uuid_2;

    // Everything: StartMessageMoveTask (moto has none: the failure says what to do), or --copy.
    let extra = aws.send(&dlq, "{}", &[]);
    let task = dlq_cmd(&e, &["redrive"]);
    assert_eq!(task.status.code(), Some(1), "{}", out(&task));
    assert!(
        err(&task).contains("StartMessageMoveTask failed"),
        "{}",
        err(&task)
    );
    assert!(err(&task).contains("--copy"), "{}", err(&task));
    let all = dlq_cmd(&e, &["redrive", "--copy"]);
    assert!(out(&all).contains("moved 1 message(s)"), "{}", out(&all));
    assert_eq!(aws.depth(&dlq), 0);
    assert_eq!(aws.drain(&queue)[0].0, "{}");
    let _ = extra;

    // Missing queue URL: the flag is named.
    let none = kx("postgres://unused@127.0.0.1/unused", &e, &["dlq", "list"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(err(&none).contains("--dlq-url: required"), "{}", err(&none));
}
