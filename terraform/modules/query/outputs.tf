output "api_url" {
  description = "Base URL of the query API (the $default stage), e.g. https://<id>.execute-api.<region>.amazonaws.com/."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "api_execution_arn" {
  description = "Execution ARN of the HTTP API (prefix of the execute-api:Invoke resources)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "function_arn" {
  description = "ARN of the query API function."
  value       = module.function.function_arn
}

output "function_name" {
  description = "Name of the query API function."
  value       = module.function.function_name
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = module.function.role_arn
}

output "security_group_id" {
  description = "The function's security group (null outside a VPC)."
  value       = try(aws_security_group.this[0].id, null)
}

output "environment" {
  description = "The function's environment variables."
  value       = local.environment
}

output "policy_json" {
  description = "The function role's inline policy."
  value       = local.policy_json
}

output "route_keys" {
  description = "The API's routes (METHOD /path)."
  value       = sort(keys(local.routes))
}

output "read_invoke_policy_json" {
  description = "An IAM policy allowing the read routes (attach it to readers' roles; IAM authorization)."
  value       = local.read_invoke_policy_json
}

output "produce_invoke_policy_json" {
  description = "An IAM policy allowing POST /events, null when it is off."
  value       = local.produce_invoke_policy_json
}

output "erasure_invoke_policy_json" {
  description = "An IAM policy allowing DELETE /events (the erasure permission), null when it is off."
  value       = local.erasure_invoke_policy_json
}
