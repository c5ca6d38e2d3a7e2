output "db_instance_endpoint" {
  description = "Host name of the database."
  value       = module.kx_events.db_instance_endpoint
}

output "db_security_group_id" {
  description = "Security group of the database."
  value       = module.kx_events.db_security_group_id
}

output "consumer_security_group_id" {
  description = "Security group of the consumer."
  value       = module.kx_events.consumer_security_group_id
}

output "queue_url" {
  description = "URL of the events queue."
  value       = module.kx_events.queue_url
}

output "event_bus_name" {
  description = "Name of the event bus."
  value       = module.kx_events.event_bus_name
}

output "producer_policy_json" {
  description = "IAM policy document for producers."
  value       = module.kx_events.producer_policy_json
}

output "producer_environment" {
  description = "Environment map for producers."
  value       = module.kx_events.producer_environment
}
