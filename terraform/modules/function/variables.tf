# An internal building block of modules/consumer and modules/query: its inputs are validated where
# users set them (the root module), not again here.

variable "function_name" {
  description = "Name of the function; its log group is /aws/lambda/<function_name>."
  type        = string
}

variable "description" {
  description = "Description of the function."
  type        = string
}

variable "role_name" {
  description = "Name of the function's execution role."
  type        = string
}

variable "role_permissions_boundary" {
  description = "Permissions boundary of the execution role."
  type        = string
  default     = null
}

variable "policy_name" {
  description = "Name of the execution role's inline policy."
  type        = string
}

variable "policy_json" {
  description = "The execution role's inline policy (the caller's least-privilege statements; the log statement may use the log_group_arn output)."
  type        = string
}

variable "package_path" {
  description = "Local path of the zip. Ignored when s3_bucket is set."
  type        = string
  default     = null
}

variable "s3_bucket" {
  description = "S3 bucket of the zip (instead of package_path)."
  type        = string
  default     = null
}

variable "s3_key" {
  description = "S3 key of the zip."
  type        = string
  default     = null
}

variable "s3_object_version" {
  description = "S3 object version of the zip."
  type        = string
  default     = null
}

variable "source_code_hash" {
  description = "Base64 SHA-256 of the zip (the caller computes it from package_path)."
  type        = string
  default     = null
}

variable "architecture" {
  description = "Instruction set of the package: arm64 or x86_64."
  type        = string
  default     = "arm64"
}

variable "memory_size" {
  description = "Memory of the function in MB."
  type        = number
  default     = 256
}

variable "timeout" {
  description = "Timeout of the function in seconds."
  type        = number
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency; -1 leaves it unreserved."
  type        = number
  default     = -1
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

variable "environment_variables" {
  description = "The function's environment, exactly as it gets it."
  type        = map(string)
}

variable "tracing_mode" {
  description = "X-Ray tracing mode: Active (also attaches AWSXRayDaemonWriteAccess), PassThrough, or null for no tracing_config block."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Subnets of the function; empty runs it outside any VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the function in a VPC (subnet_ids)."
  type        = list(string)
  default     = []
}

variable "log_retention_in_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 30
}

variable "log_kms_key_id" {
  description = "KMS key ARN of the function's log group; null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "create_after" {
  description = "Anything the function must be created (and updated) after, such as the migrate invocation the consumer waits for; only its dependencies are used, never its value."
  type        = any
  default     = null
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
