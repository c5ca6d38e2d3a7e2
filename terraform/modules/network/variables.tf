variable "name" {
  description = "Prefix for the names of everything this module creates (VPC, subnets, gateways, security groups)."
  type        = string
  default     = "events-tracking"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,47}$", var.name))
    error_message = "name must be 1-48 characters of letters, digits and hyphens, starting with a letter or digit."
  }
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

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24
    error_message = "vpc_cidr must be an IPv4 CIDR block with a prefix length between /16 and /24 (VPC limits, room for four subnets)."
  }
}

variable "azs" {
  description = "Availability zones for the subnets (when create_vpc is true). Empty means the first two available in the region."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.azs) == 0 || length(var.azs) >= 2
    error_message = "azs must be empty or list at least two availability zones (RDS subnet groups need two)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by all private subnets (cheaper, as the seed's stack) instead of one per AZ."
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

  validation {
    condition     = var.vpc_id == null || can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123abcd."
  }
}

variable "private_subnet_ids" {
  description = "IDs of existing private subnets for the consumer and the database (when create_vpc is false)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "private_subnet_ids must be subnet IDs (subnet-...)."
  }
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

  validation {
    condition     = var.database_port >= 1150 && var.database_port <= 65535
    error_message = "database_port must be between 1150 and 65535 (the range RDS accepts)."
  }
}

variable "database_ingress_security_group_ids" {
  description = "Other security groups allowed to reach the database on database_port (your API Lambdas, a bastion)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.database_ingress_security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "database_ingress_security_group_ids must be security group IDs (sg-...)."
  }
}

variable "existing_database_security_group_id" {
  description = "Security group of a database you already run (with create_database_security_group false). The consumer's egress on database_port goes to it and, when add_ingress_to_existing_database_security_group is true, an ingress rule from the consumer's group is added to it."
  type        = string
  default     = null

  validation {
    condition     = var.existing_database_security_group_id == null || can(regex("^sg-[0-9a-f]+$", var.existing_database_security_group_id))
    error_message = "existing_database_security_group_id must be a security group ID (sg-...)."
  }
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

  validation {
    condition     = alltrue([for c in var.database_egress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "database_egress_cidr_blocks must be IPv4 CIDR blocks."
  }
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

  validation {
    condition     = alltrue([for s in var.vpc_endpoint_services : can(regex("^[a-z0-9.-]+$", s))])
    error_message = "vpc_endpoint_services must be service names such as sqs, secretsmanager, events, ssm."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
