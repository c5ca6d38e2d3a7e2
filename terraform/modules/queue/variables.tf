variable "name" {
  description = "Name of the events queue (the seed's \"<prefix>-events-queue\")."
  type        = string
  default     = "events-tracking-events-queue"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,80}$", var.name))
    error_message = "name must be 1-80 letters, digits, hyphens or underscores (SQS queue name rules; no .fifo)."
  }
}

variable "dead_letter_queue_name" {
  description = "Name of the dead-letter queue (the seed's \"<prefix>-events-dlq\")."
  type        = string
  default     = "events-tracking-events-dlq"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,80}$", var.dead_letter_queue_name))
    error_message = "dead_letter_queue_name must be 1-80 letters, digits, hyphens or underscores (SQS queue name rules; no .fifo)."
  }
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the events queue. Must be at least the consumer's timeout (AWS refuses the event source mapping otherwise); AWS advises six times it."
  type        = number
  default     = 300

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 0 and 43200 (12 hours)."
  }
}

variable "message_retention_seconds" {
  description = "How long the events queue keeps a message."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "dead_letter_queue_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message (14 days, the maximum, by default)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dead_letter_queue_message_retention_seconds >= 60 && var.dead_letter_queue_message_retention_seconds <= 1209600
    error_message = "dead_letter_queue_message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}

variable "receive_wait_time_seconds" {
  description = "Long-polling wait of ReceiveMessage calls that do not set their own."
  type        = number
  default     = 20

  validation {
    condition     = var.receive_wait_time_seconds >= 0 && var.receive_wait_time_seconds <= 20
    error_message = "receive_wait_time_seconds must be between 0 and 20."
  }
}

variable "max_receive_count" {
  description = "Receives after which a message moves to the dead-letter queue (the consumer's MAX_RECEIVE_COUNT)."
  type        = number
  default     = 3

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number between 1 and 1000."
  }
}

variable "kms_master_key_id" {
  description = "KMS key (ARN, ID or alias) for server-side encryption of both queues. Null uses SQS-managed encryption (SSE-SQS)."
  type        = string
  default     = null
}

variable "kms_data_key_reuse_period_seconds" {
  description = "How long SQS reuses a data key before calling KMS again (with kms_master_key_id)."
  type        = number
  default     = 300

  validation {
    condition     = var.kms_data_key_reuse_period_seconds >= 60 && var.kms_data_key_reuse_period_seconds <= 86400
    error_message = "kms_data_key_reuse_period_seconds must be between 60 and 86400."
  }
}

variable "create_redrive_allow_policy" {
  description = "Restrict the dead-letter queue to the events queue as its only source (redrive-allow policy). Only an emulator that lacks RedriveAllowPolicy (moto) needs false."
  type        = bool
  default     = true
}

variable "queue_policy_statements" {
  description = "Extra statements of the events queue's policy, e.g. producers in other accounts or an SNS topic: { sid, effect (Allow), principal_type (AWS, Service), principal_identifiers, actions, conditions = [{ test, variable, values }] }. The resource is always the events queue."
  type = list(object({
    sid                   = string
    effect                = optional(string, "Allow")
    principal_type        = string
    principal_identifiers = list(string)
    actions               = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.queue_policy_statements : can(regex("^[A-Za-z0-9]+$", s.sid)) && s.sid != "DenyInsecureTransport" && contains(["Allow", "Deny"], s.effect) && contains(["AWS", "Service", "Federated", "CanonicalUser"], s.principal_type) && alltrue([for a in s.actions : startswith(a, "sqs:")])])
    error_message = "Each queue_policy_statements entry needs a unique alphanumeric sid (not DenyInsecureTransport), effect Allow or Deny, principal_type AWS, Service, Federated or CanonicalUser, and sqs:* actions only."
  }
}

variable "create_alarms" {
  description = "Create CloudWatch alarms on the dead-letter queue's depth and the events queue's oldest message age."
  type        = bool
  default     = true
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified when an alarm fires or recovers. Null creates the alarms without actions."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "dead_letter_queue_depth_threshold" {
  description = "The DLQ alarm fires when more than this many messages are visible in the dead-letter queue."
  type        = number
  default     = 0

  validation {
    condition     = var.dead_letter_queue_depth_threshold >= 0
    error_message = "dead_letter_queue_depth_threshold must not be negative."
  }
}

variable "oldest_message_age_threshold_seconds" {
  description = "The age alarm fires when the oldest message of the events queue is older than this."
  type        = number
  default     = 900

  validation {
    condition     = var.oldest_message_age_threshold_seconds >= 60
    error_message = "oldest_message_age_threshold_seconds must be at least 60."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
