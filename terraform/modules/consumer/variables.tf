variable "function_name" {
  description = "Name of the consumer Lambda (the seed's \"<prefix>-events-consumer\")."
  type        = string
  default     = "events-tracking-events-consumer"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores (Lambda rules)."
  }
}

variable "package_path" {
  description = "Path of the zip that `make package` builds (cargo lambda: target/lambda/bootstrap/bootstrap.zip). Null with s3_bucket and s3_key."
  type        = string
  default     = null

  validation {
    condition     = (var.package_path != null) != (var.s3_bucket != null)
    error_message = "Give the consumer package either as package_path (a local zip) or as s3_bucket + s3_key, not both and not neither."
  }
}

variable "s3_bucket" {
  description = "S3 bucket holding the consumer zip (instead of package_path); it must be in the function's region."
  type        = string
  default     = null

  validation {
    condition     = var.s3_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(var.s3_bucket, "-")))
    error_message = "s3_bucket must be an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "s3_key" {
  description = "Key of the consumer zip in s3_bucket."
  type        = string
  default     = null

  validation {
    condition     = (var.s3_bucket == null) == (var.s3_key == null)
    error_message = "s3_bucket and s3_key go together."
  }
}

variable "s3_object_version" {
  description = "Version of the S3 object (versioned bucket), so that a new upload under the same key redeploys."
  type        = string
  default     = null
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the package, to redeploy (and re-run the migrations) when it changes. Null computes filebase64sha256(package_path); with S3, pass the zip's hash or rely on s3_object_version."
  type        = string
  default     = null
}

variable "architecture" {
  description = "Instruction set of the package: arm64 (cargo lambda build --arm64, the default) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB (CPU grows with it)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240 MB."
  }
}

variable "timeout" {
  description = "Function timeout in seconds. Must not exceed the queue's visibility timeout."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the function; -1 for none. The mapping's maximum_concurrency is the usual way to protect the database."
  type        = number
  default     = -1

  validation {
    condition     = var.reserved_concurrent_executions >= -1
    error_message = "reserved_concurrent_executions must be -1 (unreserved) or more."
  }
}

variable "tracing_enabled" {
  description = "X-Ray active tracing: the consumer's segment joins the producer's trace (each record's AWSTraceHeader), and its PutEvents entries carry it on to the bus."
  type        = bool
  default     = true
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the consumer's Embedded Metric Format records (KX_METRICS_NAMESPACE); \"off\" writes none (and creates no alarm on them)."
  type        = string
  default     = "kx-events"

  validation {
    condition     = length(var.metrics_namespace) >= 1 && length(var.metrics_namespace) <= 255 && can(regex("^[0-9A-Za-z.\\-_/#:]+$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1..255 characters of letters, digits and . - _ / # :, not starting with AWS/."
  }
}

variable "outbox_backlog_threshold" {
  description = "The outbox backlog alarm fires when more than this many stored events wait for the bus longer than the sweep age, for 15 minutes."
  type        = number
  default     = 100

  validation {
    condition     = var.outbox_backlog_threshold >= 0
    error_message = "outbox_backlog_threshold must not be negative."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN for the function's environment variables. Null uses the Lambda-managed key (they hold no secrets, only the secret's ARN)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.kms_key_arn, "-")))
    error_message = "kms_key_arn must be a KMS key ARN (Lambda accepts no alias here)."
  }
}

variable "code_signing_config_arn" {
  description = "Code signing configuration to enforce on the package."
  type        = string
  default     = null
}

variable "environment_variables" {
  description = "Extra environment variables (e.g. RUST_LOG). The contract variables below win on a clash."
  type        = map(string)
  default     = {}
}

variable "log_retention_in_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be one of the values CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_id" {
  description = "KMS key ARN for the log groups (its key policy must allow logs.<region>.amazonaws.com). Null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.log_kms_key_id, "-")))
    error_message = "log_kms_key_id must be a KMS key ARN (CloudWatch Logs accepts no alias)."
  }
}

variable "role_name" {
  description = "Name of the execution role. Defaults to \"<function_name>-role\" (the name cut so that the role name stays within 64 characters)."
  type        = string
  default     = null

  validation {
    condition     = var.role_name == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", coalesce(var.role_name, "-")))
    error_message = "role_name must be 1-64 characters of letters, digits and +=,.@_- (IAM rules)."
  }
}

variable "role_permissions_boundary" {
  description = "ARN of a permissions boundary for the execution roles (consumer and migrate)."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/", coalesce(var.role_permissions_boundary, "-")))
    error_message = "role_permissions_boundary must be an IAM policy ARN."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the function. Empty runs it outside a VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the function (with subnet_ids)."
  type        = list(string)
  default     = []
}

variable "queue_arn" {
  description = "ARN of the events queue the function consumes."
  type        = string
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the events queue, checked against timeout (AWS refuses a mapping whose function may outlive the visibility timeout; a check warns below six times the timeout)."
  type        = number
  default     = 360

  validation {
    condition     = var.queue_visibility_timeout_seconds >= var.timeout
    error_message = "The queue's visibility timeout must be at least the function's timeout (AWS rejects the event source mapping otherwise; six times the timeout is advised)."
  }
}

variable "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue the function sends records that can never be valid to."
  type        = string
}

variable "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (DEAD_LETTER_QUEUE_URL)."
  type        = string
}

variable "queue_url" {
  description = "URL of the events queue (EVENTS_QUEUE_URL), for requeue_on_database_outage."
  type        = string
  default     = null
}

variable "requeue_on_database_outage" {
  description = "Send a valid record back to the events queue on its last receive when the database is unavailable (EVENTS_QUEUE_URL, and sqs:SendMessage on the queue), instead of letting the redrive move it to the DLQ. Needs queue_url."
  type        = bool
  default     = false

  validation {
    condition     = !var.requeue_on_database_outage || var.queue_url != null
    error_message = "requeue_on_database_outage needs queue_url."
  }
}

variable "max_receive_count" {
  description = "The queue's maxReceiveCount (MAX_RECEIVE_COUNT): the consumer knows a record's last try."
  type        = number
  default     = 3

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "event_bus_arn" {
  description = "ARN of the bus the function puts stored events on."
  type        = string
}

variable "event_bus_name" {
  description = "Name of that bus (EVENT_BUS_NAME)."
  type        = string
}

variable "event_source" {
  description = "Source of the bus entries (EVENT_SOURCE)."
  type        = string
  default     = "kx-event-tracking"
}

variable "db_secret_arn" {
  description = "ARN of the Secrets Manager secret with the database username and password. With create_app_role it is the owner's (RDS master) secret, used only by the migrate function; otherwise the consumer's DB_SECRET_ARN."
  type        = string
}

variable "db_secret_kms_key_arns" {
  description = "Customer-managed KMS keys of db_secret_arn, granted to the migrate function (the consumer gets them through kms_key_arns when it reads that secret itself)."
  type        = list(string)
  default     = []
}

variable "create_app_role" {
  description = "Create the consumer's own PostgreSQL login (app_role_name): an empty Secrets Manager secret, and a migrate function (the same package with KX_MODE=migrate and the owner's secret) that applies the migrations, creates the role with DML grants and writes its generated password to the secret. The consumer then reads that secret and never runs DDL (KX_MIGRATE=off)."
  type        = bool
  default     = false
}

variable "app_role_name" {
  description = "PostgreSQL role of the consumer that the migrate function creates (KX_APP_ROLE_NAME)."
  type        = string
  default     = "kx_events_consumer"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.app_role_name)) && !startswith(var.app_role_name, "pg_") && !contains(["rdsadmin", "rds_superuser", "postgres", "public"], var.app_role_name)
    error_message = "app_role_name must be a plain PostgreSQL identifier (lowercase letters, digits, underscores, at most 63, not starting with pg_ or a reserved role)."
  }
}

variable "app_role_secret_name_prefix" {
  description = "Name prefix of the application role's secret (Secrets Manager appends a unique suffix, so a destroyed secret still in its recovery window never blocks a new one)."
  type        = string
  default     = "kx-events-consumer-db-"

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]{1,486}$", var.app_role_secret_name_prefix))
    error_message = "app_role_secret_name_prefix must be 1-486 characters of letters, digits and /_+=.@- (Secrets Manager names are at most 512 with the 26-character suffix)."
  }
}

variable "app_role_secret_kms_key_id" {
  description = "KMS key ARN of the application role's secret; null uses aws/secretsmanager. Granted to the consumer and the migrate function."
  type        = string
  default     = null

  validation {
    condition     = var.app_role_secret_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.app_role_secret_kms_key_id, "-")))
    error_message = "app_role_secret_kms_key_id must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): the IAM grants need the key ARN, not an alias."
  }
}

variable "app_role_secret_recovery_window_in_days" {
  description = "Days a deleted application role secret can be restored (0 deletes it at once, 7-30 otherwise)."
  type        = number
  default     = 7

  validation {
    condition     = var.app_role_secret_recovery_window_in_days == 0 || (var.app_role_secret_recovery_window_in_days >= 7 && var.app_role_secret_recovery_window_in_days <= 30)
    error_message = "app_role_secret_recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "run_migrations_on_apply" {
  description = "Invoke the migrate function during terraform apply (aws_lambda_invocation), again whenever the package or the role settings change; the event source mapping waits for it. False where Lambda cannot run (moto) or when you run the migrate function yourself."
  type        = bool
  default     = true
}

variable "migration_trigger" {
  description = "Any string: changing it re-runs the migrate invocation (e.g. to rotate the role's password after emptying its secret). The package hash already triggers it."
  type        = string
  default     = null
}

variable "migrate_timeout" {
  description = "Timeout of the migrate function in seconds (index builds on a large adopted table take time)."
  type        = number
  default     = 300

  validation {
    condition     = var.migrate_timeout >= 1 && var.migrate_timeout <= 900
    error_message = "migrate_timeout must be between 1 and 900 seconds."
  }
}

variable "db_host" {
  description = "Database host name (DB_HOST)."
  type        = string
}

variable "db_port" {
  description = "Database port (DB_PORT)."
  type        = number
  default     = 5432
}

variable "db_name" {
  description = "Database name (DB_NAME)."
  type        = string
  default     = "events"
}

variable "db_sslmode" {
  description = "TLS mode to the database (DB_SSLMODE): disable, require or verify-full (the consumer embeds the RDS CA bundle)."
  type        = string
  default     = "verify-full"

  validation {
    condition     = contains(["disable", "require", "verify-full"], var.db_sslmode)
    error_message = "db_sslmode must be disable, require or verify-full."
  }
}

variable "db_ssl_root_cert" {
  description = "Path, inside the function, of the CA bundle for verify-full (DB_SSL_ROOT_CERT). Null leaves the variable unset."
  type        = string
  default     = null
}

variable "kms_key_arns" {
  description = "Customer-managed KMS keys the function must use: the queues' key (decrypt received, encrypt DLQ messages) and the database secret's key."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for k in var.kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", k))])
    error_message = "kms_key_arns must be KMS key ARNs (arn:aws:kms:<region>:<account>:key/<id>), not aliases: a grant on an alias ARN does not cover the key."
  }
}

variable "batch_size" {
  description = "Records per invocation (1-10000). Above 10, maximum_batching_window_in_seconds must be at least 1."
  type        = number
  default     = 100

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "Seconds the mapping gathers records before invoking (0-300)."
  type        = number
  default     = 1

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds must be between 0 and 300."
  }

  validation {
    condition     = var.batch_size <= 10 || var.maximum_batching_window_in_seconds >= 1
    error_message = "A batch_size above 10 needs maximum_batching_window_in_seconds of at least 1 (AWS rule for SQS mappings)."
  }
}

variable "maximum_concurrency" {
  description = "Most concurrent invocations the mapping starts (2-1000), to spare the database: each sandbox holds one connection. Null for no limit (the root module derives a default from the database's connection budget)."
  type        = number
  default     = null

  validation {
    condition     = var.maximum_concurrency == null || (try(var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000, false))
    error_message = "maximum_concurrency must be null or between 2 and 1000."
  }
}

variable "event_source_mapping_enabled" {
  description = "Whether the mapping polls the queue. Create it disabled against an emulator that cannot run the function (moto)."
  type        = bool
  default     = true
}

variable "sweep_schedule_expression" {
  description = "EventBridge schedule (rate(...) or cron(...)) on the default bus that invokes the function with {\"Records\":[]} so its outbox sweep runs without SQS traffic. Null creates no schedule."
  type        = string
  default     = "rate(5 minutes)"

  validation {
    condition     = var.sweep_schedule_expression == null || can(regex("^(rate|cron)\\(.+\\)$", coalesce(var.sweep_schedule_expression, "-")))
    error_message = "sweep_schedule_expression must be null or an EventBridge schedule expression: rate(...) or cron(...)."
  }
}

variable "create_alarms" {
  description = "Create CloudWatch alarms on the function's errors, throttles and duration."
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

variable "throttles_threshold" {
  description = "The throttles alarm fires when the function is throttled more often than this in 5 minutes."
  type        = number
  default     = 0

  validation {
    condition     = var.throttles_threshold >= 0
    error_message = "throttles_threshold must not be negative."
  }
}

variable "duration_threshold_percent" {
  description = "The duration alarm fires when the p99 duration exceeds this share of the timeout for 15 minutes."
  type        = number
  default     = 80

  validation {
    condition     = var.duration_threshold_percent > 0 && var.duration_threshold_percent <= 100
    error_message = "duration_threshold_percent must be in (0, 100]."
  }
}

variable "errors_threshold" {
  description = "The errors alarm fires when the function reports more errors than this in 5 minutes."
  type        = number
  default     = 0

  validation {
    condition     = var.errors_threshold >= 0
    error_message = "errors_threshold must not be negative."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "extra_role_secrets" {
  description = "More roles for the migrate function to provision, as its environment: KX_QUERY_ROLE_SECRET_ARN and KX_ERASER_ROLE_SECRET_ARN (secret ARNs; the root module passes the query API's). Granted read/write on those secrets."
  type        = map(string)
  default     = {}
}
