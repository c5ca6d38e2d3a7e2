locals {
  sse_sqs = var.kms_master_key_id == null

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
}

resource "aws_sqs_queue" "dlq" {
  name                              = var.dead_letter_queue_name
  message_retention_seconds         = var.dead_letter_queue_message_retention_seconds
  sqs_managed_sse_enabled           = local.sse_sqs ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = local.sse_sqs ? null : var.kms_data_key_reuse_period_seconds

  tags = merge({ Name = var.dead_letter_queue_name }, var.tags)
}

resource "aws_sqs_queue" "this" {
  name                              = var.name
  visibility_timeout_seconds        = var.visibility_timeout_seconds
  message_retention_seconds         = var.message_retention_seconds
  receive_wait_time_seconds         = var.receive_wait_time_seconds
  sqs_managed_sse_enabled           = local.sse_sqs ? true : null
  kms_master_key_id                 = var.kms_master_key_id
  kms_data_key_reuse_period_seconds = local.sse_sqs ? null : var.kms_data_key_reuse_period_seconds

  tags = merge({ Name = var.name }, var.tags)

  # The redrive policy belongs to aws_sqs_queue_redrive_policy below, which detects its drift.
  lifecycle {
    ignore_changes = [redrive_policy]
  }
}

# The redrive policy is its own resource, and the queue above ignores the attribute it owns.
# (Inline on the queue, moto returns it with other whitespace and every plan shows a change;
# this resource compares it as JSON, so drift stays visible on AWS and on moto alike.)
resource "aws_sqs_queue_redrive_policy" "this" {
  queue_url      = aws_sqs_queue.this.id
  redrive_policy = local.redrive_policy
}

# Only the events queue may use the DLQ as its dead-letter target.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count = var.create_redrive_allow_policy ? 1 : 0

  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this.arn]
  })
}

# Both queues refuse requests that do not use TLS. Access itself is granted by IAM
# (the consumer role and the producer_policy_json output), not by the queue policy.
# The policies are set after the other queue attributes: each SetQueueAttributes call to moto
# drops a Policy it does not repeat, and the provider would then wait for it forever.
resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.this.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      }],
      # Extra statements (cross-account producers, an SNS topic): the queue's ARN is filled in.
      [for s in var.queue_policy_statements : merge(
        {
          Sid       = s.sid
          Effect    = s.effect
          Principal = { (s.principal_type) = s.principal_identifiers }
          Action    = s.actions
          Resource  = aws_sqs_queue.this.arn
        },
        length(s.conditions) == 0 ? {} : {
          Condition = { for test in distinct([for c in s.conditions : c.test]) : test => { for c in s.conditions : c.variable => c.values if c.test == test } }
        },
      )],
    )
  })

  depends_on = [aws_sqs_queue_redrive_policy.this]
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = { AWS = "*" }
      Action    = "sqs:*"
      Resource  = aws_sqs_queue.dlq.arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_sqs_queue_redrive_allow_policy.dlq]
}

resource "aws_cloudwatch_metric_alarm" "dead_letter_queue_depth" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.dead_letter_queue_name}-depth"
  alarm_description   = "Events reached the kx-events dead-letter queue: inspect them (the consumer logs each reason) and redrive or discard."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dlq.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.dead_letter_queue_depth_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "oldest_message_age" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.name}-oldest-message-age"
  alarm_description   = "The kx-events queue is not drained: the consumer is failing, throttled or its mapping is disabled."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = aws_sqs_queue.this.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.oldest_message_age_threshold_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}
