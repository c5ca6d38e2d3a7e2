# The consumer's and the migrate function's Lambda, role, policies and log group are made by
# modules/function (module.function, module.migrate); these blocks carry the state of a deployment
# made before that move to the new addresses, so that the upgrade changes nothing in AWS.

moved {
  from = aws_cloudwatch_log_group.this
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

moved {
  from = aws_cloudwatch_log_group.migrate[0]
  to   = module.migrate[0].aws_cloudwatch_log_group.this
}

moved {
  from = aws_iam_role.migrate[0]
  to   = module.migrate[0].aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.migrate[0]
  to   = module.migrate[0].aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy.migrate_vpc_access[0]
  to   = module.migrate[0].aws_iam_role_policy.vpc_access[0]
}

moved {
  from = aws_lambda_function.migrate[0]
  to   = module.migrate[0].aws_lambda_function.this
}
