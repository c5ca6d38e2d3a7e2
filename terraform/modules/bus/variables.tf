variable "name" {
  description = "Name of the custom event bus."
  type        = string
  default     = "events-tracking-events-bus"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,256}$", var.name)) && var.name != "default" && !startswith(var.name, "aws.")
    error_message = "name must be 1-256 letters, digits, dots, hyphens or underscores, not \"default\" and not starting with \"aws.\" (EventBridge custom bus rules)."
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

variable "archive_event_pattern" {
  description = "Event pattern (JSON) of the archive: only matching entries are archived. Null archives every entry."
  type        = string
  default     = null

  validation {
    condition     = var.archive_event_pattern == null || can(keys(jsondecode(coalesce(var.archive_event_pattern, "-"))))
    error_message = "archive_event_pattern must be a JSON object."
  }
}

variable "ssm_parameter_tier" {
  description = "Tier of the discovery parameters: Standard, or Advanced, which AWS RAM can share with other accounts (a subscriber there reads the parameter by its ARN). Advanced parameters cost a monthly fee each."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Standard", "Advanced"], var.ssm_parameter_tier)
    error_message = "ssm_parameter_tier must be Standard or Advanced (Intelligent-Tiering would pick Standard for these small values, which RAM cannot share)."
  }
}

variable "subscriber_account_ids" {
  description = "AWS accounts whose teams may create subscription rules on this bus (a bus policy allowing PutRule/PutTargets and the like on rules they created themselves)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.subscriber_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "subscriber_account_ids must be 12-digit AWS account IDs."
  }
}

variable "subscriber_organization_id" {
  description = "AWS Organizations ID (o-...) whose accounts may create subscription rules on this bus, as subscriber_account_ids does for single accounts."
  type        = string
  default     = null

  validation {
    condition     = var.subscriber_organization_id == null || can(regex("^o-[a-z0-9]{10,32}$", coalesce(var.subscriber_organization_id, "-")))
    error_message = "subscriber_organization_id must be an organization ID (o-xxxxxxxxxx)."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
