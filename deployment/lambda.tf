# The handler: one function behind every route and the SNS topic.
#
# Terraform creates it with a small placeholder package (it answers 503 "not deployed yet") and then
# ignores its code: `util lambda-deploy ENV` ships the real code without a Terraform run, and no
# build step is needed before `terraform apply`. placeholder/README.md says how the zip is made.

locals {
  placeholder_zip = "${path.module}/placeholder/lambda.zip"
  # The runtime, shared with `util lambda-build` (which fetches the dependencies' wheels for it).
  lambda_runtime = jsondecode(file("${path.module}/lambda-runtime.json"))

  # Lambda's JSON log filter knows WARN where Python logging says WARNING.
  lambda_application_log_level = var.log_level == "WARNING" ? "WARN" : var.log_level

  lambda_environment = merge(
    {
      CONNECTIONS_URL         = local.connections_url
      CONNECTIONS_URL         = local.connections_url
      CONNECTION_STORE        = var.connection_store
      CONNECTION_STORE        = var.connection_store
      FANOUT_CONCURRENCY      = tostring(var.fanout_concurrency)
      FANOUT_CONCURRENCY      = tostring(var.fanout_concurrency)
      FANOUT_BUDGET_PER_S     = tostring(var.fanout_budget_per_s)
      HISTORY_PAGE_LIMIT      = tostring(var.history_page_limit)
      HISTORY_RETENTION_HOURS = tostring(var.history_retention_hours)
      HISTORY_SIZE            = tostring(var.history_size)
      LOG_LEVEL               = var.log_level
      LOG_LEVEL               = var.log_level
      MESSAGE_BURST           = tostring(var.message_burst)
      MESSAGE_RATE_PER_S      = tostring(var.message_rate_per_s)
      PRESENCE_MAX_MEMBERS    = tostring(var.presence_max_members)
      SHARD_SIZE              = tostring(var.shard_size)
      SHARD_SIZE              = tostring(var.shard_size)
    },
    local.auth_environment,
    local.use_s3 ? { CONNECTIONS_BUCKET = aws_s3_bucket.connections[0].bucket } : {},
    local.use_s3 ? {} : { CONNECTIONS_TABLE = aws_dynamodb_table.connections[0].name },
  )
}

resource "aws_lambda_function" "handler" {
  #checkov:skip=CKV_AWS_117:The handler only calls public AWS endpoints (S3 or DynamoDB, @connections); a VPC would add NAT cost and cold-start latency and protect nothing.
  #checkov:skip=CKV_AWS_116:Failed asynchronous events go to the event-invoke config's on-failure destination (dead_letters.tf, an SQS queue), whose records carry the error as well as the event; dead_letter_config would be a second, poorer copy.
  #checkov:skip=CKV_AWS_173:The environment holds names and URLs only (the connect token lives in SSM, see auth.tf), which Lambda encrypts at rest with its AWS managed key; a customer managed key would add cost and no reader we do not already trust.
  #checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile the team does not run; `util lambda-deploy` ships a deterministic zip whose CodeSha256 it checks.
  function_name = local.function_name
  description   = "WebSocket push handler of ${var.project} (${terraform.workspace})"
  role          = aws_iam_role.handler.arn
  runtime       = local.lambda_runtime.runtime
  handler       = "lambda_src.app.handler"
  architectures = [var.lambda_architecture]
  memory_size   = var.lambda_memory_mb
  timeout       = var.lambda_timeout_s

  filename         = local.placeholder_zip
  source_code_hash = filebase64sha256(local.placeholder_zip)

  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = local.lambda_environment
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.lambda.name
    application_log_level = local.lambda_application_log_level
    system_log_level      = "WARN"
  }

  lifecycle {
    # The code is owned by `util lambda-deploy` once the function exists.
    ignore_changes = [filename, source_code_hash]
  }

  # The role must hold its permissions before the first invocation. (The log group, referenced in
  # logging_config, exists before the function, so Lambda never creates one without retention.)
  depends_on = [aws_iam_role_policy.handler, aws_iam_role_policy_attachment.handler_xray]
}

resource "aws_lambda_permission" "api_gateway" {
  statement_id  = "AllowInvokeFromOwnApiStage"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler.function_name
  principal     = "apigateway.amazonaws.com"
  # Only this API's stage, any route: arn:...:execute-api:REGION:ACCOUNT:API_ID/STAGE/ROUTE_KEY
  source_arn = "${aws_apigatewayv2_api.this.execution_arn}/${var.stage_name}/*"
}

resource "aws_lambda_permission" "sns" {
  statement_id  = "AllowInvokeFromOwnTopic"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler.function_name
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.push.arn
}
