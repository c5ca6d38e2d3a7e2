data "aws_region" "current" {}

locals {
  ssm_arn_name  = "${var.ssm_parameter_prefix}/${var.service_name}/arn"
  ssm_info_name = "${var.ssm_parameter_prefix}/${var.service_name}/info"
}

resource "aws_cloudwatch_event_bus" "this" {
  name = var.name

  tags = merge({ Name = var.name }, var.tags)
}

resource "aws_cloudwatch_event_archive" "this" {
  count = var.create_archive ? 1 : 0

  # Archive names are limited to 48 characters.
  name             = substr("${var.name}-archive", 0, 48)
  description      = "Events put on ${var.name}, for replay"
  event_source_arn = aws_cloudwatch_event_bus.this.arn
  retention_days   = var.archive_retention_days
}

# Service discovery as in the seed: other teams find the bus by service name.
resource "aws_ssm_parameter" "arn" {
  #checkov:skip=CKV2_AWS_34:Holds the bus ARN for discovery, not a secret; the seed's consumers read it as a plain String.
  count = var.create_ssm_parameters ? 1 : 0

  name        = local.ssm_arn_name
  description = "ARN of the kx-events bus of service ${var.service_name}"
  type        = "String"
  value       = aws_cloudwatch_event_bus.this.arn

  tags = var.tags
}

resource "aws_ssm_parameter" "info" {
  #checkov:skip=CKV2_AWS_34:Holds discovery metadata (bus name, ARN, source, region), not a secret; a plain String as in the seed.
  count = var.create_ssm_parameters ? 1 : 0

  name        = local.ssm_info_name
  description = "kx-events bus of service ${var.service_name}: name, ARN, source, region, detail-type format"
  type        = "String"
  value = jsonencode({
    serviceName      = var.service_name
    eventBusName     = aws_cloudwatch_event_bus.this.name
    eventBusArn      = aws_cloudwatch_event_bus.this.arn
    source           = var.event_source
    region           = data.aws_region.current.name
    detailTypeFormat = "{entityType}.{eventType}"
  })

  tags = var.tags
}
