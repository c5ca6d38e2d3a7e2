# An internal building block of the root module (terraform/): its inputs are validated once,
# where users set them, in the root module's variables.tf.

variable "name" {
  description = "Prefix for the names of everything this module creates (VPC, subnets, gateways, security groups)."
  type        = string
  default     = "events-tracking"
}

variable "create_vpc" {
  description = "Create a VPC with public and private subnets over two AZs, an internet gateway and a NAT gateway. Set false to use vpc_id and private_subnet_ids instead."
  type        = bool
  default     = true
}

variable "vpc_name" {
  description = "Name tag of the VPC. Defaults to \"<name>-vpc\"."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC (when create_vpc is true)."
  type        = string
  default     = "10.0.0.0/16"
}

variable "azs" {
  description = "Availability zones for the subnets (when create_vpc is true). Empty means the first two available in the region."
  type        = list(string)
  default     = []
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by all private subnets (cheaper, as the CDK stack) instead of one per AZ."
  type        = bool
  default     = true
}

variable "enable_nat_gateway" {
  description = "Create NAT gateway(s) so the consumer in the private subnets reaches AWS APIs (SQS, EventBridge, Secrets Manager). Disable only with VPC endpoints of your own."
  type        = bool
  default     = true
}

variable "vpc_id" {
  description = "ID of an existing VPC (when create_vpc is false). Null with create_vpc false means no VPC at all: the consumer runs outside a VPC and no security groups are created."
  type        = string
  default     = null
}

variable "private_subnet_ids" {
  description = "IDs of existing private subnets for the consumer and the database (when create_vpc is false)."
  type        = list(string)
  default     = []
}

variable "public_subnet_ids" {
  description = "IDs of existing public subnets, only passed through to the outputs (when create_vpc is false)."
  type        = list(string)
  default     = []
}

variable "consumer_security_group_name" {
  description = "Name of the consumer's security group. Defaults to \"<name>-lambda-sg\"."
  type        = string
  default     = null
}

variable "database_security_group_name" {
  description = "Name of the database's security group. Defaults to \"<name>-db-sg\"."
  type        = string
  default     = null
}

variable "create_database_security_group" {
  description = "Create the database security group (ingress on database_port from the consumer's group only, plus database_ingress_security_group_ids)."
  type        = bool
  default     = true
}

variable "database_port" {
  description = "TCP port of PostgreSQL, for the consumer's egress and the database's ingress rules."
  type        = number
  default     = 5432
}

variable "database_ingress_security_group_ids" {
  description = "Other security groups allowed to reach the database on database_port (your API Lambdas, a bastion)."
  type        = list(string)
  default     = []
}

variable "existing_database_security_group_id" {
  description = "Security group of a database you already run (with create_database_security_group false). The consumer's egress on database_port goes to it and, when add_ingress_to_existing_database_security_group is true, an ingress rule from the consumer's group is added to it."
  type        = string
  default     = null
}

variable "add_ingress_to_existing_database_security_group" {
  description = "Add an ingress rule on database_port from the consumer's group to existing_database_security_group_id."
  type        = bool
  default     = true
}

variable "database_egress_cidr_blocks" {
  description = "Where the consumer may connect on database_port when there is no database security group to point at (an existing database reached by address)."
  type        = list(string)
  default     = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
}

variable "create_vpc_endpoints" {
  description = "Create interface VPC endpoints (vpc_endpoint_services) in the private subnets, reachable from the consumer's group on 443, so the consumer reaches the AWS APIs without a NAT gateway (then enable_nat_gateway may be false)."
  type        = bool
  default     = false
}

variable "vpc_endpoint_services" {
  description = "Services of the interface endpoints: what the consumer calls (Secrets Manager, SQS, EventBridge); add ssm for producers in the VPC that read the discovery parameters, xray with tracing."
  type        = list(string)
  default     = ["secretsmanager", "sqs", "events"]
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
