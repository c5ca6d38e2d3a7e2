terraform {
  # 1.9 is the first release whose validation blocks may refer to other variables.
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # The module's floor is the root module's (5.70, see ../../versions.tf); everything used
      # here (aws_apigatewayv2_*, aws_vpc_security_group_*_rule) is older. 6.0 changes region
      # handling and removes arguments.
      version = ">= 5.70, < 6.0"
    }
  }
}
