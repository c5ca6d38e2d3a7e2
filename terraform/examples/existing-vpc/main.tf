# kx-events in a VPC you already run: no VPC, subnets or NAT gateway are created. The private
# subnets need a route to the AWS APIs (a NAT gateway or VPC endpoints for SQS, EventBridge,
# Secrets Manager and CloudWatch Logs). Your own clients of the database are listed in
# db_ingress_security_group_ids.

provider "aws" {
  region = var.region
}

module "kx_events" {
  source = "../../"

  name_prefix = var.name_prefix

  create_vpc         = false
  vpc_id             = var.vpc_id
  private_subnet_ids = var.private_subnet_ids
  public_subnet_ids  = var.public_subnet_ids

  db_ingress_security_group_ids = var.db_ingress_security_group_ids
  db_deletion_protection        = true
  db_multi_az                   = true

  consumer_package_path = coalesce(var.consumer_package_path, "${path.root}/../../../target/lambda/bootstrap/bootstrap.zip")

  tags = {
    Project = "kx-events"
    Example = "existing-vpc"
  }
}
