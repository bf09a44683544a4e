# Offline specification of the stack, on a mocked AWS provider: `terraform test` in deployment/
# (no credentials, no network). Resource names are specified in names.tftest.hcl; the apply against
# moto is in tests/moto/.

mock_provider "aws" {
  source = "./tests/mocks"
}

run "every_route_goes_to_the_one_lambda_integration" {
  command = apply

  assert {
    condition     = aws_apigatewayv2_api.this.protocol_type == "WEBSOCKET" && aws_apigatewayv2_api.this.route_selection_expression == "$request.body.action"
    error_message = "The API must be a WebSocket API selecting routes by the body's action."
  }
  assert {
    condition     = toset(keys(aws_apigatewayv2_route.this)) == toset(["$connect", "$disconnect", "$default", "broadcast", "send", "whoami", "join", "leave", "history", "members"])
    error_message = "The routes must be exactly $connect, $disconnect, $default, broadcast, send, whoami, join, leave, history, members."
  }
  assert {
    condition     = alltrue([for route in aws_apigatewayv2_route.this : route.target == "integrations/int0001"])
    error_message = "Every route must target the Lambda integration."
  }
  assert {
    condition     = alltrue([for key, route in aws_apigatewayv2_route.this : route.route_key == key])
    error_message = "Each route's key must be the key it is registered under."
  }
  assert {
    condition     = aws_apigatewayv2_integration.handler.integration_type == "AWS_PROXY" && aws_apigatewayv2_integration.handler.integration_uri == aws_lambda_function.handler.invoke_arn
    error_message = "The integration must proxy to the handler's invoke ARN."
  }
  assert {
    condition     = aws_lambda_permission.api_gateway.source_arn == "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/live/*"
    error_message = "API Gateway may invoke the Lambda only from this API's stage."
  }
  assert {
    condition     = aws_lambda_permission.sns.principal == "sns.amazonaws.com" && aws_lambda_permission.sns.source_arn == "arn:aws:sns:eu-west-1:123456789012:mocked"
    error_message = "SNS may invoke the Lambda only from this stack's topic."
  }
  assert {
    condition     = aws_sns_topic_subscription.handler.protocol == "lambda" && aws_sns_topic_subscription.handler.endpoint == "arn:aws:lambda:eu-west-1:123456789012:function:mocked"
    error_message = "The topic must deliver to the handler."
  }
}

run "stage_deploys_itself_logs_as_json_and_throttles_from_variables" {
  command = apply

  variables {
    throttling_burst_limit = 50
    throttling_rate_limit  = 20
  }

  assert {
    condition     = aws_apigatewayv2_stage.this.auto_deploy
    error_message = "The stage must deploy every API change automatically."
  }
  assert {
    condition     = aws_apigatewayv2_stage.this.default_route_settings[0].throttling_burst_limit == 50 && aws_apigatewayv2_stage.this.default_route_settings[0].throttling_rate_limit == 20
    error_message = "Throttling must come from the variables."
  }
  assert {
    condition     = [for r in aws_apigatewayv2_stage.this.route_settings : [r.route_key, r.throttling_burst_limit, r.throttling_rate_limit]] == [["broadcast", 20, 10]]
    error_message = "broadcast, and only broadcast, must have its own throttle: by default 10 a second, bursts of 20."
  }
  assert {
    condition     = aws_apigatewayv2_stage.this.access_log_settings[0].destination_arn == "arn:aws:logs:eu-west-1:123456789012:log-group:mocked"
    error_message = "Access logs must go to the API's log group."
  }
  assert {
    condition     = jsondecode(aws_apigatewayv2_stage.this.access_log_settings[0].format).connectionId == "$context.connectionId"
    error_message = "Access logs must be JSON carrying the connection id."
  }
}

run "lambda_runs_the_placeholder_with_its_environment" {
  command = apply

  variables {
    fanout_concurrency       = 128
    log_level                = "WARNING"
    async_max_retry_attempts = 0
    async_max_event_age_s    = 60
  }

  assert {
    condition     = aws_lambda_function_event_invoke_config.handler.maximum_retry_attempts == 0 && aws_lambda_function_event_invoke_config.handler.maximum_event_age_in_seconds == 60
    error_message = "async_max_retry_attempts and async_max_event_age_s must reach the event-invoke config."
  }
  assert {
    condition     = aws_lambda_function.handler.handler == "lambda_src.app.handler" && aws_lambda_function.handler.runtime == "python3.12"
    error_message = "The handler must be lambda_src.app.handler on python3.12."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.CONNECTIONS_URL == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/live"
    error_message = "CONNECTIONS_URL must be the stage's invoke URL over https."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.CONNECTIONS_BUCKET == "wspush-${terraform.workspace}-connections-123456789012"
    error_message = "CONNECTIONS_BUCKET must be the stack's bucket."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.CONNECTION_STORE == "s3" && !contains(keys(aws_lambda_function.handler.environment[0].variables), "CONNECTIONS_TABLE")
    error_message = "By default the store is S3, and the function gets no table."
  }
  assert {
    condition     = length(aws_dynamodb_table.connections) == 0 && length(aws_s3_bucket.connections) == 1
    error_message = "By default the stack creates the bucket and no table."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.FANOUT_CONCURRENCY == "128" && aws_lambda_function.handler.environment[0].variables.LOG_LEVEL == "WARNING"
    error_message = "FANOUT_CONCURRENCY and LOG_LEVEL must come from the variables."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.AUTH_MODE == "none" && !contains(keys(aws_lambda_function.handler.environment[0].variables), "CONNECT_TOKEN_PARAMETER")
    error_message = "By default anyone may connect: AUTH_MODE none, no token parameter."
  }
  assert {
    condition     = aws_lambda_function.handler.logging_config[0].log_format == "JSON" && aws_lambda_function.handler.logging_config[0].application_log_level == "WARN"
    error_message = "Logs must be JSON, with Python's WARNING mapped to Lambda's WARN."
  }
  assert {
    condition     = aws_lambda_function.handler.tracing_config[0].mode == "Active"
    error_message = "X-Ray tracing must be active."
  }
  assert {
    condition     = aws_lambda_function.handler.reserved_concurrent_executions == 100
    error_message = "By default 100 concurrent executions are reserved (and the function capped to them)."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.MESSAGE_RATE_PER_S == "5" && aws_lambda_function.handler.environment[0].variables.MESSAGE_BURST == "20"
    error_message = "By default each connection may send 5 messages a second, 20 at once."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.FANOUT_BUDGET_PER_S == "1000"
    error_message = "By default each connection (and user) may cause 1000 posts a second."
  }
  assert {
    condition     = endswith(aws_lambda_function.handler.filename, "placeholder/lambda.zip")
    error_message = "The function must start from the committed placeholder package."
  }
}

run "rate_limits_come_from_the_variables" {
  command = apply

  variables {
    message_rate_per_s       = 0.5
    message_burst            = 3
    broadcast_throttle_rate  = 2
    broadcast_throttle_burst = 4
    fanout_budget_per_s      = 250
  }

  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.MESSAGE_RATE_PER_S == "0.5" && aws_lambda_function.handler.environment[0].variables.MESSAGE_BURST == "3"
    error_message = "MESSAGE_RATE_PER_S and MESSAGE_BURST must come from the variables."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.FANOUT_BUDGET_PER_S == "250"
    error_message = "FANOUT_BUDGET_PER_S must come from its variable."
  }
  assert {
    condition     = [for r in aws_apigatewayv2_stage.this.route_settings : [r.route_key, r.throttling_burst_limit, r.throttling_rate_limit]] == [["broadcast", 4, 2]]
    error_message = "The broadcast route's throttle must come from the variables."
  }
}

run "token_mode_keeps_the_token_in_ssm_never_in_the_environment_or_state" {
  command = apply

  variables {
    auth_mode            = "token"
    reserved_concurrency = 10
  }

  assert {
    condition     = aws_ssm_parameter.connect_token[0].type == "SecureString" && aws_ssm_parameter.connect_token[0].name == "/wspush-${terraform.workspace}/connect-token"
    error_message = "The connect token must be a SecureString parameter named after the stack."
  }
  assert {
    condition     = nonsensitive(aws_ssm_parameter.connect_token[0].value) == "placeholder: set the connect token with aws ssm put-parameter --overwrite"
    error_message = "Terraform must only ever write the placeholder (the real token is set outside it)."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.AUTH_MODE == "token" && aws_lambda_function.handler.environment[0].variables.CONNECT_TOKEN_PARAMETER == aws_ssm_parameter.connect_token[0].name
    error_message = "The Lambda must get the parameter's name, not the token."
  }
  assert {
    condition     = length(aws_apigatewayv2_authorizer.jwt) == 0 && aws_apigatewayv2_route.this["$connect"].authorization_type == "NONE"
    error_message = "token mode has no authorizer: the handler checks the token."
  }
  assert {
    condition     = aws_lambda_function.handler.reserved_concurrent_executions == 10
    error_message = "reserved_concurrency must reach the function."
  }
}

run "jwt_mode_authorizes_connect_only_with_the_handler_as_request_authorizer" {
  command = apply

  variables {
    auth_mode    = "jwt"
    jwt_issuer   = "https://issuer.example"
    jwt_audience = "wspush-clients"
  }

  assert {
    condition     = aws_apigatewayv2_authorizer.jwt[0].authorizer_type == "REQUEST" && aws_apigatewayv2_authorizer.jwt[0].authorizer_uri == aws_lambda_function.handler.invoke_arn
    error_message = "The authorizer must be a REQUEST authorizer invoking the one handler."
  }
  assert {
    condition     = aws_apigatewayv2_authorizer.jwt[0].identity_sources == toset(["route.request.querystring.token"])
    error_message = "The identity source must be the query string's token by default."
  }
  assert {
    condition     = aws_apigatewayv2_route.this["$connect"].authorization_type == "CUSTOM" && aws_apigatewayv2_route.this["$connect"].authorizer_id == "auth0001"
    error_message = "$connect must be authorised by the authorizer."
  }
  assert {
    condition     = alltrue([for key, route in aws_apigatewayv2_route.this : route.authorization_type == "NONE" if key != "$connect"])
    error_message = "Only $connect can carry an authorizer on a WebSocket API."
  }
  assert {
    condition     = aws_lambda_permission.authorizer[0].principal == "apigateway.amazonaws.com" && aws_lambda_permission.authorizer[0].source_arn == "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/authorizers/auth0001"
    error_message = "API Gateway may invoke the handler as this API's authorizer only."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.AUTH_MODE == "jwt" && aws_lambda_function.handler.environment[0].variables.JWT_ISSUER == "https://issuer.example" && aws_lambda_function.handler.environment[0].variables.JWT_AUDIENCE == "wspush-clients" && aws_lambda_function.handler.environment[0].variables.JWT_JWKS_URL == "https://issuer.example/.well-known/jwks.json"
    error_message = "The Lambda must know the issuer, audience and JWKS URL."
  }
  assert {
    condition     = output.auth_mode == "jwt" && output.jwt_issuer == "https://issuer.example" && output.jwks_url == "https://issuer.example/.well-known/jwks.json" && output.user_pool_id == null
    error_message = "The outputs must name the issuer, and no user pool."
  }
  assert {
    condition     = length(aws_ssm_parameter.connect_token) == 0
    error_message = "jwt mode needs no connect token parameter."
  }
}

run "no_authorizer_and_no_user_pool_without_jwt" {
  command = apply

  assert {
    condition     = length(aws_apigatewayv2_authorizer.jwt) == 0 && length(aws_lambda_permission.authorizer) == 0 && length(aws_cognito_user_pool.this) == 0
    error_message = "auth_mode none creates no authorizer, permission or user pool."
  }
  assert {
    condition     = alltrue([for route in aws_apigatewayv2_route.this : route.authorization_type == "NONE" && route.authorizer_id == null])
    error_message = "Without jwt no route is authorised."
  }
  assert {
    condition     = output.auth_mode == "none" && output.jwt_issuer == null && output.jwt_audience == null && output.jwks_url == null && output.user_pool_client_id == null
    error_message = "The jwt outputs must be null without jwt."
  }
}

run "create_user_pool_makes_cognito_the_issuer" {
  command = apply

  variables {
    auth_mode        = "jwt"
    create_user_pool = true
  }

  assert {
    condition     = output.jwt_issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_mockpool" && output.jwt_audience == "mockclient0001" && output.user_pool_id == "eu-west-1_mockpool" && output.user_pool_client_id == "mockclient0001"
    error_message = "With a user pool, the issuer is Cognito's and the audience the app client's id."
  }
  assert {
    condition     = !aws_cognito_user_pool_client.this[0].generate_secret && aws_cognito_user_pool.this[0].admin_create_user_config[0].allow_admin_create_user_only
    error_message = "A public client without secret; users invited by an administrator."
  }
  assert {
    condition     = length(aws_cognito_user_pool_client.this[0].write_attributes) > 0 && !contains(aws_cognito_user_pool_client.this[0].write_attributes, "name") && !contains(aws_cognito_user_pool_client.this[0].write_attributes, "sub")
    error_message = "Users may not rewrite the name claim (nor sub): the app client lists the attributes they may write, and name is not one."
  }
}

run "a_user_pool_whose_users_could_write_the_name_claim_is_refused" {
  command = plan

  variables {
    auth_mode        = "jwt"
    create_user_pool = true
    jwt_name_claim   = "locale"
  }

  expect_failures = [aws_cognito_user_pool_client.this]
}

run "jwt_without_an_issuer_is_refused" {
  command = plan

  variables {
    auth_mode = "jwt"
  }

  expect_failures = [var.jwt_issuer, var.jwt_audience]
}

run "handler_policy_is_scoped_to_the_stacks_own_resources" {
  command = apply

  assert {
    # jsonencode: the statements hold sets, the expectation tuples; their JSON is comparable.
    condition = jsonencode({
      for statement in data.aws_iam_policy_document.handler.statement : statement.sid => sort(statement.resources)
      }) == jsonencode({
      ReadWriteConnectionRecords    = ["arn:aws:s3:::mocked-connections-bucket/claims/*", "arn:aws:s3:::mocked-connections-bucket/connections/*", "arn:aws:s3:::mocked-connections-bucket/rates/*", "arn:aws:s3:::mocked-connections-bucket/rooms/*"]
      ReadWriteRoomHistory          = ["arn:aws:s3:::mocked-connections-bucket/history/*"]
      ListConnectionStore           = ["arn:aws:s3:::mocked-connections-bucket"]
      PostToOwnConnections          = ["arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/live/POST/@connections/*"]
      InvokeItselfForShards         = ["arn:aws:lambda:eu-west-1:123456789012:function:wspush-default-handler"]
      SendFailedEventsToDeadLetters = ["arn:aws:sqs:eu-west-1:123456789012:mocked-dead-letters"]
      WriteOwnLogGroup              = ["arn:aws:logs:eu-west-1:123456789012:log-group:mocked:*"]
    })
    error_message = "Each statement of the handler's policy must name exactly its own bucket prefixes, API stage, function, dead-letter queue and log group."
  }
  assert {
    condition = jsonencode({
      for statement in data.aws_iam_policy_document.handler.statement : statement.sid => sort(statement.actions)
      }) == jsonencode({
      ReadWriteConnectionRecords    = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
      ReadWriteRoomHistory          = ["s3:GetObject", "s3:PutObject"]
      ListConnectionStore           = ["s3:ListBucket"]
      PostToOwnConnections          = ["execute-api:ManageConnections"]
      InvokeItselfForShards         = ["lambda:InvokeFunction"]
      SendFailedEventsToDeadLetters = ["sqs:SendMessage"]
      WriteOwnLogGroup              = ["logs:CreateLogStream", "logs:PutLogEvents"]
    })
    error_message = "The handler's policy must grant exactly the actions it needs."
  }
  assert {
    condition     = alltrue([for statement in data.aws_iam_policy_document.handler.statement : statement.effect == null || statement.effect == "Allow"])
    error_message = "The handler's policy holds only Allow statements."
  }
  assert {
    condition     = alltrue([for statement in data.aws_iam_policy_document.handler.statement : length(statement.condition) == 0])
    error_message = "No statement needs a condition: listing the store's own bucket must stay unconditional (404 for missing records)."
  }
  assert {
    condition     = aws_iam_role_policy_attachment.handler_xray.policy_arn == "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
    error_message = "The handler needs X-Ray's write access for active tracing."
  }
}

run "bucket_is_private_encrypted_tls_only_and_expires_records" {
  command = apply

  assert {
    condition = (aws_s3_bucket_public_access_block.connections[0].block_public_acls && aws_s3_bucket_public_access_block.connections[0].block_public_policy
    && aws_s3_bucket_public_access_block.connections[0].ignore_public_acls && aws_s3_bucket_public_access_block.connections[0].restrict_public_buckets)
    error_message = "Every public access must be blocked."
  }
  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.connections[0].rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "Objects must be encrypted at rest."
  }
  assert {
    condition = anytrue([
      for statement in data.aws_iam_policy_document.connections_bucket[0].statement :
      statement.effect == "Deny" && jsonencode([for condition in statement.condition : [condition.test, condition.variable, condition.values]]) == jsonencode([["Bool", "aws:SecureTransport", ["false"]]])
    ])
    error_message = "The bucket policy must deny requests without TLS."
  }
  assert {
    condition = jsonencode({
      for rule in aws_s3_bucket_lifecycle_configuration.connections[0].rule :
      one(rule.filter).prefix => one(rule.expiration).days if length(rule.expiration) > 0
    }) == jsonencode({ "claims/" = 1, "connections/" = 1, "history/" = 1, "rates/" = 1, "rooms/" = 1 })
    error_message = "Connection records, room memberships, rate-limit state and claims must expire after one day, room history after its 24 h retention, and nothing else."
  }
  assert {
    condition = contains([
      for rule in aws_s3_bucket_lifecycle_configuration.connections[0].rule :
      jsonencode([for abort in rule.abort_incomplete_multipart_upload : abort.days_after_initiation]) if rule.status == "Enabled"
    ], jsonencode([1]))
    error_message = "Incomplete multipart uploads must be aborted after a day."
  }
  assert {
    condition     = aws_s3_bucket.connections[0].force_destroy == false
    error_message = "force_destroy must default to false."
  }
  assert {
    condition     = aws_sns_topic.push.kms_master_key_id == "alias/aws/sns"
    error_message = "The topic must be encrypted."
  }
}

run "log_groups_keep_logs_for_the_configured_days" {
  command = apply

  variables {
    log_retention_days = 30
  }

  assert {
    condition     = aws_cloudwatch_log_group.lambda.retention_in_days == 30 && aws_cloudwatch_log_group.api.retention_in_days == 30
    error_message = "Both log groups must take log_retention_days."
  }
}

run "api_gateway_logging_role_is_opt_in" {
  command = apply

  assert {
    condition     = length(aws_api_gateway_account.this) == 0 && length(aws_iam_role.api_gateway_logging) == 0
    error_message = "By default the stack must not touch the region's API Gateway account settings."
  }
}

run "api_gateway_logging_role_is_created_when_asked" {
  command = apply

  variables {
    init_api_gw_logging_role = true
  }

  assert {
    condition     = length(aws_api_gateway_account.this) == 1 && aws_api_gateway_account.this[0].cloudwatch_role_arn == aws_iam_role.api_gateway_logging[0].arn
    error_message = "With init_api_gw_logging_role the account settings must use the new role."
  }
  assert {
    condition     = aws_iam_role_policy_attachment.api_gateway_logging[0].policy_arn == "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    error_message = "The logging role needs API Gateway's push-to-CloudWatch policy."
  }
}

run "outputs_carry_the_contract_values" {
  command = apply

  assert {
    condition     = output.websocket_url == "wss://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/live"
    error_message = "websocket_url must be the stage's invoke URL."
  }
  assert {
    condition     = output.connections_url == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/live"
    error_message = "connections_url must be the stage's URL over https."
  }
  assert {
    condition     = output.api_id == "a1b2c3d4e5" && output.stage == "live" && output.region == "eu-west-1"
    error_message = "api_id, stage and region must describe the API."
  }
  assert {
    condition     = output.lambda_function_name == "wspush-${terraform.workspace}-handler" && output.sns_topic_arn == "arn:aws:sns:eu-west-1:123456789012:mocked"
    error_message = "lambda_function_name and sns_topic_arn must name the stack's function and topic."
  }
  assert {
    condition     = output.connections_bucket == "wspush-${terraform.workspace}-connections-123456789012" && output.connections_table == null
    error_message = "connections_bucket must name the stack's bucket, and connections_table be null."
  }
  assert {
    condition     = output.lambda_log_group == "/aws/lambda/wspush-${terraform.workspace}-handler" && output.api_log_group == "/aws/apigateway/wspush-${terraform.workspace}-api"
    error_message = "The log group outputs must name the stack's log groups."
  }
}

run "invalid_variables_are_refused" {
  command = plan

  variables {
    project                = "Not_Valid"
    stage_name             = "has space"
    auth_mode              = "open"
    fanout_concurrency     = 0
    log_level              = "VERBOSE"
    log_retention_days     = 10
    throttling_burst_limit = -1
    reserved_concurrency   = -2
    lambda_memory_mb       = 64
    lambda_timeout_s       = 901
    lambda_architecture    = "sparc"
    tags                   = { Project = "other" }
    connection_store       = "redis"
    # Lambda's ranges for the event-invoke config (dead_letters.tf): retries 0-2, maximum age 60-21600 s.
    async_max_retry_attempts = 3
    async_max_event_age_s    = 59
    message_rate_per_s       = -1
    message_burst            = 0
    fanout_budget_per_s      = 100001
    broadcast_throttle_rate  = 10001
    broadcast_throttle_burst = 1.5
  }

  expect_failures = [
    var.project,
    var.stage_name,
    var.auth_mode,
    var.fanout_concurrency,
    var.log_level,
    var.log_retention_days,
    var.throttling_burst_limit,
    var.reserved_concurrency,
    var.lambda_memory_mb,
    var.lambda_timeout_s,
    var.lambda_architecture,
    var.tags,
    var.connection_store,
    var.async_max_retry_attempts,
    var.async_max_event_age_s,
    var.message_rate_per_s,
    var.message_burst,
    var.fanout_budget_per_s,
    var.broadcast_throttle_rate,
    var.broadcast_throttle_burst,
  ]
}

run "history_and_presence_limits_reach_the_function_and_the_lifecycle_rule" {
  command = apply

  variables {
    history_size            = 250
    history_retention_hours = 49
    history_page_limit      = 40
    presence_max_members    = 7
  }

  assert {
    condition = (aws_lambda_function.handler.environment[0].variables.HISTORY_SIZE == "250"
      && aws_lambda_function.handler.environment[0].variables.HISTORY_RETENTION_HOURS == "49"
      && aws_lambda_function.handler.environment[0].variables.HISTORY_PAGE_LIMIT == "40"
    && aws_lambda_function.handler.environment[0].variables.PRESENCE_MAX_MEMBERS == "7")
    error_message = "The history and presence variables must reach the function's environment."
  }
  assert {
    condition = one([
      for rule in aws_s3_bucket_lifecycle_configuration.connections[0].rule :
      one(rule.expiration).days if length(rule.filter) > 0 && one(rule.filter).prefix == "history/"
    ]) == 3
    error_message = "History must expire after its retention rounded up to whole days (49 h: 3 days)."
  }
}

run "history_retention_must_be_whole_hours_within_thirty_days" {
  command = plan

  variables {
    history_retention_hours = 721
    history_size            = -1
    history_page_limit      = 0
    presence_max_members    = 1.5
  }

  expect_failures = [var.history_retention_hours, var.history_size, var.history_page_limit, var.presence_max_members]
}
