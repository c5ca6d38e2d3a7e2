################################################################################
# Network (CDK stack exports VpcId, PrivateSubnetIds, PublicSubnetIds)
################################################################################

output "vpc_id" {
  description = "ID of the VPC (created or passed in); null when the consumer runs outside a VPC."
  value       = module.network.vpc_id
}

output "vpc_cidr_block" {
  description = "CIDR block of the created VPC; null when the VPC was passed in."
  value       = module.network.vpc_cidr_block
}

output "nat_gateway_ids" {
  description = "IDs of the NAT gateways created (one, or one per AZ with vpc_single_nat_gateway = false)."
  value       = module.network.nat_gateway_ids
}

output "vpc_endpoint_ids" {
  description = "IDs of the interface VPC endpoints by service; empty without vpc_create_endpoints."
  value       = module.network.vpc_endpoint_ids
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
# Database (CDK stack exports DbEndpoint, DbPort, DbSecretArn, DbSecurityGroupId)
################################################################################

output "db_instance_identifier" {
  description = "Identifier of the created RDS instance; null with an existing database."
  value       = try(module.database[0].db_instance_identifier, null)
}

output "db_instance_arn" {
  description = "ARN of the created RDS instance; null with an existing database."
  value       = try(module.database[0].db_instance_arn, null)
}

output "db_instance_resource_id" {
  description = "Resource ID (db-...) of the created RDS instance, for rds-db:connect policies; null with an existing database."
  value       = try(module.database[0].db_instance_resource_id, null)
}

output "db_cloudwatch_log_group_arns" {
  description = "ARNs of the exported PostgreSQL log groups by log name (postgresql, upgrade); empty with an existing database."
  value       = try(module.database[0].cloudwatch_log_group_arns, {})
}

output "db_max_connections" {
  description = "The connection budget the consumer's maximum concurrency is derived from: db_max_connections, or LEAST(memory/9531392, 5000) of db_instance_class; null when unknown."
  value       = local.db_max_connections
}

output "db_instance_endpoint" {
  description = "Host name of the database (without the port, as the CDK stack's DbEndpoint): the created instance's address or db_host."
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
  description = "ARN of the Secrets Manager secret with the database owner's username and password (the CDK stack's DbSecretArn): the RDS-managed master secret, or db_secret_arn."
  value       = local.database_secret_arn
}

output "consumer_db_secret_arn" {
  description = "ARN of the secret the consumer logs in with (its DB_SECRET_ARN): the application role's secret, written by the migrate function, or db_secret_arn without an application role."
  value       = module.consumer.runtime_db_secret_arn
}

output "db_app_role_secret_arn" {
  description = "ARN of the application role's secret ({username, password} written by the migrate function; no value in Terraform's state); null without an application role."
  value       = module.consumer.app_role_secret_arn
}

output "db_security_group_id" {
  description = "ID of the database's security group (created, or db_security_group_id); add ingress rules to it for your own clients."
  value       = local.database_security_group
}

################################################################################
# Queue (CDK stack exports EventsQueueUrl, EventsQueueArn, DeadLetterQueueUrl)
################################################################################

output "queue_url" {
  description = "URL of the events queue (producers' EVENTS_QUEUE_URL)."
  value       = local.queue_url
}

output "queue_arn" {
  description = "ARN of the events queue."
  value       = local.queue_arn
}

output "queue_name" {
  description = "Name of the events queue."
  value       = local.queue_name_effective
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (the consumer's DEAD_LETTER_QUEUE_URL)."
  value       = local.dead_letter_queue_url
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = local.dead_letter_queue_arn
}

output "dead_letter_queue_name" {
  description = "Name of the dead-letter queue."
  value       = local.dead_letter_queue_name_effective
}

################################################################################
# Bus (CDK stack exports EventBridgeArn, EventBridgeName; SSM discovery)
################################################################################

output "event_bus_arn" {
  description = "ARN of the custom event bus."
  value       = local.event_bus_arn
}

output "event_bus_name" {
  description = "Name of the custom event bus (EVENT_BUS_NAME)."
  value       = local.event_bus_name_effective
}

output "event_source" {
  description = "Source of the bus entries (EVENT_SOURCE); detail-type is \"{entityType}.{eventType}\"."
  value       = var.event_source
}

output "event_bus_archive_arn" {
  description = "ARN of the bus's archive; null without one."
  value       = try(module.bus[0].archive_arn, null)
}

output "event_bus_policy_json" {
  description = "The bus policy that lets subscriber accounts manage their own rules on the bus; null without subscribers."
  value       = try(module.bus[0].event_bus_policy_json, null)
}

output "ssm_parameter_arns" {
  description = "ARNs of the discovery parameters ({ arn, info }, null when not created): what a subscriber in another account (the parameters shared with it) or in this same configuration passes as the subscription module's bus_arn_parameter."
  value       = try(module.bus[0].ssm_parameter_arns, { arn = null, info = null })
}

output "ssm_parameter_names" {
  description = "Discovery parameters: { arn = \"/eventbridge/services/<service>/arn\", info = \".../info\" } (null when not created)."
  value       = try(module.bus[0].ssm_parameter_names, { arn = null, info = null })
}

################################################################################
# Consumer (CDK stack exports ConsumerFunctionArn)
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

output "consumer_role_name" {
  description = "Name of the consumer's execution role (attach your own policies to it)."
  value       = module.consumer.role_name
}

output "consumer_log_group_name" {
  description = "Name of the consumer's CloudWatch log group."
  value       = module.consumer.log_group_name
}

output "consumer_log_group_arn" {
  description = "ARN of the consumer's CloudWatch log group."
  value       = module.consumer.log_group_arn
}

output "consumer_maximum_concurrency" {
  description = "The event source mapping's maximum concurrency (given, or derived from the database's connection budget); null for no limit."
  value       = local.consumer_maximum_concurrency
}

output "migrate_function_name" {
  description = "Name of the migrate function (the consumer package with KX_MODE=migrate); invoke it with {} to apply migrations by hand. Null without an application role."
  value       = module.consumer.migrate_function_name
}

output "migrate_function_arn" {
  description = "ARN of the migrate function; null without an application role."
  value       = module.consumer.migrate_function_arn
}

output "migrate_environment" {
  description = "The migrate function's environment (KX_MODE=migrate, the owner's DB_SECRET_ARN, KX_APP_ROLE_SECRET_ARN, KX_APP_ROLE_NAME, the database settings); run bootstrap with it to migrate from elsewhere. Null without an application role."
  value       = module.consumer.migrate_environment
}

output "migrate_result" {
  description = "Result of the migrate invocation of this apply ({applied, alreadyApplied, roles}); null when it did not run."
  value       = module.consumer.migrate_result
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
  description = "The consumer's environment exactly as the function reads it (DB_SECRET_ARN, DB_HOST, DB_PORT, DB_NAME, DB_SSLMODE, [DB_SSL_ROOT_CERT], EVENT_BUS_NAME, EVENT_SOURCE, DEAD_LETTER_QUEUE_URL, MAX_RECEIVE_COUNT, KX_MIGRATE=off with an application role, plus consumer_environment_variables)."
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

################################################################################
# Alarms
################################################################################

output "alarm_arns" {
  description = "ARNs of the alarms by name (dead_letter_queue_depth, oldest_message_age, consumer_errors, consumer_throttles, consumer_duration, consumer_outbox_backlog, consumer_publish_failed, db_cpu, db_free_storage, db_connections); null or absent when not created."
  value = merge(
    try(module.queue[0].alarm_arns, {}),
    {
      consumer_errors         = module.consumer.errors_alarm_arn
      consumer_throttles      = module.consumer.throttles_alarm_arn
      consumer_duration       = module.consumer.duration_alarm_arn
      consumer_outbox_backlog = module.consumer.outbox_backlog_alarm_arn
      consumer_publish_failed = module.consumer.publish_failed_alarm_arn
    },
    { for k, v in try(module.database[0].alarm_arns, {}) : "db_${k}" => v },
  )
}

output "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the events queue: given, or six times consumer_timeout."
  value       = local.queue_visibility_timeout_seconds
}

output "query_api_url" {
  description = "Base URL of the query API (create_query_api), e.g. https://<id>.execute-api.<region>.amazonaws.com/; null without it."
  value       = try(module.query[0].api_url, null)
}

output "query_function_arn" {
  description = "ARN of the query API function; null without create_query_api."
  value       = try(module.query[0].function_arn, null)
}

output "query_function_name" {
  description = "Name of the query API function; null without create_query_api."
  value       = try(module.query[0].function_name, null)
}

output "query_environment" {
  description = "The query function's environment (DB_SECRET_ARN of the read-only role, …); null without create_query_api."
  value       = try(module.query[0].environment, null)
}

output "query_db_secret_arn" {
  description = "The read-only role's secret the query API uses; null without create_query_api."
  value       = var.create_query_api ? local.query_reader_secret : null
}

output "query_read_invoke_policy_json" {
  description = "IAM policy allowing the query API's read routes (IAM authorization): attach it to readers."
  value       = try(module.query[0].read_invoke_policy_json, null)
}

output "query_produce_invoke_policy_json" {
  description = "IAM policy allowing POST /events on the query API; null when off."
  value       = try(module.query[0].produce_invoke_policy_json, null)
}

output "query_erasure_invoke_policy_json" {
  description = "IAM policy allowing DELETE /events (erasure) on the query API; null when off."
  value       = try(module.query[0].erasure_invoke_policy_json, null)
}

################################################################################
# Dashboard
################################################################################

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (create_dashboard), null without it."
  value       = try(module.dashboard[0].dashboard_name, null)
}

output "dashboard_arn" {
  description = "ARN of the CloudWatch dashboard (create_dashboard), null without it."
  value       = try(module.dashboard[0].dashboard_arn, null)
}

output "consumer_metrics_namespace" {
  description = "CloudWatch namespace of the consumer's Embedded Metric Format metrics (EventsReceived, OutboxBacklog, …)."
  value       = var.consumer_metrics_namespace
}
