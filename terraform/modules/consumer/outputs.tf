output "function_name" {
  description = "Name of the consumer Lambda."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the consumer Lambda."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the consumer's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the consumer's execution role."
  value       = aws_iam_role.this.name
}

output "role_policy_json" {
  description = "The consumer role's inline policy document."
  value       = local.policy_json
}

output "log_group_name" {
  description = "Name of the consumer's log group."
  value       = aws_cloudwatch_log_group.this.name
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
