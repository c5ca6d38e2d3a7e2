data "aws_region" "current" {}
data "aws_partition" "current" {}

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

  # Archive names: at most 48 characters of letters, digits, dots, hyphens and underscores.
  name             = substr("${var.name}-archive", 0, 48)
  description      = substr("Events put on ${var.name}, for replay", 0, 512)
  event_source_arn = aws_cloudwatch_event_bus.this.arn
  retention_days   = var.archive_retention_days
  event_pattern    = var.archive_event_pattern
}

# Cross-account subscriptions: a subscriber in another account creates its rule on this bus
# (PutRule with the bus ARN), which this policy allows, and only for rules it created itself
# (events:creatorAccount). Its targets stay in its own account.
locals {
  bus_rules_arn = "arn:${data.aws_partition.current.partition}:events:${data.aws_region.current.name}:${local.bus_account_id}:rule/${var.name}/*"
  # arn:<partition>:events:<region>:<account>:event-bus/<name>
  bus_account_id = element(split(":", aws_cloudwatch_event_bus.this.arn), 4)
  subscriber_actions = [
    "events:PutRule",
    "events:DeleteRule",
    "events:DescribeRule",
    "events:DisableRule",
    "events:EnableRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:ListTargetsByRule",
    "events:TagResource",
    "events:UntagResource",
    "events:ListTagsForResource",
  ]
  create_policy = length(var.subscriber_account_ids) > 0 || var.subscriber_organization_id != null
}

data "aws_iam_policy_document" "bus" {
  count = local.create_policy ? 1 : 0

  dynamic "statement" {
    for_each = length(var.subscriber_account_ids) > 0 ? [1] : []
    content {
      sid       = "SubscriberAccountsManageOwnRules"
      effect    = "Allow"
      actions   = local.subscriber_actions
      resources = [local.bus_rules_arn]
      principals {
        type        = "AWS"
        identifiers = [for a in var.subscriber_account_ids : "arn:${data.aws_partition.current.partition}:iam::${a}:root"]
      }
      condition {
        test     = "StringEqualsIfExists"
        variable = "events:creatorAccount"
        values   = ["$${aws:PrincipalAccount}"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.subscriber_organization_id != null ? [1] : []
    content {
      sid       = "OrganizationManagesOwnRules"
      effect    = "Allow"
      actions   = local.subscriber_actions
      resources = [local.bus_rules_arn]
      principals {
        type        = "AWS"
        identifiers = ["*"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [coalesce(var.subscriber_organization_id, "-")]
      }
      condition {
        test     = "StringEqualsIfExists"
        variable = "events:creatorAccount"
        values   = ["$${aws:PrincipalAccount}"]
      }
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "this" {
  count = local.create_policy ? 1 : 0

  event_bus_name = aws_cloudwatch_event_bus.this.name
  policy         = data.aws_iam_policy_document.bus[0].json
}

# Service discovery as in the TypeScript system: other teams find the bus by service name.
resource "aws_ssm_parameter" "arn" {
  #checkov:skip=CKV2_AWS_34:Holds the bus ARN for discovery, not a secret; the TypeScript system's consumers read it as a plain String.
  count = var.create_ssm_parameters ? 1 : 0

  name        = local.ssm_arn_name
  description = "ARN of the kx-events bus of service ${var.service_name}"
  type        = "String"
  tier        = var.ssm_parameter_tier
  value       = aws_cloudwatch_event_bus.this.arn

  tags = var.tags
}

resource "aws_ssm_parameter" "info" {
  #checkov:skip=CKV2_AWS_34:Holds discovery metadata (bus name, ARN, source, region), not a secret; a plain String, as the TypeScript system's consumers read it.
  count = var.create_ssm_parameters ? 1 : 0

  name        = local.ssm_info_name
  description = "kx-events bus of service ${var.service_name}: name, ARN, source, region, detail-type format"
  type        = "String"
  tier        = var.ssm_parameter_tier
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
