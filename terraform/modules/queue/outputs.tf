output "queue_id" {
  description = "ID (URL) of the events queue."
  value       = aws_sqs_queue.this.id
}

output "queue_url" {
  description = "URL of the events queue (producers' EVENTS_QUEUE_URL)."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "ARN of the events queue."
  value       = aws_sqs_queue.this.arn
}

output "queue_name" {
  description = "Name of the events queue."
  value       = aws_sqs_queue.this.name
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (the consumer's DEAD_LETTER_QUEUE_URL)."
  value       = aws_sqs_queue.dlq.url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dead_letter_queue_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue (the consumer's MAX_RECEIVE_COUNT)."
  value       = var.max_receive_count
}

output "visibility_timeout_seconds" {
  description = "Visibility timeout of the events queue."
  value       = aws_sqs_queue.this.visibility_timeout_seconds
}

output "kms_master_key_id" {
  description = "KMS key of the queues, null with SQS-managed encryption."
  value       = var.kms_master_key_id
}

output "alarm_arns" {
  description = "ARNs of the queue alarms (dead_letter_queue_depth, oldest_message_age)."
  value = {
    dead_letter_queue_depth = try(aws_cloudwatch_metric_alarm.dead_letter_queue_depth[0].arn, null)
    oldest_message_age      = try(aws_cloudwatch_metric_alarm.oldest_message_age[0].arn, null)
  }
}
