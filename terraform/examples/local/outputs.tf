# What make demo and the end-to-end tests need to drive the local system.

output "region" {
  description = "Region of the emulated resources."
  value       = var.region
}

output "aws_endpoint_url" {
  description = "The moto server the resources live in."
  value       = var.aws_endpoint_url
}

output "queue_url" {
  description = "URL of the events queue (what producers send to)."
  value       = module.kx_events.queue_url
}

output "queue_arn" {
  description = "ARN of the events queue."
  value       = module.kx_events.queue_arn
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue."
  value       = module.kx_events.dead_letter_queue_url
}

output "event_bus_name" {
  description = "Name of the custom event bus."
  value       = module.kx_events.event_bus_name
}

output "event_bus_arn" {
  description = "ARN of the custom event bus."
  value       = module.kx_events.event_bus_arn
}

output "db_secret_arn" {
  description = "ARN of the secret with the local PostgreSQL's username and password."
  value       = aws_secretsmanager_secret.db.arn
}

output "subscriber_queue_url" {
  description = "URL of the queue that the subscription rule routes every kx-events bus entry to (full EventBridge envelope)."
  value       = aws_sqs_queue.subscriber.url
}

output "subscriber_rule_name" {
  description = "Name of the subscription rule on the bus."
  value       = module.subscription.rule_name
}

output "consumer_function_name" {
  description = "Name of the consumer Lambda (stored by moto, never run by it)."
  value       = module.kx_events.consumer_function_name
}

output "consumer_event_source_mapping_uuid" {
  description = "UUID of the (disabled) event source mapping."
  value       = module.kx_events.consumer_event_source_mapping_uuid
}

output "consumer_batch_size" {
  description = "Batch size the local runner should use, as the mapping would."
  value       = module.kx_events.consumer_batch_size
}

output "consumer_maximum_batching_window_in_seconds" {
  description = "Batching window the local runner should use, as the mapping would."
  value       = module.kx_events.consumer_maximum_batching_window_in_seconds
}

output "consumer_environment" {
  description = "Environment for the local runner to give bootstrap: exactly the function's (DB_SECRET_ARN, DB_HOST, DB_PORT, DB_NAME, DB_SSLMODE, EVENT_BUS_NAME, EVENT_SOURCE, DEAD_LETTER_QUEUE_URL, MAX_RECEIVE_COUNT). Add AWS_ENDPOINT_URL and credentials for moto."
  value       = module.kx_events.consumer_environment
}

output "producer_environment" {
  description = "Environment for producers: EVENTS_QUEUE_URL, EVENT_BUS_NAME, EVENT_SOURCE."
  value       = module.kx_events.producer_environment
}

output "ssm_parameter_names" {
  description = "Discovery parameters { arn, info }."
  value       = module.kx_events.ssm_parameter_names
}

output "consumer_db_secret_arn" {
  description = "Secret the consumer logs in with (here the local PostgreSQL's, as db_secret_arn: no application role with an existing database)."
  value       = module.kx_events.consumer_db_secret_arn
}

output "dashboard_name" {
  description = "The kx-events CloudWatch dashboard."
  value       = module.kx_events.dashboard_name
}

output "consumer_metrics_namespace" {
  description = "CloudWatch namespace of the consumer's metrics."
  value       = module.kx_events.consumer_metrics_namespace
}
