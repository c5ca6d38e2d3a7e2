# An internal building block of the root module (terraform/): its inputs are validated once,
# where users set them, in the root module's variables.tf.

variable "name" {
  description = "Name of the events queue (the CDK stack's \"<prefix>-events-queue\")."
  type        = string
  default     = "events-tracking-events-queue"
}

variable "dead_letter_queue_name" {
  description = "Name of the dead-letter queue (the CDK stack's \"<prefix>-events-dlq\")."
  type        = string
  default     = "events-tracking-events-dlq"
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the events queue. Must be at least the consumer's timeout (AWS refuses the event source mapping otherwise); AWS advises six times it."
  type        = number
  default     = 300
}

variable "message_retention_seconds" {
  description = "How long the events queue keeps a message."
  type        = number
  default     = 345600
}

variable "dead_letter_queue_message_retention_seconds" {
  description = "How long the dead-letter queue keeps a message (14 days, the maximum, by default)."
  type        = number
  default     = 1209600
}

variable "receive_wait_time_seconds" {
  description = "Long-polling wait of ReceiveMessage calls that do not set their own."
  type        = number
  default     = 20
}

variable "max_receive_count" {
  description = "Receives after which a message moves to the dead-letter queue (the consumer's MAX_RECEIVE_COUNT)."
  type        = number
  default     = 3
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
}

variable "dead_letter_queue_depth_threshold" {
  description = "The DLQ alarm fires when more than this many messages are visible in the dead-letter queue."
  type        = number
  default     = 0
}

variable "oldest_message_age_threshold_seconds" {
  description = "The age alarm fires when the oldest message of the events queue is older than this."
  type        = number
  default     = 900
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
