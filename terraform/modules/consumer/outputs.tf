output "function_name" {
  description = "Name of the consumer Lambda."
  value       = module.function.function_name
}

output "function_arn" {
  description = "ARN of the consumer Lambda."
  value       = module.function.function_arn
}

output "role_arn" {
  description = "ARN of the consumer's execution role."
  value       = module.function.role_arn
}

output "role_name" {
  description = "Name of the consumer's execution role."
  value       = module.function.role_name
}

output "role_policy_json" {
  description = "The consumer role's inline policy document."
  value       = local.policy_json
}

output "log_group_name" {
  description = "Name of the consumer's log group."
  value       = module.function.log_group_name
}

output "event_source_mapping_uuid" {
  description = "UUID of the SQS event source mapping."
  value       = aws_lambda_event_source_mapping.this.uuid
}

output "environment" {
  description = "The consumer's environment, exactly as the function gets it; the local runner (make demo) passes the same map to bootstrap."
  value       = local.environment
}

output "errors_alarm_arn" {
  description = "ARN of the errors alarm, null without it."
  value       = try(aws_cloudwatch_metric_alarm.errors[0].arn, null)
}

output "sweep_rule_arn" {
  description = "ARN of the EventBridge rule that schedules the outbox sweep, null without it."
  value       = try(aws_cloudwatch_event_rule.sweep[0].arn, null)
}

output "sweep_rule_name" {
  description = "Name of the EventBridge rule that schedules the outbox sweep, null without it."
  value       = try(aws_cloudwatch_event_rule.sweep[0].name, null)
}

output "log_group_arn" {
  description = "ARN of the consumer's log group."
  value       = module.function.log_group_arn
}

output "throttles_alarm_arn" {
  description = "ARN of the throttles alarm, null without it."
  value       = try(aws_cloudwatch_metric_alarm.throttles[0].arn, null)
}

output "duration_alarm_arn" {
  description = "ARN of the duration alarm, null without it."
  value       = try(aws_cloudwatch_metric_alarm.duration[0].arn, null)
}

output "runtime_db_secret_arn" {
  description = "The secret the consumer logs in with (DB_SECRET_ARN): the application role's secret with create_app_role, else db_secret_arn."
  value       = local.runtime_secret_arn
}

output "app_role_secret_arn" {
  description = "ARN of the application role's secret (written by the migrate function), null without create_app_role."
  value       = local.app_role_secret_arn
}

output "migrate_function_name" {
  description = "Name of the migrate function (invoke it with {} to apply migrations), null without create_app_role."
  value       = try(module.migrate[0].function_name, null)
}

output "migrate_function_arn" {
  description = "ARN of the migrate function, null without create_app_role."
  value       = try(module.migrate[0].function_arn, null)
}

output "migrate_role_arn" {
  description = "ARN of the migrate function's execution role, null without create_app_role."
  value       = try(module.migrate[0].role_arn, null)
}

output "migrate_policy_json" {
  description = "The migrate role's inline policy, null without create_app_role."
  value       = local.migrate_policy_json
}

output "migrate_environment" {
  description = "The migrate function's environment (KX_MODE=migrate, the owner's DB_SECRET_ARN, KX_APP_ROLE_SECRET_ARN, KX_APP_ROLE_NAME, the database settings), null without create_app_role."
  value       = local.create_app_role ? local.migrate_environment : null
}

output "migrate_result" {
  description = "The migrate invocation's JSON result ({applied, alreadyApplied, roles}) of this apply, null when it did not run."
  value       = try(jsondecode(aws_lambda_invocation.migrate[0].result), null)
}

output "outbox_backlog_alarm_arn" {
  description = "ARN of the outbox backlog alarm (OutboxBacklog), null without it."
  value       = try(aws_cloudwatch_metric_alarm.outbox_backlog[0].arn, null)
}

output "publish_failed_alarm_arn" {
  description = "ARN of the publish failed alarm (PublishFailed), null without it."
  value       = try(aws_cloudwatch_metric_alarm.publish_failed[0].arn, null)
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the consumer's metrics, \"off\" when it writes none."
  value       = var.metrics_namespace
}

output "tracing_mode" {
  description = "X-Ray tracing mode of the function: Active or PassThrough."
  value       = module.function.tracing_mode
}
