# Least privilege for the handler: its bucket's key prefixes (history read and write only; listing the bucket) or its table, its own
# API's @connections, its own log group, invoking itself (shards, continuations), its dead-letter queue, X-Ray. And, opt-in, the per-region API Gateway logging role.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssumesRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    # Only Lambda acting for this account (confused-deputy guard).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "handler" {
  name               = local.role_name
  description        = "Execution role of ${local.function_name}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "handler" {
  # The store's statements: the S3 bucket's or the DynamoDB table's, whichever exists.
  dynamic "statement" {
    for_each = aws_s3_bucket.connections
    content {
      sid       = "ReadWriteConnectionRecords"
      actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      resources = [for prefix in local.store_prefixes : "${statement.value.arn}/${prefix}*"]
    }
  }

  dynamic "statement" {
    # Room history: written and read; deleting is the lifecycle rule's job alone.
    for_each = aws_s3_bucket.connections
    content {
      sid       = "ReadWriteRoomHistory"
      actions   = ["s3:GetObject", "s3:PutObject"]
      resources = ["${statement.value.arn}/${local.history_prefix}*"]
    }
  }

  dynamic "statement" {
    # Listing this bucket, which holds nothing but the store's two prefixes. Deliberately without
    # an s3:prefix condition: S3 answers a GetObject of a missing key with 404 NoSuchKey only to a
    # caller allowed to list the bucket, and 403 AccessDenied otherwise; the store reads "no such
    # record" (a `send` to a gone connection, cleanup after 410 Gone) from that 404.
    for_each = aws_s3_bucket.connections
    content {
      sid       = "ListConnectionStore"
      actions   = ["s3:ListBucket"]
      resources = [statement.value.arn]
    }
  }

  dynamic "statement" {
    # Exactly the calls of lambda_src/store/dynamodb.py (tests/terraform holds them equal), on the table
    # alone: it has no index, so no index ARN is granted.
    for_each = aws_dynamodb_table.connections
    content {
      sid       = "ReadWriteConnectionTable"
      actions   = local.dynamodb_store_actions
      resources = [statement.value.arn]
    }
  }

  statement {
    sid     = "PostToOwnConnections"
    actions = ["execute-api:ManageConnections"]
    # arn:...:execute-api:REGION:ACCOUNT:API_ID/STAGE/POST/@connections/CONNECTION_ID
    resources = ["${aws_apigatewayv2_api.this.execution_arn}/${var.stage_name}/POST/@connections/*"]
  }

  statement {
    # Sharded fan-out (lambda_src/delivery/sharding.py) and continuations (lambda_src/delivery/continuation.py): the function invokes
    # itself, once per shard and per remainder its deadline left unposted.
    sid       = "InvokeItselfForShards"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.function_arn]
  }

  statement {
    # The event-invoke config's on-failure destination (dead_letters.tf): Lambda sends the record of an event it
    # gave up on with the function's own role.
    sid       = "SendFailedEventsToDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }

  dynamic "statement" {
    # auth_mode token: the connect token parameter, read once per execution environment. Its AWS managed
    # key (aws/ssm) needs no kms grant: its key policy lets SSM decrypt for callers allowed GetParameter.
    for_each = local.auth_token ? [local.connect_token_parameter] : []
    content {
      sid       = "ReadConnectTokenParameter"
      actions   = ["ssm:GetParameter"]
      resources = ["arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${statement.value}"]
    }
  }

  statement {
    sid       = "WriteOwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }
}

resource "aws_iam_role_policy" "handler" {
  name   = "${local.function_name}-access"
  role   = aws_iam_role.handler.id
  policy = data.aws_iam_policy_document.handler.json
}

resource "aws_iam_role_policy_attachment" "handler_xray" {
  role = aws_iam_role.handler.name
  # X-Ray's write actions support no resource-level scoping; the managed policy holds just those.
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

# API Gateway writes access logs through one role per account and region, set in the account
# settings. Opt-in: if another stack already set it, creating it here would take it over.

data "aws_iam_policy_document" "api_gateway_assume" {
  statement {
    sid     = "ApiGatewayAssumesRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "api_gateway_logging" {
  count = var.init_api_gw_logging_role ? 1 : 0

  name               = "${local.name}-apigw-logging"
  description        = "Lets API Gateway write logs in ${data.aws_region.current.name} (account setting)"
  assume_role_policy = data.aws_iam_policy_document.api_gateway_assume.json
}

resource "aws_iam_role_policy_attachment" "api_gateway_logging" {
  count = var.init_api_gw_logging_role ? 1 : 0

  role       = aws_iam_role.api_gateway_logging[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = var.init_api_gw_logging_role ? 1 : 0

  # No reset_on_delete: the setting stays when this stack goes, because stages of other stacks in
  # the region may log through it.
  cloudwatch_role_arn = aws_iam_role.api_gateway_logging[0].arn

  depends_on = [aws_iam_role_policy_attachment.api_gateway_logging]
}
