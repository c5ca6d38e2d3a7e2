variable "name" {
  description = "Name of the custom event bus."
  type        = string
  default     = "events-tracking-events-bus"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,256}$", var.name)) && var.name != "default"
    error_message = "name must be 1-256 letters, digits, dots, hyphens or underscores, and not \"default\" (EventBridge custom bus rules)."
  }
}

variable "service_name" {
  description = "Service name under which the bus is registered for discovery: /eventbridge/services/<service_name>/arn and /info."
  type        = string
  default     = "kx-event-tracking"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,128}$", var.service_name))
    error_message = "service_name must be 1-128 letters, digits, dots, hyphens or underscores (it becomes an SSM parameter path segment)."
  }
}

variable "event_source" {
  description = "Source of the entries the consumer puts on the bus (EVENT_SOURCE), recorded in the /info parameter."
  type        = string
  default     = "kx-event-tracking"

  validation {
    condition     = length(var.event_source) >= 1 && length(var.event_source) <= 256 && !startswith(var.event_source, "aws.")
    error_message = "event_source must be 1-256 characters and must not start with \"aws.\" (reserved by EventBridge)."
  }
}

variable "ssm_parameter_prefix" {
  description = "Path under which the discovery parameters live."
  type        = string
  default     = "/eventbridge/services"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9._-]+)+$", var.ssm_parameter_prefix))
    error_message = "ssm_parameter_prefix must be an absolute SSM path without a trailing slash, e.g. /eventbridge/services."
  }
}

variable "create_ssm_parameters" {
  description = "Register the bus in SSM Parameter Store (/arn and /info) for discovery by other teams."
  type        = bool
  default     = true
}

variable "create_archive" {
  description = "Archive the events put on the bus, for replay."
  type        = bool
  default     = false
}

variable "archive_retention_days" {
  description = "Days the archive keeps events; 0 keeps them forever."
  type        = number
  default     = 30

  validation {
    condition     = var.archive_retention_days >= 0 && floor(var.archive_retention_days) == var.archive_retention_days
    error_message = "archive_retention_days must be a whole number, 0 (indefinitely) or more."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
