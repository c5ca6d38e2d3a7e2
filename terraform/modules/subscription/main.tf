# The bus is found the way the TypeScript system's consumers find it: by service name, in SSM.
data "aws_ssm_parameter" "bus_arn" {
  count = var.event_bus_name == null ? 1 : 0

  name = coalesce(var.bus_arn_parameter, "${var.ssm_parameter_prefix}/${var.service_name}/arn")
}

locals {
  # The bus by its full ARN (arn:<partition>:events:<region>:<account>:event-bus/<name>): PutRule
  # and PutTargets need the ARN for a bus in another account; a bare name would put the rule on a
  # bus of that name in the subscriber's own account. The parameter is a plain String (an ARN is
  # no secret), but the data source marks every value sensitive.
  event_bus      = var.event_bus_name != null ? var.event_bus_name : nonsensitive(data.aws_ssm_parameter.bus_arn[0].value)
  event_bus_name = element(split("/", local.event_bus), length(split("/", local.event_bus)) - 1)
  # SQS queue names: 80 characters; "-target-dlq" is 11.
  dead_letter_queue_name = "${substr(var.rule_name, 0, 69)}-target-dlq"
  alarm_actions          = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  dead_letter_queue_arn = var.create_dead_letter_queue ? aws_sqs_queue.dlq[0].arn : var.dead_letter_queue_arn
}

resource "aws_cloudwatch_event_rule" "this" {
  name           = var.rule_name
  description    = var.rule_description
  event_bus_name = local.event_bus
  event_pattern  = var.event_pattern
  state          = var.rule_enabled ? "ENABLED" : "DISABLED"

  tags = merge({ Name = var.rule_name }, var.tags)
}

resource "aws_sqs_queue" "dlq" {
  count = var.create_dead_letter_queue ? 1 : 0

  name                      = local.dead_letter_queue_name
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.dead_letter_queue_kms_master_key_id == null ? true : null
  kms_master_key_id         = var.dead_letter_queue_kms_master_key_id

  tags = merge({ Name = local.dead_letter_queue_name }, var.tags)
}

resource "aws_sqs_queue_policy" "dlq" {
  count = var.create_dead_letter_queue ? 1 : 0

  queue_url = aws_sqs_queue.dlq[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AllowRuleDeadLetters"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.dlq[0].arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.this.arn } }
    }]
  })
}

resource "aws_cloudwatch_event_target" "this" {
  rule           = aws_cloudwatch_event_rule.this.name
  event_bus_name = local.event_bus
  target_id      = "kx-events-${var.target_type}"
  arn            = var.target_arn

  retry_policy {
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
    maximum_retry_attempts       = var.maximum_retry_attempts
  }

  dynamic "dead_letter_config" {
    for_each = var.create_dead_letter_queue || var.dead_letter_queue_arn != null ? [1] : []
    content {
      arn = local.dead_letter_queue_arn
    }
  }
}

resource "aws_lambda_permission" "this" {
  count = var.create_target_permission && var.target_type == "lambda" ? 1 : 0

  statement_id  = "AllowKxEventsRule-${var.rule_name}"
  action        = "lambda:InvokeFunction"
  function_name = var.target_arn
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this.arn
}

resource "aws_sqs_queue_policy" "target" {
  count = var.create_target_permission && var.target_type == "sqs" ? 1 : 0

  queue_url = var.target_sqs_queue_url
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AllowKxEventsRule"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = var.target_arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.this.arn } }
    }]
  })
}

resource "aws_cloudwatch_metric_alarm" "failed_invocations" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.rule_name}-failed-invocations"
  alarm_description   = "The kx-events subscription ${var.rule_name} could not deliver events to its target (permissions, throttling, a deleted target); after the retry policy they go to the target DLQ."
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = { RuleName = aws_cloudwatch_event_rule.this.name, EventBusName = local.event_bus_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dead_letter_queue_depth" {
  count = var.create_alarms && var.create_dead_letter_queue ? 1 : 0

  alarm_name          = "${local.dead_letter_queue_name}-depth"
  alarm_description   = "Events of the kx-events subscription ${var.rule_name} were never accepted by the target and wait in its DLQ (the message attributes carry the error)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq[0].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}
