# The outputs contract (docs/architecture.md, "Where the contracts live"): every `util` command reads
# these names; the local stack's state file carries the same ones.

output "websocket_url" {
  description = "URL clients connect to: wss://API_ID.execute-api.REGION.amazonaws.com/STAGE."
  value       = aws_apigatewayv2_stage.this.invoke_url
}

output "connections_url" {
  description = "The @connections management endpoint (https, same host and stage as websocket_url)."
  value       = local.connections_url
}

output "api_id" {
  description = "ID of the API Gateway WebSocket API."
  value       = aws_apigatewayv2_api.this.id
}

output "stage" {
  description = "Name of the API Gateway stage."
  value       = aws_apigatewayv2_stage.this.name
}

output "region" {
  description = "AWS region the stack runs in."
  value       = data.aws_region.current.name
}

output "lambda_function_name" {
  description = "Name of the handler Lambda (`util lambda-deploy` updates its code)."
  value       = aws_lambda_function.handler.function_name
}

output "sns_topic_arn" {
  description = "ARN of the SNS topic whose messages are pushed to clients (`util send-data`)."
  value       = aws_sns_topic.push.arn
}

output "connections_bucket" {
  description = "Name of the S3 bucket holding the connection store; null (so absent from `terraform output`) with connection_store = \"dynamodb\"."
  value       = one(aws_s3_bucket.connections[*].bucket)
}

output "connections_table" {
  description = "Name of the DynamoDB table holding the connection store; null (so absent from `terraform output`) with connection_store = \"s3\"."
  value       = one(aws_dynamodb_table.connections[*].name)
}

output "lambda_log_group" {
  description = "Log group of the handler's JSON logs (`util tail-logs`)."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "api_log_group" {
  description = "Log group of the API's JSON access logs."
  value       = aws_cloudwatch_log_group.api.name
}

output "dead_letter_queue_url" {
  description = "URL of the SQS dead-letter queue of failed pushes, shards and continuations (`util dead-letters`)."
  value       = aws_sqs_queue.dead_letters.url
}

output "auth_mode" {
  description = "Who may connect: none, token or jwt."
  value       = var.auth_mode
}

output "jwt_issuer" {
  description = "The issuer whose tokens the $connect authorizer accepts (null unless auth_mode is jwt)."
  value       = local.jwt_issuer
}

output "jwt_audience" {
  description = "The audience (aud) tokens must carry (null unless auth_mode is jwt)."
  value       = local.jwt_audience
}

output "jwks_url" {
  description = "Where the authorizer fetches the issuer's signing keys (null unless auth_mode is jwt)."
  value       = local.jwks_url
}

output "user_pool_id" {
  description = "ID of the Cognito user pool (null unless create_user_pool)."
  value       = var.create_user_pool ? aws_cognito_user_pool.this[0].id : null
}

output "user_pool_client_id" {
  description = "ID of the Cognito app client, the tokens' audience (null unless create_user_pool)."
  value       = var.create_user_pool ? aws_cognito_user_pool_client.this[0].id : null
}

# The browser client (web.tf): null, hence absent from `terraform output`, unless var.web_hosting.

output "web_url" {
  description = "HTTPS URL of the browser client on CloudFront; null without web_hosting."
  value       = var.web_hosting ? "https://${aws_cloudfront_distribution.web[0].domain_name}/" : null
}

output "web_bucket" {
  description = "Private S3 bucket holding the browser client's files (`util web-deploy` uploads there); null without web_hosting."
  value       = one(aws_s3_bucket.web[*].bucket)
}

output "web_distribution_id" {
  description = "ID of the CloudFront distribution serving the browser client (`util web-deploy` invalidates it); null without web_hosting."
  value       = one(aws_cloudfront_distribution.web[*].id)
}
