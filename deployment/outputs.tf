# The outputs contract (DESIGN.md "Environments and stack outputs"): every `util` command reads
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
  description = "Name of the S3 bucket holding the connection store."
  value       = aws_s3_bucket.connections.bucket
}

output "lambda_log_group" {
  description = "Log group of the handler's JSON logs (`util tail-logs`)."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "api_log_group" {
  description = "Log group of the API's JSON access logs."
  value       = aws_cloudwatch_log_group.api.name
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
