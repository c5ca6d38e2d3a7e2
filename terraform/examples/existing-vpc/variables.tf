variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "kx-existing-vpc"
}

variable "vpc_id" {
  description = "Your VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "Your private subnets (two AZs at least) for the consumer and the database."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Your public subnets, only reported in the outputs."
  type        = list(string)
  default     = []
}

variable "db_ingress_security_group_ids" {
  description = "Security groups of your own clients that may reach the database."
  type        = list(string)
  default     = []
}

variable "consumer_package_path" {
  description = "Consumer zip from make package. Null uses target/lambda/bootstrap/bootstrap.zip of this repository."
  type        = string
  default     = null
}
