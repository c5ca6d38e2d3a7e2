data "aws_partition" "current" {}

locals {
  # Unique per instance: a replaced or re-created instance must not collide with the snapshot its
  # predecessor left (RDS refuses an existing snapshot name). The creation time is taken once and
  # kept (ignore_changes below); a given final_snapshot_identifier is used as the prefix.
  final_snapshot_identifier = "${coalesce(var.final_snapshot_identifier, "${var.identifier}-final")}-${formatdate("YYYYMMDDhhmmss", timestamp())}"
  # IAM name_prefix is limited to 38 characters: 26 of the identifier plus "-monitoring-".
  monitoring_role_name_prefix = "${substr(var.identifier, 0, 26)}-monitoring-"
}

# RDS creates these log groups on first export with no expiry, and they hold slow statements with
# their parameters (event payloads). Created here first, with a retention, they are managed.
resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_338:Retention is an input (log_retention_in_days, default 30 days): these logs hold event payloads, so shorter is the safer default.
  for_each = toset(var.enabled_cloudwatch_logs_exports)

  name              = "/aws/rds/instance/${var.identifier}/${each.value}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_id

  tags = var.tags
}

resource "aws_db_subnet_group" "this" {
  name        = var.identifier
  description = "kx-events database subnets (private)"
  subnet_ids  = var.subnet_ids

  tags = merge({ Name = var.identifier }, var.tags)
}

# TLS only (DB_SSLMODE defaults to require) and slow statements logged.
resource "aws_db_parameter_group" "this" {
  # A prefix, not a fixed name: create_before_destroy creates the replacement first, which a fixed
  # name would collide with.
  name_prefix = "${var.identifier}-"
  family      = "postgres16"
  description = "kx-events PostgreSQL 16: TLS required, slow statements logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_statement_ms)
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  tags = merge({ Name = var.identifier }, var.tags)

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role" "monitoring" {
  count = var.monitoring_interval > 0 ? 1 : 0

  name_prefix          = local.monitoring_role_name_prefix
  permissions_boundary = var.monitoring_role_permissions_boundary
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count = var.monitoring_interval > 0 ? 1 : 0

  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is an input (multi_az), off by default for cost, as in the CDK stack.
  #checkov:skip=CKV_AWS_118:Enhanced monitoring is an input (monitoring_interval), off by default as the issue asks.
  #checkov:skip=CKV_AWS_353:Performance Insights is an input (performance_insights_enabled), off by default as the issue asks.
  #checkov:skip=CKV_AWS_161:The consumer authenticates with the RDS-managed secret; IAM authentication is an input (iam_database_authentication_enabled).
  #checkov:skip=CKV_AWS_293:Deletion protection is an input (deletion_protection, default true); the examples turn it off to be destroyable.
  identifier = var.identifier

  engine                     = "postgres"
  engine_version             = var.engine_version
  auto_minor_version_upgrade = true
  instance_class             = var.instance_class
  parameter_group_name       = aws_db_parameter_group.this.name

  db_name                       = var.db_name
  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.master_user_secret_kms_key_id
  port                          = var.port

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_id

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = var.vpc_security_group_ids
  publicly_accessible    = false
  multi_az               = var.multi_az

  backup_retention_period   = var.backup_retention_period
  backup_window             = var.backup_window
  maintenance_window        = var.maintenance_window
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = var.skip_final_snapshot
  final_snapshot_identifier = var.skip_final_snapshot ? null : local.final_snapshot_identifier
  apply_immediately         = var.apply_immediately

  iam_database_authentication_enabled = var.iam_database_authentication_enabled
  enabled_cloudwatch_logs_exports     = var.enabled_cloudwatch_logs_exports

  performance_insights_enabled    = var.performance_insights_enabled
  performance_insights_kms_key_id = var.performance_insights_enabled ? var.performance_insights_kms_key_id : null
  monitoring_interval             = var.monitoring_interval
  monitoring_role_arn             = try(aws_iam_role.monitoring[0].arn, null)

  tags = merge({ Name = var.identifier }, var.tags)

  lifecycle {
    # The final snapshot's name is fixed when the instance is created (see locals).
    ignore_changes = [final_snapshot_identifier]
  }

  depends_on = [aws_cloudwatch_log_group.this]
}

################################################################################
# Alarms
################################################################################

locals {
  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  db_alarms = var.create_alarms ? merge(
    {
      cpu = {
        metric      = "CPUUtilization"
        comparison  = "GreaterThanThreshold"
        threshold   = var.cpu_utilization_threshold_percent
        description = "kx-events database CPU above ${var.cpu_utilization_threshold_percent}% for 15 minutes: inserts slow down and batches near the consumer's timeout."
      }
      free_storage = {
        metric      = "FreeStorageSpace"
        comparison  = "LessThanThreshold"
        threshold   = var.free_storage_threshold_bytes
        description = "kx-events database has less than ${var.free_storage_threshold_bytes} bytes of free storage (autoscaling up to max_allocated_storage may be exhausted)."
      }
    },
    var.connections_threshold == null ? {} : {
      connections = {
        metric      = "DatabaseConnections"
        comparison  = "GreaterThanThreshold"
        threshold   = var.connections_threshold
        description = "kx-events database holds more than ${coalesce(var.connections_threshold, 0)} connections: close to max_connections, new consumer sandboxes will fail to connect (53300)."
      }
    },
  ) : {}
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.db_alarms

  alarm_name          = "${var.identifier}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  statistic           = each.key == "free_storage" ? "Minimum" : "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}
