# Bad inputs fail at plan time with a clear message, not late inside AWS.

mock_provider "aws" {
  source = "./tests/mocks"
}
variables {
  consumer_package_path = "tests/fixtures/package.placeholder"
}

run "batch_size_zero" {
  command = plan
  variables { consumer_batch_size = 0 }
  expect_failures = [var.consumer_batch_size]
}

run "batch_size_too_big" {
  command = plan
  variables { consumer_batch_size = 10001 }
  expect_failures = [var.consumer_batch_size]
}

run "batch_above_10_needs_window" {
  command = plan
  variables {
    consumer_batch_size                         = 100
    consumer_maximum_batching_window_in_seconds = 0
  }
  expect_failures = [var.consumer_maximum_batching_window_in_seconds]
}

run "batch_of_10_without_window_is_fine" {
  command = plan
  variables {
    consumer_batch_size                         = 10
    consumer_maximum_batching_window_in_seconds = 0
  }
}

run "window_too_long" {
  command = plan
  variables { consumer_maximum_batching_window_in_seconds = 301 }
  expect_failures = [var.consumer_maximum_batching_window_in_seconds]
}

run "timeout_above_visibility" {
  command = plan
  variables {
    consumer_timeout                 = 400
    queue_visibility_timeout_seconds = 300
  }
  expect_failures = [var.consumer_timeout]
}

run "max_receive_count_zero" {
  command = plan
  variables { queue_max_receive_count = 0 }
  expect_failures = [var.queue_max_receive_count]
}

run "max_receive_count_too_big" {
  command = plan
  variables { queue_max_receive_count = 1001 }
  expect_failures = [var.queue_max_receive_count]
}

run "log_retention_not_allowed" {
  command = plan
  variables { consumer_log_retention_in_days = 10 }
  expect_failures = [var.consumer_log_retention_in_days]
}

run "sslmode_unknown" {
  command = plan
  variables { db_sslmode = "prefer" }
  expect_failures = [var.db_sslmode]
}

run "name_prefix_uppercase" {
  command = plan
  variables { name_prefix = "Events_Tracking" }
  expect_failures = [var.name_prefix]
}

run "name_prefix_too_long" {
  command = plan
  variables { name_prefix = "a23456789012345678901234567890123456789012" }
  expect_failures = [var.name_prefix]
}

run "queue_name_fifo" {
  command = plan
  variables { queue_name = "events.fifo" }
  expect_failures = [var.queue_name]
}

run "function_name_too_long" {
  command = plan
  variables { consumer_function_name = "f234567890123456789012345678901234567890123456789012345678901234x" }
  expect_failures = [var.consumer_function_name]
}

run "bus_name_default" {
  command = plan
  variables { event_bus_name = "default" }
  expect_failures = [var.event_bus_name]
}

run "bus_name_bad_chars" {
  command = plan
  variables { event_bus_name = "my bus" }
  expect_failures = [var.event_bus_name]
}

run "event_source_reserved" {
  command = plan
  variables { event_source = "aws.events" }
  expect_failures = [var.event_source]
}

run "maximum_concurrency_one" {
  command = plan
  variables { consumer_maximum_concurrency = 1 }
  expect_failures = [var.consumer_maximum_concurrency]
}

run "architecture_unknown" {
  command = plan
  variables { consumer_architecture = "armhf" }
  expect_failures = [var.consumer_architecture]
}

run "engine_not_16" {
  command = plan
  variables { db_engine_version = "15.4" }
  expect_failures = [var.db_engine_version]
}

run "monitoring_interval_odd" {
  command = plan
  variables { db_monitoring_interval = 7 }
  expect_failures = [var.db_monitoring_interval]
}

run "existing_database_needs_host_and_secret" {
  command = plan
  variables { create_database = false }
  expect_failures = [var.db_host, var.db_secret_arn]
}

run "database_needs_subnets" {
  command = plan
  variables {
    create_vpc         = false
    vpc_id             = "vpc-0123456789abcdef0"
    private_subnet_ids = ["subnet-0123456789abcdef0"]
  }
  expect_failures = [var.create_database]
}

run "alarm_topic_not_an_arn" {
  command = plan
  variables { alarm_sns_topic_arn = "my-topic" }
  expect_failures = [var.alarm_sns_topic_arn]
}

run "sweep_schedule_not_a_schedule" {
  command = plan
  variables { consumer_sweep_schedule_expression = "every 5 minutes" }
  expect_failures = [var.consumer_sweep_schedule_expression]
}

run "sweep_schedule_unclosed" {
  command = plan
  variables { consumer_sweep_schedule_expression = "rate(5 minutes" }
  expect_failures = [var.consumer_sweep_schedule_expression]
}

# Rules the root module holds for its building blocks (modules/network, modules/queue,
# modules/database), which no longer repeat them.
run "vpc_id_not_a_vpc_id" {
  command = plan
  variables {
    create_vpc         = false
    vpc_id             = "my-vpc"
    private_subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  }
  expect_failures = [var.vpc_id]
}

run "private_subnet_ids_not_subnet_ids" {
  command = plan
  variables {
    create_vpc         = false
    vpc_id             = "vpc-0123456789abcdef0"
    private_subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa", "10.0.1.0/24"]
  }
  expect_failures = [var.private_subnet_ids]
}

run "vpc_endpoint_service_not_a_name" {
  command = plan
  variables {
    vpc_create_endpoints  = true
    vpc_endpoint_services = ["com.amazonaws.us-east-1.sqs", "Secrets Manager"]
  }
  expect_failures = [var.vpc_endpoint_services]
}

run "queue_policy_statement_not_sqs" {
  command = plan
  variables {
    queue_policy_statements = [{
      sid                   = "AllowTopic"
      principal_type        = "Service"
      principal_identifiers = ["sns.amazonaws.com"]
      actions               = ["sns:Publish"]
    }]
  }
  expect_failures = [var.queue_policy_statements]
}

run "queue_policy_statements_ignored_without_the_queue" {
  command = plan
  variables {
    create_queue          = false
    queue_arn             = "arn:aws:sqs:us-east-1:123456789012:q"
    queue_url             = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
    dead_letter_queue_arn = "arn:aws:sqs:us-east-1:123456789012:dlq"
    dead_letter_queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
    queue_policy_statements = [{
      sid                   = "Not checked"
      principal_type        = "Service"
      principal_identifiers = ["sns.amazonaws.com"]
      actions               = ["sns:Publish"]
    }]
  }
}

run "instance_class_with_hyphen_refused_for_the_created_instance" {
  command = plan
  variables { db_instance_class = "db.t4g-x.micro" }
  expect_failures = [var.db_instance_class]
}

run "instance_class_with_hyphen_accepted_for_an_existing_database" {
  command = plan
  variables {
    create_database    = false
    db_host            = "db.example"
    db_secret_arn      = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf"
    db_instance_class  = "db.t4g-x.micro"
    db_max_connections = 100
  }
}
