# The real AWS provider's own validation of every name the module derives, at its longest: each
# input at the maximum its validation allows, every optional resource on. Planned offline by
# scripts/terraform-checks.sh plan-offline (fake credentials from the environment, no API call);
# never applied.

provider "aws" {
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

module "kx_events" {
  source = "../../../"

  name_prefix            = "kx-max-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaz"
  db_instance_identifier = "dbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbx"
  consumer_function_name = "fnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnx"
  event_bus_name         = "buuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuus"
  queue_name             = "quuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuue"
  dead_letter_queue_name = "dllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllq"
  service_name           = "svvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvc"
  consumer_package_path  = "${path.module}/../../fixtures/package.placeholder"
  vpc_azs                = ["us-east-1a", "us-east-1b"]

  vpc_single_nat_gateway          = false
  vpc_create_endpoints            = true
  vpc_endpoint_services           = ["secretsmanager", "sqs", "events", "ssm", "xray"]
  db_monitoring_interval          = 60
  db_performance_insights_enabled = true
  db_multi_az                     = true
  db_backup_window                = "03:00-03:30"
  db_maintenance_window           = "sun:05:00-sun:06:00"
  db_instance_class               = "db.r6g.2xlarge"
  db_final_snapshot_identifier    = "snnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnp"

  event_bus_archive_enabled       = true
  event_bus_archive_event_pattern = jsonencode({ "detail-type" = [{ prefix = "order." }] })
  ssm_parameter_tier              = "Advanced"
  bus_subscriber_account_ids      = ["210987654321"]
  bus_subscriber_organization_id  = "o-a1b2c3d4e5"

  queue_kms_master_key_id          = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
  db_master_user_secret_kms_key_id = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
  queue_policy_statements = [{
    sid                   = "ProducersInOtherAccount"
    principal_type        = "AWS"
    principal_identifiers = ["arn:aws:iam::210987654321:root"]
    actions               = ["sqs:SendMessage"]
  }]

  consumer_reserved_concurrent_executions = 40
  alarm_sns_topic_arn                     = "arn:aws:sns:us-east-1:123456789012:alarms"
}

module "subscription" {
  source = "../../../modules/subscription"

  event_bus_name      = "arn:aws:events:us-east-1:123456789012:event-bus/buuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuus"
  rule_name           = "ruuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuue"
  target_type         = "lambda"
  target_arn          = "arn:aws:lambda:us-east-1:210987654321:function:fnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnx"
  alarm_sns_topic_arn = "arn:aws:sns:us-east-1:123456789012:alarms"
}
