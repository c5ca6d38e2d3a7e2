locals {
  # Lambda function names: 64 characters; IAM role names: 64; EventBridge rule names: 64.
  role_name            = coalesce(var.role_name, "${substr(var.function_name, 0, 59)}-role")
  sweep_rule_name      = substr("${var.function_name}-outbox-sweep", 0, 64)
  sweep_enabled        = var.sweep_schedule_expression != null
  migrate_name         = "${substr(var.function_name, 0, 56)}-migrate"
  migrate_role_name    = "${substr(var.function_name, 0, 51)}-migrate-role"
  create_app_role      = var.create_app_role
  app_role_secret_arn  = try(aws_secretsmanager_secret.app_role[0].arn, null)
  runtime_secret_arn   = local.create_app_role ? local.app_role_secret_arn : var.db_secret_arn
  use_s3_package       = var.s3_bucket != null
  package_hash         = local.use_s3_package || var.source_code_hash != null ? var.source_code_hash : filebase64sha256(var.package_path)
  secret_kms_key_arns  = [for k in [var.app_role_secret_kms_key_id] : k if k != null]
  consumer_kms_arns    = distinct(concat(var.kms_key_arns, local.secret_kms_key_arns))
  migrate_kms_key_arns = distinct(concat(var.db_secret_kms_key_arns, local.secret_kms_key_arns))

  # Exactly the variables the consumer reads (lambdas/consumer); DB_SSL_ROOT_CERT only when given.
  # With the application role the consumer never runs DDL (KX_MIGRATE=off: the migrate function
  # owns the schema); with a secret passed in it keeps its default (auto: migrate at cold start
  # when the role may).
  database_environment = merge(
    {
      DB_HOST    = var.db_host
      DB_PORT    = tostring(var.db_port)
      DB_NAME    = var.db_name
      DB_SSLMODE = var.db_sslmode
    },
    var.db_ssl_root_cert == null ? {} : { DB_SSL_ROOT_CERT = var.db_ssl_root_cert },
  )
  contract_environment = merge(
    local.database_environment,
    {
      DB_SECRET_ARN         = local.runtime_secret_arn
      EVENT_BUS_NAME        = var.event_bus_name
      EVENT_SOURCE          = var.event_source
      DEAD_LETTER_QUEUE_URL = var.dead_letter_queue_url
      MAX_RECEIVE_COUNT     = tostring(var.max_receive_count)
      # One CloudWatch Embedded Metric Format record per invocation in the log ("off": none).
      KX_METRICS_NAMESPACE = var.metrics_namespace
    },
    local.create_app_role ? { KX_MIGRATE = "off" } : {},
    # A valid record on its last receive while the database is unavailable goes back to the queue
    # (a fresh receive count) instead of reaching the DLQ by redrive.
    var.requeue_on_database_outage ? { EVENTS_QUEUE_URL = var.queue_url } : {},
  )
  environment = merge(var.environment_variables, local.contract_environment)

  # The migrate mode of the same package: the owner's (master) secret, then the application role.
  migrate_environment = merge(
    var.environment_variables,
    local.database_environment,
    {
      KX_MODE                = "migrate"
      DB_SECRET_ARN          = var.db_secret_arn
      KX_APP_ROLE_SECRET_ARN = local.app_role_secret_arn
      KX_APP_ROLE_NAME       = var.app_role_name
    },
    # The query API's roles (KX_QUERY_ROLE_SECRET_ARN, KX_ERASER_ROLE_SECRET_ARN), provisioned in
    # the same run.
    var.extra_role_secrets,
  )
  role_secret_arns = concat([local.app_role_secret_arn], values(var.extra_role_secrets))

  # Least privilege: every statement names its resources by ARN. The permissions AWS does not let
  # you scope to a resource (ENI management, X-Ray upload) are in separate documents below.
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
    ],
    var.requeue_on_database_outage ? [
      {
        Sid      = "RequeueDuringDatabaseOutage"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [var.queue_arn]
      },
    ] : [],
    [
      {
        Sid       = "PutEventsOnBus"
        Effect    = "Allow"
        Action    = ["events:PutEvents"]
        Resource  = [var.event_bus_arn]
        Condition = { StringEquals = { "events:source" = [var.event_source] } }
      },
      {
        Sid      = "ReadDatabaseSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [local.runtime_secret_arn]
      },
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${module.function.log_group_arn}:*"]
      },
    ],
    length(local.consumer_kms_arns) == 0 ? [] : [
      {
        Sid      = "UseCustomerManagedKeys"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = local.consumer_kms_arns
      },
    ],
  )

  migrate_policy_statements = concat(
    [
      {
        Sid      = "ReadOwnerAndApplicationSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = concat([var.db_secret_arn], local.role_secret_arns)
      },
      {
        Sid      = "WriteApplicationRoleSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret"]
        Resource = local.role_secret_arns
      },
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${try(module.migrate[0].log_group_arn, "")}:*"]
      },
    ],
    length(local.migrate_kms_key_arns) == 0 ? [] : [
      {
        Sid      = "UseSecretKeys"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = local.migrate_kms_key_arns
      },
    ],
  )
}

locals {
  policy_json = jsonencode({
    Version   = "2012-10-17"
    Statement = local.policy_statements
  })
  migrate_policy_json = local.create_app_role ? jsonencode({
    Version   = "2012-10-17"
    Statement = local.migrate_policy_statements
  }) : null
}

check "maximum_concurrency_within_reserved_concurrency" {
  assert {
    condition     = var.maximum_concurrency == null || var.reserved_concurrent_executions < 0 || coalesce(var.maximum_concurrency, 0) <= var.reserved_concurrent_executions
    error_message = "The mapping's maximum_concurrency (${coalesce(var.maximum_concurrency, 0)}) exceeds the function's reserved concurrency (${var.reserved_concurrent_executions}): Lambda throttles the excess invocations, and throttled SQS batches count as receives toward the DLQ. Keep maximum_concurrency <= reserved_concurrent_executions."
  }
}

check "visibility_timeout_six_times_function_timeout" {
  assert {
    condition     = var.queue_visibility_timeout_seconds >= 6 * var.timeout
    error_message = "The queue's visibility timeout (${var.queue_visibility_timeout_seconds} s) is below six times the function timeout (${6 * var.timeout} s), as AWS advises for SQS event sources: a throttled or retried batch may reappear while still being processed."
  }
}

module "function" {
  source = "../function"

  function_name             = var.function_name
  description               = "kx-events consumer: stores tracked events in PostgreSQL and publishes them to EventBridge"
  role_name                 = local.role_name
  role_permissions_boundary = var.role_permissions_boundary
  policy_name               = "kx-events-consumer"
  policy_json               = local.policy_json

  package_path      = var.package_path
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  source_code_hash  = local.package_hash
  architecture      = var.architecture

  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn
  code_signing_config_arn        = var.code_signing_config_arn
  environment_variables          = local.environment
  tracing_mode                   = var.tracing_enabled ? "Active" : "PassThrough"

  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids

  log_retention_in_days = var.log_retention_in_days
  log_kms_key_id        = var.log_kms_key_id

  # The migrations must have run (and written the application role's secret) before the consumer
  # is created or switched to that secret with KX_MIGRATE=off: an existing mapping would otherwise
  # invoke it with a secret that has no value yet.
  create_after = aws_lambda_invocation.migrate

  tags = var.tags
}

################################################################################
# Application role and migrations (create_app_role)
################################################################################

# The consumer's own PostgreSQL login. Terraform creates only the empty secret: the migrate
# function generates the password and writes it (PutSecretValue), so no password is in the state.
resource "aws_secretsmanager_secret" "app_role" {
  #checkov:skip=CKV2_AWS_57:The password belongs to a PostgreSQL role that the migrate function creates; rotating it needs a rotation Lambda that knows that role (re-running the migrate function with an emptied secret rotates it).
  #checkov:skip=CKV_AWS_149:The key is an input (app_role_secret_kms_key_id, the module passes the master secret's key); null uses aws/secretsmanager, as the RDS-managed master secret does by default.
  count = local.create_app_role ? 1 : 0

  name_prefix             = var.app_role_secret_name_prefix
  description             = "kx-events: PostgreSQL login of the consumer (role ${var.app_role_name}), written by ${local.migrate_name}"
  kms_key_id              = var.app_role_secret_kms_key_id
  recovery_window_in_days = var.app_role_secret_recovery_window_in_days

  tags = var.tags
}

# The migrate mode of the same package, invoked only by terraform apply (aws_lambda_invocation).
module "migrate" {
  source = "../function"
  count  = local.create_app_role ? 1 : 0

  function_name             = local.migrate_name
  description               = "kx-events migrations: applies the schema with the owner's secret and ensures the consumer's role ${var.app_role_name}"
  role_name                 = local.migrate_role_name
  role_permissions_boundary = var.role_permissions_boundary
  policy_name               = "kx-events-migrate"
  policy_json               = local.migrate_policy_json

  package_path      = var.package_path
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  source_code_hash  = local.package_hash
  architecture      = var.architecture

  memory_size             = var.memory_size
  timeout                 = var.migrate_timeout
  kms_key_arn             = var.kms_key_arn
  code_signing_config_arn = var.code_signing_config_arn
  environment_variables   = local.migrate_environment
  tracing_mode            = null # one short invocation at deploy time: no tracing_config at all

  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids

  log_retention_in_days = var.log_retention_in_days
  log_kms_key_id        = var.log_kms_key_id

  tags = var.tags
}

# Runs the migrations (and creates or updates the consumer's role) during terraform apply, again
# whenever the package (which embeds the migrations) or the role settings change. A failed
# migration fails the apply with the function's error message.
resource "aws_lambda_invocation" "migrate" {
  count = local.create_app_role && var.run_migrations_on_apply ? 1 : 0

  function_name = module.migrate[0].function_name
  input         = jsonencode({})

  triggers = {
    package          = coalesce(local.package_hash, "${coalesce(var.s3_bucket, "-")}/${coalesce(var.s3_key, "-")}@${coalesce(var.s3_object_version, "-")}")
    app_role_name    = var.app_role_name
    app_role_secret  = local.app_role_secret_arn
    role_secrets     = jsonencode(var.extra_role_secrets)
    owner_secret     = var.db_secret_arn
    database         = "${var.db_host}:${var.db_port}/${var.db_name}"
    migration_marker = coalesce(var.migration_trigger, "-")
  }
}

################################################################################
# Event source mapping, schedule, alarms
################################################################################

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = var.queue_arn
  function_name                      = module.function.function_arn
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

  # The consumer refuses to start on a schema that is behind (KX_MIGRATE=off): poll only once the
  # migrations of this package have run.
  depends_on = [aws_lambda_invocation.migrate]
}

locals {
  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.function_name}-errors"
  alarm_description   = "The kx-events consumer failed whole invocations (database or bus unreachable, crash); records are retried, then reach the DLQ."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = module.function.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.errors_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.function_name}-throttles"
  alarm_description   = "The kx-events consumer was throttled (reserved or account concurrency): throttled SQS batches return to the queue and count as receives toward the DLQ."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = module.function.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.throttles_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "duration" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.function_name}-duration"
  alarm_description   = "kx-events consumer invocations come close to the function timeout (slow database or bus): a timed-out batch is redelivered whole."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = module.function.function_name }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.timeout * 1000 * var.duration_threshold_percent / 100
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

# Alarms on the consumer's own metrics (Embedded Metric Format records in its log).
resource "aws_cloudwatch_metric_alarm" "outbox_backlog" {
  count = var.create_alarms && var.metrics_namespace != "off" ? 1 : 0

  alarm_name          = "${var.function_name}-outbox-backlog"
  alarm_description   = "Stored events wait for the bus longer than the sweep age (bus unreachable, PutEvents throttled or refused by IAM): kx-events keeps them and the sweep puts them; see README \"Operating kx-events\"."
  namespace           = var.metrics_namespace
  metric_name         = "OutboxBacklog"
  dimensions          = { FunctionName = module.function.function_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.outbox_backlog_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "publish_failed" {
  count = var.create_alarms && var.metrics_namespace != "off" ? 1 : 0

  alarm_name          = "${var.function_name}-publish-failed"
  alarm_description   = "Events were not put on the bus after every retry, or the bus refused them for good (recorded in publish_error): see README \"Operating kx-events\" (kx replay --failed)."
  namespace           = var.metrics_namespace
  metric_name         = "PublishFailed"
  dimensions          = { FunctionName = module.function.function_name }
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
  arn            = module.function.function_arn
  input          = jsonencode({ Records = [] }) # exactly {"Records":[]}: an empty batch, only the sweep runs

  depends_on = [aws_lambda_invocation.migrate]
}

resource "aws_lambda_permission" "sweep" {
  count = local.sweep_enabled ? 1 : 0

  statement_id  = "AllowOutboxSweepSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.function.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweep[0].arn
}
