variable "function_name" {
  description = "Name of the query API function (also the HTTP API's name unless api_name is set)."
  type        = string
}

variable "api_name" {
  description = "Name of the HTTP API. Null uses function_name."
  type        = string
  default     = null
}

variable "package_path" {
  description = "Local path of the query zip (make package: target/lambda/query/bootstrap.zip). Ignored when s3_bucket is set."
  type        = string
  default     = null
}

variable "s3_bucket" {
  description = "S3 bucket of the query zip (instead of package_path)."
  type        = string
  default     = null
}

variable "s3_key" {
  description = "S3 key of the query zip."
  type        = string
  default     = null
}

variable "s3_object_version" {
  description = "S3 object version of the query zip."
  type        = string
  default     = null
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the zip; computed from package_path when null."
  type        = string
  default     = null
}

variable "architecture" {
  description = "Lambda architecture (the zip of make package is arm64)."
  type        = string
  default     = "arm64"
}

variable "memory_size" {
  description = "Memory of the function in MB."
  type        = number
  default     = 256
}

variable "timeout" {
  description = "Timeout of the function in seconds. API Gateway HTTP APIs end an integration at 30 s."
  type        = number
  default     = 15
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency (-1: unreserved). Each sandbox holds up to one connection per role."
  type        = number
  default     = -1
}

variable "tracing_enabled" {
  description = "X-Ray active tracing on the function."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key of the function's environment variables (null: the AWS managed key)."
  type        = string
  default     = null
}

variable "code_signing_config_arn" {
  description = "Code signing configuration of the function."
  type        = string
  default     = null
}

variable "log_retention_in_days" {
  description = "Retention of the function's and the API's access log groups."
  type        = number
  default     = 30
}

variable "log_kms_key_id" {
  description = "KMS key ARN of both log groups (null: CloudWatch's own encryption)."
  type        = string
  default     = null
}

variable "environment_variables" {
  description = "Extra environment variables (e.g. RUST_LOG). The module's own win."
  type        = map(string)
  default     = {}
}

variable "role_permissions_boundary" {
  description = "Permissions boundary of the function's role."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "VPC of the function's security group (with subnet_ids)."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Private subnets of the function; empty runs it outside a VPC."
  type        = list(string)
  default     = []
}

variable "database_security_group_id" {
  description = "Security group of the database (required with subnet_ids): an ingress rule from the function's group on db_port is added to it."
  type        = string
  default     = null
}

variable "vpc_endpoints_enabled" {
  description = "Whether the VPC has the interface endpoints of endpoint_security_group_id (known at plan time, unlike the group's ID)."
  type        = bool
  default     = false
}

variable "endpoint_security_group_id" {
  description = "Security group of the interface VPC endpoints (Secrets Manager, SQS), with vpc_endpoints_enabled: an ingress rule on 443 from the function's group is added to it."
  type        = string
  default     = null
}

variable "db_host" {
  description = "Database host."
  type        = string
}

variable "db_port" {
  description = "Database port."
  type        = number
  default     = 5432
}

variable "db_name" {
  description = "Database name."
  type        = string
}

variable "db_sslmode" {
  description = "DB_SSLMODE of the function: verify-full (default), require or disable."
  type        = string
  default     = "verify-full"
}

variable "db_ssl_root_cert" {
  description = "DB_SSL_ROOT_CERT of the function (null: the Amazon RDS CA bundle built in)."
  type        = string
  default     = null
}

variable "reader_secret_arn" {
  description = "Secret of the read-only database role (username/password), e.g. written by the migrate function."
  type        = string
}

variable "erasure_enabled" {
  description = "Route DELETE /events (erasure) with eraser_secret_arn (a plan-time switch, unlike the secret's ARN)."
  type        = bool
  default     = false
}

variable "eraser_secret_arn" {
  description = "Secret of the erasure role (DELETE on events), with erasure_enabled."
  type        = string
  default     = null
}

variable "secret_kms_key_arns" {
  description = "Customer managed KMS keys of the secrets (kms:Decrypt is granted on them)."
  type        = list(string)
  default     = []
}

variable "post_enabled" {
  description = "Route POST /events, sending to queue_arn / queue_url (a plan-time switch, unlike the queue's ARN)."
  type        = bool
  default     = false
}

variable "queue_arn" {
  description = "ARN of the events queue, for POST /events (with post_enabled)."
  type        = string
  default     = null
}

variable "queue_url" {
  description = "URL of the events queue (with queue_arn)."
  type        = string
  default     = null
}

variable "queue_kms_key_arns" {
  description = "Customer managed KMS keys of the queue (kms:GenerateDataKey and kms:Decrypt are granted)."
  type        = list(string)
  default     = []
}

variable "authorization_type" {
  description = "Authorization of every route: AWS_IAM (SigV4; each route is its own execute-api:Invoke permission) or JWT (the jwt_* inputs)."
  type        = string
  default     = "AWS_IAM"
}

variable "jwt_issuer" {
  description = "Issuer URL of the JWT authorizer (authorization_type = JWT), e.g. https://cognito-idp.<region>.amazonaws.com/<pool-id>."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "Audiences (client ids) the JWT authorizer accepts."
  type        = list(string)
  default     = []
}

variable "jwt_read_scopes" {
  description = "Scopes the read routes require with JWT (any of them); empty requires none beyond a valid token."
  type        = list(string)
  default     = []
}

variable "jwt_produce_scopes" {
  description = "Scopes POST /events requires with JWT (any of them)."
  type        = list(string)
  default     = []
}

variable "erasure_scope" {
  description = "The JWT scope DELETE /events requires (checked by API Gateway and again by the function)."
  type        = string
  default     = "kx-events/erase"
}

variable "cors_allowed_origins" {
  description = "Origins allowed by CORS (e.g. [\"https://app.example.com\"]). Empty (default) configures no CORS."
  type        = list(string)
  default     = []
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second of the API's default route settings."
  type        = number
  default     = 100
}

variable "throttling_burst_limit" {
  description = "Burst of the API's default route settings."
  type        = number
  default     = 200
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
