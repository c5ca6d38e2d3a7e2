output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "Invoke ARN of the function (API Gateway integrations)."
  value       = aws_lambda_function.this.invoke_arn
}

output "function" {
  description = "The aws_lambda_function resource, for the callers' tests (runtime, environment, VPC and tracing configuration)."
  value       = aws_lambda_function.this
}

output "tracing_mode" {
  description = "X-Ray tracing mode of the function (Active or PassThrough), null when tracing_mode was null."
  value       = try(aws_lambda_function.this.tracing_config[0].mode, null)
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "role_policy_json" {
  description = "The execution role's inline policy, as applied."
  value       = aws_iam_role_policy.this.policy
}

output "vpc_access_policy_json" {
  description = "The ENI policy of a function in a VPC, null outside one."
  value       = try(aws_iam_role_policy.vpc_access[0].policy, null)
}

output "xray_policy_arn" {
  description = "The managed policy attached for X-Ray (AWSXRayDaemonWriteAccess), null without active tracing."
  value       = try(aws_iam_role_policy_attachment.xray[0].policy_arn, null)
}

output "log_group_name" {
  description = "Name of the function's log group (/aws/lambda/<function_name>)."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "ARN of the function's log group."
  value       = aws_cloudwatch_log_group.this.arn
}

output "log_group_retention_in_days" {
  description = "Retention of the function's log group."
  value       = aws_cloudwatch_log_group.this.retention_in_days
}
