# Everything kx-events creates, with a producer policy, an alarm topic and one subscription.
# Deletion protection is off so that the example can be destroyed; keep it on in production.

provider "aws" {
  region = var.region
}

locals {
  tags = {
    Project = "kx-events"
    Example = "complete"
  }
}

# CloudWatch alarms can publish to an encrypted topic only when CloudWatch may use the key: the
# AWS managed alias/aws/sns key's policy cannot be changed to allow that, so the topic gets a
# customer managed key whose policy grants cloudwatch.amazonaws.com.
resource "aws_kms_key" "alarms" {
  description             = "${var.name_prefix}: SNS alarm topic (CloudWatch may use it)"
  enable_key_rotation     = true
  deletion_window_in_days = 7

  tags = local.tags
}

resource "aws_kms_key_policy" "alarms" {
  key_id = aws_kms_key.alarms.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })
}

locals {
  # arn:<partition>:kms:<region>:<account>:key/<id>: no STS call needed (the plan runs offline too).
  partition  = element(split(":", aws_kms_key.alarms.arn), 1)
  account_id = element(split(":", aws_kms_key.alarms.arn), 4)
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.alarms.arn

  tags = local.tags
}

module "kx_events" {
  source = "../../"

  name_prefix           = var.name_prefix
  service_name          = var.service_name
  consumer_package_path = coalesce(var.consumer_package_path, "${path.root}/../../../target/lambda/bootstrap/bootstrap.zip")
  vpc_azs               = var.vpc_azs

  db_deletion_protection = false
  db_skip_final_snapshot = true

  event_bus_archive_enabled        = true
  event_bus_archive_retention_days = 7

  consumer_environment_variables = { RUST_LOG = "info" }
  # Against the moto emulator (var.emulator): the mapping disabled and no migrate invocation (moto
  # cannot run functions, and would dead-letter every message), no redrive-allow policy (moto
  # lacks the attribute).
  consumer_event_source_mapping_enabled = !var.emulator
  run_migrations_on_apply               = !var.emulator
  queue_create_redrive_allow_policy     = !var.emulator

  alarm_sns_topic_arn = aws_sns_topic.alarms.arn

  # The query API: IAM authorization, POST /events, and erasure on its own role and route.
  create_query_api      = true
  query_package_path    = coalesce(var.query_package_path, "${path.root}/../../../target/lambda/query/bootstrap.zip")
  query_erasure_enabled = true

  tags = local.tags
}

# Readers of the query API attach this policy (execute-api:Invoke on the read routes only); the
# erasure route needs module.kx_events.query_erasure_invoke_policy_json, given to few.
resource "aws_iam_policy" "query_reader" {
  name        = "${var.name_prefix}-query-reader"
  description = "Lets a principal call the kx-events query API's read routes (SigV4)"
  policy      = module.kx_events.query_read_invoke_policy_json

  tags = local.tags
}

# Producers attach this policy and take module.kx_events.producer_environment as their environment.
resource "aws_iam_policy" "producer" {
  name        = "${var.name_prefix}-producer"
  description = "Lets a Lambda track kx-events: enqueue to SQS and put real-time events on the bus"
  policy      = module.kx_events.producer_policy_json

  tags = local.tags
}

# Another team's view: a queue that receives every user.* event, found through SSM discovery.
resource "aws_sqs_queue" "user_events" {
  name                    = "${var.name_prefix}-user-events"
  sqs_managed_sse_enabled = true

  tags = local.tags
}

module "user_events_subscription" {
  source = "../../modules/subscription"

  # Found through SSM discovery like another team would, by the parameter's ARN: known only
  # after apply, so the look-up waits for the parameter, not for the whole module.
  bus_arn_parameter    = module.kx_events.ssm_parameter_arns.arn
  rule_name            = "${var.name_prefix}-user-events"
  event_pattern        = jsonencode({ source = ["kx-event-tracking"], "detail-type" = [{ prefix = "user." }] })
  target_type          = "sqs"
  target_arn           = aws_sqs_queue.user_events.arn
  target_sqs_queue_url = aws_sqs_queue.user_events.url
  alarm_sns_topic_arn  = aws_sns_topic.alarms.arn

  tags = local.tags
}
