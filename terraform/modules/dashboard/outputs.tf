output "dashboard_name" {
  description = "Name of the dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_arn" {
  description = "ARN of the dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_arn
}

output "widget_titles" {
  description = "Titles of the dashboard's widgets, in order."
  value       = [for w in local.widgets : w.properties.title]
}
