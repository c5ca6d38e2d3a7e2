output "vpc_id" {
  description = "ID of the VPC (created or passed in); null when the consumer runs outside a VPC."
  value       = local.vpc_id
}

output "vpc_cidr_block" {
  description = "CIDR block of the created VPC; null when the VPC was passed in."
  value       = try(aws_vpc.this[0].cidr_block, null)
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (consumer and database)."
  value       = local.private_subnet_ids
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (NAT gateway)."
  value       = local.public_subnet_ids
}

output "nat_gateway_ids" {
  description = "IDs of the NAT gateways created."
  value       = aws_nat_gateway.this[*].id
}

output "consumer_security_group_id" {
  description = "ID of the consumer Lambda's security group; null without a VPC."
  value       = try(aws_security_group.consumer[0].id, null)
}

output "database_security_group_id" {
  description = "ID of the database's security group (created, or the existing one passed in)."
  value       = local.database_sg_id
}

output "vpc_endpoint_ids" {
  description = "IDs of the interface VPC endpoints by service (empty without create_vpc_endpoints)."
  value       = { for k, e in aws_vpc_endpoint.this : k => e.id }
}

output "endpoints_security_group_id" {
  description = "ID of the interface VPC endpoints' security group (null without create_vpc_endpoints)."
  value       = try(aws_security_group.endpoints[0].id, null)
}
