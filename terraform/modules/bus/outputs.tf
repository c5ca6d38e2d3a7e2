output "event_bus_name" {
  description = "Name of the custom event bus (EVENT_BUS_NAME)."
  value       = aws_cloudwatch_event_bus.this.name
}

output "event_bus_arn" {
  description = "ARN of the custom event bus."
  value       = aws_cloudwatch_event_bus.this.arn
}

output "event_source" {
  description = "Source of the entries the consumer puts on the bus."
  value       = var.event_source
}

output "archive_arn" {
  description = "ARN of the archive, null without one."
  value       = try(aws_cloudwatch_event_archive.this[0].arn, null)
}

output "ssm_parameter_arns" {
  description = "ARNs of the discovery parameters: arn and info (null when not created). Known only after apply: a subscription in the same configuration that looks the bus up by this ARN waits for the parameter."
  value = {
    arn  = try(aws_ssm_parameter.arn[0].arn, null)
    info = try(aws_ssm_parameter.info[0].arn, null)
  }
}

output "ssm_parameter_names" {
  description = "Names of the discovery parameters: arn and info (null when not created)."
  value = {
    arn  = try(aws_ssm_parameter.arn[0].name, null)
    info = try(aws_ssm_parameter.info[0].name, null)
  }
}

output "event_bus_policy_json" {
  description = "The bus policy that lets subscriber accounts manage their own rules on the bus, null without subscribers."
  value       = try(data.aws_iam_policy_document.bus[0].json, null)
}
