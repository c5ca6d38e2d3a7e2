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
  description = "Path of the zip that `make package` builds (cargo lambda: target/lambda/bootstrap/bootstrap.zip)."
  type        = string
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the package, to redeploy when it changes. Null computes filebase64sha256(package_path)."
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
  description = "X-Ray active tracing."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key ARN for the function's environment variables. Null uses the Lambda-managed key (they hold no secrets, only the secret's ARN)."
  type        = string
  default     = null
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
  description = "KMS key ARN for the log group. Null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "role_name" {
  description = "Name of the execution role. Defaults to \"<function_name>-role\" (cut to 64 characters)."
  type        = string
  default     = null
}

variable "role_permissions_boundary" {
  description = "ARN of a permissions boundary for the execution role."
  type        = string
  default     = null
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
  description = "Visibility timeout of the events queue, checked against timeout (AWS refuses a mapping whose function may outlive the visibility timeout)."
  type        = number
  default     = 300

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
  description = "ARN of the Secrets Manager secret with the database username and password (DB_SECRET_ARN)."
  type        = string
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
  description = "TLS mode to the database (DB_SSLMODE): disable, require or verify-full."
  type        = string
  default     = "require"

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
    condition     = alltrue([for k in var.kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:", k))])
    error_message = "kms_key_arns must be KMS key ARNs."
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
  description = "Most concurrent invocations the mapping starts (2-1000), to spare the database. Null for no limit."
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
  description = "Create a CloudWatch alarm on the function's errors."
  type        = bool
  default     = true
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified when the alarm fires or recovers. Null creates the alarm without actions."
  type        = string
  default     = null
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
