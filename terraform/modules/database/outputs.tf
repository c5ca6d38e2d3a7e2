output "db_instance_identifier" {
  description = "RDS instance identifier."
  value       = aws_db_instance.this.identifier
}

output "db_instance_arn" {
  description = "ARN of the RDS instance."
  value       = aws_db_instance.this.arn
}

output "db_instance_endpoint" {
  description = "Host name of the instance (without the port, as the CDK stack's DbEndpoint export); use with db_instance_port."
  value       = aws_db_instance.this.address
}

output "db_instance_port" {
  description = "Port of the instance."
  value       = aws_db_instance.this.port
}

output "db_instance_name" {
  description = "Name of the PostgreSQL database."
  value       = aws_db_instance.this.db_name
}

output "db_instance_master_user_secret_arn" {
  description = "ARN of the RDS-managed Secrets Manager secret holding the master username and password."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "db_subnet_group_name" {
  description = "Name of the DB subnet group."
  value       = aws_db_subnet_group.this.name
}

output "db_parameter_group_name" {
  description = "Name of the DB parameter group."
  value       = aws_db_parameter_group.this.name
}

output "db_instance_resource_id" {
  description = "Resource ID of the instance (db-...), for IAM database authentication policies (rds-db:connect)."
  value       = aws_db_instance.this.resource_id
}

output "db_instance_master_user_secret_kms_key_id" {
  description = "KMS key of the RDS-managed master secret."
  value       = aws_db_instance.this.master_user_secret[0].kms_key_id
}

output "db_instance_class" {
  description = "Instance class of the instance."
  value       = aws_db_instance.this.instance_class
}

output "cloudwatch_log_group_arns" {
  description = "ARNs of the exported PostgreSQL log groups, by log name (postgresql, upgrade, ...)."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.arn }
}

output "monitoring_role_arn" {
  description = "ARN of the enhanced monitoring role, null without one."
  value       = try(aws_iam_role.monitoring[0].arn, null)
}

output "alarm_arns" {
  description = "ARNs of the database alarms by name (cpu, free_storage, connections)."
  value       = { for k, a in aws_cloudwatch_metric_alarm.this : k => a.arn }
}
