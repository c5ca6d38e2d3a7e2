locals {
  in_vpc         = length(var.subnet_ids) > 0
  role_name      = "${substr(var.function_name, 0, 59)}-role"
  api_name       = coalesce(var.api_name, var.function_name)
  access_log     = "/aws/apigateway/${local.api_name}"
  use_s3_package = var.s3_bucket != null
  package_hash   = local.use_s3_package || var.source_code_hash != null ? var.source_code_hash : filebase64sha256(var.package_path)
  post_enabled   = var.post_enabled
  erase_enabled  = var.erasure_enabled
  jwt            = var.authorization_type == "JWT"

  # Exactly the variables the function reads (lambdas/query/src/config.rs).
  environment = merge(
    var.environment_variables,
    {
      DB_SECRET_ARN = var.reader_secret_arn
      DB_HOST       = var.db_host
      DB_PORT       = tostring(var.db_port)
      DB_NAME       = var.db_name
      DB_SSLMODE    = var.db_sslmode
    },
    var.db_ssl_root_cert == null ? {} : { DB_SSL_ROOT_CERT = var.db_ssl_root_cert },
    local.erase_enabled ? { KX_ERASER_SECRET_ARN = var.eraser_secret_arn, KX_ERASURE_SCOPE = var.erasure_scope } : {},
    local.post_enabled ? { EVENTS_QUEUE_URL = var.queue_url } : {},
  )

  # The routes of lambdas/query/openapi.json; POST and DELETE only when enabled. With JWT each
  # route requires its scopes; with IAM each route is its own execute-api:Invoke resource.
  read_routes = [
    "GET /events",
    "GET /events/{eventId}",
    "GET /events/{eventId}/chain",
    "GET /events/chain/{eventId}",
    "GET /events/{eventId}/ancestors",
    "GET /analytics",
    "GET /openapi.json",
  ]
  routes = merge(
    { for r in local.read_routes : r => var.jwt_read_scopes },
    local.post_enabled ? { "POST /events" = var.jwt_produce_scopes } : {},
    local.erase_enabled ? { "DELETE /events" = [var.erasure_scope] } : {},
  )

  policy_statements = concat(
    [
      {
        Sid      = "ReadDatabaseSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = compact([var.reader_secret_arn, var.eraser_secret_arn])
      },
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${module.function.log_group_arn}:*"]
      },
    ],
    local.post_enabled ? [
      {
        Sid      = "SendPostedEvents"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [var.queue_arn]
      },
    ] : [],
    length(var.secret_kms_key_arns) == 0 ? [] : [
      {
        Sid      = "DecryptSecrets"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = var.secret_kms_key_arns
      },
    ],
    local.post_enabled && length(var.queue_kms_key_arns) > 0 ? [
      {
        Sid      = "EncryptForQueue"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = var.queue_kms_key_arns
      },
    ] : [],
  )
  policy_json = jsonencode({ Version = "2012-10-17", Statement = local.policy_statements })


  # What callers need with IAM authorization: execute-api:Invoke on the routes, by stage and path
  # (arn:...:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<path>).
  invoke_arn_prefix = "${aws_apigatewayv2_api.this.execution_arn}/${aws_apigatewayv2_stage.default.name}"
  read_invoke_policy_json = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "ReadKxEvents"
      Effect = "Allow"
      Action = ["execute-api:Invoke"]
      Resource = [
        "${local.invoke_arn_prefix}/GET/events",
        "${local.invoke_arn_prefix}/GET/events/*",
        "${local.invoke_arn_prefix}/GET/analytics",
        "${local.invoke_arn_prefix}/GET/openapi.json",
      ]
    }]
  })
  produce_invoke_policy_json = local.post_enabled ? jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Sid = "PostKxEvents", Effect = "Allow", Action = ["execute-api:Invoke"], Resource = ["${local.invoke_arn_prefix}/POST/events"] }]
  }) : null
  erasure_invoke_policy_json = local.erase_enabled ? jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Sid = "EraseKxEvents", Effect = "Allow", Action = ["execute-api:Invoke"], Resource = ["${local.invoke_arn_prefix}/DELETE/events"] }]
  }) : null
}

################################################################################
# Function
################################################################################

resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:Attached to the query API function in modules/function (its vpc_config), through module.function's security_group_ids; the graph check cannot follow module inputs.
  count = local.in_vpc ? 1 : 0

  name_prefix = "${substr(var.function_name, 0, 200)}-"
  description = "kx-events query API function: to the database and AWS APIs only"
  vpc_id      = var.vpc_id

  tags = merge({ Name = "${var.function_name}-query" }, var.tags)

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "https" {
  count = local.in_vpc ? 1 : 0

  security_group_id = aws_security_group.this[0].id
  description       = "Secrets Manager and SQS (through VPC endpoints or the NAT gateway)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "database" {
  count = local.in_vpc ? 1 : 0

  security_group_id            = aws_security_group.this[0].id
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
  referenced_security_group_id = var.database_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_query" {
  count = local.in_vpc ? 1 : 0

  security_group_id            = var.database_security_group_id
  description                  = "kx-events query API"
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
  referenced_security_group_id = aws_security_group.this[0].id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_query" {
  count = local.in_vpc && var.vpc_endpoints_enabled ? 1 : 0

  security_group_id            = var.endpoint_security_group_id
  description                  = "kx-events query API"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.this[0].id
}

module "function" {
  source = "../function"

  function_name             = var.function_name
  description               = "kx-events query API: events, chains, analytics over HTTP"
  role_name                 = local.role_name
  role_permissions_boundary = var.role_permissions_boundary
  policy_name               = "kx-events-query"
  policy_json               = local.policy_json

  package_path      = var.package_path
  s3_bucket         = var.s3_bucket
  s3_key            = var.s3_key
  s3_object_version = var.s3_object_version
  source_code_hash  = local.package_hash
  architecture      = var.architecture

  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn
  code_signing_config_arn        = var.code_signing_config_arn
  environment_variables          = local.environment
  tracing_mode                   = var.tracing_enabled ? "Active" : "PassThrough"

  subnet_ids         = var.subnet_ids
  security_group_ids = local.in_vpc ? [aws_security_group.this[0].id] : []

  log_retention_in_days = var.log_retention_in_days
  log_kms_key_id        = var.log_kms_key_id

  tags = var.tags
}

################################################################################
# HTTP API
################################################################################

resource "aws_apigatewayv2_api" "this" {
  name          = local.api_name
  protocol_type = "HTTP"
  description   = "kx-events query API"

  dynamic "cors_configuration" {
    for_each = length(var.cors_allowed_origins) > 0 ? [1] : []
    content {
      allow_origins = var.cors_allowed_origins
      allow_methods = distinct([for r in keys(local.routes) : split(" ", r)[0]])
      allow_headers = ["authorization", "content-type", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"]
      max_age       = 600
    }
  }

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "this" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = module.function.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = min(30000, var.timeout * 1000 + 1000)
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = local.jwt ? 1 : 0

  api_id           = aws_apigatewayv2_api.this.id
  authorizer_type  = "JWT"
  name             = "kx-events-jwt"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }
}

resource "aws_apigatewayv2_route" "this" {
  for_each = local.routes

  api_id               = aws_apigatewayv2_api.this.id
  route_key            = each.key
  target               = "integrations/${aws_apigatewayv2_integration.this.id}"
  authorization_type   = local.jwt ? "JWT" : "AWS_IAM"
  authorizer_id        = local.jwt ? aws_apigatewayv2_authorizer.jwt[0].id : null
  authorization_scopes = local.jwt && length(each.value) > 0 ? each.value : null
}

resource "aws_cloudwatch_log_group" "access" {
  # checkov:skip=CKV_AWS_338:Retention is an input (log_retention_in_days, default 30 days); a regime that needs a year sets 365.
  name              = local.access_log
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_id

  tags = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId      = "$context.requestId"
      ip             = "$context.identity.sourceIp"
      caller         = "$context.identity.caller"
      user           = "$context.identity.userArn"
      jwtSub         = "$context.authorizer.claims.sub"
      requestTime    = "$context.requestTime"
      routeKey       = "$context.routeKey"
      status         = "$context.status"
      responseLength = "$context.responseLength"
      latencyMs      = "$context.integrationLatency"
      error          = "$context.error.message"
    })
  }

  tags = var.tags
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = module.function.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
