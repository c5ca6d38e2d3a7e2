locals {
  vpc_name               = coalesce(var.vpc_name, "${var.name_prefix}-vpc")
  db_instance_identifier = coalesce(var.db_instance_identifier, "${var.name_prefix}-db")
  queue_name             = coalesce(var.queue_name, "${var.name_prefix}-events-queue")
  dead_letter_queue_name = coalesce(var.dead_letter_queue_name, "${var.name_prefix}-events-dlq")
  event_bus_name         = coalesce(var.event_bus_name, "${var.name_prefix}-events-bus")
  consumer_function_name = coalesce(var.consumer_function_name, "${var.name_prefix}-events-consumer")
  # 6x the function timeout, as AWS advises for an SQS event source.
  queue_visibility_timeout_seconds = coalesce(var.queue_visibility_timeout_seconds, 6 * var.consumer_timeout)

  kms_key_arn_pattern    = "^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/"
  queue_kms_key_arns     = var.queue_kms_master_key_id != null && can(regex(local.kms_key_arn_pattern, coalesce(var.queue_kms_master_key_id, "-"))) ? [var.queue_kms_master_key_id] : []
  db_secret_kms_key_arns = [for k in [var.create_database ? var.db_master_user_secret_kms_key_id : var.db_secret_kms_key_arn] : k if k != null]
  database_host          = var.create_database ? module.database[0].db_instance_endpoint : var.db_host
  database_port          = var.create_database ? module.database[0].db_instance_port : var.db_port
  # The owner's secret: the RDS-managed master secret, or the one passed in.
  database_secret_arn     = var.create_database ? module.database[0].db_instance_master_user_secret_arn : var.db_secret_arn
  database_security_group = var.create_database ? module.network.database_security_group_id : var.db_security_group_id

  # The consumer's own login role (migrate function + secret), by default with the module's RDS.
  create_app_role = coalesce(var.create_db_app_role, var.create_database)
}

# Existing queue or bus (create_queue / create_bus = false): their identifiers come from inputs.
locals {
  queue_url                        = var.create_queue ? module.queue[0].queue_url : var.queue_url
  queue_arn                        = var.create_queue ? module.queue[0].queue_arn : var.queue_arn
  queue_name_effective             = var.create_queue ? module.queue[0].queue_name : element(split(":", var.queue_arn), 5)
  dead_letter_queue_url            = var.create_queue ? module.queue[0].dead_letter_queue_url : var.dead_letter_queue_url
  dead_letter_queue_arn            = var.create_queue ? module.queue[0].dead_letter_queue_arn : var.dead_letter_queue_arn
  dead_letter_queue_name_effective = var.create_queue ? module.queue[0].dead_letter_queue_name : element(split(":", var.dead_letter_queue_arn), 5)
  event_bus_arn                    = var.create_bus ? module.bus[0].event_bus_arn : var.event_bus_arn
  event_bus_name_effective         = var.create_bus ? module.bus[0].event_bus_name : element(split("/", var.event_bus_arn), 1)
}

################################################################################
# Database connection budget -> the mapping's maximum concurrency
################################################################################

# RDS for PostgreSQL sets max_connections = LEAST({DBInstanceClassMemory/9531392}, 5000). Each
# consumer sandbox holds one connection, so the mapping's maximum_concurrency is the number of
# connections the consumer may take: a share (consumer_db_connection_share) of that budget,
# leaving the rest for the migrate function, operators and other clients, and for the memory
# RDS keeps for itself (DBInstanceClassMemory is somewhat below the class's nominal memory, which
# is what this table knows).
locals {
  db_class_parts = split(".", var.db_instance_class)
  db_class_size  = try(local.db_class_parts[2], "")
  db_class_kind  = substr(try(local.db_class_parts[1], ""), 0, 1)
  # GiB of the burstable classes by size; of the others per "large" unit (m: 8, r: 16, x: 32, z: 16).
  db_t_class_gib   = { micro = 1, small = 2, medium = 4, large = 8, xlarge = 16, "2xlarge" = 32 }
  db_gib_per_large = { m = 8, r = 16, x = 32, z = 16 }
  db_large_units   = { large = 1, xlarge = 2, "2xlarge" = 4, "4xlarge" = 8, "8xlarge" = 16, "12xlarge" = 24, "16xlarge" = 32, "24xlarge" = 48, "32xlarge" = 64 }
  db_class_gib = (
    local.db_class_kind == "t" ? lookup(local.db_t_class_gib, local.db_class_size, null) :
    try(local.db_gib_per_large[local.db_class_kind] * local.db_large_units[local.db_class_size], null)
  )
  db_max_connections = (
    var.db_max_connections != null ? var.db_max_connections :
    var.create_database && local.db_class_gib != null ? min(floor(local.db_class_gib * 1073741824 / 9531392), 5000) : null
  )
  derived_maximum_concurrency = local.db_max_connections == null ? null : max(2, min(1000,
    floor(local.db_max_connections * var.consumer_db_connection_share),
    var.consumer_reserved_concurrent_executions >= 2 ? var.consumer_reserved_concurrent_executions : 1000,
  ))
  consumer_maximum_concurrency = var.consumer_maximum_concurrency != null ? var.consumer_maximum_concurrency : local.derived_maximum_concurrency
}

module "network" {
  source = "./modules/network"

  name               = var.name_prefix
  create_vpc         = var.create_vpc
  vpc_name           = local.vpc_name
  vpc_cidr           = var.vpc_cidr
  azs                = var.vpc_azs
  single_nat_gateway = var.vpc_single_nat_gateway
  enable_nat_gateway = var.vpc_enable_nat_gateway

  create_vpc_endpoints  = var.vpc_create_endpoints
  vpc_endpoint_services = var.vpc_endpoint_services
  vpc_id                = var.vpc_id
  private_subnet_ids    = var.private_subnet_ids
  public_subnet_ids     = var.public_subnet_ids

  database_port                       = var.db_port
  create_database_security_group      = var.create_database
  database_ingress_security_group_ids = var.db_ingress_security_group_ids
  existing_database_security_group_id = var.create_database ? null : var.db_security_group_id
  consumer_security_group_name        = var.consumer_security_group_name
  database_security_group_name        = var.db_security_group_name

  tags = var.tags
}

module "database" {
  source = "./modules/database"
  count  = var.create_database ? 1 : 0

  identifier                    = local.db_instance_identifier
  db_name                       = var.db_name
  master_username               = var.db_master_username
  master_user_secret_kms_key_id = var.db_master_user_secret_kms_key_id
  engine_version                = var.db_engine_version
  instance_class                = var.db_instance_class
  allocated_storage             = var.db_allocated_storage
  max_allocated_storage         = var.db_max_allocated_storage
  port                          = var.db_port
  subnet_ids                    = module.network.private_subnet_ids
  vpc_security_group_ids        = compact([module.network.database_security_group_id])
  kms_key_id                    = var.db_kms_key_id
  backup_retention_period       = var.db_backup_retention_period
  multi_az                      = var.db_multi_az
  deletion_protection           = var.db_deletion_protection
  skip_final_snapshot           = var.db_skip_final_snapshot
  final_snapshot_identifier     = var.db_final_snapshot_identifier
  performance_insights_enabled  = var.db_performance_insights_enabled
  monitoring_interval           = var.db_monitoring_interval
  apply_immediately             = var.db_apply_immediately

  backup_window                        = var.db_backup_window
  maintenance_window                   = var.db_maintenance_window
  iam_database_authentication_enabled  = var.db_iam_database_authentication_enabled
  enabled_cloudwatch_logs_exports      = var.db_enabled_cloudwatch_logs_exports
  log_retention_in_days                = var.db_log_retention_in_days
  log_kms_key_id                       = var.db_log_kms_key_id
  log_min_duration_statement_ms        = var.db_log_min_duration_statement_ms
  performance_insights_kms_key_id      = var.db_performance_insights_kms_key_id
  monitoring_role_permissions_boundary = var.consumer_role_permissions_boundary

  create_alarms                     = var.create_alarms
  alarm_sns_topic_arn               = var.alarm_sns_topic_arn
  cpu_utilization_threshold_percent = var.db_cpu_utilization_threshold_percent
  free_storage_threshold_bytes      = var.db_free_storage_threshold_bytes
  connections_threshold             = local.db_max_connections == null ? null : floor(local.db_max_connections * 0.8)

  tags = var.tags
}

module "queue" {
  source = "./modules/queue"
  count  = var.create_queue ? 1 : 0

  name                                        = local.queue_name
  dead_letter_queue_name                      = local.dead_letter_queue_name
  visibility_timeout_seconds                  = local.queue_visibility_timeout_seconds
  message_retention_seconds                   = var.queue_message_retention_seconds
  dead_letter_queue_message_retention_seconds = var.dead_letter_queue_message_retention_seconds
  max_receive_count                           = var.queue_max_receive_count
  kms_master_key_id                           = var.queue_kms_master_key_id
  create_redrive_allow_policy                 = var.queue_create_redrive_allow_policy
  queue_policy_statements                     = var.queue_policy_statements
  create_alarms                               = var.create_alarms
  alarm_sns_topic_arn                         = var.alarm_sns_topic_arn
  dead_letter_queue_depth_threshold           = var.queue_dead_letter_queue_depth_threshold
  oldest_message_age_threshold_seconds        = var.queue_oldest_message_age_threshold_seconds

  tags = var.tags
}

module "bus" {
  source = "./modules/bus"
  count  = var.create_bus ? 1 : 0

  name                   = local.event_bus_name
  service_name           = var.service_name
  event_source           = var.event_source
  create_ssm_parameters  = var.create_ssm_parameters
  create_archive         = var.event_bus_archive_enabled
  archive_retention_days = var.event_bus_archive_retention_days
  archive_event_pattern  = var.event_bus_archive_event_pattern
  ssm_parameter_prefix   = var.ssm_parameter_prefix
  ssm_parameter_tier     = var.ssm_parameter_tier

  subscriber_account_ids     = var.bus_subscriber_account_ids
  subscriber_organization_id = var.bus_subscriber_organization_id

  tags = var.tags
}

module "consumer" {
  source = "./modules/consumer"

  function_name     = local.consumer_function_name
  package_path      = var.consumer_package_path
  s3_bucket         = var.consumer_s3_bucket
  s3_key            = var.consumer_s3_key
  s3_object_version = var.consumer_s3_object_version
  source_code_hash  = var.consumer_source_code_hash

  architecture                   = var.consumer_architecture
  memory_size                    = var.consumer_memory_size
  timeout                        = var.consumer_timeout
  reserved_concurrent_executions = var.consumer_reserved_concurrent_executions
  tracing_enabled                = coalesce(var.consumer_tracing_enabled, var.xray_tracing_enabled)
  metrics_namespace              = var.consumer_metrics_namespace
  kms_key_arn                    = var.consumer_kms_key_arn
  log_retention_in_days          = var.consumer_log_retention_in_days
  log_kms_key_id                 = var.consumer_log_kms_key_id
  environment_variables          = var.consumer_environment_variables
  role_permissions_boundary      = var.consumer_role_permissions_boundary
  code_signing_config_arn        = var.consumer_code_signing_config_arn

  # Decided on inputs, known at plan time: in a VPC whenever there is one.
  subnet_ids         = var.create_vpc || var.vpc_id != null ? module.network.private_subnet_ids : []
  security_group_ids = compact([module.network.consumer_security_group_id])

  queue_arn                        = local.queue_arn
  queue_visibility_timeout_seconds = local.queue_visibility_timeout_seconds
  dead_letter_queue_arn            = local.dead_letter_queue_arn
  dead_letter_queue_url            = local.dead_letter_queue_url
  queue_url                        = local.queue_url
  requeue_on_database_outage       = var.consumer_requeue_on_database_outage
  max_receive_count                = var.queue_max_receive_count
  event_bus_arn                    = local.event_bus_arn
  event_bus_name                   = local.event_bus_name_effective
  event_source                     = var.event_source
  db_secret_arn                    = local.database_secret_arn
  db_host                          = local.database_host
  db_port                          = local.database_port
  db_name                          = var.db_name
  db_sslmode                       = var.db_sslmode
  db_ssl_root_cert                 = var.db_ssl_root_cert
  # The consumer reads the owner's secret itself only without the application role.
  kms_key_arns           = concat(local.queue_kms_key_arns, local.create_app_role ? [] : local.db_secret_kms_key_arns)
  db_secret_kms_key_arns = local.db_secret_kms_key_arns

  create_app_role             = local.create_app_role
  app_role_name               = var.db_app_role_name
  app_role_secret_name_prefix = "${var.name_prefix}-consumer-db-"
  app_role_secret_kms_key_id  = try(local.db_secret_kms_key_arns[0], null)
  extra_role_secrets          = local.query_role_secrets
  run_migrations_on_apply     = var.run_migrations_on_apply
  migration_trigger           = var.consumer_migration_trigger

  batch_size                         = var.consumer_batch_size
  maximum_batching_window_in_seconds = var.consumer_maximum_batching_window_in_seconds
  maximum_concurrency                = local.consumer_maximum_concurrency
  event_source_mapping_enabled       = var.consumer_event_source_mapping_enabled
  sweep_schedule_expression          = var.consumer_sweep_schedule_expression

  create_alarms              = var.create_alarms
  alarm_sns_topic_arn        = var.alarm_sns_topic_arn
  errors_threshold           = var.consumer_errors_threshold
  throttles_threshold        = var.consumer_throttles_threshold
  duration_threshold_percent = var.consumer_duration_threshold_percent
  outbox_backlog_threshold   = var.consumer_outbox_backlog_threshold

  tags = var.tags
}

locals {
  # What a producer Lambda needs, so nobody writes it by hand as the CDK EventTrackingStack made them do.
  producer_environment = {
    EVENTS_QUEUE_URL = local.queue_url
    EVENT_BUS_NAME   = local.event_bus_name_effective
    EVENT_SOURCE     = var.event_source
  }

  producer_policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "EnqueueTrackedEvents"
          Effect   = "Allow"
          Action   = ["sqs:SendMessage"]
          Resource = [local.queue_arn]
        },
        {
          Sid       = "PutEventsRealTime"
          Effect    = "Allow"
          Action    = ["events:PutEvents"]
          Resource  = [local.event_bus_arn]
          Condition = { StringEquals = { "events:source" = [var.event_source] } }
        },
      ],
      length(local.queue_kms_key_arns) == 0 ? [] : [
        {
          Sid      = "EncryptForQueue"
          Effect   = "Allow"
          Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
          Resource = local.queue_kms_key_arns
        },
      ],
    )
  })
}

################################################################################
# Query API (create_query_api)
################################################################################

locals {
  query_function_name = coalesce(var.query_function_name, "${var.name_prefix}-events-query")
  # With the application role the migrate function provisions the query API's roles into these
  # secrets (created empty here, as the consumer's); otherwise their secrets are inputs.
  create_query_secrets = var.create_query_api && local.create_app_role
  query_reader_secret  = local.create_query_secrets ? aws_secretsmanager_secret.query_reader[0].arn : var.query_db_secret_arn
  query_eraser_secret  = !var.query_erasure_enabled ? null : local.create_query_secrets ? aws_secretsmanager_secret.query_eraser[0].arn : var.query_eraser_db_secret_arn
  query_role_secrets = !local.create_query_secrets ? {} : merge(
    { KX_QUERY_ROLE_SECRET_ARN = aws_secretsmanager_secret.query_reader[0].arn },
    var.query_erasure_enabled ? { KX_ERASER_ROLE_SECRET_ARN = aws_secretsmanager_secret.query_eraser[0].arn } : {},
  )
}

resource "aws_secretsmanager_secret" "query_reader" {
  #checkov:skip=CKV2_AWS_57:The password is generated by the migrate function (bootstrap migrate), which rotates it when the secret is emptied; there is no rotation Lambda to attach.
  #checkov:skip=CKV_AWS_149:The key is the database secret's (db_master_user_secret_kms_key_id / db_secret_kms_key_arn); null uses aws/secretsmanager, as the RDS-managed master secret does by default.
  count = local.create_query_secrets ? 1 : 0

  name_prefix             = "${var.name_prefix}-query-db-"
  description             = "kx-events: PostgreSQL login of the query API (read-only role kx_events_query), written by the migrate function"
  kms_key_id              = try(local.db_secret_kms_key_arns[0], null)
  recovery_window_in_days = 7

  tags = var.tags
}

resource "aws_secretsmanager_secret" "query_eraser" {
  #checkov:skip=CKV2_AWS_57:The password is generated by the migrate function (bootstrap migrate); there is no rotation Lambda to attach.
  #checkov:skip=CKV_AWS_149:The key is the database secret's (db_master_user_secret_kms_key_id / db_secret_kms_key_arn); null uses aws/secretsmanager.
  count = local.create_query_secrets && var.query_erasure_enabled ? 1 : 0

  name_prefix             = "${var.name_prefix}-query-eraser-db-"
  description             = "kx-events: PostgreSQL login of the query API's erasure (role kx_events_eraser: DELETE on events), written by the migrate function"
  kms_key_id              = try(local.db_secret_kms_key_arns[0], null)
  recovery_window_in_days = 7

  tags = var.tags
}

module "query" {
  source = "./modules/query"
  count  = var.create_query_api ? 1 : 0

  function_name     = local.query_function_name
  package_path      = var.query_package_path
  s3_bucket         = var.query_s3_bucket
  s3_key            = var.query_s3_key
  s3_object_version = var.query_s3_object_version
  source_code_hash  = var.query_source_code_hash

  architecture                   = var.consumer_architecture
  memory_size                    = var.query_memory_size
  timeout                        = var.query_timeout
  reserved_concurrent_executions = var.query_reserved_concurrent_executions
  tracing_enabled                = coalesce(var.query_tracing_enabled, var.xray_tracing_enabled)
  kms_key_arn                    = var.consumer_kms_key_arn
  code_signing_config_arn        = var.consumer_code_signing_config_arn
  log_retention_in_days          = var.query_log_retention_in_days
  log_kms_key_id                 = var.consumer_log_kms_key_id
  environment_variables          = var.query_environment_variables
  role_permissions_boundary      = var.consumer_role_permissions_boundary

  vpc_id                     = var.create_vpc || var.vpc_id != null ? module.network.vpc_id : null
  subnet_ids                 = var.create_vpc || var.vpc_id != null ? module.network.private_subnet_ids : []
  database_security_group_id = var.create_vpc || var.vpc_id != null ? local.database_security_group : null
  vpc_endpoints_enabled      = (var.create_vpc || var.vpc_id != null) && var.vpc_create_endpoints
  endpoint_security_group_id = module.network.endpoints_security_group_id

  db_host             = local.database_host
  db_port             = local.database_port
  db_name             = var.db_name
  db_sslmode          = var.db_sslmode
  db_ssl_root_cert    = var.db_ssl_root_cert
  reader_secret_arn   = local.query_reader_secret
  erasure_enabled     = var.query_erasure_enabled
  eraser_secret_arn   = local.query_eraser_secret
  secret_kms_key_arns = local.db_secret_kms_key_arns

  post_enabled       = var.query_post_enabled
  queue_arn          = var.query_post_enabled ? local.queue_arn : null
  queue_url          = var.query_post_enabled ? local.queue_url : null
  queue_kms_key_arns = local.queue_kms_key_arns

  authorization_type     = var.query_authorization_type
  jwt_issuer             = var.query_jwt_issuer
  jwt_audience           = var.query_jwt_audience
  jwt_read_scopes        = var.query_jwt_read_scopes
  jwt_produce_scopes     = var.query_jwt_produce_scopes
  erasure_scope          = var.query_erasure_scope
  cors_allowed_origins   = var.query_cors_allowed_origins
  throttling_rate_limit  = var.query_throttling_rate_limit
  throttling_burst_limit = var.query_throttling_burst_limit

  tags = var.tags
}

module "dashboard" {
  source = "./modules/dashboard"
  count  = var.create_dashboard ? 1 : 0

  dashboard_name         = coalesce(var.dashboard_name, "${var.name_prefix}-events")
  metrics_namespace      = var.consumer_metrics_namespace
  function_name          = module.consumer.function_name
  queue_name             = local.queue_name_effective
  dead_letter_queue_name = local.dead_letter_queue_name_effective
  db_instance_identifier = var.create_database ? module.database[0].db_instance_identifier : null
}
