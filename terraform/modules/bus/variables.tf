# An internal building block of the root module (terraform/): its inputs are validated once,
# where users set them, in the root module's variables.tf.

variable "name" {
  description = "Name of the custom event bus."
  type        = string
  default     = "events-tracking-events-bus"
}

variable "service_name" {
  description = "Service name under which the bus is registered for discovery: /eventbridge/services/<service_name>/arn and /info."
  type        = string
  default     = "kx-event-tracking"
}

variable "event_source" {
  description = "Source of the entries the consumer puts on the bus (EVENT_SOURCE), recorded in the /info parameter."
  type        = string
  default     = "kx-event-tracking"
}

variable "ssm_parameter_prefix" {
  description = "Path under which the discovery parameters live."
  type        = string
  default     = "/eventbridge/services"
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
}

variable "archive_event_pattern" {
  description = "Event pattern (JSON) of the archive: only matching entries are archived. Null archives every entry."
  type        = string
  default     = null
}

variable "ssm_parameter_tier" {
  description = "Tier of the discovery parameters: Standard, or Advanced, which AWS RAM can share with other accounts (a subscriber there reads the parameter by its ARN). Advanced parameters cost a monthly fee each."
  type        = string
  default     = "Standard"
}

variable "subscriber_account_ids" {
  description = "AWS accounts whose teams may create subscription rules on this bus (a bus policy allowing PutRule/PutTargets and the like on rules they created themselves)."
  type        = list(string)
  default     = []
}

variable "subscriber_organization_id" {
  description = "AWS Organizations ID (o-...) whose accounts may create subscription rules on this bus, as subscriber_account_ids does for single accounts."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
