variable "identifier" {
  description = "RDS instance identifier (the seed's \"<prefix>-db\")."
  type        = string
  default     = "events-tracking-db"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.identifier)) && !can(regex("--", var.identifier)) && !endswith(var.identifier, "-")
    error_message = "identifier must be 1-63 lowercase letters, digits or hyphens, start with a letter, and have no trailing or double hyphen (RDS rules)."
  }
}

variable "db_name" {
  description = "Name of the PostgreSQL database created in the instance."
  type        = string
  default     = "events"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must start with a letter and be at most 63 letters, digits or underscores."
  }
}

variable "master_username" {
  description = "Master user name. Its password is generated and kept by RDS in Secrets Manager (manage_master_user_password)."
  type        = string
  default     = "kxadmin"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,62}$", var.master_username)) && !contains(["postgres", "rdsadmin", "admin", "user"], lower(var.master_username))
    error_message = "master_username must start with a letter, be at most 63 letters, digits or underscores, and not be a reserved word (postgres, rdsadmin, admin, user)."
  }
}

variable "master_user_secret_kms_key_id" {
  description = "KMS key ARN for the RDS-managed master user secret. Null uses the account's aws/secretsmanager key."
  type        = string
  default     = null
  validation {
    condition     = var.master_user_secret_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.master_user_secret_kms_key_id, "-")))
    error_message = "master_user_secret_kms_key_id must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): an alias or key ID would drop the grants that need the key's ARN."
  }
}

variable "engine_version" {
  description = "PostgreSQL engine version. A major version (\"16\") lets RDS pick and upgrade the minor version."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^16(\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be PostgreSQL 16 (\"16\" or \"16.x\"); the parameter group family is postgres16."
  }
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.instance_class))
    error_message = "instance_class must look like db.t4g.micro."
  }
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20

  validation {
    condition     = var.allocated_storage >= 20 && var.allocated_storage <= 65536
    error_message = "allocated_storage must be between 20 and 65536 GiB (gp3)."
  }
}

variable "max_allocated_storage" {
  description = "Upper limit for storage autoscaling in GiB; 0 disables autoscaling."
  type        = number
  default     = 100

  validation {
    condition     = var.max_allocated_storage == 0 || (var.max_allocated_storage >= var.allocated_storage && var.max_allocated_storage <= 65536)
    error_message = "max_allocated_storage must be 0 or between allocated_storage and 65536."
  }
}

variable "port" {
  description = "PostgreSQL port."
  type        = number
  default     = 5432

  validation {
    condition     = var.port >= 1150 && var.port <= 65535
    error_message = "port must be between 1150 and 65535 (the range RDS accepts)."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the DB subnet group (at least two AZs)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must list at least two subnets in different AZs (an RDS subnet group needs two)."
  }
}

variable "vpc_security_group_ids" {
  description = "Security groups of the instance."
  type        = list(string)
  default     = []
}

variable "kms_key_id" {
  description = "KMS key ARN for storage encryption. Null uses the account's aws/rds key (storage is encrypted either way)."
  type        = string
  default     = null
  validation {
    condition     = var.kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.kms_key_id, "-")))
    error_message = "kms_key_id must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): an alias or key ID would drop the grants that need the key's ARN."
  }
}

variable "backup_retention_period" {
  description = "Days of automated backups."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_period >= 1 && var.backup_retention_period <= 35
    error_message = "backup_retention_period must be between 1 and 35 days."
  }
}

variable "backup_window" {
  description = "Daily backup window (UTC), hh24:mi-hh24:mi, at least 30 minutes, not overlapping the maintenance window. Null lets RDS choose."
  type        = string
  default     = null

  validation {
    condition     = var.backup_window == null || can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", coalesce(var.backup_window, "-")))
    error_message = "backup_window must look like 03:00-04:00 (UTC)."
  }
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC), ddd:hh24:mi-ddd:hh24:mi. Null lets RDS choose."
  type        = string
  default     = null

  validation {
    condition     = var.maintenance_window == null || can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", lower(coalesce(var.maintenance_window, "-"))))
    error_message = "maintenance_window must look like sun:05:00-sun:06:00 (UTC)."
  }
}

variable "multi_az" {
  description = "Run a standby in a second AZ."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse to delete the instance. Keep true in production; the examples set false so they can be destroyed."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot."
  type        = bool
  default     = false
}

variable "final_snapshot_identifier" {
  description = "Prefix of the final snapshot's name; the instance's creation time (YYYYMMDDhhmmss) is appended so that every instance has its own. Defaults to \"<identifier>-final\"."
  type        = string
  default     = null

  validation {
    condition     = var.final_snapshot_identifier == null || (can(regex("^[A-Za-z][A-Za-z0-9-]{0,239}$", coalesce(var.final_snapshot_identifier, "-"))) && !can(regex("(--|-$)", coalesce(var.final_snapshot_identifier, "-"))))
    error_message = "final_snapshot_identifier must start with a letter, hold letters, digits and single hyphens, not end with a hyphen, and be at most 240 characters (15 are appended)."
  }
}

variable "performance_insights_enabled" {
  description = "Enable Performance Insights (7 days retention is free)."
  type        = bool
  default     = false
}

variable "performance_insights_kms_key_id" {
  description = "KMS key ARN for Performance Insights data. Null uses the account's aws/rds key."
  type        = string
  default     = null
  validation {
    condition     = var.performance_insights_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.performance_insights_kms_key_id, "-")))
    error_message = "performance_insights_kms_key_id must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): an alias or key ID would drop the grants that need the key's ARN."
  }
}

variable "monitoring_interval" {
  description = "Enhanced monitoring interval in seconds; 0 disables it. When above 0 a monitoring role is created."
  type        = number
  default     = 0

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "iam_database_authentication_enabled" {
  description = "Allow IAM database authentication (the consumer itself uses the secret)."
  type        = bool
  default     = false
}

variable "log_min_duration_statement_ms" {
  description = "Log statements slower than this many milliseconds (-1 disables)."
  type        = number
  default     = 1000
}

variable "enabled_cloudwatch_logs_exports" {
  description = "PostgreSQL logs exported to CloudWatch Logs."
  type        = list(string)
  default     = ["postgresql", "upgrade"]

  validation {
    condition     = alltrue([for l in var.enabled_cloudwatch_logs_exports : contains(["postgresql", "upgrade", "iam-db-auth-error"], l)])
    error_message = "enabled_cloudwatch_logs_exports may only contain postgresql, upgrade, iam-db-auth-error."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the exported PostgreSQL log groups (/aws/rds/instance/<identifier>/<log>); they hold slow statements with their parameters."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a value CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_id" {
  description = "KMS key ARN for the exported log groups. Null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.log_kms_key_id, "-")))
    error_message = "log_kms_key_id must be a KMS key ARN (CloudWatch Logs accepts no alias)."
  }
}

variable "monitoring_role_permissions_boundary" {
  description = "ARN of a permissions boundary for the enhanced monitoring role."
  type        = string
  default     = null
}

variable "apply_immediately" {
  description = "Apply modifications now rather than in the next maintenance window."
  type        = bool
  default     = false
}

variable "create_alarms" {
  description = "Create CloudWatch alarms on CPU, free storage and (with connections_threshold) connections."
  type        = bool
  default     = true
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified when an alarm fires or recovers. Null creates the alarms without actions."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", coalesce(var.alarm_sns_topic_arn, "-")))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "cpu_utilization_threshold_percent" {
  description = "The CPU alarm fires above this utilisation (maximum over 5 minutes, 3 periods)."
  type        = number
  default     = 80

  validation {
    condition     = var.cpu_utilization_threshold_percent > 0 && var.cpu_utilization_threshold_percent <= 100
    error_message = "cpu_utilization_threshold_percent must be in (0, 100]."
  }
}

variable "free_storage_threshold_bytes" {
  description = "The storage alarm fires below this many free bytes."
  type        = number
  default     = 2147483648

  validation {
    condition     = var.free_storage_threshold_bytes > 0
    error_message = "free_storage_threshold_bytes must be positive."
  }
}

variable "connections_threshold" {
  description = "The connections alarm fires above this many connections; null creates no connections alarm (the root module passes 80% of the instance class's max_connections)."
  type        = number
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
