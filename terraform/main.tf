locals {
  vpc_name                = coalesce(var.vpc_name, "${var.name_prefix}-vpc")
  db_instance_identifier  = coalesce(var.db_instance_identifier, "${var.name_prefix}-db")
  queue_name              = coalesce(var.queue_name, "${var.name_prefix}-events-queue")
  dead_letter_queue_name  = coalesce(var.dead_letter_queue_name, "${var.name_prefix}-events-dlq")
  event_bus_name          = coalesce(var.event_bus_name, "${var.name_prefix}-events-bus")
  consumer_function_name  = coalesce(var.consumer_function_name, "${var.name_prefix}-events-consumer")
  consumer_package_path   = coalesce(var.consumer_package_path, "${path.module}/../target/lambda/bootstrap/bootstrap.zip")
  kms_key_arn_pattern     = "^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/"
  queue_kms_key_arns      = var.queue_kms_master_key_id != null && can(regex(local.kms_key_arn_pattern, coalesce(var.queue_kms_master_key_id, "-"))) ? [var.queue_kms_master_key_id] : []
  db_secret_kms_key_arns  = [for k in [var.db_master_user_secret_kms_key_id, var.db_secret_kms_key_arn] : k if k != null && can(regex(local.kms_key_arn_pattern, coalesce(k, "-")))]
  database_host           = var.create_database ? module.database[0].db_instance_endpoint : var.db_host
  database_port           = var.create_database ? module.database[0].db_instance_port : var.db_port
  database_secret_arn     = var.create_database ? module.database[0].db_instance_master_user_secret_arn : var.db_secret_arn
  database_security_group = var.create_database ? module.network.database_security_group_id : var.db_security_group_id
}

module "network" {
  source = "./modules/network"

  name               = var.name_prefix
  create_vpc         = var.create_vpc
  vpc_name           = local.vpc_name
  vpc_cidr           = var.vpc_cidr
  azs                = var.vpc_azs
  single_nat_gateway = var.vpc_single_nat_gateway
  vpc_id             = var.vpc_id
  private_subnet_ids = var.private_subnet_ids
  public_subnet_ids  = var.public_subnet_ids

  database_port                       = var.db_port
  create_database_security_group      = var.create_database
  database_ingress_security_group_ids = var.db_ingress_security_group_ids
  existing_database_security_group_id = var.create_database ? null : var.db_security_group_id

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

  tags = var.tags
}

module "queue" {
  source = "./modules/queue"

  name                                        = local.queue_name
  dead_letter_queue_name                      = local.dead_letter_queue_name
  visibility_timeout_seconds                  = var.queue_visibility_timeout_seconds
  message_retention_seconds                   = var.queue_message_retention_seconds
  dead_letter_queue_message_retention_seconds = var.dead_letter_queue_message_retention_seconds
  max_receive_count                           = var.queue_max_receive_count
  kms_master_key_id                           = var.queue_kms_master_key_id
  create_redrive_allow_policy                 = var.queue_create_redrive_allow_policy
  create_alarms                               = var.create_alarms
  alarm_sns_topic_arn                         = var.alarm_sns_topic_arn

  tags = var.tags
}

module "bus" {
  source = "./modules/bus"

  name                   = local.event_bus_name
  service_name           = var.service_name
  event_source           = var.event_source
  create_ssm_parameters  = var.create_ssm_parameters
  create_archive         = var.event_bus_archive_enabled
  archive_retention_days = var.event_bus_archive_retention_days

  tags = var.tags
}

module "consumer" {
  source = "./modules/consumer"

  function_name                  = local.consumer_function_name
  package_path                   = local.consumer_package_path
  architecture                   = var.consumer_architecture
  memory_size                    = var.consumer_memory_size
  timeout                        = var.consumer_timeout
  reserved_concurrent_executions = var.consumer_reserved_concurrent_executions
  tracing_enabled                = var.consumer_tracing_enabled
  kms_key_arn                    = var.consumer_kms_key_arn
  log_retention_in_days          = var.consumer_log_retention_in_days
  environment_variables          = var.consumer_environment_variables

  # Decided on inputs, known at plan time: in a VPC whenever there is one.
  subnet_ids         = var.create_vpc || var.vpc_id != null ? module.network.private_subnet_ids : []
  security_group_ids = compact([module.network.consumer_security_group_id])

  queue_arn                        = module.queue.queue_arn
  queue_visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  dead_letter_queue_arn            = module.queue.dead_letter_queue_arn
  dead_letter_queue_url            = module.queue.dead_letter_queue_url
  max_receive_count                = module.queue.max_receive_count
  event_bus_arn                    = module.bus.event_bus_arn
  event_bus_name                   = module.bus.event_bus_name
  event_source                     = var.event_source
  db_secret_arn                    = local.database_secret_arn
  db_host                          = local.database_host
  db_port                          = local.database_port
  db_name                          = var.db_name
  db_sslmode                       = var.db_sslmode
  db_ssl_root_cert                 = var.db_ssl_root_cert
  kms_key_arns                     = concat(local.queue_kms_key_arns, local.db_secret_kms_key_arns)

  batch_size                         = var.consumer_batch_size
  maximum_batching_window_in_seconds = var.consumer_maximum_batching_window_in_seconds
  maximum_concurrency                = var.consumer_maximum_concurrency
  event_source_mapping_enabled       = var.consumer_event_source_mapping_enabled
  sweep_schedule_expression          = var.consumer_sweep_schedule_expression

  create_alarms       = var.create_alarms
  alarm_sns_topic_arn = var.alarm_sns_topic_arn

  tags = var.tags
}

locals {
  # What a producer Lambda needs, so nobody writes it by hand as the seed made them do.
  producer_environment = {
    EVENTS_QUEUE_URL = module.queue.queue_url
    EVENT_BUS_NAME   = module.bus.event_bus_name
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
          Resource = [module.queue.queue_arn]
        },
        {
          Sid      = "PutEventsRealTime"
          Effect   = "Allow"
          Action   = ["events:PutEvents"]
          Resource = [module.bus.event_bus_arn]
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
