output "event_bus_name" {
  description = "Name of the bus the rule is on (looked up in SSM or passed in)."
  value       = local.event_bus_name
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
