# Log groups made by Terraform (not by the services on first write) so that they carry a retention
# and are removed with the stack.

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer managed key would add cost and key administration for operational logs.
  #checkov:skip=CKV_AWS_338:Operational logs of a push service are read within days; retention is the log_retention_days variable, for teams whose policy asks for a year.
  name              = local.lambda_log_name
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "api" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer managed key would add cost and key administration for access logs.
  #checkov:skip=CKV_AWS_338:Access logs of a push service are read within days; retention is the log_retention_days variable, for teams whose policy asks for a year.
  name              = local.api_log_name
  retention_in_days = var.log_retention_days
}
