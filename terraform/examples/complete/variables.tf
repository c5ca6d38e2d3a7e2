variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "kx-complete"
}

variable "consumer_package_path" {
  description = "Consumer zip from make package. Null uses the module's default (target/lambda/bootstrap/bootstrap.zip in the repository)."
  type        = string
  default     = null
}

variable "emulator" {
  description = "Apply against the moto emulator (AWS_ENDPOINT_URL set): creates the event source mapping disabled and no DLQ redrive-allow policy. Leave false on AWS."
  type        = bool
  default     = false
}

variable "service_name" {
  description = "Service name of the bus's discovery parameters (/eventbridge/services/<service_name>/...)."
  type        = string
  default     = "kx-event-tracking"
}
