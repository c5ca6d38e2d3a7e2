data "aws_partition" "current" {}

locals {
  in_vpc    = length(var.subnet_ids) > 0
  role_name = coalesce(var.role_name, substr("${var.function_name}-role", 0, 64))
  # EventBridge rule names have the same 64-character limit as the function's.
  sweep_rule_name = substr("${var.function_name}-outbox-sweep", 0, 64)
  sweep_enabled   = var.sweep_schedule_expression != null
  log_group       = "/aws/lambda/${var.function_name}"

  # Exactly the variables the consumer reads (lambdas/consumer); DB_SSL_ROOT_CERT only when given.
  contract_environment = merge(
    {
      DB_SECRET_ARN         = var.db_secret_arn
      DB_HOST               = var.db_host
      DB_PORT               = tostring(var.db_port)
      DB_NAME               = var.db_name
      DB_SSLMODE            = var.db_sslmode
      EVENT_BUS_NAME        = var.event_bus_name
      EVENT_SOURCE          = var.event_source
      DEAD_LETTER_QUEUE_URL = var.dead_letter_queue_url
      MAX_RECEIVE_COUNT     = tostring(var.max_receive_count)
    },
    var.db_ssl_root_cert == null ? {} : { DB_SSL_ROOT_CERT = var.db_ssl_root_cert },
  )
  environment = merge(var.environment_variables, local.contract_environment)

  # Least privilege: every statement names its resources by ARN. The two permission sets AWS does
  # not let you scope to a resource (ENI management for a VPC function, X-Ray segment upload)
  # come from AWS managed policies below instead of "*" in this document.
  policy_statements = concat(
    [
      {
        Sid      = "ConsumeEventsQueue"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
        Resource = [var.queue_arn]
      },
      {
        Sid      = "SendToDeadLetterQueue"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [var.dead_letter_queue_arn]
      },
      {
        Sid      = "PutEventsOnBus"
        Effect   = "Allow"
        Action   = ["events:PutEvents"]
        Resource = [var.event_bus_arn]
      },
      {
        Sid      = "ReadDatabaseSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [var.db_secret_arn]
      },
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.this.arn}:*"]
      },
    ],
    length(var.kms_key_arns) == 0 ? [] : [
      {
        Sid      = "UseCustomerManagedKeys"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = var.kms_key_arns
      },
    ],
  )
}

locals {
  policy_json = jsonencode({
    Version   = "2012-10-17"
    Statement = local.policy_statements
  })
}

resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_338:Retention is an input (log_retention_in_days, default 30 days as in most Lambda stacks); a regime that needs a year sets 365.
  name              = local.log_group
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_id

  tags = var.tags
}

resource "aws_iam_role" "this" {
  name                 = local.role_name
  permissions_boundary = var.role_permissions_boundary
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = "kx-events-consumer"
  role   = aws_iam_role.this.id
  policy = local.policy_json
}

# ec2:CreateNetworkInterface & co. cannot be limited to resources known before the ENI exists.
resource "aws_iam_role_policy_attachment" "vpc_access" {
  count = local.in_vpc ? 1 : 0

  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

# xray:PutTraceSegments & co. support no resource-level permissions.
resource "aws_iam_role_policy_attachment" "xray" {
  count = var.tracing_enabled ? 1 : 0

  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:An SQS-triggered function is invoked synchronously; failed records go to the queue's own dead-letter queue (maxReceiveCount), which a function DLQ would not see.
  function_name = var.function_name
  description   = "kx-events consumer: stores tracked events in PostgreSQL and publishes them to EventBridge"
  role          = aws_iam_role.this.arn

  filename         = var.package_path
  source_code_hash = coalesce(var.source_code_hash, filebase64sha256(var.package_path))
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]

  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn
  code_signing_config_arn        = var.code_signing_config_arn

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  tags = merge({ Name = var.function_name }, var.tags)

  # The log group (with its retention) and the permissions must exist before the first invocation.
  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
    aws_iam_role_policy_attachment.vpc_access,
  ]
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = var.queue_arn
  function_name                      = aws_lambda_function.this.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]
  enabled                            = var.event_source_mapping_enabled

  dynamic "scaling_config" {
    for_each = var.maximum_concurrency == null ? [] : [var.maximum_concurrency]
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.function_name}-errors"
  alarm_description   = "The kx-events consumer failed whole invocations (database or bus unreachable, crash); records are retried, then reach the DLQ."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.errors_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  ok_actions          = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  tags = var.tags
}

# The outbox sweep (lambdas/consumer/README.md, failure policy 6) runs on every invocation, so
# without SQS traffic a stored but unpublished row would wait for the next event. This schedule
# invokes the function with an empty batch so the sweep runs when no traffic does.
resource "aws_cloudwatch_event_rule" "sweep" {
  count = local.sweep_enabled ? 1 : 0

  name                = local.sweep_rule_name
  event_bus_name      = "default" # schedules run only on the default bus
  description         = "Invokes the kx-events consumer with {\"Records\":[]} so that its outbox sweep runs without SQS traffic"
  schedule_expression = var.sweep_schedule_expression

  tags = merge({ Name = local.sweep_rule_name }, var.tags)
}

resource "aws_cloudwatch_event_target" "sweep" {
  count = local.sweep_enabled ? 1 : 0

  rule           = aws_cloudwatch_event_rule.sweep[0].name
  event_bus_name = aws_cloudwatch_event_rule.sweep[0].event_bus_name
  target_id      = "outbox-sweep"
  arn            = aws_lambda_function.this.arn
  input          = jsonencode({ Records = [] }) # exactly {"Records":[]}: an empty batch, only the sweep runs
}

resource "aws_lambda_permission" "sweep" {
  count = local.sweep_enabled ? 1 : 0

  statement_id  = "AllowOutboxSweepSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweep[0].arn
}
