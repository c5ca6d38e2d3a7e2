output "vpc_id" {
  description = "ID of the VPC (created or passed in); null when the consumer runs outside a VPC."
  value       = module.kx_events.vpc_id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets of the consumer and the database."
  value       = module.kx_events.private_subnet_ids
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (NAT gateway)."
  value       = module.kx_events.public_subnet_ids
}

output "consumer_security_group_id" {
  description = "ID of the consumer's security group (egress 443 and the database port only); null outside a VPC."
  value       = module.kx_events.consumer_security_group_id
}

output "db_instance_identifier" {
  description = "Identifier of the created RDS instance; null with an existing database."
  value       = module.kx_events.db_instance_identifier
}

output "db_instance_endpoint" {
  description = "Host name of the database (without the port, as the CDK stack's DbEndpoint): the created instance's address or db_host."
  value       = module.kx_events.db_instance_endpoint
}

output "db_instance_port" {
  description = "Port of the database."
  value       = module.kx_events.db_instance_port
}

output "db_instance_name" {
  description = "Name of the events database (DB_NAME)."
  value       = module.kx_events.db_instance_name
}

output "db_secret_arn" {
  description = "ARN of the Secrets Manager secret with the database username and password: the RDS-managed master secret, or db_secret_arn."
  value       = module.kx_events.db_secret_arn
}

output "db_security_group_id" {
  description = "ID of the database's security group (created, or db_security_group_id); add ingress rules to it for your own clients."
  value       = module.kx_events.db_security_group_id
}

output "queue_url" {
  description = "URL of the events queue (producers' EVENTS_QUEUE_URL)."
  value       = module.kx_events.queue_url
}

output "queue_arn" {
  description = "ARN of the events queue."
  value       = module.kx_events.queue_arn
}

output "queue_name" {
  description = "Name of the events queue."
  value       = module.kx_events.queue_name
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (the consumer's DEAD_LETTER_QUEUE_URL)."
  value       = module.kx_events.dead_letter_queue_url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = module.kx_events.dead_letter_queue_arn
}

output "dead_letter_queue_name" {
  description = "Name of the dead-letter queue."
  value       = module.kx_events.dead_letter_queue_name
}

output "event_bus_arn" {
  description = "ARN of the custom event bus."
  value       = module.kx_events.event_bus_arn
}

output "event_bus_name" {
  description = "Name of the custom event bus (EVENT_BUS_NAME)."
  value       = module.kx_events.event_bus_name
}

output "event_source" {
  description = "Source of the bus entries (EVENT_SOURCE); detail-type is \"{entityType}.{eventType}\"."
  value       = module.kx_events.event_source
}

output "ssm_parameter_names" {
  description = "Discovery parameters: { arn = \"/eventbridge/services/<service>/arn\", info = \".../info\" } (null when not created)."
  value       = module.kx_events.ssm_parameter_names
}

output "consumer_function_arn" {
  description = "ARN of the consumer Lambda."
  value       = module.kx_events.consumer_function_arn
}

output "consumer_function_name" {
  description = "Name of the consumer Lambda."
  value       = module.kx_events.consumer_function_name
}

output "consumer_role_arn" {
  description = "ARN of the consumer's execution role."
  value       = module.kx_events.consumer_role_arn
}

output "consumer_policy_json" {
  description = "The consumer role's inline policy (least privilege, resources by ARN)."
  value       = module.kx_events.consumer_policy_json
}

output "consumer_event_source_mapping_uuid" {
  description = "UUID of the consumer's SQS event source mapping."
  value       = module.kx_events.consumer_event_source_mapping_uuid
}

output "consumer_batch_size" {
  description = "Records per invocation of the event source mapping (a local runner batches the same way)."
  value       = module.kx_events.consumer_batch_size
}

output "consumer_maximum_batching_window_in_seconds" {
  description = "Batching window of the event source mapping in seconds."
  value       = module.kx_events.consumer_maximum_batching_window_in_seconds
}

output "consumer_environment" {
  description = "The consumer's environment exactly as the function reads it (DB_SECRET_ARN, DB_HOST, DB_PORT, DB_NAME, DB_SSLMODE, [DB_SSL_ROOT_CERT], EVENT_BUS_NAME, EVENT_SOURCE, DEAD_LETTER_QUEUE_URL, MAX_RECEIVE_COUNT, plus consumer_environment_variables)."
  value       = module.kx_events.consumer_environment
}

output "producer_policy_json" {
  description = "IAM policy document for producer Lambdas: sqs:SendMessage on the queue and events:PutEvents on the bus (plus the queue's KMS key when it is a customer key). Attach it with aws_iam_role_policy."
  value       = module.kx_events.producer_policy_json
}

output "producer_environment" {
  description = "Environment map for producer Lambdas: EVENTS_QUEUE_URL, EVENT_BUS_NAME, EVENT_SOURCE."
  value       = module.kx_events.producer_environment
}

output "producer_policy_arn" {
  description = "ARN of the producer policy created from producer_policy_json."
  value       = aws_iam_policy.producer.arn
}

output "user_events_queue_url" {
  description = "URL of the subscriber queue that receives user.* events from the bus."
  value       = aws_sqs_queue.user_events.url
}

output "user_events_rule_arn" {
  description = "ARN of the subscription rule."
  value       = module.user_events_subscription.rule_arn
}

output "consumer_db_secret_arn" {
  description = "Secret the consumer logs in with: the application role's, written by the migrate function."
  value       = module.kx_events.consumer_db_secret_arn
}

output "migrate_function_name" {
  description = "Name of the migrate function (invoke it with {} to migrate by hand)."
  value       = module.kx_events.migrate_function_name
}

output "migrate_result" {
  description = "Result of the migrate invocation of this apply ({applied, alreadyApplied, roles}); null against the emulator."
  value       = module.kx_events.migrate_result
}

output "consumer_maximum_concurrency" {
  description = "Maximum concurrency of the event source mapping (derived from the database's connection budget)."
  value       = module.kx_events.consumer_maximum_concurrency
}

output "alarm_arns" {
  description = "ARNs of the module's alarms by name."
  value       = module.kx_events.alarm_arns
}

output "alarm_topic_kms_key_arn" {
  description = "Customer managed key of the alarm topic (CloudWatch may use it)."
  value       = aws_kms_key.alarms.arn
}

output "query_api_url" {
  description = "Base URL of the query API (SigV4: kx --api-url <this> events ...)."
  value       = module.kx_events.query_api_url
}

output "query_function_arn" {
  description = "ARN of the query API function."
  value       = module.kx_events.query_function_arn
}

output "dashboard_name" {
  description = "The kx-events CloudWatch dashboard."
  value       = module.kx_events.dashboard_name
}

output "consumer_metrics_namespace" {
  description = "CloudWatch namespace of the consumer's metrics."
  value       = module.kx_events.consumer_metrics_namespace
}
