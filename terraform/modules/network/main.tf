data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first two zones (sorted by name) are used, so a zone AWS adds later does not change the set; pin them with var.azs.
  count = var.create_vpc && length(var.azs) == 0 ? 1 : 0

  state = "available"
}

locals {
  azs       = length(var.azs) > 0 ? var.azs : try(slice(data.aws_availability_zones.available[0].names, 0, 2), [])
  az_count  = var.create_vpc ? length(local.azs) : 0
  nat_count = var.create_vpc && var.enable_nat_gateway ? (var.single_nat_gateway ? 1 : local.az_count) : 0
  vpc_name  = coalesce(var.vpc_name, "${var.name}-vpc")

  vpc_id             = var.create_vpc ? aws_vpc.this[0].id : var.vpc_id
  private_subnet_ids = var.create_vpc ? aws_subnet.private[*].id : var.private_subnet_ids
  public_subnet_ids  = var.create_vpc ? aws_subnet.public[*].id : var.public_subnet_ids

  # Security groups need a VPC; without one (create_vpc false, vpc_id null) the consumer runs outside a VPC.
  create_security_groups = var.create_vpc || var.vpc_id != null
  create_db_sg           = local.create_security_groups && var.create_database_security_group
  # The group the consumer's database egress points at, if any.
  database_sg_id = local.create_db_sg ? aws_security_group.database[0].id : var.existing_database_security_group_id
}

################################################################################
# VPC
################################################################################

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Flow logs are an account-level choice (central bucket or log group, retention, cost); bring a VPC that has them with create_vpc = false.
  count = var.create_vpc ? 1 : 0

  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge({ Name = local.vpc_name }, var.tags)
}

# Take over the default security group and leave it without rules, so nothing can use it by accident.
resource "aws_default_security_group" "this" {
  count = var.create_vpc ? 1 : 0

  vpc_id = aws_vpc.this[0].id

  tags = merge({ Name = "${local.vpc_name}-default" }, var.tags)
}

resource "aws_subnet" "public" {
  count = local.az_count

  vpc_id                  = aws_vpc.this[0].id
  cidr_block              = cidrsubnet(var.vpc_cidr, 3, count.index)
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = false

  tags = merge({ Name = "${local.vpc_name}-public-${local.azs[count.index]}", Tier = "public" }, var.tags)
}

resource "aws_subnet" "private" {
  count = local.az_count

  vpc_id            = aws_vpc.this[0].id
  cidr_block        = cidrsubnet(var.vpc_cidr, 3, count.index + local.az_count)
  availability_zone = local.azs[count.index]

  tags = merge({ Name = "${local.vpc_name}-private-${local.azs[count.index]}", Tier = "private" }, var.tags)
}

resource "aws_internet_gateway" "this" {
  count = var.create_vpc ? 1 : 0

  vpc_id = aws_vpc.this[0].id

  tags = merge({ Name = "${local.vpc_name}-igw" }, var.tags)
}

resource "aws_route_table" "public" {
  count = var.create_vpc ? 1 : 0

  vpc_id = aws_vpc.this[0].id

  tags = merge({ Name = "${local.vpc_name}-public" }, var.tags)
}

resource "aws_route" "public_internet" {
  count = var.create_vpc ? 1 : 0

  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  count = local.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_eip" "nat" {
  count = local.nat_count

  domain = "vpc"

  tags = merge({ Name = "${local.vpc_name}-nat-${count.index}" }, var.tags)

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = merge({ Name = "${local.vpc_name}-nat-${count.index}" }, var.tags)

  depends_on = [aws_internet_gateway.this]
}

# One private route table per AZ, each to its NAT gateway (or the single one).
resource "aws_route_table" "private" {
  count = local.az_count

  vpc_id = aws_vpc.this[0].id

  tags = merge({ Name = "${local.vpc_name}-private-${local.azs[count.index]}" }, var.tags)
}

resource "aws_route" "private_nat" {
  count = local.nat_count > 0 ? local.az_count : 0

  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
}

resource "aws_route_table_association" "private" {
  count = local.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

################################################################################
# Security groups
################################################################################

# The consumer: no ingress at all; egress HTTPS (AWS APIs through the NAT gateway) and PostgreSQL only.
resource "aws_security_group" "consumer" {
  #checkov:skip=CKV2_AWS_5:Attached to the consumer Lambda in modules/consumer (vpc_config), through this module's output; the graph check cannot follow module outputs.
  count = local.create_security_groups ? 1 : 0

  name        = coalesce(var.consumer_security_group_name, "${var.name}-lambda-sg")
  description = "kx-events consumer Lambda: no ingress; egress HTTPS and PostgreSQL only"
  vpc_id      = local.vpc_id

  tags = merge({ Name = coalesce(var.consumer_security_group_name, "${var.name}-lambda-sg") }, var.tags)
}

resource "aws_vpc_security_group_egress_rule" "consumer_https" {
  count = local.create_security_groups ? 1 : 0

  security_group_id = aws_security_group.consumer[0].id
  description       = "HTTPS to AWS APIs (SQS, EventBridge, Secrets Manager, CloudWatch)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "consumer_database_sg" {
  # The condition is on inputs known at plan time, never on the (unknown) group id.
  count = local.create_security_groups && (local.create_db_sg || var.existing_database_security_group_id != null) ? 1 : 0

  security_group_id            = aws_security_group.consumer[0].id
  description                  = "PostgreSQL to the events database"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = local.database_sg_id

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "consumer_database_cidr" {
  count = local.create_security_groups && !(local.create_db_sg || var.existing_database_security_group_id != null) ? length(var.database_egress_cidr_blocks) : 0

  security_group_id = aws_security_group.consumer[0].id
  description       = "PostgreSQL to the events database"
  ip_protocol       = "tcp"
  from_port         = var.database_port
  to_port           = var.database_port
  cidr_ipv4         = var.database_egress_cidr_blocks[count.index]

  tags = var.tags
}

# The database: PostgreSQL from the consumer's group and the groups the user lists; no egress.
resource "aws_security_group" "database" {
  #checkov:skip=CKV2_AWS_5:Attached to the RDS instance in modules/database, or the user's own database, through this module's output; the graph check cannot follow module outputs.
  count = local.create_db_sg ? 1 : 0

  name        = coalesce(var.database_security_group_name, "${var.name}-db-sg")
  description = "kx-events PostgreSQL: ingress from the consumer and listed groups only"
  vpc_id      = local.vpc_id

  tags = merge({ Name = coalesce(var.database_security_group_name, "${var.name}-db-sg") }, var.tags)
}

resource "aws_vpc_security_group_ingress_rule" "database_from_consumer" {
  count = local.create_db_sg ? 1 : 0

  security_group_id            = aws_security_group.database[0].id
  description                  = "PostgreSQL from the kx-events consumer"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = aws_security_group.consumer[0].id

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "database_from_extra" {
  count = local.create_db_sg ? length(var.database_ingress_security_group_ids) : 0

  security_group_id            = aws_security_group.database[0].id
  description                  = "PostgreSQL from a group listed in database_ingress_security_group_ids"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = var.database_ingress_security_group_ids[count.index]

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "existing_database_from_consumer" {
  count = local.create_security_groups && !local.create_db_sg && var.existing_database_security_group_id != null && var.add_ingress_to_existing_database_security_group ? 1 : 0

  security_group_id            = var.existing_database_security_group_id
  description                  = "PostgreSQL from the kx-events consumer"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = aws_security_group.consumer[0].id

  tags = var.tags
}

################################################################################
# VPC endpoints (optional): the AWS APIs the consumer calls, without a NAT gateway
################################################################################

locals {
  create_endpoints = local.create_security_groups && var.create_vpc_endpoints
}

data "aws_region" "current" {
  count = local.create_endpoints ? 1 : 0
}

resource "aws_security_group" "endpoints" {
  #checkov:skip=CKV2_AWS_5:Attached to the interface endpoints below (aws_vpc_endpoint.this).
  count = local.create_endpoints ? 1 : 0

  name        = "${var.name}-vpce-sg"
  description = "kx-events VPC endpoints: HTTPS from the consumer only"
  vpc_id      = local.vpc_id

  tags = merge({ Name = "${var.name}-vpce-sg" }, var.tags)
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_consumer" {
  count = local.create_endpoints ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the kx-events consumer"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.consumer[0].id

  tags = var.tags
}

resource "aws_vpc_endpoint" "this" {
  for_each = local.create_endpoints ? toset(var.vpc_endpoint_services) : toset([])

  vpc_id              = local.vpc_id
  service_name        = "com.amazonaws.${data.aws_region.current[0].name}.${each.value}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = local.private_subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true

  tags = merge({ Name = "${var.name}-${each.value}" }, var.tags)
}
