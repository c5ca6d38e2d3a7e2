//! The checks of `examples/complete`'s database after apply: the RDS instance, its log groups
//! and managed secret, the security groups between it, the consumer and the query API, and the
//! producer policy.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::applied::string_set;
use super::{json, key, need, sdk, Checked, Checks, Target};

/// `complete`: the RDS instance, its log groups and secret, and the security groups around it.
pub(super) async fn database_and_network(
    t: &Target<'_>,
    c: &mut Checks<'_>,
    func: &aws_sdk_lambda::types::FunctionConfiguration,
) -> Checked {
    let o = t.outputs;
    let aws = &t.clients;
    let prefix = t.prefix;
    let instances = aws
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
    let groups = aws
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
    let sgs = aws
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
    let query = aws
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
