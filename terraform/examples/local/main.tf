# kx-events against a moto server on this machine, for make demo and the end-to-end tests.
#
# What differs from a deployment to AWS, and why:
# - every service goes to var.aws_endpoint_url (moto); credentials come from the environment
#   (AWS_ACCESS_KEY_ID=testing ... in .state/env);
# - no VPC and no RDS: the consumer's database is the local PostgreSQL, described by a secret
#   created here (username/password, the shape of an RDS-managed secret);
# - the event source mapping is created disabled: moto cannot run the function and would count
#   every failed try as a receive, moving messages to the DLQ untouched. The local runner plays
#   the mapping's part with module.kx_events.consumer_environment;
# - no redrive-allow policy on the DLQ: moto does not know the RedriveAllowPolicy attribute (the
#   provider would wait for it forever);
# - no migrate invocation (run_migrations_on_apply = false): moto cannot run functions;
# - no X-Ray tracing: it attaches the AWS managed policy AWSXRayDaemonWriteAccess, which moto
#   knows only when started with MOTO_IAM_LOAD_MANAGED_POLICIES=true.

provider "aws" {
  region = var.region

  # The account ID is still requested (moto's STS answers 123456789012): the provider builds
  # some ARNs itself and they must match moto's.
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true

  endpoints {
    cloudwatch     = var.aws_endpoint_url
    cloudwatchlogs = var.aws_endpoint_url
    ec2            = var.aws_endpoint_url
    events         = var.aws_endpoint_url
    iam            = var.aws_endpoint_url
    kms            = var.aws_endpoint_url
    lambda         = var.aws_endpoint_url
    rds            = var.aws_endpoint_url
    secretsmanager = var.aws_endpoint_url
    sns            = var.aws_endpoint_url
    sqs            = var.aws_endpoint_url
    ssm            = var.aws_endpoint_url
    sts            = var.aws_endpoint_url
  }
}

locals {
  tags = {
    Project = "kx-events"
    Example = "local"
  }
}

resource "aws_secretsmanager_secret" "db" {
  #checkov:skip=CKV_AWS_149:Emulator-only secret for the local PostgreSQL; there is no customer KMS key in moto worth managing.
  #checkov:skip=CKV2_AWS_57:Rotation needs a rotation Lambda; the local PostgreSQL's password comes from scripts/services.sh.
  name                    = "${var.name_prefix}-db-credentials"
  description             = "Credentials of the local PostgreSQL for the kx-events consumer"
  recovery_window_in_days = 0

  tags = local.tags
}

resource "aws_secretsmanager_secret_version" "db" {
  secret_id = aws_secretsmanager_secret.db.id
  secret_string = jsonencode({
    username = var.db_username
    password = var.db_password
  })
}

module "kx_events" {
  source = "../../"

  name_prefix           = var.name_prefix
  service_name          = var.service_name
  consumer_package_path = coalesce(var.consumer_package_path, "${path.root}/../../../target/lambda/bootstrap/bootstrap.zip")

  create_vpc      = false
  create_database = false
  db_host         = var.db_host
  db_port         = var.db_port
  db_name         = var.db_name
  db_secret_arn   = aws_secretsmanager_secret.db.arn
  db_sslmode      = var.db_sslmode

  consumer_event_source_mapping_enabled = false
  # moto cannot run functions; the local flow runs `bootstrap migrate` natively instead. An
  # existing database with its secret makes no application role (the consumer keeps KX_MIGRATE's
  # default), so there is no migrate function to invoke anyway.
  run_migrations_on_apply           = false
  consumer_tracing_enabled          = false
  queue_create_redrive_allow_policy = false

  tags = local.tags
}

# A subscriber, found through SSM discovery like another team would, so the demo can read what
# the bus routes.
resource "aws_sqs_queue" "subscriber" {
  name                      = "${var.name_prefix}-subscriber"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 3600

  tags = local.tags
}

module "subscription" {
  source = "../../modules/subscription"

  # Found through SSM discovery like another team would, by the parameter's ARN: known only
  # after apply, so the look-up waits for the parameter, not for the whole module.
  bus_arn_parameter    = module.kx_events.ssm_parameter_arns.arn
  rule_name            = "${var.name_prefix}-all-events"
  event_pattern        = jsonencode({ source = ["kx-event-tracking"] })
  target_type          = "sqs"
  target_arn           = aws_sqs_queue.subscriber.arn
  target_sqs_queue_url = aws_sqs_queue.subscriber.url

  tags = local.tags
}
