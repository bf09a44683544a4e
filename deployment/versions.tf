terraform {
  # 1.7: `mock_provider` in `terraform test` (deployment/tests/).
  required_version = ">= 1.7.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.26 added the Lambda's logging_config; 6.x renames attributes used here (aws_region.name).
      version = ">= 5.26, < 6.0"
    }
  }
}
