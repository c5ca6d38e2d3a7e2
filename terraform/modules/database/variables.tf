# An internal building block of the root module (terraform/): its inputs are validated once,
# where users set them, in the root module's variables.tf.

variable "identifier" {
  description = "RDS instance identifier (the CDK stack's \"<prefix>-db\")."
  type        = string
  default     = "events-tracking-db"
}

variable "db_name" {
  description = "Name of the PostgreSQL database created in the instance."
  type        = string
  default     = "events"
}

variable "master_username" {
  description = "Master user name. Its password is generated and kept by RDS in Secrets Manager (manage_master_user_password)."
  type        = string
  default     = "kxadmin"
}

variable "master_user_secret_kms_key_id" {
  description = "KMS key ARN for the RDS-managed master user secret. Null uses the account's aws/secretsmanager key."
  type        = string
  default     = null
}

variable "engine_version" {
  description = "PostgreSQL engine version. A major version (\"16\") lets RDS pick and upgrade the minor version."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Upper limit for storage autoscaling in GiB; 0 disables autoscaling."
  type        = number
  default     = 100
}

variable "port" {
  description = "PostgreSQL port."
  type        = number
  default     = 5432
}

variable "subnet_ids" {
  description = "Private subnets for the DB subnet group (at least two AZs)."
  type        = list(string)
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
}

variable "backup_retention_period" {
  description = "Days of automated backups."
  type        = number
  default     = 7
}

variable "backup_window" {
  description = "Daily backup window (UTC), hh24:mi-hh24:mi, at least 30 minutes, not overlapping the maintenance window. Null lets RDS choose."
  type        = string
  default     = null
}

variable "maintenance_window" {
  description = "Weekly maintenance window (UTC), ddd:hh24:mi-ddd:hh24:mi. Null lets RDS choose."
  type        = string
  default     = null
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
}

variable "monitoring_interval" {
  description = "Enhanced monitoring interval in seconds; 0 disables it. When above 0 a monitoring role is created."
  type        = number
  default     = 0
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
}

variable "log_retention_in_days" {
  description = "Retention of the exported PostgreSQL log groups (/aws/rds/instance/<identifier>/<log>); they hold slow statements with their parameters."
  type        = number
  default     = 30
}

variable "log_kms_key_id" {
  description = "KMS key ARN for the exported log groups. Null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null
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
}

variable "cpu_utilization_threshold_percent" {
  description = "The CPU alarm fires above this utilisation (maximum over 5 minutes, 3 periods)."
  type        = number
  default     = 80
}

variable "free_storage_threshold_bytes" {
  description = "The storage alarm fires below this many free bytes."
  type        = number
  default     = 2147483648
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
