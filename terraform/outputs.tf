################################################################################
# Network (seed exports VpcId, PrivateSubnetIds, PublicSubnetIds)
################################################################################

output "vpc_id" {
  description = "ID of the VPC (created or passed in); null when the consumer runs outside a VPC."
  value       = module.network.vpc_id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets of the consumer and the database."
  value       = module.network.private_subnet_ids
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (NAT gateway)."
  value       = module.network.public_subnet_ids
}

output "consumer_security_group_id" {
  description = "ID of the consumer's security group (egress 443 and the database port only); null outside a VPC."
  value       = module.network.consumer_security_group_id
}

################################################################################
# Database (seed exports DbEndpoint, DbPort, DbSecretArn, DbSecurityGroupId)
################################################################################

output "db_instance_identifier" {
  description = "Identifier of the created RDS instance; null with an existing database."
  value       = try(module.database[0].db_instance_identifier, null)
}

output "db_instance_endpoint" {
  description = "Host name of the database (without the port, as the seed's DbEndpoint): the created instance's address or db_host."
  value       = local.database_host
}

output "db_instance_port" {
  description = "Port of the database."
  value       = local.database_port
}

output "db_instance_name" {
  description = "Name of the events database (DB_NAME)."
  value       = var.db_name
}

output "db_secret_arn" {
  description = "ARN of the Secrets Manager secret with the database username and password: the RDS-managed master secret, or db_secret_arn."
  value       = local.database_secret_arn
}

output "db_security_group_id" {
  description = "ID of the database's security group (created, or db_security_group_id); add ingress rules to it for your own clients."
  value       = local.database_security_group
}

################################################################################
# Queue (seed exports EventsQueueUrl, EventsQueueArn, DeadLetterQueueUrl)
################################################################################

output "queue_url" {
  description = "URL of the events queue (producers' EVENTS_QUEUE_URL)."
  value       = module.queue.queue_url
}

output "queue_arn" {
  description = "ARN of the events queue."
  value       = module.queue.queue_arn
}

output "queue_name" {
  description = "Name of the events queue."
  value       = module.queue.queue_name
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (the consumer's DEAD_LETTER_QUEUE_URL)."
  value       = module.queue.dead_letter_queue_url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = module.queue.dead_letter_queue_arn
}

output "dead_letter_queue_name" {
  description = "Name of the dead-letter queue."
  value       = module.queue.dead_letter_queue_name
}

################################################################################
# Bus (seed exports EventBridgeArn, EventBridgeName; SSM discovery)
################################################################################

output "event_bus_arn" {
  description = "ARN of the custom event bus."
  value       = module.bus.event_bus_arn
}

output "event_bus_name" {
  description = "Name of the custom event bus (EVENT_BUS_NAME)."
  value       = module.bus.event_bus_name
}

output "event_source" {
  description = "Source of the bus entries (EVENT_SOURCE); detail-type is \"{entityType}.{eventType}\"."
  value       = var.event_source
}

output "ssm_parameter_arns" {
  description = "ARNs of the discovery parameters ({ arn, info }, null when not created): what a subscriber in another account (the parameters shared with it) or in this same configuration passes as the subscription module's bus_arn_parameter."
  value       = module.bus.ssm_parameter_arns
}

output "ssm_parameter_names" {
  description = "Discovery parameters: { arn = \"/eventbridge/services/<service>/arn\", info = \".../info\" } (null when not created)."
  value       = module.bus.ssm_parameter_names
}

################################################################################
# Consumer (seed export ConsumerFunctionArn)
################################################################################

output "consumer_function_arn" {
  description = "ARN of the consumer Lambda."
  value       = module.consumer.function_arn
}

output "consumer_function_name" {
  description = "Name of the consumer Lambda."
  value       = module.consumer.function_name
}

output "consumer_role_arn" {
  description = "ARN of the consumer's execution role."
  value       = module.consumer.role_arn
}

output "consumer_policy_json" {
  description = "The consumer role's inline policy (least privilege, resources by ARN)."
  value       = module.consumer.role_policy_json
}

output "consumer_event_source_mapping_uuid" {
  description = "UUID of the consumer's SQS event source mapping."
  value       = module.consumer.event_source_mapping_uuid
}

output "consumer_batch_size" {
  description = "Records per invocation of the event source mapping (a local runner batches the same way)."
  value       = var.consumer_batch_size
}

output "consumer_maximum_batching_window_in_seconds" {
  description = "Batching window of the event source mapping in seconds."
  value       = var.consumer_maximum_batching_window_in_seconds
}

output "consumer_sweep_rule_arn" {
  description = "ARN of the EventBridge rule on the default bus that invokes the consumer with {\"Records\":[]} for its outbox sweep; null when consumer_sweep_schedule_expression is null."
  value       = module.consumer.sweep_rule_arn
}

output "consumer_environment" {
  description = "The consumer's environment exactly as the function reads it (DB_SECRET_ARN, DB_HOST, DB_PORT, DB_NAME, DB_SSLMODE, [DB_SSL_ROOT_CERT], EVENT_BUS_NAME, EVENT_SOURCE, DEAD_LETTER_QUEUE_URL, MAX_RECEIVE_COUNT, plus consumer_environment_variables)."
  value       = module.consumer.environment
}

################################################################################
# Producers
################################################################################

output "producer_policy_json" {
  description = "IAM policy document for producer Lambdas: sqs:SendMessage on the queue and events:PutEvents on the bus (plus the queue's KMS key when it is a customer key). Attach it with aws_iam_role_policy."
  value       = local.producer_policy_json
}

output "producer_environment" {
  description = "Environment map for producer Lambdas: EVENTS_QUEUE_URL, EVENT_BUS_NAME, EVENT_SOURCE."
  value       = local.producer_environment
}
