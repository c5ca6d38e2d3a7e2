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

variable "vpc_azs" {
  description = "Availability zones of the VPC (two). Empty looks up the region's first two."
  type        = list(string)
  default     = []
}

variable "consumer_package_path" {
  description = "Consumer zip from make package. Null uses target/lambda/bootstrap/bootstrap.zip of this repository."
  type        = string
  default     = null
}

variable "query_package_path" {
  description = "Query API zip from make package. Null uses target/lambda/query/bootstrap.zip of this repository."
  type        = string
  default     = null
}

variable "emulator" {
  description = "Apply against the moto emulator (AWS_ENDPOINT_URL set): creates the event source mapping disabled, runs no migrate invocation and creates no DLQ redrive-allow policy. Leave false on AWS."
  type        = bool
  default     = false
}

variable "service_name" {
  description = "Service name of the bus's discovery parameters (/eventbridge/services/<service_name>/...)."
  type        = string
  default     = "kx-event-tracking"
}
