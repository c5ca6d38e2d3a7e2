################################################################################
# General
################################################################################

variable "name_prefix" {
  description = "Prefix of every resource name (the seed's resourcePrefix): <prefix>-vpc, <prefix>-db, <prefix>-events-queue, <prefix>-events-dlq, <prefix>-events-bus, <prefix>-events-consumer, <prefix>-db-sg, <prefix>-lambda-sg."
  type        = string
  default     = "events-tracking"

  validation {
    # 40 characters keep "<prefix>-events-consumer" within Lambda's 64 and "<prefix>-db" within RDS's 63.
    condition     = can(regex("^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$", var.name_prefix)) && !can(regex("--", var.name_prefix))
    error_message = "name_prefix must be 1-40 lowercase letters, digits or hyphens, start with a letter, not end with a hyphen and have no double hyphen (it becomes part of RDS, SQS, Lambda and EventBridge names)."
  }
}

variable "tags" {
  description = "Tags merged into every resource's tags."
  type        = map(string)
  default     = {}
}

################################################################################
# Network
################################################################################

variable "create_vpc" {
  description = "Create a VPC over two AZs with public and private subnets, an internet gateway and a NAT gateway. Set false and pass vpc_id and private_subnet_ids to use your own."
  type        = bool
  default     = true
}

variable "vpc_name" {
  description = "Name of the created VPC. Defaults to \"<name_prefix>-vpc\"."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR block of the created VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "vpc_azs" {
  description = "Availability zones of the created subnets. Empty takes the region's first two."
  type        = list(string)
  default     = []
}

variable "vpc_single_nat_gateway" {
  description = "One NAT gateway for all private subnets (as the seed) instead of one per AZ."
  type        = bool
  default     = true
}

variable "vpc_id" {
  description = "Existing VPC (create_vpc = false). Null with create_vpc = false and create_database = false runs the consumer outside any VPC."
  type        = string
  default     = null

  validation {
    condition     = var.create_vpc || var.vpc_id == null || length(var.private_subnet_ids) > 0
    error_message = "With an existing vpc_id, pass its private_subnet_ids too."
  }
}

variable "private_subnet_ids" {
  description = "Existing private subnets for the consumer and the database (create_vpc = false); at least two AZs when the module creates the database."
  type        = list(string)
  default     = []
}

variable "public_subnet_ids" {
  description = "Existing public subnets, only passed through to public_subnet_ids (create_vpc = false)."
  type        = list(string)
  default     = []
}

################################################################################
# Database
################################################################################

variable "create_database" {
  description = "Create an RDS PostgreSQL 16 instance. Set false to use a database you already run (PostgreSQL or Aurora): pass db_host, db_port, db_name and db_secret_arn."
  type        = bool
  default     = true

  validation {
    condition     = !var.create_database || var.create_vpc || (var.vpc_id != null && length(var.private_subnet_ids) >= 2)
    error_message = "The database needs a VPC: keep create_vpc = true or pass vpc_id and at least two private_subnet_ids."
  }
}

variable "db_instance_identifier" {
  description = "RDS instance identifier. Defaults to \"<name_prefix>-db\"."
  type        = string
  default     = null

  validation {
    condition     = var.db_instance_identifier == null || (can(regex("^[a-z][a-z0-9-]{0,62}$", var.db_instance_identifier)) && !can(regex("(--|-$)", var.db_instance_identifier)))
    error_message = "db_instance_identifier must be 1-63 lowercase letters, digits or hyphens, start with a letter, and have no trailing or double hyphen."
  }
}

variable "db_name" {
  description = "Name of the events database (DB_NAME): created in RDS, or the existing one's."
  type        = string
  default     = "events"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must start with a letter and be at most 63 letters, digits or underscores."
  }
}

variable "db_master_username" {
  description = "Master user of the created instance; RDS keeps its password in a managed Secrets Manager secret."
  type        = string
  default     = "kxadmin"
}

variable "db_engine_version" {
  description = "PostgreSQL version of the created instance (16 or 16.x)."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^16(\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be PostgreSQL 16 (\"16\" or \"16.x\")."
  }
}

variable "db_instance_class" {
  description = "Instance class of the created instance."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_allocated_storage" {
  description = "Initial storage of the created instance in GiB."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling limit in GiB; 0 disables it."
  type        = number
  default     = 100
}

variable "db_backup_retention_period" {
  description = "Days of automated backups."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_period >= 1 && var.db_backup_retention_period <= 35
    error_message = "db_backup_retention_period must be between 1 and 35 days."
  }
}

variable "db_multi_az" {
  description = "Run a standby in a second AZ."
  type        = bool
  default     = false
}

variable "db_deletion_protection" {
  description = "Refuse to delete the instance."
  type        = bool
  default     = true
}

variable "db_skip_final_snapshot" {
  description = "Delete the instance without a final snapshot."
  type        = bool
  default     = false
}

variable "db_final_snapshot_identifier" {
  description = "Name of the final snapshot. Defaults to \"<identifier>-final\"."
  type        = string
  default     = null
}

variable "db_performance_insights_enabled" {
  description = "Enable Performance Insights."
  type        = bool
  default     = false
}

variable "db_monitoring_interval" {
  description = "Enhanced monitoring interval in seconds (0, 1, 5, 10, 15, 30, 60); 0 disables it."
  type        = number
  default     = 0

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.db_monitoring_interval)
    error_message = "db_monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "db_kms_key_id" {
  description = "KMS key ARN for storage encryption; null uses aws/rds (storage is encrypted either way)."
  type        = string
  default     = null
}

variable "db_master_user_secret_kms_key_id" {
  description = "KMS key ARN for the RDS-managed secret; null uses aws/secretsmanager. A key ARN here is also granted to the consumer."
  type        = string
  default     = null
}

variable "db_apply_immediately" {
  description = "Apply instance changes now instead of in the maintenance window."
  type        = bool
  default     = false
}

variable "db_host" {
  description = "Host of an existing database (create_database = false)."
  type        = string
  default     = null

  validation {
    condition     = var.create_database || var.db_host != null
    error_message = "With create_database = false, db_host is required."
  }
}

variable "db_port" {
  description = "Port of the database (created or existing)."
  type        = number
  default     = 5432

  validation {
    condition     = var.db_port >= 1150 && var.db_port <= 65535
    error_message = "db_port must be between 1150 and 65535."
  }
}

variable "db_secret_arn" {
  description = "Secrets Manager secret of an existing database (create_database = false), with keys username and password."
  type        = string
  default     = null

  validation {
    condition     = var.create_database || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.db_secret_arn))
    error_message = "With create_database = false, db_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "db_secret_kms_key_arn" {
  description = "Customer-managed KMS key of the existing database's secret, granted to the consumer."
  type        = string
  default     = null
}

variable "db_security_group_id" {
  description = "Security group of an existing database (create_database = false): the consumer's egress points at it and an ingress rule from the consumer is added to it. Null lets the consumer reach db_port on private address ranges."
  type        = string
  default     = null

  validation {
    condition     = var.db_security_group_id == null || can(regex("^sg-[0-9a-f]+$", var.db_security_group_id))
    error_message = "db_security_group_id must be a security group ID (sg-...)."
  }
}

variable "db_ingress_security_group_ids" {
  description = "Other security groups allowed to reach the created database on db_port."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.db_ingress_security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "db_ingress_security_group_ids must be security group IDs (sg-...)."
  }
}

variable "db_sslmode" {
  description = "TLS mode of the consumer's database connection (DB_SSLMODE): disable, require or verify-full."
  type        = string
  default     = "require"

  validation {
    condition     = contains(["disable", "require", "verify-full"], var.db_sslmode)
    error_message = "db_sslmode must be disable, require or verify-full."
  }
}

variable "db_ssl_root_cert" {
  description = "CA bundle path inside the function for verify-full (DB_SSL_ROOT_CERT); null leaves it unset."
  type        = string
  default     = null
}

################################################################################
# Queue
################################################################################

variable "queue_name" {
  description = "Name of the events queue. Defaults to \"<name_prefix>-events-queue\"."
  type        = string
  default     = null

  validation {
    condition     = var.queue_name == null || can(regex("^[A-Za-z0-9_-]{1,80}$", var.queue_name))
    error_message = "queue_name must be 1-80 letters, digits, hyphens or underscores (SQS rules; standard queue, no .fifo)."
  }
}

variable "dead_letter_queue_name" {
  description = "Name of the dead-letter queue. Defaults to \"<name_prefix>-events-dlq\"."
  type        = string
  default     = null

  validation {
    condition     = var.dead_letter_queue_name == null || can(regex("^[A-Za-z0-9_-]{1,80}$", var.dead_letter_queue_name))
    error_message = "dead_letter_queue_name must be 1-80 letters, digits, hyphens or underscores (SQS rules; standard queue, no .fifo)."
  }
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the events queue; at least consumer_timeout."
  type        = number
  default     = 300

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 0 && var.queue_visibility_timeout_seconds <= 43200
    error_message = "queue_visibility_timeout_seconds must be between 0 and 43200."
  }
}

variable "queue_message_retention_seconds" {
  description = "Retention of the events queue (4 days, SQS's default)."
  type        = number
  default     = 345600

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 1209600
    error_message = "queue_message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "dead_letter_queue_message_retention_seconds" {
  description = "Retention of the dead-letter queue (14 days)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dead_letter_queue_message_retention_seconds >= 60 && var.dead_letter_queue_message_retention_seconds <= 1209600
    error_message = "dead_letter_queue_message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "queue_max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue (MAX_RECEIVE_COUNT)."
  type        = number
  default     = 3

  validation {
    condition     = var.queue_max_receive_count >= 1 && var.queue_max_receive_count <= 1000 && floor(var.queue_max_receive_count) == var.queue_max_receive_count
    error_message = "queue_max_receive_count must be a whole number between 1 and 1000."
  }
}

variable "queue_kms_master_key_id" {
  description = "KMS key for both queues; null uses SQS-managed encryption. A key ARN here is granted to the consumer and to producers (producer_policy_json)."
  type        = string
  default     = null
}

variable "queue_create_redrive_allow_policy" {
  description = "Allow only the events queue to use the dead-letter queue (redrive-allow policy). False only for moto, which does not know the attribute."
  type        = bool
  default     = true
}

################################################################################
# Bus
################################################################################

variable "event_bus_name" {
  description = "Name of the custom event bus. Defaults to \"<name_prefix>-events-bus\"."
  type        = string
  default     = null

  validation {
    condition     = var.event_bus_name == null || (can(regex("^[A-Za-z0-9._-]{1,256}$", var.event_bus_name)) && var.event_bus_name != "default")
    error_message = "event_bus_name must be 1-256 letters, digits, dots, hyphens or underscores, and not \"default\"."
  }
}

variable "service_name" {
  description = "Service name of the discovery parameters /eventbridge/services/<service_name>/arn and /info."
  type        = string
  default     = "kx-event-tracking"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,128}$", var.service_name))
    error_message = "service_name must be 1-128 letters, digits, dots, hyphens or underscores (it is an SSM path segment)."
  }
}

variable "event_source" {
  description = "Source of the bus entries (EVENT_SOURCE)."
  type        = string
  default     = "kx-event-tracking"

  validation {
    condition     = length(var.event_source) >= 1 && length(var.event_source) <= 256 && !startswith(var.event_source, "aws.")
    error_message = "event_source must be 1-256 characters and must not start with \"aws.\" (reserved by AWS)."
  }
}

variable "create_ssm_parameters" {
  description = "Create the discovery parameters."
  type        = bool
  default     = true
}

variable "event_bus_archive_enabled" {
  description = "Archive the bus's events for replay."
  type        = bool
  default     = false
}

variable "event_bus_archive_retention_days" {
  description = "Days the archive keeps events; 0 forever."
  type        = number
  default     = 30

  validation {
    condition     = var.event_bus_archive_retention_days >= 0 && floor(var.event_bus_archive_retention_days) == var.event_bus_archive_retention_days
    error_message = "event_bus_archive_retention_days must be a whole number, 0 (forever) or more."
  }
}

################################################################################
# Consumer
################################################################################

variable "consumer_function_name" {
  description = "Name of the consumer Lambda. Defaults to \"<name_prefix>-events-consumer\"."
  type        = string
  default     = null

  validation {
    condition     = var.consumer_function_name == null || can(regex("^[A-Za-z0-9_-]{1,64}$", var.consumer_function_name))
    error_message = "consumer_function_name must be 1-64 letters, digits, hyphens or underscores (Lambda rules)."
  }
}

variable "consumer_package_path" {
  description = "Zip of the consumer (make package). Null means <module>/../target/lambda/bootstrap/bootstrap.zip, where make package leaves it in this repository."
  type        = string
  default     = null
}

variable "consumer_architecture" {
  description = "Architecture of the consumer zip: arm64 or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.consumer_architecture)
    error_message = "consumer_architecture must be arm64 or x86_64."
  }
}

variable "consumer_memory_size" {
  description = "Memory of the consumer in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.consumer_memory_size >= 128 && var.consumer_memory_size <= 10240
    error_message = "consumer_memory_size must be between 128 and 10240 MB."
  }
}

variable "consumer_timeout" {
  description = "Timeout of the consumer in seconds; at most queue_visibility_timeout_seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.consumer_timeout <= var.queue_visibility_timeout_seconds
    error_message = "consumer_timeout must not exceed queue_visibility_timeout_seconds (AWS rejects the event source mapping otherwise; six times the timeout is advised)."
  }

  validation {
    condition     = var.consumer_timeout >= 1 && var.consumer_timeout <= 900
    error_message = "consumer_timeout must be between 1 and 900 seconds."
  }
}

variable "consumer_reserved_concurrent_executions" {
  description = "Reserved concurrency of the consumer; -1 for none."
  type        = number
  default     = -1
}

variable "consumer_tracing_enabled" {
  description = "X-Ray active tracing of the consumer."
  type        = bool
  default     = true
}

variable "consumer_kms_key_arn" {
  description = "KMS key ARN for the consumer's environment; null uses Lambda's key."
  type        = string
  default     = null
}

variable "consumer_log_retention_in_days" {
  description = "Retention of the consumer's log group (a value CloudWatch accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.consumer_log_retention_in_days)
    error_message = "consumer_log_retention_in_days must be a value CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "consumer_environment_variables" {
  description = "Extra environment of the consumer, e.g. { RUST_LOG = \"info\" }. The contract variables win on a clash."
  type        = map(string)
  default     = {}
}

variable "consumer_batch_size" {
  description = "Records per invocation (1-10000): 100 stores about twice as fast per event as 10."
  type        = number
  default     = 100

  validation {
    condition     = var.consumer_batch_size >= 1 && var.consumer_batch_size <= 10000 && floor(var.consumer_batch_size) == var.consumer_batch_size
    error_message = "consumer_batch_size must be a whole number between 1 and 10000."
  }
}

variable "consumer_maximum_batching_window_in_seconds" {
  description = "Seconds the mapping gathers records (0-300); at least 1 when consumer_batch_size is above 10."
  type        = number
  default     = 1

  validation {
    condition     = var.consumer_maximum_batching_window_in_seconds >= 0 && var.consumer_maximum_batching_window_in_seconds <= 300
    error_message = "consumer_maximum_batching_window_in_seconds must be between 0 and 300."
  }

  validation {
    condition     = var.consumer_batch_size <= 10 || var.consumer_maximum_batching_window_in_seconds >= 1
    error_message = "A consumer_batch_size above 10 needs consumer_maximum_batching_window_in_seconds of at least 1 (AWS rule for SQS mappings)."
  }
}

variable "consumer_maximum_concurrency" {
  description = "Most concurrent consumer invocations the mapping starts (2-1000), to spare the database; null for no limit."
  type        = number
  default     = null

  validation {
    condition     = var.consumer_maximum_concurrency == null || try(var.consumer_maximum_concurrency >= 2 && var.consumer_maximum_concurrency <= 1000, false)
    error_message = "consumer_maximum_concurrency must be null or between 2 and 1000."
  }
}

variable "consumer_event_source_mapping_enabled" {
  description = "Whether the mapping polls the queue. False against moto, which cannot run the function."
  type        = bool
  default     = true
}

variable "consumer_sweep_schedule_expression" {
  description = "EventBridge schedule (rate(...) or cron(...)) on the default bus that invokes the consumer with {\"Records\":[]}, so its outbox sweep publishes stored but unpublished events even when no SQS traffic arrives. Null creates no schedule."
  type        = string
  default     = "rate(5 minutes)"

  validation {
    condition     = var.consumer_sweep_schedule_expression == null || can(regex("^(rate|cron)\\(.+\\)$", coalesce(var.consumer_sweep_schedule_expression, "-")))
    error_message = "consumer_sweep_schedule_expression must be null or an EventBridge schedule expression: rate(...) or cron(...)."
  }
}

################################################################################
# Alarms
################################################################################

variable "create_alarms" {
  description = "CloudWatch alarms on the DLQ's depth, the queue's oldest message age and the consumer's errors."
  type        = bool
  default     = true
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for the alarms' actions; null creates them without actions."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}
