output "event_bus_name" {
  description = "Name of the bus the rule is on (looked up in SSM or passed in)."
  value       = local.event_bus_name
}

output "event_bus" {
  description = "The bus as given to PutRule: its ARN when looked up in SSM (works across accounts), else event_bus_name as passed."
  value       = local.event_bus
}

output "alarm_arns" {
  description = "ARNs of the subscription's alarms (failed_invocations, dead_letter_queue_depth), null when not created."
  value = {
    failed_invocations      = try(aws_cloudwatch_metric_alarm.failed_invocations[0].arn, null)
    dead_letter_queue_depth = try(aws_cloudwatch_metric_alarm.dead_letter_queue_depth[0].arn, null)
  }
}

output "rule_arn" {
  description = "ARN of the EventBridge rule."
  value       = aws_cloudwatch_event_rule.this.arn
}

output "rule_name" {
  description = "Name of the EventBridge rule."
  value       = aws_cloudwatch_event_rule.this.name
}

output "dead_letter_queue_arn" {
  description = "ARN of the queue for undeliverable events, null without one."
  value       = local.dead_letter_queue_arn
}

output "dead_letter_queue_url" {
  description = "URL of the created target DLQ, null when none was created."
  value       = try(aws_sqs_queue.dlq[0].url, null)
}
