# The bus is found the way the seed's consumers find it: by service name, in SSM.
data "aws_ssm_parameter" "bus_arn" {
  count = var.event_bus_name == null ? 1 : 0

  name = coalesce(var.bus_arn_parameter, "${var.ssm_parameter_prefix}/${var.service_name}/arn")
}

locals {
  # arn:<partition>:events:<region>:<account>:event-bus/<name>
  # The parameter is a plain String (an ARN is no secret), but the data source marks every value sensitive.
  event_bus_name = var.event_bus_name != null ? var.event_bus_name : element(split("/", nonsensitive(data.aws_ssm_parameter.bus_arn[0].value)), 1)

  dead_letter_queue_arn = var.create_dead_letter_queue ? aws_sqs_queue.dlq[0].arn : var.dead_letter_queue_arn
}

resource "aws_cloudwatch_event_rule" "this" {
  name           = var.rule_name
  description    = var.rule_description
  event_bus_name = local.event_bus_name
  event_pattern  = var.event_pattern
  state          = var.rule_enabled ? "ENABLED" : "DISABLED"

  tags = merge({ Name = var.rule_name }, var.tags)
}

resource "aws_sqs_queue" "dlq" {
  count = var.create_dead_letter_queue ? 1 : 0

  name                      = "${var.rule_name}-target-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.dead_letter_queue_kms_master_key_id == null ? true : null
  kms_master_key_id         = var.dead_letter_queue_kms_master_key_id

  tags = merge({ Name = "${var.rule_name}-target-dlq" }, var.tags)
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
  event_bus_name = local.event_bus_name
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
