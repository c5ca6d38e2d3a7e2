//! The plan after apply: which resources it would change, and which of those are moto's known
//! gaps rather than drift of the module.
//!
//! The gaps, measured: moto returns no user parameters of a DB parameter group and no
//! description of a security group rule that references a group; the subscription's SSM look-up
//! then waits for apply (`depends_on`), so its rule shows as replaced. Only `examples/complete`
//! has them; any change in `examples/local` is a failure.

/// The resource addresses of the `  # <address> will be …` / `  # <address> must be …` lines of
/// a `terraform plan` output, in order.
pub fn changes(plan_output: &str) -> Vec<String> {
    plan_output
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("  # ")?;
            // The address ends at the last " will be" or " must be" of the line.
            let end = [" will be", " must be"]
                .iter()
                .filter_map(|verb| rest.rfind(verb))
                .max()?;
            Some(rest[..end].to_string())
        })
        .collect()
}

/// Whether a change of `address` is one of moto's known gaps.
pub fn is_known_gap(address: &str) -> bool {
    address.ends_with("aws_db_parameter_group.this")
        || address.contains("aws_vpc_security_group_ingress_rule.")
        || address.contains("aws_vpc_security_group_egress_rule.")
        || address.contains("_subscription.")
        || address.starts_with("module.subscription.")
}

/// The changes that are not known gaps.
pub fn unexplained(changes: &[String]) -> Vec<&str> {
    changes
        .iter()
        .map(String::as_str)
        .filter(|c| !c.is_empty() && !is_known_gap(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "\
module.kx_events.aws_sqs_queue.this: Refreshing state... [id=http://x]

Terraform used the selected providers to generate the following execution
plan. Resource actions are indicated with the following symbols:
  ~ update in-place
-/+ destroy and then create replacement

Terraform will perform the following actions:

  # module.kx_events.module.database[0].aws_db_parameter_group.this will be updated in-place
  ~ resource \"aws_db_parameter_group\" \"this\" {
  # module.kx_events.aws_vpc_security_group_ingress_rule.db[\"consumer\"] must be replaced
-/+ resource \"aws_vpc_security_group_ingress_rule\" \"db\" {
      # (3 unchanged attributes hidden)
  # module.subscription.aws_cloudwatch_event_rule.this will be updated in-place
  # module.user_subscription.aws_cloudwatch_event_target.this[0] must be replaced
    # module.nested.x will be created
  # module.odd.thing[\"will be\"] will be created

Plan: 1 to add, 3 to change, 1 to destroy.
";

    #[test]
    fn changes_are_the_addresses_of_the_marked_lines() {
        assert_eq!(
            changes(PLAN),
            [
                "module.kx_events.module.database[0].aws_db_parameter_group.this",
                "module.kx_events.aws_vpc_security_group_ingress_rule.db[\"consumer\"]",
                "module.subscription.aws_cloudwatch_event_rule.this",
                "module.user_subscription.aws_cloudwatch_event_target.this[0]",
                "module.odd.thing[\"will be\"]",
            ]
        );
        assert!(changes("No changes. Your infrastructure matches the configuration.").is_empty());
    }

    #[test]
    fn only_moto_gaps_are_explained() {
        let all = changes(PLAN);
        assert_eq!(unexplained(&all), ["module.odd.thing[\"will be\"]"]);
        assert!(unexplained(&all[..4]).is_empty());
        for gap in [
            "module.kx_events.module.database[0].aws_db_parameter_group.this",
            "aws_vpc_security_group_egress_rule.consumer_https",
            "module.user_subscription.aws_cloudwatch_event_rule.this",
            "module.subscription.aws_sqs_queue_policy.this",
        ] {
            assert!(is_known_gap(gap), "{gap}");
        }
        for drift in [
            "module.kx_events.aws_db_parameter_group.this[0]",
            "module.kx_events.aws_lambda_function.consumer",
            "module.kx_events.aws_security_group.db",
            "module.subscriptions.aws_cloudwatch_event_rule.this",
        ] {
            assert!(!is_known_gap(drift), "{drift}");
        }
    }
}
