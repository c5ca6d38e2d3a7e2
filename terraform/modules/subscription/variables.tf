variable "service_name" {
  description = "Service whose kx-events bus to subscribe to; the bus is found through the SSM parameter <ssm_parameter_prefix>/<service_name>/arn."
  type        = string
  default     = "kx-event-tracking"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,128}$", var.service_name))
    error_message = "service_name must be 1-128 letters, digits, dots, hyphens or underscores."
  }
}

variable "ssm_parameter_prefix" {
  description = "Path of the discovery parameters."
  type        = string
  default     = "/eventbridge/services"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9._-]+)+$", var.ssm_parameter_prefix))
    error_message = "ssm_parameter_prefix must be an absolute SSM path without a trailing slash."
  }
}

variable "bus_arn_parameter" {
  description = "Name or ARN of the SSM parameter that holds the bus ARN, instead of <ssm_parameter_prefix>/<service_name>/arn. Use the ARN for a parameter shared from another account (AWS requires it), and, in the configuration that creates the bus, the kx_events module's ssm_parameter_arns.arn output: known only after apply, it makes the look-up wait for that parameter rather than for the whole module (depends_on)."
  type        = string
  default     = null

  validation {
    condition     = var.bus_arn_parameter == null || can(regex("^(/[A-Za-z0-9._-]+)+$|^arn:[a-z-]+:ssm:[a-z0-9-]+:[0-9]{12}:parameter/", var.bus_arn_parameter))
    error_message = "bus_arn_parameter must be an absolute parameter name (/eventbridge/services/<service>/arn) or a parameter ARN (arn:aws:ssm:<region>:<account>:parameter/...)."
  }
}

variable "event_bus_name" {
  description = "Name or ARN of the bus, to skip the SSM look-up (the ARN for a bus in another account). Null looks it up by service_name."
  type        = string
  default     = null

  validation {
    condition     = var.event_bus_name == null || can(regex("^[A-Za-z0-9._-]{1,256}$|^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._-]{1,256}$", coalesce(var.event_bus_name, "-")))
    error_message = "event_bus_name must be a bus name or an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)."
  }
}

variable "rule_name" {
  description = "Name of the EventBridge rule (also the prefix of the target DLQ's name)."
  type        = string

  validation {
    # EventBridge allows dots in rule names, but the name is reused for the target DLQ (SQS: no
    # dots outside .fifo) and the Lambda permission's statement_id ([A-Za-z0-9_-]).
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.rule_name))
    error_message = "rule_name must be 1-64 letters, digits, hyphens or underscores (EventBridge rule names, also used for the target DLQ and the Lambda permission, which reject dots)."
  }
}

variable "rule_description" {
  description = "Description of the rule."
  type        = string
  default     = "kx-events subscription"
}

variable "event_pattern" {
  description = "Event pattern (JSON) of the rule. kx-events entries have source \"kx-event-tracking\" and detail-type \"{entityType}.{eventType}\", e.g. {\"detail-type\":[{\"prefix\":\"user.\"}]}."
  type        = string
  default     = "{\"source\":[\"kx-event-tracking\"]}"

  validation {
    condition     = can(keys(jsondecode(var.event_pattern)))
    error_message = "event_pattern must be a JSON object."
  }
}

variable "rule_enabled" {
  description = "Whether the rule routes events."
  type        = bool
  default     = true
}

variable "target_type" {
  description = "Kind of target: sqs or lambda."
  type        = string

  validation {
    condition     = contains(["sqs", "lambda"], var.target_type)
    error_message = "target_type must be sqs or lambda."
  }
}

variable "target_arn" {
  description = "ARN of the target queue or function."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:(sqs|lambda):", var.target_arn))
    error_message = "target_arn must be an SQS queue or Lambda function ARN."
  }
}

variable "target_sqs_queue_url" {
  description = "URL of the target queue (target_type sqs), to attach the queue policy that lets the rule send to it."
  type        = string
  default     = null

  validation {
    condition     = var.target_sqs_queue_url == null || can(regex("^https?://", var.target_sqs_queue_url))
    error_message = "target_sqs_queue_url must be a queue URL."
  }
}

variable "create_target_permission" {
  description = "Grant the rule access to the target: a Lambda permission, or (sqs) a queue policy. The queue policy REPLACES the queue's policy; set false and grant events.amazonaws.com yourself if the queue has one."
  type        = bool
  default     = true

  validation {
    condition     = !(var.create_target_permission && var.target_type == "sqs" && var.target_sqs_queue_url == null)
    error_message = "With target_type sqs and create_target_permission true, target_sqs_queue_url is required."
  }
}

variable "maximum_event_age_in_seconds" {
  description = "How long EventBridge retries delivery to the target (1 hour, as the EventBridge publishing guide advises; then the event goes to the target DLQ)."
  type        = number
  default     = 3600

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 86400
    error_message = "maximum_event_age_in_seconds must be between 60 and 86400."
  }
}

variable "maximum_retry_attempts" {
  description = "How many times EventBridge retries delivery to the target (3, as the EventBridge publishing guide advises)."
  type        = number
  default     = 3

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 185
    error_message = "maximum_retry_attempts must be between 0 and 185."
  }
}

variable "create_dead_letter_queue" {
  description = "Create an SQS queue for events the target never accepted (\"<rule_name>-target-dlq\")."
  type        = bool
  default     = true
}

variable "dead_letter_queue_arn" {
  description = "An existing queue for undeliverable events (with create_dead_letter_queue false). Its policy must let events.amazonaws.com send to it."
  type        = string
  default     = null

  validation {
    condition     = var.dead_letter_queue_arn == null || can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", coalesce(var.dead_letter_queue_arn, "-")))
    error_message = "dead_letter_queue_arn must be an SQS queue ARN."
  }
}

variable "dead_letter_queue_kms_master_key_id" {
  description = "KMS key ARN for the created target DLQ (its key policy must let events.amazonaws.com use it). Null uses SQS-managed encryption."
  type        = string
  default     = null

  validation {
    condition     = var.dead_letter_queue_kms_master_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", coalesce(var.dead_letter_queue_kms_master_key_id, "-")))
    error_message = "dead_letter_queue_kms_master_key_id must be a KMS key ARN (EventBridge cannot use the AWS managed aws/sqs key)."
  }
}

variable "create_alarms" {
  description = "Create CloudWatch alarms on the rule's FailedInvocations and the target DLQ's depth."
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

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
