# Apply the whole stack against a moto server (S3 store, then switched to the DynamoDB store), check
# it, and let `terraform test` destroy it.
# Not in the default test directory, because it needs a running moto server:
#
#   MOTO_IAM_LOAD_MANAGED_POLICIES=true moto_server -H 127.0.0.1 -p 5000 &
#   terraform test -test-directory=tests/moto -var 'moto_endpoint="http://127.0.0.1:5000"'
#
# The value is quoted because the stack does not declare moto_endpoint, and Terraform parses values
# of undeclared variables as HCL expressions. It comes from the command line only: a value in this
# file would take precedence. tests/terraform runs this (fixture moto_terraform_test) against a
# moto server of its own.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  # Fail fast when no moto server answers, instead of the provider's 25 attempts with backoff.
  max_retries = 2

  endpoints {
    apigateway   = var.moto_endpoint
    apigatewayv2 = var.moto_endpoint
    cloudfront   = var.moto_endpoint
    cloudwatch   = var.moto_endpoint
    cognitoidp   = var.moto_endpoint
    dynamodb     = var.moto_endpoint
    iam          = var.moto_endpoint
    lambda       = var.moto_endpoint
    logs         = var.moto_endpoint
    s3           = var.moto_endpoint
    sns          = var.moto_endpoint
    sqs          = var.moto_endpoint
    ssm          = var.moto_endpoint
    sts          = var.moto_endpoint
  }
}

# After creating the lifecycle configuration the provider polls S3 for ~55 s until it reads back
# unchanged. The pytest apply (tests/terraform/test_apply_moto.py) creates it for real; here it is
# overridden, in every run: the second run destroys it, which must not reach the provider either.
override_resource {
  target = aws_s3_bucket_lifecycle_configuration.connections
}

# moto (5.2) has no CloudFront response headers policies; tests/web.tftest.hcl specifies this one. In every run:
# the later ones refresh it too.
override_resource {
  target = aws_cloudfront_response_headers_policy.web
  values = {
    id = "moto-has-no-headers-policies"
  }
}

run "whole_stack_applies_and_reports_its_outputs" {
  command = apply

  variables {
    force_destroy = true
    # The opt-in singleton is applied here; the pytest apply covers the default (off).
    init_api_gw_logging_role = true
    # jwt with a Cognito user pool: the authorizer wiring and the pool apply here; the pytest apply covers none.
    auth_mode        = "jwt"
    create_user_pool = true
    web_hosting      = true
  }


  assert {
    condition     = can(regex("^wss://[a-z0-9]+\\.execute-api\\.us-east-1\\.amazonaws\\.com/live$", output.websocket_url))
    error_message = "websocket_url must be the stage's wss:// invoke URL."
  }
  assert {
    condition     = output.connections_url == replace(output.websocket_url, "wss://", "https://")
    error_message = "connections_url must be websocket_url over https."
  }
  assert {
    condition     = output.connections_bucket == "wspush-${terraform.workspace}-connections-123456789012"
    error_message = "The bucket must carry moto's account id."
  }
  assert {
    condition     = output.sns_topic_arn == "arn:aws:sns:us-east-1:123456789012:wspush-${terraform.workspace}-push"
    error_message = "The topic must be created in the stack's region and account."
  }
  assert {
    condition     = aws_api_gateway_account.this[0].cloudwatch_role_arn == aws_iam_role.api_gateway_logging[0].arn
    error_message = "The API Gateway account must log through the new role."
  }
  assert {
    condition     = output.user_pool_id == aws_cognito_user_pool.this[0].id && output.jwt_issuer == "https://cognito-idp.us-east-1.amazonaws.com/${aws_cognito_user_pool.this[0].id}"
    error_message = "The user pool must be the issuer."
  }
  assert {
    condition     = output.jwt_audience == aws_cognito_user_pool_client.this[0].id && aws_lambda_function.handler.environment[0].variables.JWT_AUDIENCE == output.jwt_audience
    error_message = "The app client's id must be the audience the Lambda checks."
  }
  assert {
    condition     = aws_apigatewayv2_route.this["$connect"].authorization_type == "CUSTOM" && aws_apigatewayv2_route.this["$connect"].authorizer_id == aws_apigatewayv2_authorizer.jwt[0].id
    error_message = "$connect must be authorised by the REQUEST authorizer."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.CONNECTIONS_URL == output.connections_url
    error_message = "The Lambda must post to its own stage's @connections endpoint."
  }
  assert {
    condition     = can(regex("^https://[a-z0-9]+\\.cloudfront\\.net/$", output.web_url)) && output.web_bucket == "wspush-${terraform.workspace}-web-123456789012"
    error_message = "With web_hosting the page's distribution URL and bucket must be outputs."
  }
  assert {
    condition     = one(aws_cloudfront_distribution.web[0].origin).origin_access_control_id == aws_cloudfront_origin_access_control.web[0].id
    error_message = "The distribution must read the bucket through its origin access control."
  }
  assert {
    condition     = length(aws_apigatewayv2_route.this) == length(local.route_keys) && alltrue([for route in aws_apigatewayv2_route.this : route.target == "integrations/${aws_apigatewayv2_integration.handler.id}"])
    error_message = "Every route of local.route_keys must exist and target the integration."
  }
}

run "switching_to_the_dynamodb_store_replaces_the_bucket_with_the_table" {
  command = apply

  variables {
    force_destroy    = true
    connection_store = "dynamodb"
    # Point-in-time recovery is applied here; the pytest apply covers the default (off).
    dynamodb_point_in_time_recovery = true
  }

  assert {
    condition     = output.connections_table == "wspush-${terraform.workspace}-connections" && output.connections_bucket == null
    error_message = "The outputs must name the table and no bucket."
  }
  assert {
    condition     = length(aws_s3_bucket.connections) == 0
    error_message = "The bucket must be gone."
  }
  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.CONNECTIONS_TABLE == output.connections_table && aws_lambda_function.handler.environment[0].variables.CONNECTION_STORE == "dynamodb"
    error_message = "The function must use the table."
  }
  assert {
    condition     = one(aws_dynamodb_table.connections[0].point_in_time_recovery).enabled
    error_message = "Point-in-time recovery must be on when asked."
  }
}
