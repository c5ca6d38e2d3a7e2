# Each module on its own (they are usable alone): the resources behind the root module's outputs.

mock_provider "aws" {
  source = "./tests/mocks"
}
run "queue" {
  command = apply
  module { source = "./modules/queue" }

  assert {
    condition     = aws_sqs_queue.this.visibility_timeout_seconds == 300 && aws_sqs_queue.dlq.message_retention_seconds == 1209600
    error_message = "Visibility 300 s and a 14-day DLQ expected."
  }
  assert {
    condition     = aws_sqs_queue.this.sqs_managed_sse_enabled == true && aws_sqs_queue.dlq.sqs_managed_sse_enabled == true
    error_message = "Both queues must be encrypted (SSE-SQS by default)."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_policy.this.redrive_policy) == { deadLetterTargetArn = "arn:aws:sqs:us-east-1:123456789012:mock-queue", maxReceiveCount = 3 }
    error_message = "Redrive to the DLQ after 3 receives expected."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.dlq[0].redrive_allow_policy) == { redrivePermission = "byQueue", sourceQueueArns = ["arn:aws:sqs:us-east-1:123456789012:mock-queue"] }
    error_message = "The DLQ must accept only the events queue."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_policy.this.policy).Statement[0].Effect == "Deny" && jsondecode(aws_sqs_queue_policy.this.policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false" && jsondecode(aws_sqs_queue_policy.dlq.policy).Statement[0].Effect == "Deny"
    error_message = "Both queue policies must deny insecure transport."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.dead_letter_queue_depth[0].metric_name == "ApproximateNumberOfMessagesVisible" && aws_cloudwatch_metric_alarm.dead_letter_queue_depth[0].threshold == 0
    error_message = "DLQ depth alarm expected (any message)."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.oldest_message_age[0].metric_name == "ApproximateAgeOfOldestMessage" && length(aws_cloudwatch_metric_alarm.oldest_message_age[0].alarm_actions) == 0
    error_message = "Oldest message age alarm expected, without actions when no topic is given."
  }
}

run "queue_for_emulator_with_topic_and_key" {
  command = apply
  module { source = "./modules/queue" }

  variables {
    create_redrive_allow_policy = false
    alarm_sns_topic_arn         = "arn:aws:sns:us-east-1:123456789012:alarms"
    kms_master_key_id           = "alias/events"
  }

  assert {
    condition     = length(aws_sqs_queue_redrive_allow_policy.dlq) == 0 && aws_sqs_queue_policy.dlq.queue_url == aws_sqs_queue.dlq.id
    error_message = "The emulator switch must drop the redrive-allow policy only."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.dead_letter_queue_depth[0].alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:alarms"]) && aws_cloudwatch_metric_alarm.oldest_message_age[0].ok_actions == toset(["arn:aws:sns:us-east-1:123456789012:alarms"])
    error_message = "The SNS topic must be the alarms' action."
  }
  assert {
    condition     = aws_sqs_queue.this.kms_master_key_id == "alias/events" && aws_sqs_queue.this.kms_data_key_reuse_period_seconds == 300
    error_message = "A KMS key must replace SSE-SQS."
  }
}

run "network" {
  command = apply
  module { source = "./modules/network" }

  variables {
    database_ingress_security_group_ids = ["sg-0bbbbbbbbbbbbbbbb"]
  }

  assert {
    condition     = aws_vpc.this[0].tags["Name"] == "events-tracking-vpc" && aws_vpc.this[0].cidr_block == "10.0.0.0/16"
    error_message = "VPC <name>-vpc expected."
  }
  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.private) == 2 && alltrue([for s in aws_subnet.public : s.map_public_ip_on_launch == false])
    error_message = "Two public and two private subnets, no public IPs on launch."
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route.private_nat) == 2
    error_message = "One NAT gateway routing both private subnets."
  }
  assert {
    condition     = aws_security_group.consumer[0].name == "events-tracking-lambda-sg" && aws_security_group.database[0].name == "events-tracking-db-sg"
    error_message = "The CDK stack's security group names expected."
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.consumer_https[0].from_port == 443 && aws_vpc_security_group_egress_rule.consumer_https[0].to_port == 443 && aws_vpc_security_group_egress_rule.consumer_database_sg[0].from_port == 5432 && aws_vpc_security_group_egress_rule.consumer_database_sg[0].to_port == 5432
    error_message = "Consumer egress must be 443 and 5432 only."
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.consumer_database_sg[0].referenced_security_group_id == aws_security_group.database[0].id && length(aws_vpc_security_group_egress_rule.consumer_database_cidr) == 0
    error_message = "Consumer PostgreSQL egress must go to the database group only."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.database_from_consumer[0].referenced_security_group_id == aws_security_group.consumer[0].id && aws_vpc_security_group_ingress_rule.database_from_consumer[0].from_port == 5432
    error_message = "Database ingress must come from the consumer group on 5432."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.database_from_extra) == 1 && aws_vpc_security_group_ingress_rule.database_from_extra[0].referenced_security_group_id == "sg-0bbbbbbbbbbbbbbbb"
    error_message = "Listed extra groups get ingress too."
  }
  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.existing_database_from_consumer) == 0
    error_message = "No rule on a foreign group without one."
  }
}

run "network_existing_vpc_and_database" {
  command = apply
  module { source = "./modules/network" }

  variables {
    create_vpc                          = false
    vpc_id                              = "vpc-0123456789abcdef0"
    private_subnet_ids                  = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    create_database_security_group      = false
    existing_database_security_group_id = "sg-0ccccccccccccccccc"
  }

  assert {
    condition     = length(aws_vpc.this) == 0 && length(aws_nat_gateway.this) == 0 && length(aws_security_group.database) == 0
    error_message = "Nothing but the consumer group is created in an existing VPC with an existing database."
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.consumer_database_sg[0].referenced_security_group_id == "sg-0ccccccccccccccccc" && aws_vpc_security_group_ingress_rule.existing_database_from_consumer[0].security_group_id == "sg-0ccccccccccccccccc"
    error_message = "The existing database group gets the consumer's ingress, and the consumer egresses to it."
  }
}

run "network_existing_database_by_address" {
  command = apply
  module { source = "./modules/network" }

  variables {
    create_database_security_group = false
  }

  assert {
    condition     = length(aws_vpc_security_group_egress_rule.consumer_database_sg) == 0 && length(aws_vpc_security_group_egress_rule.consumer_database_cidr) == 3
    error_message = "Without a database group, PostgreSQL egress goes to the private address ranges."
  }
}

run "database" {
  command = apply
  module { source = "./modules/database" }

  variables {
    subnet_ids             = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    vpc_security_group_ids = ["sg-0123456789abcdef0"]
  }

  assert {
    condition     = aws_db_instance.this.engine == "postgres" && aws_db_instance.this.engine_version == "16" && aws_db_instance.this.identifier == "events-tracking-db"
    error_message = "PostgreSQL 16 named events-tracking-db expected."
  }
  assert {
    condition     = aws_db_instance.this.publicly_accessible == false && aws_db_instance.this.storage_encrypted == true && aws_db_instance.this.manage_master_user_password == true
    error_message = "Private, encrypted, with an RDS-managed password."
  }
  assert {
    condition     = aws_db_instance.this.backup_retention_period == 7 && aws_db_instance.this.deletion_protection == true && can(regex("^events-tracking-db-final-[0-9]{14}$", aws_db_instance.this.final_snapshot_identifier))
    error_message = "7 days of backups, deletion protection and a final snapshot by default, named <identifier>-final-<creation time> so that a replacement never collides."
  }
  assert {
    condition     = aws_db_instance.this.performance_insights_enabled == false && aws_db_instance.this.monitoring_interval == 0 && length(aws_iam_role.monitoring) == 0
    error_message = "PI and enhanced monitoring are off by default."
  }
  assert {
    condition     = anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "rds.force_ssl" && p.value == "1"])
    error_message = "The parameter group must force TLS."
  }
  assert {
    condition     = aws_db_instance.this.db_subnet_group_name == aws_db_subnet_group.this.name && aws_db_instance.this.parameter_group_name == aws_db_parameter_group.this.name
    error_message = "The instance must use the module's subnet and parameter groups."
  }
}

run "database_with_monitoring" {
  command = apply
  module { source = "./modules/database" }

  variables {
    subnet_ids                   = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    monitoring_interval          = 60
    performance_insights_enabled = true
    deletion_protection          = false
    skip_final_snapshot          = true
  }

  assert {
    condition     = length(aws_iam_role.monitoring) == 1 && aws_db_instance.this.monitoring_role_arn == aws_iam_role.monitoring[0].arn && aws_db_instance.this.performance_insights_enabled == true
    error_message = "Enhanced monitoring needs its role; PI on."
  }
  assert {
    # Same state as the run above: the snapshot name chosen at creation is kept (ignore_changes).
    condition     = aws_db_instance.this.skip_final_snapshot == true && can(regex("^events-tracking-db-final-[0-9]{14}$", aws_db_instance.this.final_snapshot_identifier)) && aws_db_instance.this.deletion_protection == false
    error_message = "skip_final_snapshot skips the snapshot; the name fixed at creation stays."
  }
}

run "consumer" {
  command = apply
  module { source = "./modules/consumer" }

  variables {
    package_path          = "tests/fixtures/package.placeholder"
    subnet_ids            = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    security_group_ids    = ["sg-0123456789abcdef0"]
    queue_arn             = "arn:aws:sqs:us-east-1:123456789012:q"
    dead_letter_queue_arn = "arn:aws:sqs:us-east-1:123456789012:dlq"
    dead_letter_queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
    event_bus_arn         = "arn:aws:events:us-east-1:123456789012:event-bus/b"
    event_bus_name        = "b"
    db_secret_arn         = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"
    db_host               = "db.example"
    maximum_concurrency   = 5
  }

  assert {
    condition     = module.function.function.runtime == "provided.al2023" && module.function.function.handler == "bootstrap" && module.function.function.architectures == tolist(["arm64"])
    error_message = "provided.al2023, arm64, handler bootstrap expected."
  }
  assert {
    condition     = module.function.function.source_code_hash == filebase64sha256("tests/fixtures/package.placeholder")
    error_message = "source_code_hash must be the package's filebase64sha256."
  }
  assert {
    condition     = module.function.function.tracing_config[0].mode == "Active" && module.function.xray_policy_arn != null
    error_message = "Active tracing with its managed policy by default."
  }
  assert {
    condition     = length(module.function.function.vpc_config) == 1 && module.function.vpc_access_policy_json != null && jsondecode(module.function.vpc_access_policy_json).Statement[0].Action == ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    error_message = "In a VPC with an inline policy for the ENI actions only."
  }
  assert {
    condition     = alltrue([for s in jsondecode(module.function.vpc_access_policy_json).Statement : alltrue([for a in s.Action : startswith(a, "ec2:")])]) && module.function.xray_policy_arn != null && module.function.xray_policy_arn == "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
    error_message = "No managed policy but X-Ray's: AWSLambdaVPCAccessExecutionRole would grant logs actions on every log group."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this.batch_size == 100 && aws_lambda_event_source_mapping.this.maximum_batching_window_in_seconds == 1 && aws_lambda_event_source_mapping.this.function_response_types == toset(["ReportBatchItemFailures"]) && aws_lambda_event_source_mapping.this.enabled == true
    error_message = "Mapping: 100 records, 1 s window, ReportBatchItemFailures, enabled."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this.scaling_config[0].maximum_concurrency == 5 && aws_lambda_event_source_mapping.this.event_source_arn == "arn:aws:sqs:us-east-1:123456789012:q"
    error_message = "Maximum concurrency must reach the mapping."
  }
  assert {
    condition     = module.function.log_group_name == "/aws/lambda/events-tracking-events-consumer" && module.function.log_group_retention_in_days == 30
    error_message = "Log group of the function with 30 days retention."
  }
  assert {
    condition     = module.function.function.environment[0].variables == tomap(output.environment) && toset(keys(output.environment)) == toset(["DB_SECRET_ARN", "DB_HOST", "DB_PORT", "DB_NAME", "DB_SSLMODE", "EVENT_BUS_NAME", "EVENT_SOURCE", "DEAD_LETTER_QUEUE_URL", "MAX_RECEIVE_COUNT", "KX_METRICS_NAMESPACE"])
    error_message = "The function's environment must be the contract."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.errors[0].metric_name == "Errors" && aws_cloudwatch_metric_alarm.errors[0].dimensions.FunctionName == module.function.function.function_name
    error_message = "Errors alarm on the function expected."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.outbox_backlog[0].namespace == "kx-events" && aws_cloudwatch_metric_alarm.outbox_backlog[0].metric_name == "OutboxBacklog" && aws_cloudwatch_metric_alarm.outbox_backlog[0].threshold == 100 && aws_cloudwatch_metric_alarm.outbox_backlog[0].dimensions.FunctionName == module.function.function.function_name
    error_message = "OutboxBacklog alarm (> 100) on the consumer's EMF metric expected."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.publish_failed[0].metric_name == "PublishFailed" && aws_cloudwatch_metric_alarm.publish_failed[0].statistic == "Sum" && aws_cloudwatch_metric_alarm.publish_failed[0].threshold == 0
    error_message = "PublishFailed > 0 alarm expected."
  }
  assert {
    condition     = module.function.role_name == "events-tracking-events-consumer-role"
    error_message = "Role <function>-role expected."
  }
  assert {
    condition     = aws_cloudwatch_event_rule.sweep[0].name == "events-tracking-events-consumer-outbox-sweep" && aws_cloudwatch_event_rule.sweep[0].schedule_expression == "rate(5 minutes)" && aws_cloudwatch_event_rule.sweep[0].event_bus_name == "default"
    error_message = "Outbox sweep rule <function>-outbox-sweep on the default bus, every 5 minutes by default."
  }
  assert {
    condition     = aws_cloudwatch_event_target.sweep[0].input == "{\"Records\":[]}" && aws_cloudwatch_event_target.sweep[0].arn == module.function.function.arn && aws_cloudwatch_event_target.sweep[0].rule == aws_cloudwatch_event_rule.sweep[0].name
    error_message = "The sweep target must invoke the function with exactly {\"Records\":[]}."
  }
  assert {
    condition     = aws_lambda_permission.sweep[0].principal == "events.amazonaws.com" && aws_lambda_permission.sweep[0].source_arn == aws_cloudwatch_event_rule.sweep[0].arn && aws_lambda_permission.sweep[0].action == "lambda:InvokeFunction" && aws_lambda_permission.sweep[0].function_name == module.function.function.function_name
    error_message = "EventBridge may invoke the function from the sweep rule only."
  }
  assert {
    condition     = output.sweep_rule_arn == aws_cloudwatch_event_rule.sweep[0].arn && output.sweep_rule_name == "events-tracking-events-consumer-outbox-sweep"
    error_message = "sweep_rule_arn and sweep_rule_name outputs expected."
  }
}

run "consumer_disabled_mapping_outside_vpc" {
  command = apply
  module { source = "./modules/consumer" }

  variables {
    package_path                 = "tests/fixtures/package.placeholder"
    queue_arn                    = "arn:aws:sqs:us-east-1:123456789012:q"
    dead_letter_queue_arn        = "arn:aws:sqs:us-east-1:123456789012:dlq"
    dead_letter_queue_url        = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
    event_bus_arn                = "arn:aws:events:us-east-1:123456789012:event-bus/b"
    event_bus_name               = "b"
    db_secret_arn                = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"
    db_host                      = "127.0.0.1"
    event_source_mapping_enabled = false
    tracing_enabled              = false
    environment_variables        = { RUST_LOG = "debug", DB_HOST = "ignored" }
    sweep_schedule_expression    = null
  }

  assert {
    condition     = length(aws_cloudwatch_event_rule.sweep) == 0 && length(aws_cloudwatch_event_target.sweep) == 0 && length(aws_lambda_permission.sweep) == 0 && output.sweep_rule_arn == null
    error_message = "A null sweep_schedule_expression creates no schedule."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this.enabled == false && length(aws_lambda_event_source_mapping.this.scaling_config) == 0
    error_message = "The mapping must be created disabled on request."
  }
  assert {
    condition     = length(module.function.function.vpc_config) == 0 && module.function.vpc_access_policy_json == null && module.function.xray_policy_arn == null
    error_message = "Outside a VPC and without tracing no managed policies are attached."
  }
  assert {
    condition     = output.environment.RUST_LOG == "debug" && output.environment.DB_HOST == "127.0.0.1"
    error_message = "Extra variables pass through; contract variables win."
  }
}

run "consumer_sweep_cron_long_name" {
  command = apply
  module { source = "./modules/consumer" }

  variables {
    function_name             = "f234567890123456789012345678901234567890123456789012345678901234"
    package_path              = "tests/fixtures/package.placeholder"
    queue_arn                 = "arn:aws:sqs:us-east-1:123456789012:q"
    dead_letter_queue_arn     = "arn:aws:sqs:us-east-1:123456789012:dlq"
    dead_letter_queue_url     = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
    event_bus_arn             = "arn:aws:events:us-east-1:123456789012:event-bus/b"
    event_bus_name            = "b"
    db_secret_arn             = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"
    db_host                   = "127.0.0.1"
    sweep_schedule_expression = "cron(0/10 * * * ? *)"
  }

  assert {
    condition     = aws_cloudwatch_event_rule.sweep[0].schedule_expression == "cron(0/10 * * * ? *)" && length(aws_cloudwatch_event_rule.sweep[0].name) == 64
    error_message = "A cron schedule passes through; the rule name is cut to EventBridge's 64 characters."
  }
}

run "bus" {
  command = apply
  module { source = "./modules/bus" }

  variables {
    create_archive         = true
    archive_retention_days = 14
  }

  assert {
    condition     = aws_cloudwatch_event_bus.this.name == "events-tracking-events-bus" && aws_cloudwatch_event_archive.this[0].retention_days == 14 && aws_cloudwatch_event_archive.this[0].event_source_arn == aws_cloudwatch_event_bus.this.arn
    error_message = "Bus with an archive of the given retention expected."
  }
  assert {
    condition     = aws_ssm_parameter.arn[0].value == aws_cloudwatch_event_bus.this.arn && aws_ssm_parameter.arn[0].type == "String" && aws_ssm_parameter.info[0].type == "String"
    error_message = "The arn parameter must hold the bus ARN as a String."
  }
  assert {
    condition = jsondecode(aws_ssm_parameter.info[0].value) == {
      serviceName      = "kx-event-tracking"
      eventBusName     = "events-tracking-events-bus"
      eventBusArn      = "arn:aws:events:us-east-1:123456789012:event-bus/mock-bus"
      source           = "kx-event-tracking"
      region           = "us-east-1"
      detailTypeFormat = "{entityType}.{eventType}"
    }
    error_message = "The info parameter must hold bus name and ARN, source, region and the detail-type format."
  }
}

run "subscription_sqs_via_ssm" {
  command = apply
  module { source = "./modules/subscription" }

  variables {
    rule_name            = "orders"
    event_pattern        = "{\"detail-type\":[{\"prefix\":\"order.\"}]}"
    target_type          = "sqs"
    target_arn           = "arn:aws:sqs:us-east-1:123456789012:orders"
    target_sqs_queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
  }

  assert {
    condition     = aws_cloudwatch_event_rule.this.event_bus_name == "arn:aws:events:us-east-1:123456789012:event-bus/discovered-bus" && aws_cloudwatch_event_target.this.event_bus_name == "arn:aws:events:us-east-1:123456789012:event-bus/discovered-bus" && output.event_bus_name == "discovered-bus"
    error_message = "The bus found through /eventbridge/services/<service>/arn must be used by its full ARN (a bus in another account needs it)."
  }
  assert {
    condition     = data.aws_ssm_parameter.bus_arn[0].name == "/eventbridge/services/kx-event-tracking/arn"
    error_message = "The look-up must use the discovery path."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_policy.target[0].policy).Statement[0].Principal.Service == "events.amazonaws.com" && jsondecode(aws_sqs_queue_policy.target[0].policy).Statement[0].Condition.ArnEquals["aws:SourceArn"] == aws_cloudwatch_event_rule.this.arn
    error_message = "The target queue must admit exactly this rule."
  }
  assert {
    condition     = aws_cloudwatch_event_target.this.retry_policy[0].maximum_retry_attempts == 3 && aws_cloudwatch_event_target.this.retry_policy[0].maximum_event_age_in_seconds == 3600 && aws_cloudwatch_event_target.this.dead_letter_config[0].arn == aws_sqs_queue.dlq[0].arn
    error_message = "Retry policy of the publishing guide (3 retries, 1 hour) and a target DLQ expected."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.failed_invocations[0].metric_name == "FailedInvocations" && aws_cloudwatch_metric_alarm.failed_invocations[0].dimensions.RuleName == "orders" && aws_cloudwatch_metric_alarm.dead_letter_queue_depth[0].dimensions.QueueName == "orders-target-dlq"
    error_message = "Alarms on the rule's FailedInvocations and the target DLQ's depth expected."
  }
  assert {
    condition     = aws_sqs_queue.dlq[0].name == "orders-target-dlq" && length(aws_lambda_permission.this) == 0
    error_message = "DLQ <rule>-target-dlq; no Lambda permission for an SQS target."
  }
}

run "subscription_by_parameter_arn" {
  command = plan
  module { source = "./modules/subscription" }

  variables {
    bus_arn_parameter    = "arn:aws:ssm:us-east-1:210987654321:parameter/eventbridge/services/orders/arn"
    rule_name            = "orders"
    event_pattern        = "{\"detail-type\":[{\"prefix\":\"order.\"}]}"
    target_type          = "sqs"
    target_arn           = "arn:aws:sqs:us-east-1:123456789012:orders"
    target_sqs_queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
  }

  assert {
    condition     = data.aws_ssm_parameter.bus_arn[0].name == "arn:aws:ssm:us-east-1:210987654321:parameter/eventbridge/services/orders/arn"
    error_message = "bus_arn_parameter (a shared parameter's ARN) must replace the discovery path."
  }
}

run "subscription_rejects_a_relative_parameter_name" {
  command = plan
  module { source = "./modules/subscription" }

  variables {
    bus_arn_parameter    = "eventbridge/services/orders/arn"
    rule_name            = "orders"
    event_pattern        = "{}"
    target_type          = "sqs"
    target_arn           = "arn:aws:sqs:us-east-1:123456789012:orders"
    target_sqs_queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
  }

  expect_failures = [var.bus_arn_parameter]
}

run "subscription_lambda_named_bus" {
  command = apply
  module { source = "./modules/subscription" }

  variables {
    rule_name                = "users"
    event_bus_name           = "given-bus"
    target_type              = "lambda"
    target_arn               = "arn:aws:lambda:us-east-1:123456789012:function:users"
    create_dead_letter_queue = false
  }

  assert {
    condition     = length(data.aws_ssm_parameter.bus_arn) == 0 && aws_cloudwatch_event_rule.this.event_bus_name == "given-bus"
    error_message = "A given bus name skips the look-up."
  }
  assert {
    condition     = aws_lambda_permission.this[0].principal == "events.amazonaws.com" && aws_lambda_permission.this[0].source_arn == aws_cloudwatch_event_rule.this.arn && length(aws_sqs_queue_policy.target) == 0
    error_message = "A Lambda target gets a permission for this rule only."
  }
  assert {
    condition     = length(aws_cloudwatch_event_target.this.dead_letter_config) == 0
    error_message = "No DLQ when none is wanted."
  }
}

run "subscription_sqs_needs_url" {
  command = plan
  module { source = "./modules/subscription" }

  variables {
    rule_name   = "orders"
    target_type = "sqs"
    target_arn  = "arn:aws:sqs:us-east-1:123456789012:orders"
  }

  expect_failures = [var.create_target_permission]
}

run "query" {
  command = apply
  module { source = "./modules/query" }

  variables {
    function_name              = "kx-events-query"
    package_path               = "tests/fixtures/package.placeholder"
    vpc_id                     = "vpc-0123456789abcdef0"
    subnet_ids                 = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    database_security_group_id = "sg-0dddddddddddddddd"
    db_host                    = "db.example"
    db_name                    = "kx"
    reader_secret_arn          = "arn:aws:secretsmanager:us-east-1:123456789012:secret:reader-AbCdEf"
    erasure_enabled            = true
    eraser_secret_arn          = "arn:aws:secretsmanager:us-east-1:123456789012:secret:eraser-AbCdEf"
    post_enabled               = true
    queue_arn                  = "arn:aws:sqs:us-east-1:123456789012:q"
    queue_url                  = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
  }

  assert {
    condition     = toset(keys(aws_apigatewayv2_route.this)) == toset(["GET /events", "POST /events", "DELETE /events", "GET /events/{eventId}", "GET /events/{eventId}/chain", "GET /events/chain/{eventId}", "GET /events/{eventId}/ancestors", "GET /analytics", "GET /openapi.json"])
    error_message = "Every route of lambdas/query/openapi.json, POST and DELETE included when enabled."
  }
  assert {
    condition     = alltrue([for r in aws_apigatewayv2_route.this : r.authorization_type == "AWS_IAM"]) && length(aws_apigatewayv2_authorizer.jwt) == 0
    error_message = "IAM authorization on every route by default."
  }
  assert {
    condition     = module.function.function.environment[0].variables.DB_SECRET_ARN == "arn:aws:secretsmanager:us-east-1:123456789012:secret:reader-AbCdEf" && module.function.function.environment[0].variables.KX_ERASER_SECRET_ARN == "arn:aws:secretsmanager:us-east-1:123456789012:secret:eraser-AbCdEf" && module.function.function.environment[0].variables.EVENTS_QUEUE_URL == "https://sqs.us-east-1.amazonaws.com/123456789012/q" && module.function.function.environment[0].variables.DB_SSLMODE == "verify-full"
    error_message = "The function reads with the reader's secret, erases with the eraser's, posts to the queue, verifies TLS."
  }
  assert {
    condition     = [for s in jsondecode(module.function.role_policy_json).Statement : s.Sid] == ["ReadDatabaseSecrets", "WriteOwnLogs", "SendPostedEvents"] && jsondecode(module.function.role_policy_json).Statement[2].Resource == ["arn:aws:sqs:us-east-1:123456789012:q"]
    error_message = "Least privilege: the two secrets, its log group, SendMessage on the queue only."
  }
  assert {
    condition     = length(aws_apigatewayv2_api.this.cors_configuration) == 0
    error_message = "No CORS by default."
  }
  assert {
    condition     = aws_apigatewayv2_stage.default.default_route_settings[0].throttling_rate_limit == 100 && length(aws_apigatewayv2_stage.default.access_log_settings) == 1 && aws_cloudwatch_log_group.access.retention_in_days == 30
    error_message = "Throttling and access logs with retention on the stage."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.database_from_query[0].security_group_id == "sg-0dddddddddddddddd" && aws_vpc_security_group_ingress_rule.database_from_query[0].from_port == 5432 && length(module.function.function.vpc_config) == 1
    error_message = "In the VPC, allowed into the database's security group on its port."
  }
  assert {
    condition     = module.function.function.tracing_config[0].mode == "Active" && module.function.function.architectures == tolist(["arm64"])
    error_message = "arm64 with X-Ray active tracing by default."
  }
}

run "query_jwt_without_writes" {
  command = apply
  module { source = "./modules/query" }

  variables {
    function_name        = "kx-events-query"
    package_path         = "tests/fixtures/package.placeholder"
    db_host              = "db.example"
    db_name              = "kx"
    reader_secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:reader-AbCdEf"
    authorization_type   = "JWT"
    jwt_issuer           = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf"
    jwt_audience         = ["client-1"]
    jwt_read_scopes      = ["kx-events/read"]
    cors_allowed_origins = ["https://app.example.com"]
  }

  assert {
    condition     = length(aws_apigatewayv2_route.this) == 7 && !contains(keys(aws_apigatewayv2_route.this), "DELETE /events") && !contains(keys(aws_apigatewayv2_route.this), "POST /events")
    error_message = "Without a queue or an eraser there is no POST or DELETE route."
  }
  assert {
    condition     = alltrue([for r in aws_apigatewayv2_route.this : r.authorization_type == "JWT" && r.authorization_scopes == toset(["kx-events/read"])]) && aws_apigatewayv2_authorizer.jwt[0].jwt_configuration[0].issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf"
    error_message = "JWT authorizer with the read scope on every read route."
  }
  assert {
    condition     = aws_apigatewayv2_api.this.cors_configuration[0].allow_origins == toset(["https://app.example.com"]) && !contains(keys(module.function.function.environment[0].variables), "EVENTS_QUEUE_URL")
    error_message = "CORS for the given origin only; no queue in the environment."
  }
  assert {
    condition     = length(aws_security_group.this) == 0 && length(module.function.function.vpc_config) == 0
    error_message = "Outside a VPC without subnets."
  }
}

run "dashboard" {
  command = apply
  module { source = "./modules/dashboard" }

  variables {
    dashboard_name         = "kx-events"
    function_name          = "kx-events-consumer"
    queue_name             = "kx-events-queue"
    dead_letter_queue_name = "kx-events-dlq"
    db_instance_identifier = "kx-events-db"
  }

  assert {
    condition     = aws_cloudwatch_dashboard.this.dashboard_name == "kx-events" && length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 6
    error_message = "Six widgets with a database."
  }
  assert {
    condition = toset(flatten([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [for m in w.properties.metrics : "${m[0]}/${m[1]}"]])) == toset([
      "kx-events/EventsReceived", "kx-events/EventsStored", "kx-events/Duplicates", "kx-events/Published", "kx-events/DeadLettered", "kx-events/PublishFailed",
      "kx-events/StoreLatency", "kx-events/PublishLatency", "kx-events/EndToEndLatency", "kx-events/OutboxBacklog",
      "AWS/SQS/ApproximateNumberOfMessagesVisible", "AWS/SQS/ApproximateAgeOfOldestMessage",
      "AWS/Lambda/Errors", "AWS/Lambda/Throttles", "AWS/Lambda/Duration", "AWS/Lambda/ConcurrentExecutions",
      "AWS/RDS/CPUUtilization", "AWS/RDS/DatabaseConnections", "AWS/RDS/FreeStorageSpace",
    ])
    error_message = "Every metric of the consumer, the queues, the function and the database."
  }
  assert {
    condition     = alltrue([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.x + w.width <= 24])
    error_message = "Widgets fit the 24-column grid."
  }
}

run "dashboard_without_rds" {
  command = plan
  module { source = "./modules/dashboard" }

  variables {
    dashboard_name         = "kx-events"
    function_name          = "f"
    queue_name             = "q"
    dead_letter_queue_name = "d"
  }

  assert {
    condition     = !contains(output.widget_titles, "Database")
    error_message = "No database widget without an RDS instance."
  }
}
