//! The checks after apply: the outputs, the queues, the bus and its SSM discovery parameters,
//! the consumer (and, in `complete`, the migrate function and the query API), the mapping, the
//! database secret, alarms, dashboard, producer settings, the database and its network
//! (`complete`), and an entry routed from the bus to a subscriber queue.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};

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
fn string_set(value: &Value) -> HashSet<&str> {
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
    let c_ = &t.clients;
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
        let sqs = c_.sqs.clone();
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
    let bus = c_
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
        let ssm = c_.ssm.clone();
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
        let lambda = c_.lambda.clone();
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
        let desc = c_
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
        let routes = c_
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
        let stage = c_
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
    let mappings = c_
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
    let secret = c_
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
    let alarms = c_
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
            let out = c_
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

/// `complete`: the RDS instance, its log groups and secret, and the security groups around it.
async fn database_and_network(
    t: &Target<'_>,
    c: &mut Checks<'_>,
    func: &aws_sdk_lambda::types::FunctionConfiguration,
) -> Checked {
    let o = t.outputs;
    let c_ = &t.clients;
    let prefix = t.prefix;
    let instances = c_
        .rds
        .describe_db_instances()
        .db_instance_identifier(format!("{prefix}-db"))
        .send()
        .await
        .map_err(sdk("rds DescribeDBInstances"))?;
    let rds = need(instances.db_instances().first(), "DBInstances[0]")?;
    c.check(
        rds.engine() == Some("postgres")
            && rds.engine_version().unwrap_or_default().starts_with("16"),
        "RDS PostgreSQL 16",
    );
    c.check(
        !need(rds.publicly_accessible(), "PubliclyAccessible")?
            && need(rds.storage_encrypted(), "StorageEncrypted")?
            && need(rds.backup_retention_period(), "BackupRetentionPeriod")? == 7,
        "RDS private, encrypted, 7 days of backups",
    );
    let groups = c_
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/rds/instance/{prefix}-db/"))
        .send()
        .await
        .map_err(sdk("logs DescribeLogGroups"))?;
    let groups: HashMap<&str, _> = groups
        .log_groups()
        .iter()
        .map(|g| -> Checked<(&str, _)> { Ok((need(g.log_group_name(), "logGroupName")?, g)) })
        .collect::<Checked<_>>()?;
    let expected: HashSet<String> = ["postgresql", "upgrade"]
        .iter()
        .map(|l| format!("/aws/rds/instance/{prefix}-db/{l}"))
        .collect();
    c.check(
        groups.keys().map(|k| k.to_string()).collect::<HashSet<_>>() == expected
            && groups.values().all(|g| g.retention_in_days() == Some(30)),
        "RDS log groups managed, 30 days retention",
    );
    c.check(
        rds.master_user_secret().and_then(|s| s.secret_arn()) == Some(o.str("db_secret_arn")?),
        "db_secret_arn is the RDS-managed secret",
    );
    let endpoint = need(rds.endpoint(), "Endpoint")?;
    c.check(
        o.req("db_instance_endpoint")?.as_str() == Some(need(endpoint.address(), "Address")?)
            && o.req("db_instance_port")?.as_i64()
                == Some(i64::from(need(endpoint.port(), "Port")?)),
        "db_instance_endpoint/port are the instance's",
    );
    let subnets = func
        .vpc_config()
        .map(|v| v.subnet_ids())
        .unwrap_or_default();
    c.check(
        !subnets.is_empty()
            && subnets.iter().map(String::as_str).collect::<HashSet<_>>()
                == string_set(o.req("private_subnet_ids")?),
        "consumer in the private subnets",
    );
    let db_sg_id = o.str("db_security_group_id")?;
    let consumer_sg_id = o.str("consumer_security_group_id")?;
    let sgs = c_
        .ec2
        .describe_security_groups()
        .group_ids(db_sg_id)
        .group_ids(consumer_sg_id)
        .send()
        .await
        .map_err(sdk("ec2 DescribeSecurityGroups"))?;
    let by_id: HashMap<&str, _> = sgs
        .security_groups()
        .iter()
        .filter_map(|g| Some((g.group_id()?, g)))
        .collect();
    let csg = need(by_id.get(consumer_sg_id), "consumer security group")?;
    let dsg = need(by_id.get(db_sg_id), "database security group")?;
    let csg_id = need(csg.group_id(), "GroupId")?;
    c.check(
        csg.ip_permissions().is_empty(),
        "consumer SG has no ingress",
    );
    let mut egress: Vec<Option<i32>> = csg
        .ip_permissions_egress()
        .iter()
        .map(|p| p.from_port())
        .collect();
    egress.sort();
    c.check(
        egress == [Some(443), Some(5432)],
        "consumer SG egress 443 and 5432 only",
    );
    let query = c_
        .lambda
        .get_function()
        .function_name(o.str("query_function_arn")?)
        .send()
        .await
        .map_err(sdk("lambda GetFunction"))?;
    let query_sgs: Vec<&str> = query
        .configuration()
        .and_then(|f| f.vpc_config())
        .map(|v| v.security_group_ids().iter().map(String::as_str).collect())
        .unwrap_or_default();
    let ingress_ports: HashSet<Option<i32>> =
        dsg.ip_permissions().iter().map(|p| p.from_port()).collect();
    let mut sources: Vec<&str> = dsg
        .ip_permissions()
        .iter()
        .flat_map(|p| p.user_id_group_pairs())
        .map(|u| u.group_id().unwrap_or_default())
        .collect();
    sources.sort();
    let mut allowed: Vec<&str> = std::iter::once(csg_id)
        .chain(query_sgs.iter().copied())
        .collect();
    allowed.sort();
    c.check(
        ingress_ports == HashSet::from([Some(5432)])
            && sources == allowed
            && query_sgs.len() == 1
            && query_sgs[0] != csg_id,
        "DB SG ingress 5432 from the consumer's and the query API's security groups only",
    );
    let policy = json(o.str("producer_policy_json")?, "producer_policy_json")?;
    let mut actions = Vec::new();
    let mut all_lists = true;
    for statement in need(key(&policy, "Statement")?.as_array(), "Statement list")? {
        match key(statement, "Action")? {
            Value::Array(list) => {
                actions.extend(list.iter().map(|a| a.as_str().unwrap_or_default()))
            }
            _ => all_lists = false,
        }
    }
    actions.sort();
    c.check(
        all_lists && actions == ["events:PutEvents", "sqs:SendMessage"],
        "producer policy: sqs:SendMessage + events:PutEvents",
    );
    Ok(())
}

/// An entry put on the bus reaches `target_queue` within 10 s.
async fn routing(
    t: &Target<'_>,
    c: &mut Checks<'_>,
    target_queue: &str,
    detail_type: &str,
) -> Checked {
    let c_ = &t.clients;
    let (entity, event) = detail_type.split_once('.').unwrap_or((detail_type, ""));
    let event_id = "00000000-0000-4000-8000-000000000001";
    let detail = json!({"eventId": event_id, "entityType": entity, "eventType": event,
                        "occurredAt": "2024-01-15T10:30:00.000Z"});
    let res = c_
        .events
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source("kx-event-tracking")
                .detail_type(detail_type)
                .detail(detail.to_string())
                .event_bus_name(t.outputs.str("event_bus_name")?)
                .build(),
        )
        .send()
        .await
        .map_err(sdk("events PutEvents"))?;
    c.check(res.failed_entry_count() == 0, "PutEvents on the bus");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.is_empty() && Instant::now() < deadline {
        got = c_
            .sqs
            .receive_message()
            .queue_url(target_queue)
            .wait_time_seconds(1)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(sdk("sqs ReceiveMessage"))?
            .messages()
            .to_vec();
    }
    let envelope = match got.first() {
        Some(m) => json(m.body().unwrap_or_default(), "the routed message")?,
        None => json!({}),
    };
    c.check(
        envelope.get("detail-type").and_then(Value::as_str) == Some(detail_type)
            && envelope.pointer("/detail/eventId").and_then(Value::as_str) == Some(event_id),
        "the subscription routed the entry to its SQS target",
    );
    Ok(())
}
