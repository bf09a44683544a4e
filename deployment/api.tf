# The WebSocket API: one Lambda integration behind every route, one auto-deployed stage.

resource "aws_apigatewayv2_api" "this" {
  name                       = local.api_name
  description                = "WebSocket push API of ${var.project} (${terraform.workspace})"
  protocol_type              = "WEBSOCKET"
  route_selection_expression = "$request.body.action"
}

resource "aws_apigatewayv2_integration" "handler" {
  api_id             = aws_apigatewayv2_api.this.id
  description        = "Every route goes to the one handler, which dispatches on the route key"
  integration_type   = "AWS_PROXY"
  integration_method = "POST"
  integration_uri    = aws_lambda_function.handler.invoke_arn
}

resource "aws_apigatewayv2_route" "this" {
  #checkov:skip=CKV_AWS_309:A WebSocket API authorizes only on $connect (the jwt authorizer, or the handler's connect token check, see auth.tf); message routes run on an already accepted connection.
  for_each = toset(local.route_keys)

  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.value
  target    = "integrations/${aws_apigatewayv2_integration.handler.id}"

  # Only $connect can have an authorizer on a WebSocket API.
  authorization_type = each.value == "$connect" && local.auth_jwt ? "CUSTOM" : "NONE"
  authorizer_id      = each.value == "$connect" && local.auth_jwt ? aws_apigatewayv2_authorizer.jwt[0].id : null
}

resource "aws_apigatewayv2_stage" "this" {
  #checkov:skip=CKV2_AWS_51:API Gateway offers client certificates (mutual TLS) only for REST and HTTP APIs, not for WebSocket APIs; clients are browsers and apps, checked by connect_token.
  api_id      = aws_apigatewayv2_api.this.id
  name        = var.stage_name
  description = "Live stage, redeployed automatically on every API change"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.throttling_burst_limit
    throttling_rate_limit  = var.throttling_rate_limit
    # Execution logs would need the account's logging role; access logs below are what we read.
    data_trace_enabled = false
    # Per-route metrics are billed as custom metrics: opt-in.
    detailed_metrics_enabled = var.detailed_route_metrics
  }

  # broadcast posts to every connection: the stage lets through this many of them, all connections together,
  # before API Gateway refuses the message itself (the function's per-connection limit is MESSAGE_RATE_PER_S).
  # Route-level throttling: https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-protect.html
  route_settings {
    route_key              = local.broadcast_route
    throttling_burst_limit = var.broadcast_throttle_burst
    throttling_rate_limit  = var.broadcast_throttle_rate
    data_trace_enabled     = false
    # As in default_route_settings; without it the provider would plan a change on every run.
    detailed_metrics_enabled = var.detailed_route_metrics
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTimeEpoch   = "$context.requestTimeEpoch"
      connectionId       = "$context.connectionId"
      eventType          = "$context.eventType"
      routeKey           = "$context.routeKey"
      messageId          = "$context.messageId"
      status             = "$context.status"
      sourceIp           = "$context.identity.sourceIp"
      integrationLatency = "$context.integrationLatency"
      integrationStatus  = "$context.integration.status"
      error              = "$context.error.message"
      integrationError   = "$context.integration.error"
    })
  }

  # The first automatic deployment should already carry every route; and when this stack manages
  # the account's logging role, access logging must not be switched on before it is registered.
  depends_on = [aws_apigatewayv2_route.this, aws_api_gateway_account.this]
}
