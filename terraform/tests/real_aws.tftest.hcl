# What the mock provider and moto let through but real AWS rejects or mishandles, one
# run (or more) per defect. The real provider's own validation runs in scripts/terraform-checks.sh
# plan-offline (every example and tests/offline/max_names, offline).

mock_provider "aws" {
  source = "./tests/mocks"
}
variables {
  consumer_package_path = "tests/fixtures/package.placeholder"
}

# 1. Cross-account subscriptions: a bus policy for subscriber accounts / an organization, the bus
#    used by ARN, discovery parameters that RAM can share.
run "d1_bus_policy_for_subscriber_accounts" {
  command = apply
  module { source = "./modules/bus" }

  variables {
    subscriber_account_ids     = ["210987654321"]
    subscriber_organization_id = "o-a1b2c3d4e5"
    ssm_parameter_tier         = "Advanced"
  }

  assert {
    condition     = length(aws_cloudwatch_event_bus_policy.this) == 1 && aws_ssm_parameter.arn[0].tier == "Advanced" && aws_ssm_parameter.info[0].tier == "Advanced"
    error_message = "Subscribers get a bus policy; Advanced parameters (shareable through AWS RAM) on request."
  }
  assert {
    condition     = [for s in data.aws_iam_policy_document.bus[0].statement : s.sid] == ["SubscriberAccountsManageOwnRules", "OrganizationManagesOwnRules"]
    error_message = "One statement for the listed accounts, one for the organization."
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.bus[0].statement : contains(s.actions, "events:PutRule") && contains(s.actions, "events:PutTargets") && s.resources == toset(["arn:aws:events:us-east-1:123456789012:rule/events-tracking-events-bus/*"])])
    error_message = "Subscribers may put rules and targets on this bus's rules only."
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.bus[0].statement : anytrue([for c in s.condition : c.variable == "events:creatorAccount" && contains(c.values, "$${aws:PrincipalAccount}")])])
    error_message = "Each account may manage only the rules it created (events:creatorAccount)."
  }
}

run "d1_no_policy_without_subscribers" {
  command = apply
  module { source = "./modules/bus" }

  assert {
    condition     = length(aws_cloudwatch_event_bus_policy.this) == 0 && aws_ssm_parameter.arn[0].tier == "Standard"
    error_message = "No bus policy and Standard parameters by default."
  }
}

run "d1_subscription_on_another_accounts_bus_by_arn" {
  command = apply
  module { source = "./modules/subscription" }

  variables {
    event_bus_name       = "arn:aws:events:us-east-1:210987654321:event-bus/kx-prod-events-bus"
    rule_name            = "crm-user-events"
    target_type          = "sqs"
    target_arn           = "arn:aws:sqs:us-east-1:123456789012:crm"
    target_sqs_queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/crm"
  }

  assert {
    condition     = aws_cloudwatch_event_rule.this.event_bus_name == var.event_bus_name && aws_cloudwatch_event_target.this.event_bus_name == var.event_bus_name && output.event_bus_name == "kx-prod-events-bus"
    error_message = "A bus ARN reaches PutRule/PutTargets unchanged (a bare name would mean a bus in the subscriber's own account)."
  }
}

run "d1_bad_subscriber_account" {
  command = plan
  variables { bus_subscriber_account_ids = ["12345"] }
  expect_failures = [var.bus_subscriber_account_ids]
}

# 3. Derived names within every resource's limits, inputs validated against the charset.
run "d3_monitoring_role_prefix_within_38" {
  command = apply
  module { source = "./modules/database" }

  variables {
    identifier          = "d23456789012345678901234567890123456789012345678901234567890123"
    subnet_ids          = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    monitoring_interval = 60
  }

  assert {
    condition     = length(aws_iam_role.monitoring[0].name_prefix) <= 38 && startswith(aws_iam_role.monitoring[0].name_prefix, "d2345678901234567890123456-monitoring-")
    error_message = "The monitoring role's name_prefix must stay within IAM's 38 characters."
  }
  assert {
    condition     = length(aws_db_instance.this.final_snapshot_identifier) <= 255 && !can(regex("--", aws_db_instance.this.final_snapshot_identifier))
    error_message = "The final snapshot name must be a valid RDS snapshot identifier."
  }
}

run "d3_rule_name_with_dot" {
  command = plan
  module { source = "./modules/subscription" }

  variables {
    rule_name      = "crm.user-events"
    event_bus_name = "b"
    target_type    = "lambda"
    target_arn     = "arn:aws:lambda:us-east-1:123456789012:function:f"
  }

  expect_failures = [var.rule_name]
}

run "d3_longest_function_name" {
  command = apply

  variables {
    consumer_function_name = "f234567890123456789012345678901234567890123456789012345678901234"
  }

  assert {
    condition     = length(output.migrate_function_name) <= 64 && endswith(output.migrate_function_name, "-migrate") && length(output.consumer_role_name) <= 64
    error_message = "Migrate function and role names derived from a 64-character function name stay within 64."
  }
}

run "d3_security_group_name_sg_prefix" {
  command = plan
  variables { consumer_security_group_name = "sg-consumer" }
  expect_failures = [var.consumer_security_group_name]
}

# 5. KMS keys must be key ARNs: the grants are written for ARNs, an alias would drop them.
run "d5_queue_key_alias_refused" {
  command = plan
  variables { queue_kms_master_key_id = "alias/kx-events" }
  expect_failures = [var.queue_kms_master_key_id]
}

run "d5_secret_key_alias_refused" {
  command = plan
  variables {
    db_master_user_secret_kms_key_id = "alias/kx-events"
    db_kms_key_id                    = "1234abcd-12ab-34cd-56ef-1234567890ab"
  }
  expect_failures = [var.db_master_user_secret_kms_key_id, var.db_kms_key_id]
}

run "d5_aws_managed_sqs_key_is_fine" {
  command = apply
  variables { queue_kms_master_key_id = "alias/aws/sqs" }

  assert {
    condition     = !anytrue([for s in jsondecode(output.producer_policy_json).Statement : s.Sid == "EncryptForQueue"])
    error_message = "The AWS managed SQS key needs no grant."
  }
}

# 6. Visibility timeout six times the function timeout by default, a warning below.
run "d6_visibility_six_times_timeout" {
  command = apply
  variables { consumer_timeout = 90 }

  assert {
    condition     = output.queue_visibility_timeout_seconds == 540
    error_message = "The default visibility timeout must be 6x consumer_timeout."
  }
}

run "d6_check_warns_below_six_times" {
  command = apply
  module { source = "./modules/consumer" }

  variables {
    package_path                     = "tests/fixtures/package.placeholder"
    queue_arn                        = "arn:aws:sqs:us-east-1:123456789012:q"
    dead_letter_queue_arn            = "arn:aws:sqs:us-east-1:123456789012:dlq"
    dead_letter_queue_url            = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
    event_bus_arn                    = "arn:aws:events:us-east-1:123456789012:event-bus/b"
    event_bus_name                   = "b"
    db_secret_arn                    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"
    db_host                          = "db.example"
    timeout                          = 60
    queue_visibility_timeout_seconds = 300
  }

  expect_failures = [check.visibility_timeout_six_times_function_timeout]
}

# 7. The mapping's maximum concurrency from the connection budget, and the reserved-concurrency check.
run "d7_concurrency_from_t4g_micro" {
  command = apply

  assert {
    condition     = output.db_max_connections == 112 && output.consumer_maximum_concurrency == 56
    error_message = "db.t4g.micro: LEAST(1 GiB/9531392, 5000) = 112 connections, half of them for the consumer."
  }
}

run "d7_concurrency_from_r6g_large_capped_by_reserved" {
  command = apply
  variables {
    db_instance_class                       = "db.r6g.large"
    consumer_reserved_concurrent_executions = 40
  }

  assert {
    condition     = output.db_max_connections == 1802 && output.consumer_maximum_concurrency == 40
    error_message = "db.r6g.large (16 GiB) gives 1802 connections; the reserved concurrency (40) caps the mapping below 901."
  }
}

run "d7_concurrency_capped_at_5000_connections" {
  command = apply
  variables { db_instance_class = "db.r6g.2xlarge" }

  assert {
    condition     = output.db_max_connections == 5000 && output.consumer_maximum_concurrency == 1000
    error_message = "64 GiB would give 7209 connections: RDS caps max_connections at 5000, AWS the mapping at 1000."
  }
}

run "d7_concurrency_existing_database" {
  command = apply
  variables {
    create_database    = false
    db_host            = "db.example"
    db_secret_arn      = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"
    db_max_connections = 5000
  }

  assert {
    condition     = output.consumer_maximum_concurrency == 1000
    error_message = "An existing database's max_connections is used; AWS allows at most 1000."
  }
}

run "d7_check_maximum_above_reserved" {
  command = apply
  module { source = "./modules/consumer" }

  variables {
    package_path                   = "tests/fixtures/package.placeholder"
    queue_arn                      = "arn:aws:sqs:us-east-1:123456789012:q"
    dead_letter_queue_arn          = "arn:aws:sqs:us-east-1:123456789012:dlq"
    dead_letter_queue_url          = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
    event_bus_arn                  = "arn:aws:events:us-east-1:123456789012:event-bus/b"
    event_bus_name                 = "b"
    db_secret_arn                  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"
    db_host                        = "db.example"
    maximum_concurrency            = 50
    reserved_concurrent_executions = 10
  }

  expect_failures = [check.maximum_concurrency_within_reserved_concurrency]
}

# 8. IAM: the migrate function's policy, and no managed VPC policy.
run "d8_migrate_function_least_privilege" {
  command = apply
  module { source = "./modules/consumer" }

  variables {
    package_path               = "tests/fixtures/package.placeholder"
    subnet_ids                 = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    security_group_ids         = ["sg-0123456789abcdef0"]
    queue_arn                  = "arn:aws:sqs:us-east-1:123456789012:q"
    dead_letter_queue_arn      = "arn:aws:sqs:us-east-1:123456789012:dlq"
    dead_letter_queue_url      = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
    event_bus_arn              = "arn:aws:events:us-east-1:123456789012:event-bus/b"
    event_bus_name             = "b"
    db_secret_arn              = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-master-AbCdEf"
    db_secret_kms_key_arns     = ["arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"]
    app_role_secret_kms_key_id = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
    db_host                    = "db.example"
    create_app_role            = true
  }

  assert {
    condition = { for s in jsondecode(module.migrate[0].role_policy_json).Statement : s.Sid => { actions = s.Action, resources = s.Resource } } == {
      ReadOwnerAndApplicationSecrets = { actions = ["secretsmanager:GetSecretValue"], resources = [var.db_secret_arn, aws_secretsmanager_secret.app_role[0].arn] }
      WriteApplicationRoleSecret     = { actions = ["secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret"], resources = [aws_secretsmanager_secret.app_role[0].arn] }
      WriteOwnLogs                   = { actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = ["${module.migrate[0].log_group_arn}:*"] }
      UseSecretKeys                  = { actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = ["arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"] }
    }
    error_message = "The migrate role reads the master and application secrets, writes only the latter, and uses the secrets' key."
  }
  assert {
    condition     = module.migrate[0].vpc_access_policy_json != null && module.migrate[0].function.environment[0].variables.KX_MODE == "migrate" && module.migrate[0].function.source_code_hash == module.function.function.source_code_hash
    error_message = "The migrate function is the same package in migrate mode, in the VPC with the ENI policy."
  }
  assert {
    condition     = aws_lambda_invocation.migrate[0].input == "{}" && aws_lambda_invocation.migrate[0].triggers.package == module.function.function.source_code_hash && aws_lambda_invocation.migrate[0].function_name == module.migrate[0].function.function_name
    error_message = "terraform apply invokes the migrate function with {}, again when the package changes."
  }
  assert {
    condition     = aws_secretsmanager_secret.app_role[0].kms_key_id == var.app_role_secret_kms_key_id && module.function.function.environment[0].variables.DB_SECRET_ARN == aws_secretsmanager_secret.app_role[0].arn && module.function.function.environment[0].variables.KX_MIGRATE == "off"
    error_message = "The consumer reads the application role's secret (encrypted like the master's) and never migrates."
  }
  assert {
    condition     = [for s in jsondecode(module.function.role_policy_json).Statement : s.Resource if s.Sid == "UseCustomerManagedKeys"][0] == [var.app_role_secret_kms_key_id]
    error_message = "The consumer is granted its secret's key."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.throttles) == 1 && aws_cloudwatch_metric_alarm.duration[0].threshold == 48000
    error_message = "Throttles and duration alarms (80% of the 60 s timeout) expected."
  }
}

run "d8_no_migration_run_on_request" {
  command = apply
  variables { run_migrations_on_apply = false }

  assert {
    condition     = output.migrate_result == null && output.migrate_function_name != null
    error_message = "run_migrations_on_apply = false keeps the migrate function but does not invoke it."
  }
}

# 9. RDS: managed log groups with retention, parameter group by prefix.
run "d9_rds_log_groups_and_parameter_group" {
  command = apply
  module { source = "./modules/database" }

  variables {
    subnet_ids            = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    log_retention_in_days = 14
  }

  assert {
    condition     = toset(keys(aws_cloudwatch_log_group.this)) == toset(["postgresql", "upgrade"]) && aws_cloudwatch_log_group.this["postgresql"].name == "/aws/rds/instance/events-tracking-db/postgresql" && aws_cloudwatch_log_group.this["upgrade"].retention_in_days == 14
    error_message = "Each exported log's group is managed with the retention."
  }
  assert {
    condition     = aws_db_parameter_group.this.name_prefix == "events-tracking-db-"
    error_message = "The parameter group is named by prefix (create_before_destroy would collide with a fixed name)."
  }
  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.this)) == toset(["cpu", "free_storage"])
    error_message = "CPU and storage alarms by default; connections with a threshold."
  }
}

# Package from S3.
run "consumer_package_from_s3" {
  command = apply
  variables {
    consumer_package_path      = null
    consumer_s3_bucket         = "kx-artifacts"
    consumer_s3_key            = "kx-events/1.2.0/bootstrap.zip"
    consumer_s3_object_version = "3HL4kqtJlcpXroDTDmJ"
  }

  assert {
    condition     = output.consumer_function_name == "events-tracking-events-consumer"
    error_message = "The consumer deploys from S3."
  }
}

run "consumer_package_both_or_neither" {
  command = plan
  variables {
    consumer_s3_bucket = "kx-artifacts"
    consumer_s3_key    = "bootstrap.zip"
  }
  expect_failures = [var.consumer_package_path]
}

# Bring your own queue and bus (create_queue / create_bus = false).
run "existing_queue_and_bus" {
  command = apply
  variables {
    create_queue          = false
    queue_arn             = "arn:aws:sqs:us-east-1:123456789012:legacy-events-queue"
    queue_url             = "https://sqs.us-east-1.amazonaws.com/123456789012/legacy-events-queue"
    dead_letter_queue_arn = "arn:aws:sqs:us-east-1:123456789012:legacy-events-dlq"
    dead_letter_queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/legacy-events-dlq"
    create_bus            = false
    event_bus_arn         = "arn:aws:events:us-east-1:123456789012:event-bus/kx-event-tracking-events-bus"
  }

  assert {
    condition     = output.queue_name == "legacy-events-queue" && output.dead_letter_queue_name == "legacy-events-dlq" && output.event_bus_name == "kx-event-tracking-events-bus" && output.ssm_parameter_names.arn == null
    error_message = "The given queue and bus are reported; no discovery parameters without the module's bus."
  }
  assert {
    condition     = output.consumer_environment.DEAD_LETTER_QUEUE_URL == var.dead_letter_queue_url && output.consumer_environment.EVENT_BUS_NAME == "kx-event-tracking-events-bus" && output.producer_environment.EVENTS_QUEUE_URL == var.queue_url
    error_message = "Consumer and producers are pointed at the given queue and bus."
  }
  assert {
    condition     = { for s in jsondecode(output.consumer_policy_json).Statement : s.Sid => s.Resource if contains(["ConsumeEventsQueue", "PutEventsOnBus"], s.Sid) } == { ConsumeEventsQueue = [var.queue_arn], PutEventsOnBus = [var.event_bus_arn] }
    error_message = "The consumer is granted the given queue and bus."
  }
}

run "existing_queue_needs_its_arns" {
  command = plan
  variables { create_queue = false }
  expect_failures = [var.queue_arn, var.queue_url, var.dead_letter_queue_arn, var.dead_letter_queue_url]
}

# VPC endpoints instead of (or besides) the NAT gateway.
run "vpc_endpoints_without_nat" {
  command = apply
  module { source = "./modules/network" }

  variables {
    create_vpc_endpoints = true
    enable_nat_gateway   = false
  }

  assert {
    condition     = toset(keys(aws_vpc_endpoint.this)) == toset(["secretsmanager", "sqs", "events"]) && aws_vpc_endpoint.this["sqs"].service_name == "com.amazonaws.us-east-1.sqs" && aws_vpc_endpoint.this["sqs"].private_dns_enabled == true && length(aws_nat_gateway.this) == 0
    error_message = "Interface endpoints for the consumer's services with private DNS, no NAT gateway."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.endpoints_from_consumer[0].referenced_security_group_id == aws_security_group.consumer[0].id && aws_vpc_security_group_ingress_rule.endpoints_from_consumer[0].from_port == 443
    error_message = "The endpoints admit HTTPS from the consumer only."
  }
}
