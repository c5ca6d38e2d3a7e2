# One dashboard for kx-events: the consumer's own metrics (Embedded Metric Format records in its
# log), the queues, the function and the database.

data "aws_region" "current" {}

locals {
  ns     = var.metrics_namespace
  fn     = var.function_name
  region = data.aws_region.current.name

  metric_widget = {
    type   = "metric"
    width  = 12
    height = 6
  }

  consumer_widgets = [
    merge(local.metric_widget, {
      properties = {
        title  = "Events (per ${var.period} s)"
        region = local.region
        stat   = "Sum"
        period = var.period
        view   = "timeSeries"
        metrics = [
          [local.ns, "EventsReceived", "FunctionName", local.fn],
          [local.ns, "EventsStored", "FunctionName", local.fn],
          [local.ns, "Duplicates", "FunctionName", local.fn],
          [local.ns, "Published", "FunctionName", local.fn],
          [local.ns, "DeadLettered", "FunctionName", local.fn],
          [local.ns, "PublishFailed", "FunctionName", local.fn],
        ]
      }
    }),
    merge(local.metric_widget, {
      properties = {
        title  = "Latency (ms, p50 / p99)"
        region = local.region
        period = var.period
        view   = "timeSeries"
        metrics = [
          [local.ns, "StoreLatency", "FunctionName", local.fn, { stat = "p50", label = "store p50" }],
          [local.ns, "StoreLatency", "FunctionName", local.fn, { stat = "p99", label = "store p99" }],
          [local.ns, "PublishLatency", "FunctionName", local.fn, { stat = "p99", label = "PutEvents p99" }],
          [local.ns, "EndToEndLatency", "FunctionName", local.fn, { stat = "p50", label = "occurredAt to bus p50" }],
          [local.ns, "EndToEndLatency", "FunctionName", local.fn, { stat = "p99", label = "occurredAt to bus p99" }],
        ]
      }
    }),
    merge(local.metric_widget, {
      properties = {
        title  = "Outbox backlog (stored, not on the bus after the sweep age)"
        region = local.region
        stat   = "Maximum"
        period = var.period
        view   = "timeSeries"
        metrics = [
          [local.ns, "OutboxBacklog", "FunctionName", local.fn],
        ]
      }
    }),
    merge(local.metric_widget, {
      properties = {
        title  = "Queues: depth and oldest message age"
        region = local.region
        period = var.period
        view   = "timeSeries"
        metrics = [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queue_name, { stat = "Maximum", label = "events queue depth" }],
          ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.queue_name, { stat = "Maximum", label = "oldest message age (s)", yAxis = "right" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dead_letter_queue_name, { stat = "Maximum", label = "DLQ depth" }],
        ]
      }
    }),
    merge(local.metric_widget, {
      properties = {
        title  = "Consumer function"
        region = local.region
        period = var.period
        view   = "timeSeries"
        metrics = [
          ["AWS/Lambda", "Errors", "FunctionName", local.fn, { stat = "Sum" }],
          ["AWS/Lambda", "Throttles", "FunctionName", local.fn, { stat = "Sum" }],
          ["AWS/Lambda", "Duration", "FunctionName", local.fn, { stat = "p99", label = "Duration p99 (ms)", yAxis = "right" }],
          ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", local.fn, { stat = "Maximum" }],
        ]
      }
    }),
  ]

  database_widgets = var.db_instance_identifier == null ? [] : [
    merge(local.metric_widget, {
      properties = {
        title  = "Database"
        region = local.region
        period = var.period
        view   = "timeSeries"
        metrics = [
          ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", var.db_instance_identifier, { stat = "Average", label = "CPU %" }],
          ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", var.db_instance_identifier, { stat = "Maximum", label = "connections" }],
          ["AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", var.db_instance_identifier, { stat = "Minimum", label = "free storage (bytes)", yAxis = "right" }],
        ]
      }
    }),
  ]

  widgets = concat(local.consumer_widgets, local.database_widgets)
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.dashboard_name
  # Two columns, in order.
  dashboard_body = jsonencode({
    widgets = [
      for i, w in local.widgets : merge(w, { x = (i % 2) * 12, y = floor(i / 2) * 6 })
    ]
  })
}
