# Defaults for the mocked aws provider shared by every test file (mock_provider "aws" { source = "./tests/mocks" }):
# ARN-typed arguments need ARN-shaped values, and aws_db_instance.master_user_secret one element.
mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:us-east-1:123456789012:mock-queue"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/mock-queue"
    id  = "https://sqs.us-east-1.amazonaws.com/123456789012/mock-queue"
  }
}
mock_resource "aws_cloudwatch_event_bus" {
  defaults = {
    arn = "arn:aws:events:us-east-1:123456789012:event-bus/mock-bus"
  }
}
mock_resource "aws_cloudwatch_event_rule" {
  defaults = {
    arn = "arn:aws:events:us-east-1:123456789012:rule/mock-bus/mock-rule"
  }
}
mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/mock-role"
  }
}
mock_resource "aws_iam_policy" {
  defaults = {
    arn = "arn:aws:iam::123456789012:policy/mock-policy"
  }
}
mock_resource "aws_lambda_function" {
  defaults = {
    arn = "arn:aws:lambda:us-east-1:123456789012:function:mock-function"
  }
}
mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/mock-function"
  }
}
mock_resource "aws_security_group" {
  defaults = {
    id = "sg-0123456789abcdef0"
  }
}
mock_resource "aws_db_instance" {
  defaults = {
    address = "mock-db.abcdefghijkl.us-east-1.rds.amazonaws.com"
    master_user_secret = [{
      secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-mock-AbCdEf"
      kms_key_id    = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      secret_status = "active"
    }]
  }
}
mock_resource "aws_secretsmanager_secret" {
  defaults = {
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kx-events-consumer-db-mock-AbCdEf"
  }
}
mock_resource "aws_kms_key" {
  defaults = {
    arn = "arn:aws:kms:us-east-1:123456789012:key/33333333-3333-3333-3333-333333333333"
  }
}
mock_resource "aws_lambda_invocation" {
  defaults = {
    result = "{\"applied\":[\"0001_events\"],\"alreadyApplied\":[],\"roles\":[\"kx_events_consumer\"]}"
  }
}
mock_data "aws_iam_policy_document" {
  defaults = {
    json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  }
}
mock_data "aws_availability_zones" {
  defaults = {
    names = ["us-east-1a", "us-east-1b", "us-east-1c"]
  }
}
mock_data "aws_partition" {
  defaults = {
    partition = "aws"
  }
}
mock_data "aws_region" {
  defaults = {
    name = "us-east-1"
  }
}
mock_data "aws_ssm_parameter" {
  defaults = {
    value = "arn:aws:events:us-east-1:123456789012:event-bus/discovered-bus"
  }
}
mock_resource "aws_apigatewayv2_api" {
  defaults = {
    id            = "a1b2c3d4e5"
    execution_arn = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5"
    api_endpoint  = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
  }
}
mock_resource "aws_apigatewayv2_stage" {
  defaults = {
    invoke_url = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/"
  }
}
