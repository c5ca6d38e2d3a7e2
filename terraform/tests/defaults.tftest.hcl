# The root module with nothing but a package path: the CDK stack's names and defaults, the consumer's
# environment contract, IAM and the producer outputs. Resources inside the child modules are
# asserted in modules.tftest.hcl (terraform test sees only outputs of child modules).

mock_provider "aws" {
  source = "./tests/mocks"
}
variables {
  consumer_package_path = "tests/fixtures/package.placeholder"
}

run "cdk_stack_names" {
  command = apply

  assert {
    condition     = output.db_instance_identifier == "events-tracking-db"
    error_message = "Database must be named <prefix>-db."
  }
  assert {
    condition     = output.queue_name == "events-tracking-events-queue" && output.dead_letter_queue_name == "events-tracking-events-dlq"
    error_message = "Queues must be named <prefix>-events-queue and <prefix>-events-dlq."
  }
  assert {
    condition     = output.consumer_function_name == "events-tracking-events-consumer"
    error_message = "Consumer must be named <prefix>-events-consumer."
  }
  assert {
    condition     = output.event_bus_name == "events-tracking-events-bus"
    error_message = "Bus must be named <prefix>-events-bus."
  }
  assert {
    condition     = output.ssm_parameter_names == { arn = "/eventbridge/services/kx-event-tracking/arn", info = "/eventbridge/services/kx-event-tracking/info" }
    error_message = "Discovery parameters must be /eventbridge/services/<service>/arn and /info."
  }
}

run "custom_names" {
  command = apply

  variables {
    name_prefix            = "myapp-prod"
    db_instance_identifier = "myapp-events-db"
    queue_name             = "myapp-queue"
    consumer_function_name = "myapp-consumer"
    service_name           = "my-service"
  }

  assert {
    condition     = output.db_instance_identifier == "myapp-events-db" && output.queue_name == "myapp-queue" && output.dead_letter_queue_name == "myapp-prod-events-dlq"
    error_message = "Overrides win; the rest follows the prefix."
  }
  assert {
    condition     = output.consumer_function_name == "myapp-consumer" && output.event_bus_name == "myapp-prod-events-bus"
    error_message = "Function override and prefixed bus name expected."
  }
  assert {
    condition     = output.ssm_parameter_names.arn == "/eventbridge/services/my-service/arn"
    error_message = "service_name must drive the discovery path."
  }
}

run "defaults" {
  command = apply

  assert {
    condition     = length(output.private_subnet_ids) == 2 && length(output.public_subnet_ids) == 2 && output.vpc_id != null
    error_message = "A VPC with two private and two public subnets expected."
  }
  assert {
    condition     = output.db_secret_arn == "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-mock-AbCdEf"
    error_message = "db_secret_arn must be the RDS-managed master secret."
  }
  assert {
    condition     = output.db_instance_endpoint == "mock-db.abcdefghijkl.us-east-1.rds.amazonaws.com" && output.db_instance_port == 5432 && output.db_instance_name == "events"
    error_message = "db_instance_endpoint is the host name, db_instance_port the port."
  }
  assert {
    condition     = output.db_security_group_id == "sg-0123456789abcdef0" && output.consumer_security_group_id == "sg-0123456789abcdef0"
    error_message = "Both security groups must be reported."
  }
  assert {
    condition     = output.consumer_batch_size == 100 && output.consumer_maximum_batching_window_in_seconds == 1
    error_message = "Batch size 100 with a 1 s window by default."
  }
  assert {
    condition = output.consumer_environment == {
      DB_SECRET_ARN         = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kx-events-consumer-db-mock-AbCdEf"
      DB_HOST               = "mock-db.abcdefghijkl.us-east-1.rds.amazonaws.com"
      DB_PORT               = "5432"
      DB_NAME               = "events"
      DB_SSLMODE            = "verify-full"
      EVENT_BUS_NAME        = "events-tracking-events-bus"
      EVENT_SOURCE          = "kx-event-tracking"
      DEAD_LETTER_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/mock-queue"
      MAX_RECEIVE_COUNT     = "3"
      KX_METRICS_NAMESPACE  = "kx-events"
      KX_MIGRATE            = "off"
      EVENTS_QUEUE_URL      = "https://sqs.us-east-1.amazonaws.com/123456789012/mock-queue"
    }
    error_message = "The consumer environment must be exactly the contract: the application role's secret, verify-full, KX_MIGRATE=off, the queue for requeueing during a database outage (no DB_SSL_ROOT_CERT unless set)."
  }
  assert {
    condition = output.migrate_environment == {
      KX_MODE                = "migrate"
      DB_SECRET_ARN          = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-mock-AbCdEf"
      KX_APP_ROLE_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kx-events-consumer-db-mock-AbCdEf"
      KX_APP_ROLE_NAME       = "kx_events_consumer"
      DB_HOST                = "mock-db.abcdefghijkl.us-east-1.rds.amazonaws.com"
      DB_PORT                = "5432"
      DB_NAME                = "events"
      DB_SSLMODE             = "verify-full"
    }
    error_message = "The migrate function runs the same package with KX_MODE=migrate, the master secret and the application role's secret and name."
  }
  assert {
    condition     = output.consumer_db_secret_arn == output.db_app_role_secret_arn && output.db_secret_arn != output.consumer_db_secret_arn
    error_message = "The consumer logs in with the application role's secret, not the master's."
  }
  assert {
    condition     = output.migrate_result == { applied = ["0001_events"], alreadyApplied = [], roles = ["kx_events_consumer"] }
    error_message = "The migrate invocation runs at apply by default and its result is an output."
  }
  assert {
    condition = output.producer_environment == {
      EVENTS_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/mock-queue"
      EVENT_BUS_NAME   = "events-tracking-events-bus"
      EVENT_SOURCE     = "kx-event-tracking"
    }
    error_message = "producer_environment must be EVENTS_QUEUE_URL, EVENT_BUS_NAME, EVENT_SOURCE."
  }
  assert {
    condition = jsondecode(output.producer_policy_json).Statement == [
      { Sid = "EnqueueTrackedEvents", Effect = "Allow", Action = ["sqs:SendMessage"], Resource = ["arn:aws:sqs:us-east-1:123456789012:mock-queue"] },
      { Sid = "PutEventsRealTime", Effect = "Allow", Action = ["events:PutEvents"], Resource = ["arn:aws:events:us-east-1:123456789012:event-bus/mock-bus"], Condition = { StringEquals = { "events:source" = ["kx-event-tracking"] } } },
    ]
    error_message = "producer_policy_json must allow sqs:SendMessage on the queue and events:PutEvents on the bus for the kx-events source only, nothing else."
  }
  assert {
    condition     = alltrue([for v in [output.vpc_id, output.db_instance_endpoint, output.db_secret_arn, output.db_security_group_id, output.queue_url, output.queue_arn, output.dead_letter_queue_url, output.dead_letter_queue_arn, output.event_bus_arn, output.event_bus_name, output.consumer_function_arn] : v != null && v != ""])
    error_message = "Every export of the CDK stack must have a value."
  }
  assert {
    condition     = output.consumer_sweep_rule_arn == "arn:aws:events:us-east-1:123456789012:rule/mock-bus/mock-rule"
    error_message = "The outbox sweep is scheduled by default."
  }
  assert {
    condition     = output.dashboard_name == "events-tracking-events" && length(module.dashboard) == 1 && module.dashboard[0].widget_titles == ["Events (per 300 s)", "Latency (ms, p50 / p99)", "Outbox backlog (stored, not on the bus after the sweep age)", "Queues: depth and oldest message age", "Consumer function", "Database"]
    error_message = "A dashboard with the consumer's metrics, the queues, the function and the database by default."
  }
  assert {
    condition     = output.alarm_arns.consumer_outbox_backlog != null && output.alarm_arns.consumer_publish_failed != null && output.consumer_metrics_namespace == "kx-events"
    error_message = "Alarms on OutboxBacklog and PublishFailed by default."
  }
}

run "tracing_off_and_no_dashboard" {
  command = plan

  variables {
    xray_tracing_enabled       = false
    create_dashboard           = false
    consumer_metrics_namespace = "off"
  }

  assert {
    condition     = module.consumer.tracing_mode == "PassThrough" && output.dashboard_name == null && length(module.dashboard) == 0
    error_message = "xray_tracing_enabled = false turns active tracing off; create_dashboard = false creates none."
  }
  assert {
    condition     = module.consumer.environment.KX_METRICS_NAMESPACE == "off"
    error_message = "consumer_metrics_namespace reaches the function."
  }
}

run "consumer_iam_least_privilege" {
  command = apply

  assert {
    condition     = alltrue(flatten([for s in jsondecode(output.consumer_policy_json).Statement : [for a in s.Action : a != "*" && !endswith(a, ":*")]]))
    error_message = "No wildcard action in the consumer policy."
  }
  assert {
    condition     = alltrue(flatten([for s in jsondecode(output.consumer_policy_json).Statement : [for r in s.Resource : startswith(r, "arn:aws:")]]))
    error_message = "Every resource of the consumer policy must be an ARN."
  }
  assert {
    condition = { for s in jsondecode(output.consumer_policy_json).Statement : s.Sid => { actions = s.Action, resources = s.Resource } } == {
      ConsumeEventsQueue    = { actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], resources = ["arn:aws:sqs:us-east-1:123456789012:mock-queue"] }
      SendToDeadLetterQueue = { actions = ["sqs:SendMessage"], resources = ["arn:aws:sqs:us-east-1:123456789012:mock-queue"] }
      # The events queue itself: a valid record on its last receive during a database outage.
      RequeueDuringDatabaseOutage = { actions = ["sqs:SendMessage"], resources = ["arn:aws:sqs:us-east-1:123456789012:mock-queue"] }
      PutEventsOnBus              = { actions = ["events:PutEvents"], resources = ["arn:aws:events:us-east-1:123456789012:event-bus/mock-bus"] }
      ReadDatabaseSecret          = { actions = ["secretsmanager:GetSecretValue"], resources = ["arn:aws:secretsmanager:us-east-1:123456789012:secret:kx-events-consumer-db-mock-AbCdEf"] }
      WriteOwnLogs                = { actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/mock-function:*"] }
    }
    error_message = "The consumer policy must hold exactly the six least-privilege statements (the application role's secret, not the master's)."
  }
  assert {
    condition     = [for s in jsondecode(output.consumer_policy_json).Statement : s.Condition if s.Sid == "PutEventsOnBus"][0] == { StringEquals = { "events:source" = ["kx-event-tracking"] } }
    error_message = "The consumer may put only entries with the kx-events source (events:source condition)."
  }
  assert {
    condition     = alltrue([for s in jsondecode(output.producer_policy_json).Statement : alltrue([for a in s.Action : a != "*" && !endswith(a, ":*")]) && alltrue([for r in s.Resource : startswith(r, "arn:aws:")])])
    error_message = "The producer policy must name actions and ARNs, no wildcards."
  }
}

run "customer_managed_keys" {
  command = apply

  variables {
    queue_kms_master_key_id          = "arn:aws:kms:us-east-1:123456789012:key/11111111-1111-1111-1111-111111111111"
    db_master_user_secret_kms_key_id = "arn:aws:kms:us-east-1:123456789012:key/22222222-2222-2222-2222-222222222222"
  }

  assert {
    condition     = [for s in jsondecode(output.consumer_policy_json).Statement : s.Resource if s.Sid == "UseCustomerManagedKeys"][0] == [var.queue_kms_master_key_id, var.db_master_user_secret_kms_key_id]
    error_message = "The consumer must be granted the queue's key and the key of its secret (the application role's secret uses the master secret's key)."
  }
  assert {
    condition     = [for s in jsondecode(output.producer_policy_json).Statement : s.Resource if s.Sid == "EncryptForQueue"][0] == [var.queue_kms_master_key_id]
    error_message = "Producers must be granted the queue's key."
  }
}

run "existing_database" {
  command = apply

  variables {
    db_sslmode           = "verify-full"
    create_database      = false
    db_host              = "aurora.cluster-abc.us-east-1.rds.amazonaws.com"
    db_port              = 5433
    db_name              = "tracking"
    db_secret_arn        = "arn:aws:secretsmanager:us-east-1:123456789012:secret:aurora-creds-XyZ123"
    db_security_group_id = "sg-0aaaaaaaaaaaaaaaa"
    db_ssl_root_cert     = "/var/task/rds-ca.pem"
  }

  assert {
    condition     = output.db_instance_identifier == null && output.db_instance_endpoint == var.db_host && output.db_instance_port == 5433
    error_message = "No RDS instance; the given host and port are reported."
  }
  assert {
    condition     = output.db_secret_arn == var.db_secret_arn && output.db_security_group_id == "sg-0aaaaaaaaaaaaaaaa"
    error_message = "The given secret and security group are reported."
  }
  assert {
    condition     = output.consumer_environment.DB_HOST == var.db_host && output.consumer_environment.DB_PORT == "5433" && output.consumer_environment.DB_NAME == "tracking" && output.consumer_environment.DB_SSLMODE == "verify-full" && output.consumer_environment.DB_SSL_ROOT_CERT == "/var/task/rds-ca.pem"
    error_message = "The consumer must be pointed at the existing database."
  }
  assert {
    condition     = [for s in jsondecode(output.consumer_policy_json).Statement : s.Resource if s.Sid == "ReadDatabaseSecret"][0] == [var.db_secret_arn]
    error_message = "The consumer may read the given secret only."
  }
  assert {
    condition     = output.migrate_function_name == null && output.db_app_role_secret_arn == null && !contains(keys(output.consumer_environment), "KX_MIGRATE") && output.consumer_environment.DB_SECRET_ARN == var.db_secret_arn
    error_message = "An existing database with its secret: no application role, the consumer keeps KX_MIGRATE's default (auto)."
  }
}

run "no_vpc" {
  command = apply

  variables {
    create_vpc      = false
    create_database = false
    db_host         = "127.0.0.1"
    db_secret_arn   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:local-AbCdEf"
  }

  assert {
    condition     = output.vpc_id == null && output.consumer_security_group_id == null && length(output.private_subnet_ids) == 0
    error_message = "Without a VPC nothing network-related is created."
  }
}

run "sweep_disabled" {
  command = apply

  variables { consumer_sweep_schedule_expression = null }

  assert {
    condition     = output.consumer_sweep_rule_arn == null
    error_message = "A null consumer_sweep_schedule_expression creates no schedule."
  }
}
