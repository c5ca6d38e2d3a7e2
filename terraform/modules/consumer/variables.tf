# An internal building block of the root module (terraform/): its inputs are validated once,
# where users set them, in the root module's variables.tf.

variable "function_name" {
  description = "Name of the consumer Lambda (the CDK stack's \"<prefix>-events-consumer\")."
  type        = string
  default     = "events-tracking-events-consumer"
}

variable "package_path" {
  description = "Path of the zip that `make package` builds (cargo lambda: target/lambda/bootstrap/bootstrap.zip). Null with s3_bucket and s3_key."
  type        = string
  default     = null
}

variable "s3_bucket" {
  description = "S3 bucket holding the consumer zip (instead of package_path); it must be in the function's region."
  type        = string
  default     = null
}

variable "s3_key" {
  description = "Key of the consumer zip in s3_bucket."
  type        = string
  default     = null
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
}

variable "memory_size" {
  description = "Memory of the function in MB (CPU grows with it)."
  type        = number
  default     = 256
}

variable "timeout" {
  description = "Function timeout in seconds. Must not exceed the queue's visibility timeout."
  type        = number
  default     = 60
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the function; -1 for none. The mapping's maximum_concurrency is the usual way to protect the database."
  type        = number
  default     = -1
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
}

variable "outbox_backlog_threshold" {
  description = "The outbox backlog alarm fires when more than this many stored events wait for the bus longer than the sweep age, for 15 minutes."
  type        = number
  default     = 100
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
}

variable "log_kms_key_id" {
  description = "KMS key ARN for the log groups (its key policy must allow logs.<region>.amazonaws.com). Null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "role_name" {
  description = "Name of the execution role. Defaults to \"<function_name>-role\" (the name cut so that the role name stays within 64 characters)."
  type        = string
  default     = null
}

variable "role_permissions_boundary" {
  description = "ARN of a permissions boundary for the execution roles (consumer and migrate)."
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
  description = "Visibility timeout of the events queue, checked against timeout (AWS refuses a mapping whose function may outlive the visibility timeout; a check warns below six times the timeout)."
  type        = number
  default     = 360
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
}

variable "max_receive_count" {
  description = "The queue's maxReceiveCount (MAX_RECEIVE_COUNT): the consumer knows a record's last try."
  type        = number
  default     = 3
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
}

variable "app_role_secret_name_prefix" {
  description = "Name prefix of the application role's secret (Secrets Manager appends a unique suffix, so a destroyed secret still in its recovery window never blocks a new one)."
  type        = string
  default     = "kx-events-consumer-db-"
}

variable "app_role_secret_kms_key_id" {
  description = "KMS key ARN of the application role's secret; null uses aws/secretsmanager. Granted to the consumer and the migrate function."
  type        = string
  default     = null
}

variable "app_role_secret_recovery_window_in_days" {
  description = "Days a deleted application role secret can be restored (0 deletes it at once, 7-30 otherwise)."
  type        = number
  default     = 7
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
}

variable "batch_size" {
  description = "Records per invocation (1-10000). Above 10, maximum_batching_window_in_seconds must be at least 1."
  type        = number
  default     = 100
}

variable "maximum_batching_window_in_seconds" {
  description = "Seconds the mapping gathers records before invoking (0-300)."
  type        = number
  default     = 1
}

variable "maximum_concurrency" {
  description = "Most concurrent invocations the mapping starts (2-1000), to spare the database: each sandbox holds one connection. Null for no limit (the root module derives a default from the database's connection budget)."
  type        = number
  default     = null
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
}

variable "throttles_threshold" {
  description = "The throttles alarm fires when the function is throttled more often than this in 5 minutes."
  type        = number
  default     = 0
}

variable "duration_threshold_percent" {
  description = "The duration alarm fires when the p99 duration exceeds this share of the timeout for 15 minutes."
  type        = number
  default     = 80
}

variable "errors_threshold" {
  description = "The errors alarm fires when the function reports more errors than this in 5 minutes."
  type        = number
  default     = 0
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
