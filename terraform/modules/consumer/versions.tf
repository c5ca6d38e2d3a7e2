terraform {
  # 1.9 is the first release whose validation blocks may refer to other variables.
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.70.0 (2024-10-04) is the first release with tags on aws_lambda_event_source_mapping
      # (CHANGELOG: "resource/aws_lambda_event_source_mapping: Add `tags` argument and
      # `tags_all` attribute"); 6.0 changes region handling and removes arguments.
      version = ">= 5.70, < 6.0"
    }
  }
}
