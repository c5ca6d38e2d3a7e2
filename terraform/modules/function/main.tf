# The shape every kx-events Lambda function shares: the consumer, its migrate twin and the query
# API function. Each gets its own log group (created before the function, with a retention), its
# own execution role with one inline policy written by the caller, the six ENI actions of a VPC
# function in a second inline policy, X-Ray's managed policy when traced, and the function itself
# (provided.al2023, handler bootstrap, from a local zip or S3). What differs between them (the
# permissions, the environment, the triggers, the security group) stays with the caller.

data "aws_partition" "current" {}

locals {
  in_vpc         = length(var.subnet_ids) > 0
  use_s3_package = var.s3_bucket != null

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  # Lambda creates, describes and deletes the function's network interfaces with the execution
  # role; AWS requires "*" for DescribeNetworkInterfaces, and the ENIs do not exist beforehand.
  # Only these actions: AWSLambdaVPCAccessExecutionRole would also grant logs:* on "*".
  eni_policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "ManageFunctionNetworkInterfaces"
      Effect = "Allow"
      Action = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      Resource = ["*"]
    }]
  })
}

resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_338:Retention is an input (log_retention_in_days, default 30 days as in most Lambda stacks); a regime that needs a year sets 365.
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_id

  tags = var.tags
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  permissions_boundary = var.role_permissions_boundary
  assume_role_policy   = local.assume_role_policy

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name   = var.policy_name
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

resource "aws_iam_role_policy" "vpc_access" {
  #checkov:skip=CKV_AWS_290:Lambda manages the function's ENIs with this role; they do not exist before the function, and AWS documents these actions on "*" (DescribeNetworkInterfaces works only there). Nothing but the six ENI actions is granted.
  #checkov:skip=CKV_AWS_355:Same ENI actions as AWSLambdaVPCAccessExecutionRole, without its logs:* on "*"; the interfaces' IDs are not known before Lambda creates them.
  count = local.in_vpc ? 1 : 0

  name   = "kx-events-vpc-network-interfaces"
  role   = aws_iam_role.this.id
  policy = local.eni_policy_json
}

# xray:PutTraceSegments & co. support no resource-level permissions.
resource "aws_iam_role_policy_attachment" "xray" {
  count = var.tracing_mode == "Active" ? 1 : 0

  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Every kx-events function reports failures where they are handled: the consumer's records go to the events queue's own dead-letter queue (maxReceiveCount), which a function DLQ would not see; the query API and the migrate function are invoked synchronously (API Gateway, terraform apply) and return their errors to the caller.
  #checkov:skip=CKV_AWS_115:Concurrency is an input (reserved_concurrent_executions): the consumer's is bounded by its mapping's maximum concurrency, the query API's by the API's throttling; the migrate function runs once per apply, and reserving concurrency would take it from the account pool permanently.
  #checkov:skip=CKV_AWS_50:X-Ray is an input (tracing_mode); the migrate function is one short invocation at deploy time whose log and result say what it did.
  function_name = var.function_name
  description   = var.description
  role          = aws_iam_role.this.arn

  filename          = local.use_s3_package ? null : var.package_path
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  source_code_hash  = var.source_code_hash
  runtime           = "provided.al2023"
  handler           = "bootstrap"
  architectures     = [var.architecture]

  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn
  code_signing_config_arn        = var.code_signing_config_arn

  environment {
    variables = var.environment_variables
  }

  dynamic "tracing_config" {
    for_each = var.tracing_mode == null ? [] : [var.tracing_mode]
    content {
      mode = tracing_config.value
    }
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  tags = merge({ Name = var.function_name }, var.tags)

  # The log group (with its retention) and the permissions must exist before the first
  # invocation; create_after is what the caller's function must also wait for.
  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
    aws_iam_role_policy.vpc_access,
    var.create_after,
  ]
}
