variable "aws_endpoint_url" {
  description = "URL of the moto server every AWS service is sent to (AWS_ENDPOINT_URL from scripts/services.sh, e.g. http://127.0.0.1:5000)."
  type        = string

  validation {
    condition     = can(regex("^https?://[^/]+/?$", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be a base URL such as http://127.0.0.1:5000."
  }
}

variable "region" {
  description = "Region the emulator pretends to be."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "kx-local"
}

variable "consumer_package_path" {
  description = "Consumer zip. moto stores it but never runs it (the local runner runs bootstrap itself), so any zip does. Null uses target/lambda/bootstrap/bootstrap.zip of this repository."
  type        = string
  default     = null
}

variable "db_host" {
  description = "Host of the local PostgreSQL (KX_PG_HOST)."
  type        = string
  default     = "127.0.0.1"
}

variable "db_port" {
  description = "Port of the local PostgreSQL (KX_PG_PORT)."
  type        = number
  default     = 5432
}

variable "db_name" {
  description = "Database the consumer stores events in; it must exist (the consumer creates its tables, not the database)."
  type        = string
  default     = "postgres"
}

variable "db_username" {
  description = "User of the local PostgreSQL (KX_PG_USER), written to the secret."
  type        = string
  default     = "kx"
}

variable "db_password" {
  description = "Password of that user (KX_PG_PASSWORD), written to the secret."
  type        = string
  sensitive   = true
}

variable "db_sslmode" {
  description = "DB_SSLMODE for the local PostgreSQL (loopback, no TLS by default)."
  type        = string
  default     = "disable"
}

variable "service_name" {
  description = "Service name of the bus's discovery parameters (/eventbridge/services/<service_name>/...)."
  type        = string
  default     = "kx-event-tracking"
}
