variable "dashboard_name" {
  description = "Name of the dashboard."
  type        = string

  validation {
    condition     = can(regex("^[0-9A-Za-z_-]{1,255}$", var.dashboard_name))
    error_message = "dashboard_name must be 1..255 characters of letters, digits, - and _."
  }
}

variable "metrics_namespace" {
  description = "Namespace of the consumer's Embedded Metric Format metrics."
  type        = string
  default     = "kx-events"
}

variable "function_name" {
  description = "The consumer function (the metrics' FunctionName dimension)."
  type        = string
}

variable "queue_name" {
  description = "The events queue."
  type        = string
}

variable "dead_letter_queue_name" {
  description = "The dead-letter queue."
  type        = string
}

variable "db_instance_identifier" {
  description = "The RDS instance; null leaves the database widgets out (an existing database outside RDS)."
  type        = string
  default     = null
}

variable "period" {
  description = "Period of the graphs, in seconds."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 300, 900, 3600], var.period)
    error_message = "period must be 60, 300, 900 or 3600."
  }
}
