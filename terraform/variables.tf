################################################################################
# General
################################################################################

variable "name_prefix" {
  description = "Prefix of every resource name (the CDK stack's resourcePrefix): <prefix>-vpc, <prefix>-db, <prefix>-events-queue, <prefix>-events-dlq, <prefix>-events-bus, <prefix>-events-consumer, <prefix>-db-sg, <prefix>-lambda-sg."
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
  description = "CIDR block of the created VPC (/16 to /24)."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    error_message = "vpc_cidr must be an IPv4 CIDR block with a prefix length between /16 and /24."
  }
}

variable "vpc_azs" {
  description = "Availability zones of the created subnets (at least two). Empty takes the region's first two (a DescribeAvailabilityZones call at plan time)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.vpc_azs) == 0 || length(var.vpc_azs) >= 2
    error_message = "vpc_azs must be empty or list at least two availability zones (an RDS subnet group needs two)."
  }
}

variable "vpc_single_nat_gateway" {
  description = "One NAT gateway for all private subnets (as the CDK stack, cheaper) instead of one per AZ; false is the highly available choice (an AZ outage then cuts only that AZ's consumers off the AWS APIs)."
  type        = bool
  default     = true
}

variable "vpc_enable_nat_gateway" {
  description = "NAT gateway(s) for the private subnets, so the consumer reaches the AWS APIs (SQS, EventBridge, Secrets Manager, CloudWatch Logs). False only with VPC endpoints of your own; for high availability keep vpc_single_nat_gateway = false (one NAT per AZ)."
  type        = bool
  default     = true
}

variable "vpc_create_endpoints" {
  description = "Interface VPC endpoints (vpc_endpoint_services) in the private subnets, so the consumer reaches Secrets Manager, SQS and EventBridge without a NAT gateway (then vpc_enable_nat_gateway = false saves the NAT; X-Ray tracing needs the xray endpoint too). Each endpoint costs per AZ-hour."
  type        = bool
  default     = false
}

variable "vpc_endpoint_services" {
  description = "Services of the interface endpoints (vpc_create_endpoints): secretsmanager, sqs, events; add ssm, xray as needed."
  type        = list(string)
  default     = ["secretsmanager", "sqs", "events"]

  validation {
    condition     = alltrue([for s in var.vpc_endpoint_services : can(regex("^[a-z0-9.-]+$", s))])
    error_message = "vpc_endpoint_services must be service names such as sqs, secretsmanager, events, ssm."
  }
}

variable "consumer_security_group_name" {
  description = "Name of the consumer's security group. Defaults to \"<name_prefix>-lambda-sg\"."
  type        = string
  default     = null

  validation {
    condition     = var.consumer_security_group_name == null || can(regex("^[A-Za-z0-9 ._:/()#,@\\[\\]+=&;{}!$*-]{1,255}$", coalesce(var.consumer_security_group_name, "-"))) && !startswith(lower(coalesce(var.consumer_security_group_name, "-")), "sg-")
    error_message = "consumer_security_group_name must be 1-255 characters EC2 accepts and must not start with sg-."
  }
}

variable "db_security_group_name" {
  description = "Name of the database's security group. Defaults to \"<name_prefix>-db-sg\"."
  type        = string
  default     = null

  validation {
    condition     = var.db_security_group_name == null || can(regex("^[A-Za-z0-9 ._:/()#,@\\[\\]+=&;{}!$*-]{1,255}$", coalesce(var.db_security_group_name, "-"))) && !startswith(lower(coalesce(var.db_security_group_name, "-")), "sg-")
    error_message = "db_security_group_name must be 1-255 characters EC2 accepts and must not start with sg-."
  }
}

variable "vpc_id" {
  description = "Existing VPC (create_vpc = false). Null with create_vpc = false and create_database = false runs the consumer outside any VPC."
  type        = string
  default     = null

  validation {
    condition     = var.create_vpc || var.vpc_id == null || length(var.private_subnet_ids) > 0
    error_message = "With an existing vpc_id, pass its private_subnet_ids too."
  }

  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "private_subnet_ids" {
  description = "Existing private subnets for the consumer and the database (create_vpc = false); at least two AZs when the module creates the database."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "private_subnet_ids must be subnet IDs (subnet-...)."
  }
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
  description = "Master user of the created instance; RDS keeps its password in a managed Secrets Manager secret. Only the migrate function uses it."
  type        = string
  default     = "kxadmin"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,62}$", var.db_master_username)) && !contains(["postgres", "rdsadmin", "admin", "user"], lower(var.db_master_username))
    error_message = "db_master_username must start with a letter, be at most 63 letters, digits or underscores, and not be a reserved word (postgres, rdsadmin, admin, user)."
  }
}

variable "create_db_app_role" {
  description = "Give the consumer its own PostgreSQL login role with DML grants only, instead of the owner's secret: an empty Secrets Manager secret and a migrate function (the consumer package with KX_MODE=migrate and the owner's secret) that applies the migrations, creates the role and writes its generated password to the secret. Null means true with the module's database and false with an existing one (then db_secret_arn is the consumer's login and the consumer migrates at cold start when that role may)."
  type        = bool
  default     = null
}

variable "db_app_role_name" {
  description = "PostgreSQL role the migrate function creates for the consumer (KX_APP_ROLE_NAME)."
  type        = string
  default     = "kx_events_consumer"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.db_app_role_name)) && !startswith(var.db_app_role_name, "pg_") && !contains(["rdsadmin", "rds_superuser", "postgres", "public"], var.db_app_role_name)
    error_message = "db_app_role_name must be a plain PostgreSQL identifier (lowercase letters, digits, underscores, at most 63, not starting with pg_, not a reserved role)."
  }
}

variable "run_migrations_on_apply" {
  description = "Invoke the migrate function during terraform apply (aws_lambda_invocation) and again whenever the package (which embeds the migrations) or the role settings change; the event source mapping waits for it. False where Lambda cannot run functions (moto, examples/local) or when you invoke the migrate function yourself."
  type        = bool
  default     = true
}

variable "consumer_migration_trigger" {
  description = "Any string; changing it re-runs the migrate invocation at the next apply (for instance to re-create the role's password after emptying its secret)."
  type        = string
  default     = null
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
  description = "Instance class of the created instance; it sets the connection budget the consumer's maximum concurrency is derived from."
  type        = string
  default     = "db.t4g.micro"

  validation {
    # The instance this module creates takes db.<family>.<size> in letters and digits only; for an
    # existing database the class only sizes the connection budget.
    condition     = can(regex("^db\\.[a-z0-9-]+\\.[a-z0-9]+$", var.db_instance_class)) && (!var.create_database || can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class)))
    error_message = "db_instance_class must look like db.t4g.micro."
  }
}

variable "db_max_connections" {
  description = "max_connections of the database, when the instance class does not tell it (an existing database, a custom parameter group). Null derives it from db_instance_class: LEAST(memory/9531392, 5000)."
  type        = number
  default     = null

  validation {
    condition     = var.db_max_connections == null || try(var.db_max_connections >= 4 && var.db_max_connections <= 262143, false)
    error_message = "db_max_connections must be between 4 and 262143."
  }
}

variable "db_allocated_storage" {
  description = "Initial storage of the created instance in GiB (gp3: 20-65536)."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage >= 20 && var.db_allocated_storage <= 65536
    error_message = "db_allocated_storage must be between 20 and 65536 GiB (gp3)."
  }
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling limit in GiB; 0 disables it."
  type        = number
  default     = 100

  validation {
    condition     = var.db_max_allocated_storage == 0 || (var.db_max_allocated_storage >= var.db_allocated_storage && var.db_max_allocated_storage <= 65536)
    error_message = "db_max_allocated_storage must be 0 or between db_allocated_storage and 65536."
  }
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
  description = "Prefix of the final snapshot's name; the instance's creation time (-YYYYMMDDhhmmss) is appended so that a replaced instance never collides with its predecessor's snapshot. Defaults to \"<identifier>-final\"."
  type        = string
  default     = null

  validation {
    condition     = var.db_final_snapshot_identifier == null || (can(regex("^[A-Za-z][A-Za-z0-9-]{0,239}$", coalesce(var.db_final_snapshot_identifier, "-"))) && !can(regex("(--|-$)", coalesce(var.db_final_snapshot_identifier, "-"))))
    error_message = "db_final_snapshot_identifier must start with a letter, hold letters, digits and single hyphens, not end with a hyphen, and be at most 240 characters."
  }
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

  validation {
    condition     = var.db_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.db_kms_key_id, "-")))
    error_message = "db_kms_key_id must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): the module grants the consumer the key by its ARN, and an alias or key ID would silently drop that grant."
  }
}

variable "db_master_user_secret_kms_key_id" {
  description = "KMS key ARN for the RDS-managed secret; null uses aws/secretsmanager. A key ARN here is also granted to the consumer."
  type        = string
  default     = null

  validation {
    condition     = var.db_master_user_secret_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.db_master_user_secret_kms_key_id, "-")))
    error_message = "db_master_user_secret_kms_key_id must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): the module grants the consumer the key by its ARN, and an alias or key ID would silently drop that grant."
  }
}

variable "db_backup_window" {
  description = "Daily backup window (UTC), e.g. 03:00-04:00; null lets RDS choose."
  type        = string
  default     = null

  validation {
    condition     = var.db_backup_window == null || can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", coalesce(var.db_backup_window, "-")))
    error_message = "db_backup_window must look like 03:00-04:00 (UTC)."
  }
}

variable "db_maintenance_window" {
  description = "Weekly maintenance window (UTC), e.g. sun:05:00-sun:06:00; null lets RDS choose."
  type        = string
  default     = null

  validation {
    condition     = var.db_maintenance_window == null || can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", lower(coalesce(var.db_maintenance_window, "-"))))
    error_message = "db_maintenance_window must look like sun:05:00-sun:06:00 (UTC)."
  }
}

variable "db_iam_database_authentication_enabled" {
  description = "Allow IAM database authentication on the created instance (the consumer itself logs in with its secret)."
  type        = bool
  default     = false
}

variable "db_enabled_cloudwatch_logs_exports" {
  description = "PostgreSQL logs exported to CloudWatch Logs; the module creates their log groups with db_log_retention_in_days."
  type        = list(string)
  default     = ["postgresql", "upgrade"]

  validation {
    condition     = alltrue([for l in var.db_enabled_cloudwatch_logs_exports : contains(["postgresql", "upgrade", "iam-db-auth-error"], l)])
    error_message = "db_enabled_cloudwatch_logs_exports may only contain postgresql, upgrade, iam-db-auth-error."
  }
}

variable "db_log_retention_in_days" {
  description = "Retention of the exported PostgreSQL log groups (/aws/rds/instance/<id>/<log>): they hold slow statements with their parameters, i.e. event payloads."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.db_log_retention_in_days)
    error_message = "db_log_retention_in_days must be a value CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "db_log_kms_key_id" {
  description = "KMS key ARN of the exported PostgreSQL log groups; null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.db_log_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.db_log_kms_key_id, "-")))
    error_message = "db_log_kms_key_id must be a KMS key ARN (CloudWatch Logs accepts no alias)."
  }
}

variable "db_log_min_duration_statement_ms" {
  description = "Log statements slower than this many milliseconds (-1 disables)."
  type        = number
  default     = 1000

  validation {
    condition     = var.db_log_min_duration_statement_ms >= -1
    error_message = "db_log_min_duration_statement_ms must be -1 or more."
  }
}

variable "db_performance_insights_kms_key_id" {
  description = "KMS key ARN of Performance Insights data; null uses aws/rds."
  type        = string
  default     = null

  validation {
    condition     = var.db_performance_insights_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.db_performance_insights_kms_key_id, "-")))
    error_message = "db_performance_insights_kms_key_id must be a KMS key ARN."
  }
}

variable "db_cpu_utilization_threshold_percent" {
  description = "The database CPU alarm fires above this utilisation for 15 minutes."
  type        = number
  default     = 80

  validation {
    condition     = var.db_cpu_utilization_threshold_percent > 0 && var.db_cpu_utilization_threshold_percent <= 100
    error_message = "db_cpu_utilization_threshold_percent must be in (0, 100]."
  }
}

variable "db_free_storage_threshold_bytes" {
  description = "The database storage alarm fires below this many free bytes (2 GiB)."
  type        = number
  default     = 2147483648

  validation {
    condition     = var.db_free_storage_threshold_bytes > 0
    error_message = "db_free_storage_threshold_bytes must be positive."
  }
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

  validation {
    condition     = var.db_secret_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.db_secret_kms_key_arn, "-")))
    error_message = "db_secret_kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): the module grants the consumer the key by its ARN, and an alias or key ID would silently drop that grant."
  }
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
  description = "TLS mode of the consumer's database connection (DB_SSLMODE): verify-full (the consumer embeds the RDS global CA bundle and checks the host name), require (encrypted, unverified: only for a database whose certificate the bundle does not cover) or disable (local PostgreSQL)."
  type        = string
  default     = "verify-full"

  validation {
    condition     = contains(["disable", "require", "verify-full"], var.db_sslmode)
    error_message = "db_sslmode must be disable, require or verify-full."
  }
}

variable "db_ssl_root_cert" {
  description = "CA bundle path inside the function for verify-full (DB_SSL_ROOT_CERT); null leaves it unset (the embedded RDS CA bundle)."
  type        = string
  default     = null
}

################################################################################
# Queue
################################################################################

variable "create_queue" {
  description = "Create the events queue and its DLQ. Set false to bring your own: pass queue_arn, queue_url, dead_letter_queue_arn, dead_letter_queue_url (its redrive policy must use queue_max_receive_count and its visibility timeout at least consumer_timeout, six times advised)."
  type        = bool
  default     = true
}

variable "queue_arn" {
  description = "ARN of an existing events queue (create_queue = false)."
  type        = string
  default     = null

  validation {
    condition     = var.create_queue || can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", coalesce(var.queue_arn, "-")))
    error_message = "With create_queue = false, queue_arn must be an SQS queue ARN."
  }
}

variable "queue_url" {
  description = "URL of an existing events queue (create_queue = false)."
  type        = string
  default     = null

  validation {
    condition     = var.create_queue || can(regex("^https://", coalesce(var.queue_url, "-")))
    error_message = "With create_queue = false, queue_url must be the queue's https:// URL."
  }
}

variable "dead_letter_queue_arn" {
  description = "ARN of the existing queue's dead-letter queue (create_queue = false)."
  type        = string
  default     = null

  validation {
    condition     = var.create_queue || can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", coalesce(var.dead_letter_queue_arn, "-")))
    error_message = "With create_queue = false, dead_letter_queue_arn must be an SQS queue ARN."
  }
}

variable "dead_letter_queue_url" {
  description = "URL of the existing queue's dead-letter queue (create_queue = false; the consumer's DEAD_LETTER_QUEUE_URL)."
  type        = string
  default     = null

  validation {
    condition     = var.create_queue || can(regex("^https://", coalesce(var.dead_letter_queue_url, "-")))
    error_message = "With create_queue = false, dead_letter_queue_url must be the queue's https:// URL."
  }
}

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
  description = "Visibility timeout of the events queue. Null is six times consumer_timeout (360 s with the defaults), as AWS advises for SQS event sources; a check warns below that, and AWS refuses one below consumer_timeout."
  type        = number
  default     = null

  validation {
    condition     = var.queue_visibility_timeout_seconds == null || try(var.queue_visibility_timeout_seconds >= 0 && var.queue_visibility_timeout_seconds <= 43200, false)
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

variable "consumer_requeue_on_database_outage" {
  description = "Send a valid record back to the events queue on its last receive when the database is unavailable (the consumer's EVENTS_QUEUE_URL), so that an outage longer than the retries never dead-letters valid events."
  type        = bool
  default     = true
}

variable "queue_max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue (MAX_RECEIVE_COUNT). 3 suits the consumer (it dead-letters invalid records itself and retries the rest); raise it (5-10) when throttles or database outages are expected, since a throttled batch also counts as a receive."
  type        = number
  default     = 3

  validation {
    condition     = var.queue_max_receive_count >= 1 && var.queue_max_receive_count <= 1000 && floor(var.queue_max_receive_count) == var.queue_max_receive_count
    error_message = "queue_max_receive_count must be a whole number between 1 and 1000."
  }
}

variable "queue_kms_master_key_id" {
  description = "KMS key ARN for both queues (granted to the consumer and to producers through producer_policy_json), or \"alias/aws/sqs\" for the AWS managed key (no grant needed); null uses SQS-managed encryption (SSE-SQS)."
  type        = string
  default     = null

  validation {
    condition     = var.queue_kms_master_key_id == null || var.queue_kms_master_key_id == "alias/aws/sqs" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.queue_kms_master_key_id, "-")))
    error_message = "queue_kms_master_key_id must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>) or alias/aws/sqs: the consumer's and producers' grants need the key ARN, and an alias of a customer key would silently drop them."
  }
}

variable "queue_policy_statements" {
  description = "Extra statements of the events queue's policy (producers in other accounts, an SNS topic): { sid, effect, principal_type, principal_identifiers, actions, conditions = [{ test, variable, values }] }; the resource is the events queue."
  type = list(object({
    sid                   = string
    effect                = optional(string, "Allow")
    principal_type        = string
    principal_identifiers = list(string)
    actions               = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = []

  validation {
    condition     = !var.create_queue || alltrue([for s in var.queue_policy_statements : can(regex("^[A-Za-z0-9]+$", s.sid)) && s.sid != "DenyInsecureTransport" && contains(["Allow", "Deny"], s.effect) && contains(["AWS", "Service", "Federated", "CanonicalUser"], s.principal_type) && alltrue([for a in s.actions : startswith(a, "sqs:")])])
    error_message = "Each queue_policy_statements entry needs a unique alphanumeric sid (not DenyInsecureTransport), effect Allow or Deny, principal_type AWS, Service, Federated or CanonicalUser, and sqs:* actions only."
  }
}

variable "queue_dead_letter_queue_depth_threshold" {
  description = "The DLQ alarm fires when more than this many messages are visible in the dead-letter queue."
  type        = number
  default     = 0

  validation {
    condition     = var.queue_dead_letter_queue_depth_threshold >= 0
    error_message = "queue_dead_letter_queue_depth_threshold must not be negative."
  }
}

variable "queue_oldest_message_age_threshold_seconds" {
  description = "The age alarm fires when the events queue's oldest message is older than this for 5 minutes."
  type        = number
  default     = 900

  validation {
    condition     = var.queue_oldest_message_age_threshold_seconds >= 60
    error_message = "queue_oldest_message_age_threshold_seconds must be at least 60."
  }
}

variable "queue_create_redrive_allow_policy" {
  description = "Allow only the events queue to use the dead-letter queue (redrive-allow policy). False only for moto, which does not know the attribute."
  type        = bool
  default     = true
}

################################################################################
# Bus
################################################################################

variable "create_bus" {
  description = "Create the event bus (and its archive and discovery parameters). Set false to publish to a bus you already run: pass event_bus_arn; no discovery parameters are created then."
  type        = bool
  default     = true
}

variable "event_bus_arn" {
  description = "ARN of an existing custom bus (create_bus = false), in this account and region."
  type        = string
  default     = null

  validation {
    condition     = var.create_bus || can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._-]{1,256}$", coalesce(var.event_bus_arn, "-")))
    error_message = "With create_bus = false, event_bus_arn must be an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)."
  }
}

variable "event_bus_name" {
  description = "Name of the custom event bus. Defaults to \"<name_prefix>-events-bus\"."
  type        = string
  default     = null

  validation {
    condition     = var.event_bus_name == null || (can(regex("^[A-Za-z0-9._-]{1,256}$", coalesce(var.event_bus_name, "-"))) && var.event_bus_name != "default" && !startswith(coalesce(var.event_bus_name, "-"), "aws."))
    error_message = "event_bus_name must be 1-256 letters, digits, dots, hyphens or underscores, not \"default\" and not starting with \"aws.\"."
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

variable "ssm_parameter_prefix" {
  description = "Path of the discovery parameters: <prefix>/<service_name>/arn and /info."
  type        = string
  default     = "/eventbridge/services"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9._-]+)+$", var.ssm_parameter_prefix)) && !can(regex("^/(aws|ssm)", lower(var.ssm_parameter_prefix)))
    error_message = "ssm_parameter_prefix must be an absolute SSM path without a trailing slash, not starting with /aws or /ssm (reserved)."
  }
}

variable "ssm_parameter_tier" {
  description = "Tier of the discovery parameters: Standard, or Advanced, which AWS RAM can share with subscriber accounts (they read it by ARN). Advanced parameters have a monthly charge."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Standard", "Advanced"], var.ssm_parameter_tier)
    error_message = "ssm_parameter_tier must be Standard or Advanced."
  }
}

variable "bus_subscriber_account_ids" {
  description = "AWS accounts that may create subscription rules on the bus (modules/subscription with the bus ARN): a bus policy allows PutRule/PutTargets & co. on the rules each account created itself."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.bus_subscriber_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "bus_subscriber_account_ids must be 12-digit AWS account IDs."
  }
}

variable "bus_subscriber_organization_id" {
  description = "AWS Organizations ID (o-...) whose accounts may create subscription rules on the bus, like bus_subscriber_account_ids."
  type        = string
  default     = null

  validation {
    condition     = var.bus_subscriber_organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", coalesce(var.bus_subscriber_organization_id, "-")))
    error_message = "bus_subscriber_organization_id must be an organization ID (o-xxxxxxxxxx)."
  }
}

variable "event_bus_archive_enabled" {
  description = "Archive the bus's events for replay."
  type        = bool
  default     = false
}

variable "event_bus_archive_event_pattern" {
  description = "Event pattern (JSON) of the archive; null archives every entry."
  type        = string
  default     = null

  validation {
    condition     = var.event_bus_archive_event_pattern == null || can(keys(jsondecode(coalesce(var.event_bus_archive_event_pattern, "-"))))
    error_message = "event_bus_archive_event_pattern must be a JSON object."
  }
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
  description = "Local path of the consumer zip (make package leaves it at target/lambda/bootstrap/bootstrap.zip), e.g. a dist/bootstrap.zip next to your root configuration. Give this or consumer_s3_bucket + consumer_s3_key."
  type        = string
  default     = null

  validation {
    condition     = (var.consumer_package_path != null) != (var.consumer_s3_bucket != null)
    error_message = "Give the consumer package as consumer_package_path (a local zip) or as consumer_s3_bucket + consumer_s3_key: exactly one of them."
  }
}

variable "consumer_s3_bucket" {
  description = "S3 bucket of the consumer zip (instead of consumer_package_path), in the deployment's region."
  type        = string
  default     = null

  validation {
    condition     = var.consumer_s3_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(var.consumer_s3_bucket, "-")))
    error_message = "consumer_s3_bucket must be an S3 bucket name."
  }
}

variable "consumer_s3_key" {
  description = "Key of the consumer zip in consumer_s3_bucket."
  type        = string
  default     = null

  validation {
    condition     = (var.consumer_s3_bucket == null) == (var.consumer_s3_key == null)
    error_message = "consumer_s3_bucket and consumer_s3_key go together."
  }
}

variable "consumer_s3_object_version" {
  description = "Version of the S3 object (versioned bucket), so that a new upload under the same key redeploys and re-runs the migrations."
  type        = string
  default     = null
}

variable "consumer_source_code_hash" {
  description = "Base64 SHA-256 of the zip (filebase64sha256), for an S3 package whose key and version stay the same. Null computes it from consumer_package_path."
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
    condition     = var.queue_visibility_timeout_seconds == null || var.consumer_timeout <= coalesce(var.queue_visibility_timeout_seconds, 43200)
    error_message = "consumer_timeout must not exceed queue_visibility_timeout_seconds (AWS rejects the event source mapping otherwise; six times the timeout is advised)."
  }

  validation {
    condition     = var.consumer_timeout >= 1 && var.consumer_timeout <= 900
    error_message = "consumer_timeout must be between 1 and 900 seconds."
  }
}

variable "consumer_reserved_concurrent_executions" {
  description = "Reserved concurrency of the consumer; -1 for none. When set, the derived maximum concurrency is capped by it, and a check warns if consumer_maximum_concurrency exceeds it."
  type        = number
  default     = -1

  validation {
    condition     = var.consumer_reserved_concurrent_executions >= -1 && floor(var.consumer_reserved_concurrent_executions) == var.consumer_reserved_concurrent_executions
    error_message = "consumer_reserved_concurrent_executions must be -1 (unreserved) or a whole number of at least 0."
  }
}

variable "consumer_tracing_enabled" {
  description = "X-Ray active tracing of the consumer; null follows xray_tracing_enabled."
  type        = bool
  default     = null
}

variable "consumer_kms_key_arn" {
  description = "KMS key ARN for the consumer's environment; null uses Lambda's key."
  type        = string
  default     = null

  validation {
    condition     = var.consumer_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.consumer_kms_key_arn, "-")))
    error_message = "consumer_kms_key_arn must be a KMS key ARN (Lambda takes no alias here)."
  }
}

variable "consumer_log_kms_key_id" {
  description = "KMS key ARN of the consumer's and the migrate function's log groups (its key policy must allow logs.<region>.amazonaws.com); null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.consumer_log_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.consumer_log_kms_key_id, "-")))
    error_message = "consumer_log_kms_key_id must be a KMS key ARN (CloudWatch Logs accepts no alias)."
  }
}

variable "consumer_role_permissions_boundary" {
  description = "ARN of a permissions boundary for the roles the module creates (consumer, migrate function, RDS enhanced monitoring)."
  type        = string
  default     = null

  validation {
    condition     = var.consumer_role_permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/", coalesce(var.consumer_role_permissions_boundary, "-")))
    error_message = "consumer_role_permissions_boundary must be an IAM policy ARN."
  }
}

variable "consumer_code_signing_config_arn" {
  description = "Lambda code signing configuration enforced on the consumer and migrate functions."
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
  description = "Most concurrent consumer invocations the mapping starts (2-1000); each sandbox holds one database connection. Null derives it from the connection budget: consumer_db_connection_share of max_connections (db_max_connections, or LEAST(memory/9531392, 5000) of db_instance_class), at most the reserved concurrency; no limit when neither is known (existing database without db_max_connections)."
  type        = number
  default     = null

  validation {
    condition     = var.consumer_maximum_concurrency == null || try(var.consumer_maximum_concurrency >= 2 && var.consumer_maximum_concurrency <= 1000, false)
    error_message = "consumer_maximum_concurrency must be null or between 2 and 1000."
  }
}

variable "consumer_db_connection_share" {
  description = "Share of the database's max_connections the consumer may use when its maximum concurrency is derived (0.5: db.t4g.micro gives 56)."
  type        = number
  default     = 0.5

  validation {
    condition     = var.consumer_db_connection_share > 0 && var.consumer_db_connection_share <= 1
    error_message = "consumer_db_connection_share must be in (0, 1]."
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
  description = "CloudWatch alarms: the DLQ's depth, the queue's oldest message age, the consumer's errors, throttles and duration, and the database's CPU, free storage and connections."
  type        = bool
  default     = true
}

variable "consumer_errors_threshold" {
  description = "The consumer errors alarm fires above this many failed invocations in 5 minutes."
  type        = number
  default     = 0

  validation {
    condition     = var.consumer_errors_threshold >= 0
    error_message = "consumer_errors_threshold must not be negative."
  }
}

variable "consumer_throttles_threshold" {
  description = "The consumer throttles alarm fires above this many throttles in 5 minutes."
  type        = number
  default     = 0

  validation {
    condition     = var.consumer_throttles_threshold >= 0
    error_message = "consumer_throttles_threshold must not be negative."
  }
}

variable "consumer_duration_threshold_percent" {
  description = "The consumer duration alarm fires when the p99 duration exceeds this share of consumer_timeout for 15 minutes."
  type        = number
  default     = 80

  validation {
    condition     = var.consumer_duration_threshold_percent > 0 && var.consumer_duration_threshold_percent <= 100
    error_message = "consumer_duration_threshold_percent must be in (0, 100]."
  }
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for the alarms' actions; null creates them without actions. CloudWatch cannot publish to a topic encrypted with the AWS managed key alias/aws/sns: use SSE with a customer key whose policy allows cloudwatch.amazonaws.com (examples/complete)."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

################################################################################
# Query API (create_query_api)
################################################################################

variable "create_query_api" {
  description = "Deploy the query API: the query function (make package: target/lambda/query/bootstrap.zip) in the consumer's subnets, an API Gateway HTTP API with IAM authorization by default (or JWT), its read-only database role provisioned by the migrate function."
  type        = bool
  default     = false
}

variable "query_package_path" {
  description = "Local path of the query zip (make package: target/lambda/query/bootstrap.zip). Give this or query_s3_bucket + query_s3_key when create_query_api."
  type        = string
  default     = null

  validation {
    condition     = !var.create_query_api || ((var.query_package_path != null) != (var.query_s3_bucket != null))
    error_message = "With create_query_api, give the query package as query_package_path (a local zip) or as query_s3_bucket + query_s3_key: exactly one of them."
  }
}

variable "query_s3_bucket" {
  description = "S3 bucket of the query zip (instead of query_package_path)."
  type        = string
  default     = null
}

variable "query_s3_key" {
  description = "S3 key of the query zip."
  type        = string
  default     = null

  validation {
    condition     = (var.query_s3_bucket == null) == (var.query_s3_key == null)
    error_message = "query_s3_bucket and query_s3_key go together."
  }
}

variable "query_s3_object_version" {
  description = "S3 object version of the query zip."
  type        = string
  default     = null
}

variable "query_source_code_hash" {
  description = "Base64 SHA-256 of the query zip (needed with query_s3_bucket to redeploy on change); computed from query_package_path when null."
  type        = string
  default     = null
}

variable "query_function_name" {
  description = "Name of the query function and its HTTP API. Null uses <name_prefix>-events-query."
  type        = string
  default     = null

  validation {
    condition     = var.query_function_name == null || can(regex("^[A-Za-z0-9_-]{1,64}$", coalesce(var.query_function_name, "-")))
    error_message = "query_function_name must be 1-64 letters, digits, hyphens or underscores (Lambda's rule)."
  }
}

variable "query_memory_size" {
  description = "Memory of the query function in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.query_memory_size >= 128 && var.query_memory_size <= 10240
    error_message = "query_memory_size must be 128-10240 MB."
  }
}

variable "query_timeout" {
  description = "Timeout of the query function in seconds (API Gateway ends an HTTP API integration at 30 s)."
  type        = number
  default     = 15

  validation {
    condition     = var.query_timeout >= 1 && var.query_timeout <= 29
    error_message = "query_timeout must be 1-29 s: API Gateway HTTP APIs give an integration at most 30 s."
  }
}

variable "query_reserved_concurrent_executions" {
  description = "Reserved concurrency of the query function (-1: unreserved). Each sandbox holds one connection (two with erasure)."
  type        = number
  default     = -1
}

variable "query_tracing_enabled" {
  description = "X-Ray active tracing of the query function; null follows xray_tracing_enabled."
  type        = bool
  default     = null
}

variable "query_log_retention_in_days" {
  description = "Retention of the query function's log group and the API's access log group."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.query_log_retention_in_days)
    error_message = "query_log_retention_in_days must be one of CloudWatch Logs' retention values (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "query_environment_variables" {
  description = "Extra environment variables of the query function (e.g. RUST_LOG); the module's own win."
  type        = map(string)
  default     = {}
}

variable "query_db_secret_arn" {
  description = "Without the application role (create_db_app_role false): the secret of an existing read-only PostgreSQL role (SELECT on events) for the query API."
  type        = string
  default     = null

  validation {
    condition     = !var.create_query_api || coalesce(var.create_db_app_role, var.create_database) || var.query_db_secret_arn != null
    error_message = "create_query_api without the application role (create_db_app_role false, or an existing database) needs query_db_secret_arn: the secret of a read-only role (bootstrap migrate creates one with KX_QUERY_ROLE_SECRET_ARN)."
  }
}

variable "query_post_enabled" {
  description = "Route POST /events (validate one event and send it to the events queue) on the query API."
  type        = bool
  default     = true
}

variable "query_erasure_enabled" {
  description = "Route DELETE /events?userId=… (erasure for data-protection requests) on its own database role (kx_events_eraser, DELETE on events) and its own permission (IAM on the route, or the JWT scope query_erasure_scope)."
  type        = bool
  default     = false
}

variable "query_eraser_db_secret_arn" {
  description = "Without the application role: the secret of an existing role with DELETE on events, for query_erasure_enabled."
  type        = string
  default     = null

  validation {
    condition     = !var.create_query_api || !var.query_erasure_enabled || coalesce(var.create_db_app_role, var.create_database) || var.query_eraser_db_secret_arn != null
    error_message = "query_erasure_enabled without the application role needs query_eraser_db_secret_arn: the secret of a role with DELETE on events (bootstrap migrate creates one with KX_ERASER_ROLE_SECRET_ARN)."
  }
}

variable "query_erasure_scope" {
  description = "JWT scope DELETE /events requires (query_authorization_type = JWT)."
  type        = string
  default     = "kx-events/erase"
}

variable "query_authorization_type" {
  description = "Authorization of the query API's routes: AWS_IAM (SigV4; default) or JWT (query_jwt_issuer, query_jwt_audience)."
  type        = string
  default     = "AWS_IAM"

  validation {
    condition     = contains(["AWS_IAM", "JWT"], var.query_authorization_type)
    error_message = "query_authorization_type must be AWS_IAM or JWT (the query API is never unauthenticated)."
  }
}

variable "query_jwt_issuer" {
  description = "Issuer URL of the JWT authorizer (https://…), required with query_authorization_type = JWT."
  type        = string
  default     = null

  validation {
    condition     = var.query_authorization_type != "JWT" || can(regex("^https://", coalesce(var.query_jwt_issuer, "-")))
    error_message = "With query_authorization_type = JWT, query_jwt_issuer must be the issuer's https:// URL."
  }
}

variable "query_jwt_audience" {
  description = "Audiences (client ids) the JWT authorizer accepts; at least one with JWT."
  type        = list(string)
  default     = []

  validation {
    condition     = var.query_authorization_type != "JWT" || length(var.query_jwt_audience) > 0
    error_message = "With query_authorization_type = JWT, query_jwt_audience needs at least one audience."
  }
}

variable "query_jwt_read_scopes" {
  description = "Scopes the read routes require with JWT (any of them); empty: a valid token is enough."
  type        = list(string)
  default     = []
}

variable "query_jwt_produce_scopes" {
  description = "Scopes POST /events requires with JWT (any of them)."
  type        = list(string)
  default     = []
}

variable "query_cors_allowed_origins" {
  description = "Origins the query API allows by CORS, e.g. [\"https://app.example.com\"]. Empty (default): no CORS (the old API's \"*\" is never the default)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.query_cors_allowed_origins : o == "*" || can(regex("^https?://[^/]+$", o))])
    error_message = "query_cors_allowed_origins entries must be origins (scheme://host[:port], no path) or \"*\"."
  }
}

variable "query_throttling_rate_limit" {
  description = "Steady-state requests per second of the query API."
  type        = number
  default     = 100
}

variable "query_throttling_burst_limit" {
  description = "Burst of the query API."
  type        = number
  default     = 200
}

variable "consumer_metrics_namespace" {
  description = "CloudWatch namespace of the consumer's Embedded Metric Format metrics (one record per invocation in its log, no API call); \"off\" writes none."
  type        = string
  default     = "kx-events"

  validation {
    condition     = length(var.consumer_metrics_namespace) >= 1 && length(var.consumer_metrics_namespace) <= 255 && can(regex("^[0-9A-Za-z.\\-_/#:]+$", var.consumer_metrics_namespace)) && !startswith(var.consumer_metrics_namespace, "AWS/")
    error_message = "consumer_metrics_namespace must be 1..255 characters of letters, digits and . - _ / # :, not starting with AWS/."
  }
}

variable "consumer_outbox_backlog_threshold" {
  description = "The outbox backlog alarm fires when more than this many stored events wait for the bus longer than the sweep age (60 s), for 15 minutes."
  type        = number
  default     = 100

  validation {
    condition     = var.consumer_outbox_backlog_threshold >= 0
    error_message = "consumer_outbox_backlog_threshold must not be negative."
  }
}

################################################################################
# Tracing and dashboard
################################################################################

variable "xray_tracing_enabled" {
  description = "X-Ray active tracing of the functions (the consumer; the query function): with the producer's AWSTraceHeader on each message and the TraceHeader of each PutEvents entry, one trace runs producer -> queue -> consumer -> bus -> subscriber."
  type        = bool
  default     = true
}

variable "create_dashboard" {
  description = "A CloudWatch dashboard: the consumer's metrics (received, stored, duplicates, dead-lettered, published, publish failures, outbox backlog, latencies), queue depth and age, DLQ depth, the function's errors, throttles and duration, and the database's CPU, connections and free storage."
  type        = bool
  default     = true
}

variable "dashboard_name" {
  description = "Name of the dashboard; null uses \"{name_prefix}-events\"."
  type        = string
  default     = null

  validation {
    condition     = var.dashboard_name == null || can(regex("^[0-9A-Za-z_-]{1,255}$", coalesce(var.dashboard_name, "-")))
    error_message = "dashboard_name must be 1..255 characters of letters, digits, - and _."
  }
}
