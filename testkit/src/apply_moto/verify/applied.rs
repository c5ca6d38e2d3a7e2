//! The checks after apply: the outputs, the queues, the bus and its SSM discovery parameters,
//! the consumer (and, in `complete`, the migrate function and the query API), the mapping, the
//! database secret, alarms, dashboard and producer settings; then the database and its network
//! (`complete`, [`super::database`]) and an entry routed from the bus to a subscriber queue
//! ([`super::routing`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};

use super::database::database_and_network;
use super::routing::routing;
use super::{json, key, key_str, need, py_list, sdk, Checked, Checks, Target};

/// The contract variables of the consumer's environment.
const ENV_KEYS: [&str; 9] = [
    "DB_SECRET_ARN",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_SSLMODE",
    "EVENT_BUS_NAME",
    "EVENT_SOURCE",
    "DEAD_LETTER_QUEUE_URL",
    "MAX_RECEIVE_COUNT",
];

/// The outputs both examples must set; `complete` adds [`COMPLETE_OUTPUTS`].
const REQUIRED_OUTPUTS: [&str; 4] = [
    "queue_url",
    "dead_letter_queue_url",
    "event_bus_name",
    "db_secret_arn",
];

const COMPLETE_OUTPUTS: [&str; 12] = [
    "vpc_id",
    "private_subnet_ids",
    "public_subnet_ids",
    "db_instance_endpoint",
    "db_instance_port",
    "db_security_group_id",
    "queue_arn",
    "dead_letter_queue_arn",
    "event_bus_arn",
    "consumer_function_arn",
    "producer_policy_json",
    "producer_environment",
];

/// Every route of the query API.
const QUERY_ROUTES: [&str; 9] = [
    "GET /events",
    "POST /events",
    "DELETE /events",
    "GET /events/{eventId}",
    "GET /events/{eventId}/chain",
    "GET /events/chain/{eventId}",
    "GET /events/{eventId}/ancestors",
    "GET /analytics",
    "GET /openapi.json",
];

/// A JSON value's strings as a set (non-strings are left out).
pub(super) fn string_set(value: &Value) -> HashSet<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A function's environment as a JSON object (`None` when it has none), to compare with an
/// output.
fn env_json(vars: Option<&HashMap<String, String>>) -> Option<Value> {
    vars.map(|vars| {
        Value::Object(
            vars.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    })
}

/// The checks after apply.
pub async fn applied(t: &Target<'_>, c: &mut Checks<'_>) -> Checked {
    let o = t.outputs;
    let aws = &t.clients;
    let complete = t.complete();
    let prefix = t.prefix;
    let service = t.service();

    let mut required = REQUIRED_OUTPUTS.to_vec();
    if complete {
        required.extend(COMPLETE_OUTPUTS);
    }
    for k in required {
        c.check(o.is_set(k), format!("output {k} is set"));
    }

    // Queues: visibility 360 (6x the 60 s function timeout), redrive to the DLQ after 3, 14-day
    // DLQ, SSE, TLS-only policy.
    let attributes = |url: String| {
        let sqs = aws.sqs.clone();
        async move {
            let out = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
                .map_err(sdk("sqs GetQueueAttributes"))?;
            Ok::<_, super::Unexpected>(out.attributes().cloned().unwrap_or_default())
        }
    };
    let qa = attributes(o.str("queue_url")?.to_string()).await?;
    let da = attributes(o.str("dead_letter_queue_url")?.to_string()).await?;
    let attr = |attrs: &HashMap<QueueAttributeName, String>, name: QueueAttributeName| {
        attrs.get(&name).cloned()
    };
    c.check(
        need(
            attr(&qa, QueueAttributeName::VisibilityTimeout),
            "VisibilityTimeout",
        )? == "360",
        "events queue visibility timeout 360 s (6x the function timeout)",
    );
    let rp = json(
        &attr(&qa, QueueAttributeName::RedrivePolicy).unwrap_or_else(|| "{}".into()),
        "RedrivePolicy",
    )?;
    let max_receive = match rp.get("maxReceiveCount") {
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(v) => v.as_i64(),
        None => Some(0),
    };
    let dlq_arn = need(attr(&da, QueueAttributeName::QueueArn), "QueueArn")?;
    c.check(
        rp.get("deadLetterTargetArn").and_then(Value::as_str) == Some(dlq_arn.as_str())
            && max_receive == Some(3),
        "redrive to the DLQ after 3 receives",
    );
    c.check(
        need(
            attr(&da, QueueAttributeName::MessageRetentionPeriod),
            "MessageRetentionPeriod",
        )? == "1209600",
        "DLQ keeps messages 14 days",
    );
    c.check(
        attr(&qa, QueueAttributeName::SqsManagedSseEnabled).as_deref() == Some("true")
            && attr(&da, QueueAttributeName::SqsManagedSseEnabled).as_deref() == Some("true"),
        "both queues SSE",
    );
    for (name, attrs) in [("events queue", &qa), ("DLQ", &da)] {
        let policy = json(
            &attr(attrs, QueueAttributeName::Policy).unwrap_or_else(|| "{}".into()),
            "queue policy",
        )?;
        let denies = policy
            .get("Statement")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|s| s.get("Effect") == Some(&json!("Deny"))));
        c.check(denies, format!("{name} policy denies insecure transport"));
    }

    // Bus and discovery parameters.
    let bus_name = o.str("event_bus_name")?;
    let bus = aws
        .events
        .describe_event_bus()
        .name(bus_name)
        .send()
        .await
        .map_err(sdk("events DescribeEventBus"))?;
    let bus_arn = need(bus.arn(), "event bus Arn")?;
    c.check(
        bus_arn.ends_with(&format!("event-bus/{bus_name}")),
        "event bus exists",
    );
    let names = o.req("ssm_parameter_names")?;
    c.check(
        *names
            == json!({"arn": format!("/eventbridge/services/{service}/arn"),
                      "info": format!("/eventbridge/services/{service}/info")}),
        "ssm_parameter_names output",
    );
    let parameter = |name: String| {
        let ssm = aws.ssm.clone();
        async move {
            let out = ssm
                .get_parameter()
                .name(name)
                .send()
                .await
                .map_err(sdk("ssm GetParameter"))?;
            need(out.parameter().cloned(), "Parameter")
        }
    };
    let arn_param = parameter(key_str(names, "arn")?.to_string()).await?;
    c.check(
        arn_param.r#type().map(|t| t.as_str()) == Some("String")
            && arn_param.value() == Some(bus_arn),
        "SSM /arn holds the bus ARN",
    );
    let info_param = parameter(key_str(names, "info")?.to_string()).await?;
    let info = json(need(info_param.value(), "Parameter Value")?, "SSM /info")?;
    c.check(
        info == json!({"serviceName": service, "eventBusName": bus_name, "eventBusArn": bus_arn,
                       "source": "kx-event-tracking", "region": t.region,
                       "detailTypeFormat": "{entityType}.{eventType}"}),
        "SSM /info holds bus name, ARN, source, region, detail-type format",
    );

    // Consumer: the function as declared, its environment exactly the output, the mapping
    // disabled.
    let env = o.req("consumer_environment")?;
    let mut env_keys = ENV_KEYS.to_vec();
    if complete {
        env_keys.push("KX_MIGRATE");
    }
    c.check(
        env.as_object()
            .is_some_and(|e| env_keys.iter().all(|k| e.contains_key(*k))),
        "consumer_environment has the contract variables",
    );
    let get_function = |name: String| {
        let lambda = aws.lambda.clone();
        async move {
            let out = lambda
                .get_function()
                .function_name(name)
                .send()
                .await
                .map_err(sdk("lambda GetFunction"))?;
            need(out.configuration().cloned(), "Configuration")
        }
    };
    let consumer_name = o
        .opt_str("consumer_function_name")
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{prefix}-events-consumer"));
    let func = get_function(consumer_name).await?;
    let arm64 = |archs: &[aws_sdk_lambda::types::Architecture]| {
        archs.iter().map(|a| a.as_str()).eq(["arm64"])
    };
    c.check(
        need(func.runtime(), "Runtime")?.as_str() == "provided.al2023"
            && need(func.handler(), "Handler")? == "bootstrap"
            && arm64(func.architectures()),
        "consumer is provided.al2023/arm64/bootstrap",
    );
    let func_env = func.environment().and_then(|e| e.variables());
    c.check(
        env_json(func_env).as_ref() == Some(env),
        "function environment == consumer_environment output",
    );
    c.check(
        key(env, "EVENT_BUS_NAME")? == o.req("event_bus_name")?
            && key(env, "DEAD_LETTER_QUEUE_URL")? == o.req("dead_letter_queue_url")?
            && *key(env, "MAX_RECEIVE_COUNT")? == json!("3")
            && key(env, "DB_SECRET_ARN")? == o.req("consumer_db_secret_arn")?,
        "consumer env points at the stack",
    );
    if complete {
        // The consumer logs in as its own role; the migrate function (never invoked by moto)
        // has the master's.
        c.check(
            o.req("consumer_db_secret_arn")? != o.req("db_secret_arn")?
                && env.get("KX_MIGRATE") == Some(&json!("off")),
            "consumer uses the application role's secret, KX_MIGRATE=off",
        );
        let mig = get_function(o.str("migrate_function_name")?.to_string()).await?;
        let menv = mig
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        let m = |k: &str| menv.get(k).map(String::as_str);
        c.check(
            m("KX_MODE") == Some("migrate")
                && m("DB_SECRET_ARN") == Some(o.str("db_secret_arn")?)
                && m("KX_APP_ROLE_SECRET_ARN") == Some(o.str("consumer_db_secret_arn")?)
                && m("KX_APP_ROLE_NAME") == Some("kx_events_consumer"),
            "migrate function: KX_MODE=migrate, master secret, application role secret and name",
        );
        let desc = aws
            .secrets
            .describe_secret()
            .secret_id(o.str("consumer_db_secret_arn")?)
            .send()
            .await
            .map_err(sdk("secretsmanager DescribeSecret"))?;
        c.check(
            desc.version_ids_to_stages().is_none_or(HashMap::is_empty),
            "application role secret created without a value (the migrate function writes it)",
        );
        // The query API: its function on the read-only role's secret (provisioned by the
        // migrate function with the erasure role's), an HTTP API with every route under IAM
        // authorization.
        let qfn = get_function(o.str("query_function_arn")?.to_string()).await?;
        let qenv = qfn
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        let q = |k: &str| qenv.get(k).map(String::as_str);
        let qsubnets: HashSet<&str> = qfn
            .vpc_config()
            .map(|v| v.subnet_ids().iter().map(String::as_str).collect())
            .unwrap_or_default();
        c.check(
            need(qfn.runtime(), "Runtime")?.as_str() == "provided.al2023"
                && arm64(qfn.architectures())
                && qsubnets == string_set(o.req("private_subnet_ids")?),
            "query function: provided.al2023/arm64 in the private subnets",
        );
        c.check(
            q("DB_SECRET_ARN") == m("KX_QUERY_ROLE_SECRET_ARN")
                && q("DB_SECRET_ARN").is_some()
                && q("DB_SECRET_ARN") != Some(o.str("db_secret_arn")?)
                && q("DB_SECRET_ARN") != Some(o.str("consumer_db_secret_arn")?)
                && q("KX_ERASER_SECRET_ARN") == m("KX_ERASER_ROLE_SECRET_ARN")
                && q("EVENTS_QUEUE_URL") == Some(o.str("queue_url")?),
            "query function: read-only role secret, erasure role secret, events queue (both \
             roles provisioned by the migrate function)",
        );
        let api_url = o.str("query_api_url")?;
        let api_id = need(api_url.split("//").nth(1), "query_api_url host")?
            .split('.')
            .next()
            .unwrap_or_default();
        let routes = aws
            .apigw
            .get_routes()
            .api_id(api_id)
            .send()
            .await
            .map_err(sdk("apigatewayv2 GetRoutes"))?;
        let by_key: HashMap<&str, _> = routes
            .items()
            .iter()
            .map(|r| -> Checked<(&str, _)> { Ok((need(r.route_key(), "RouteKey")?, r)) })
            .collect::<Checked<_>>()?;
        let keys: BTreeSet<&str> = by_key.keys().copied().collect();
        c.check(
            keys == QUERY_ROUTES.into_iter().collect::<BTreeSet<_>>(),
            format!(
                "query API routes: {}",
                py_list(&keys.iter().collect::<Vec<_>>())
            ),
        );
        c.check(
            by_key
                .values()
                .all(|r| r.authorization_type().map(|a| a.as_str()) == Some("AWS_IAM")),
            "every query route uses IAM authorization",
        );
        let stage = aws
            .apigw
            .get_stage()
            .api_id(api_id)
            .stage_name("$default")
            .send()
            .await
            .map_err(sdk("apigatewayv2 GetStage"))?;
        c.check(
            stage
                .access_log_settings()
                .and_then(|s| s.destination_arn())
                .unwrap_or_default()
                .ends_with(&format!("/aws/apigateway/{prefix}-events-query"))
                && stage
                    .default_route_settings()
                    .and_then(|s| s.throttling_rate_limit())
                    == Some(100.0),
            "query API stage: access log, throttling",
        );
    } else {
        c.check(
            key(env, "DB_SECRET_ARN")? == o.req("db_secret_arn")?
                && env.get("KX_MIGRATE").is_none(),
            "existing database: its secret, KX_MIGRATE default",
        );
    }
    // Filtered here: moto's FunctionName filter matches ARNs only.
    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .send()
        .await
        .map_err(sdk("lambda ListEventSourceMappings"))?;
    let esms: Vec<_> = mappings
        .event_source_mappings()
        .iter()
        .filter(|m| m.function_arn().is_some() && m.function_arn() == func.function_arn())
        .collect();
    c.check(
        esms.len() == 1
            && matches!(esms[0].state(), Some("Disabled" | "Disabling"))
            && esms[0].batch_size() == Some(100)
            && esms[0].maximum_batching_window_in_seconds() == Some(1),
        "mapping: disabled (moto), batch 100, window 1 s",
    );
    let first = esms.first();
    if complete {
        c.check(
            first
                .and_then(|m| m.scaling_config())
                .and_then(|s| s.maximum_concurrency())
                == Some(56),
            "mapping: maximum concurrency 56 (half of db.t4g.micro's 112 connections)",
        );
    }
    c.check(
        first.is_some_and(|m| {
            m.function_response_types()
                .iter()
                .map(|t| t.as_str())
                .eq(["ReportBatchItemFailures"])
        }),
        "mapping reports batch item failures",
    );

    // Database secret readable.
    let secret = aws
        .secrets
        .get_secret_value()
        .secret_id(o.str("db_secret_arn")?)
        .send()
        .await
        .map_err(sdk("secretsmanager GetSecretValue"))?;
    let secret = json(need(secret.secret_string(), "SecretString")?, "DB secret")?;
    c.check(
        secret.get("username").is_some() && secret.get("password").is_some(),
        "DB secret has username and password",
    );

    // Alarms.
    let alarms = aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .send()
        .await
        .map_err(sdk("cloudwatch DescribeAlarms"))?;
    let alarm_names: Vec<&str> = alarms
        .metric_alarms()
        .iter()
        .map(|a| need(a.alarm_name(), "AlarmName"))
        .collect::<Checked<_>>()?;
    // Queue (2) + consumer errors/throttles/duration/outbox backlog/publish failed (5) + the
    // subscription's (2); complete adds RDS CPU/storage/connections (3).
    let expected = if complete { 12 } else { 9 };
    c.check(
        alarm_names.len() == expected,
        format!(
            "{expected} alarms (queue, consumer, subscription{}): {}",
            if complete { ", database" } else { "" },
            py_list(&alarm_names)
        ),
    );
    let emf: HashMap<&str, _> = alarms
        .metric_alarms()
        .iter()
        .filter(|a| matches!(a.metric_name(), Some("OutboxBacklog" | "PublishFailed")))
        .map(|a| (a.alarm_name().unwrap_or_default(), a))
        .collect();
    let namespace = o.str("consumer_metrics_namespace")?;
    c.check(
        emf.len() == 2 && emf.values().all(|a| a.namespace() == Some(namespace)),
        format!(
            "alarms on the consumer's EMF metrics (OutboxBacklog, PublishFailed) in namespace \
             {namespace}"
        ),
    );

    // Dashboard.
    let dashboard = o.opt_str("dashboard_name").filter(|d| !d.is_empty());
    let body = match dashboard {
        Some(name) => {
            let out = aws
                .cloudwatch
                .get_dashboard()
                .dashboard_name(name)
                .send()
                .await
                .map_err(sdk("cloudwatch GetDashboard"))?;
            json(
                need(out.dashboard_body(), "DashboardBody")?,
                "dashboard body",
            )?
        }
        None => json!({}),
    };
    let mut metrics = HashSet::new();
    for widget in body
        .get("widgets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let list = key(key(widget, "properties")?, "metrics")?;
        for metric in need(list.as_array(), "widget metrics list")? {
            let name = need(metric.get(1), "metric name")?;
            if let Some(name) = name.as_str() {
                metrics.insert(name.to_string());
            }
        }
    }
    c.check(
        [
            "EventsReceived",
            "OutboxBacklog",
            "EndToEndLatency",
            "ApproximateNumberOfMessagesVisible",
            "Errors",
        ]
        .iter()
        .all(|m| metrics.contains(*m)),
        format!(
            "dashboard {} with the consumer's metrics, the queues and the function",
            dashboard.unwrap_or("None")
        ),
    );

    // Producers.
    c.check(
        *o.req("producer_environment")?
            == json!({"EVENTS_QUEUE_URL": o.req("queue_url")?,
                      "EVENT_BUS_NAME": o.req("event_bus_name")?,
                      "EVENT_SOURCE": "kx-event-tracking"}),
        "producer_environment",
    );

    let (target_queue, detail_type) = if complete {
        database_and_network(t, c, &func).await?;
        (o.str("user_events_queue_url")?, "user.user_created")
    } else {
        (o.str("subscriber_queue_url")?, "order.order_created")
    };

    // Routing: an entry put on the bus reaches the subscriber found through SSM discovery.
    routing(t, c, target_queue, detail_type).await
}
