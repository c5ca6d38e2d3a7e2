//! The check after destroy: nothing named with the example's prefix (or found through its
//! outputs) is left in moto.

use aws_sdk_ec2::types::Filter;
use aws_sdk_iam::types::PolicyScopeType;

use super::{sdk, Checked, Checks, Target};

/// One check: every kind of resource the examples create, listed by prefix (or by the outputs'
/// IDs), is gone.
pub async fn destroyed(t: &Target<'_>, c: &mut Checks<'_>) -> Checked {
    let aws = &t.clients;
    let prefix = t.prefix;
    let mut left: Vec<String> = Vec::new();

    let queues = aws
        .sqs
        .list_queues()
        .queue_name_prefix(prefix)
        .send()
        .await
        .map_err(sdk("sqs ListQueues"))?;
    left.extend(queues.queue_urls().iter().map(|q| format!("queue {q}")));

    let buses = aws
        .events
        .list_event_buses()
        .name_prefix(prefix)
        .send()
        .await
        .map_err(sdk("events ListEventBuses"))?;
    left.extend(
        buses
            .event_buses()
            .iter()
            .map(|b| format!("bus {}", b.name().unwrap_or_default())),
    );

    let functions = aws
        .lambda
        .list_functions()
        .send()
        .await
        .map_err(sdk("lambda ListFunctions"))?;
    left.extend(
        functions
            .functions()
            .iter()
            .filter_map(|f| f.function_name())
            .filter(|n| n.starts_with(prefix))
            .map(|n| format!("function {n}")),
    );

    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .send()
        .await
        .map_err(sdk("lambda ListEventSourceMappings"))?;
    let function_marker = format!(":function:{prefix}");
    left.extend(
        mappings
            .event_source_mappings()
            .iter()
            .filter(|m| {
                m.function_arn()
                    .unwrap_or_default()
                    .contains(&function_marker)
            })
            .map(|m| format!("mapping {}", m.uuid().unwrap_or_default())),
    );

    let parameters = aws
        .ssm
        .get_parameters_by_path()
        .path(format!("/eventbridge/services/{}", t.service()))
        .recursive(true)
        .send()
        .await
        .map_err(sdk("ssm GetParametersByPath"))?;
    left.extend(
        parameters
            .parameters()
            .iter()
            .map(|p| format!("parameter {}", p.name().unwrap_or_default())),
    );

    let alarms = aws
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .send()
        .await
        .map_err(sdk("cloudwatch DescribeAlarms"))?;
    left.extend(
        alarms
            .metric_alarms()
            .iter()
            .map(|a| format!("alarm {}", a.alarm_name().unwrap_or_default())),
    );

    let dashboards = aws
        .cloudwatch
        .list_dashboards()
        .dashboard_name_prefix(prefix)
        .send()
        .await
        .map_err(sdk("cloudwatch ListDashboards"))?;
    left.extend(
        dashboards
            .dashboard_entries()
            .iter()
            .map(|d| format!("dashboard {}", d.dashboard_name().unwrap_or_default())),
    );

    for group_prefix in [
        format!("/aws/lambda/{prefix}"),
        format!("/aws/rds/instance/{prefix}"),
        format!("/aws/apigateway/{prefix}"),
    ] {
        let groups = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(group_prefix)
            .send()
            .await
            .map_err(sdk("logs DescribeLogGroups"))?;
        left.extend(
            groups
                .log_groups()
                .iter()
                .map(|g| format!("log group {}", g.log_group_name().unwrap_or_default())),
        );
    }

    let apis = aws
        .apigw
        .get_apis()
        .send()
        .await
        .map_err(sdk("apigatewayv2 GetApis"))?;
    left.extend(
        apis.items()
            .iter()
            .filter_map(|a| a.name())
            .filter(|n| n.starts_with(prefix))
            .map(|n| format!("http api {n}")),
    );

    let roles = aws
        .iam
        .list_roles()
        .send()
        .await
        .map_err(sdk("iam ListRoles"))?;
    left.extend(
        roles
            .roles()
            .iter()
            .map(|r| r.role_name())
            .filter(|n| n.starts_with(prefix))
            .map(|n| format!("role {n}")),
    );

    let policies = aws
        .iam
        .list_policies()
        .scope(PolicyScopeType::Local)
        .send()
        .await
        .map_err(sdk("iam ListPolicies"))?;
    left.extend(
        policies
            .policies()
            .iter()
            .filter_map(|p| p.policy_name())
            .filter(|n| n.starts_with(prefix))
            .map(|n| format!("policy {n}")),
    );

    let topics = aws
        .sns
        .list_topics()
        .send()
        .await
        .map_err(sdk("sns ListTopics"))?;
    left.extend(
        topics
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .filter(|arn| {
                arn.rsplit(':')
                    .next()
                    .unwrap_or_default()
                    .starts_with(prefix)
            })
            .map(|arn| format!("topic {arn}")),
    );

    let secrets = aws
        .secrets
        .list_secrets()
        .send()
        .await
        .map_err(sdk("secretsmanager ListSecrets"))?;
    let db_secret = t.outputs.opt_str("db_secret_arn");
    left.extend(
        secrets
            .secret_list()
            .iter()
            .filter(|s| {
                s.name().unwrap_or_default().starts_with(prefix)
                    || (s.arn().is_some() && s.arn() == db_secret)
            })
            .map(|s| format!("secret {}", s.name().unwrap_or_default())),
    );

    let instances = aws
        .rds
        .describe_db_instances()
        .send()
        .await
        .map_err(sdk("rds DescribeDBInstances"))?;
    left.extend(
        instances
            .db_instances()
            .iter()
            .filter_map(|d| d.db_instance_identifier())
            .filter(|id| id.starts_with(prefix))
            .map(|id| format!("db {id}")),
    );

    if let Some(vpc_id) = t.outputs.opt_str("vpc_id").filter(|v| !v.is_empty()) {
        let vpcs = aws
            .ec2
            .describe_vpcs()
            .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
            .send()
            .await
            .map_err(sdk("ec2 DescribeVpcs"))?;
        left.extend(
            vpcs.vpcs()
                .iter()
                .map(|v| format!("vpc {}", v.vpc_id().unwrap_or_default())),
        );
    }
    let groups = aws
        .ec2
        .describe_security_groups()
        .send()
        .await
        .map_err(sdk("ec2 DescribeSecurityGroups"))?;
    left.extend(
        groups
            .security_groups()
            .iter()
            .filter_map(|g| g.group_name())
            .filter(|n| n.starts_with(prefix))
            .map(|n| format!("security group {n}")),
    );
    let addresses = aws
        .ec2
        .describe_addresses()
        .send()
        .await
        .map_err(sdk("ec2 DescribeAddresses"))?;
    left.extend(
        addresses
            .addresses()
            .iter()
            .filter(|a| {
                a.tags().iter().any(|tag| {
                    tag.key() == Some("Name") && tag.value().unwrap_or_default().starts_with(prefix)
                })
            })
            .map(|a| format!("elastic ip {}", a.allocation_id().unwrap_or_default())),
    );

    c.check(
        left.is_empty(),
        format!(
            "nothing of {prefix} left after destroy{}",
            if left.is_empty() {
                String::new()
            } else {
                format!(": {}", left.join(", "))
            }
        ),
    );
    Ok(())
}
