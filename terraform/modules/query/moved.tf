# The query API function, its role, policies and log group are made by modules/function
# (module.function); these blocks carry the state of a deployment made before that move to the new
# addresses, so that the upgrade changes nothing in AWS.

moved {
  from = aws_cloudwatch_log_group.function
  to   = module.function.aws_cloudwatch_log_group.this
}

moved {
  from = aws_iam_role.this
  to   = module.function.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.this
  to   = module.function.aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy.vpc_access
  to   = module.function.aws_iam_role_policy.vpc_access
}

moved {
  from = aws_iam_role_policy_attachment.xray
  to   = module.function.aws_iam_role_policy_attachment.xray
}

moved {
  from = aws_lambda_function.this
  to   = module.function.aws_lambda_function.this
}
