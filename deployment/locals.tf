# Names are built here once; every other file refers to these.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  name = "${var.project}-${terraform.workspace}"

  api_name      = "${local.name}-api"
  function_name = "${local.name}-handler"
  role_name     = "${local.name}-handler"
  topic_name    = "${local.name}-push"
  bucket_name   = "${local.name}-connections-${data.aws_caller_identity.current.account_id}"
  table_name    = "${local.name}-connections"
  # The dead-letter queue of failed asynchronous events (dead_letters.tf; util/local/aws/names.py names it alike).
  dead_letter_queue_name = "${local.name}-dead-letters"
  lambda_log_name        = "/aws/lambda/${local.function_name}"
  # Built from names, not from the function resource: the role's policy must exist before the function.
  function_arn = "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:function:${local.function_name}"
  api_log_name = "/aws/apigateway/${local.api_name}"

  # Route keys the Lambda dispatches on (route selection: $request.body.action).
  route_keys = ["$connect", "$disconnect", "$default", "broadcast", "send", "whoami", "join", "leave", "history", "members"]
  # The route that fans out to every connection: throttled on its own in the stage (api.tf).
  broadcast_route = "broadcast"

  # The @connections management endpoint is the stage's invoke URL over https. Built from the API
  # rather than the stage so that the stage can wait for every route (see api.tf) without a cycle
  # through the Lambda's environment.
  connections_url = "${replace(aws_apigatewayv2_api.this.api_endpoint, "wss://", "https://")}/${var.stage_name}"

  # Key prefixes of the connection store (lambda_src/store/s3.py STORE_PREFIXES): records, room memberships,
  # rate-limit state, claims of the parts of deliveries: pushes, shards, segments, continuations (lambda_src/delivery/claims.py).
  connections_prefix = "connections/"
  rooms_prefix       = "rooms/"
  rates_prefix       = "rates/"
  claims_prefix      = "claims/"
  store_prefixes     = [local.connections_prefix, local.rooms_prefix, local.rates_prefix, local.claims_prefix]
  # Room history (lambda_src/store/s3.py HISTORY_PREFIX): one object per message, written and read, never
  # deleted by the function: the lifecycle rule expires it after the retention, rounded up to whole days.
  history_prefix          = "history/"
  history_expiration_days = ceil(var.history_retention_hours / 24)

  # Connection records are deleted on $disconnect, which API Gateway delivers only best-effort.
  # lambda_src/store/contract.py's RECORD_TTL_S is the same time (the DynamoDB store writes it as TTL).
  connection_record_expiration_days = 1

  # The connection store (lambda_src/store/open.py): S3 bucket (store.tf) or DynamoDB table (dynamodb.tf).
  use_s3 = var.connection_store == "s3"

  # Key schema and TTL attribute of the table (lambda_src/store/dynamodb.py: PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE).
  table_partition_key = "pk"
  table_sort_key      = "sk"
  table_ttl_attribute = "expiresAt"
  # The DynamoDB calls the store makes, as IAM actions.
  dynamodb_store_actions = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
  ]
}
