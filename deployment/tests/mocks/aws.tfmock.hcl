# Values the mocked AWS provider returns in deployment/tests/*.tftest.hcl: fixed, recognisable ARNs and
# IDs, so that the tests can assert that each reference lands on the right resource.

# The provider validates policy JSON even when mocked.
mock_data "aws_iam_policy_document" {
  defaults = {
    json = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}"
  }
}

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
  }
}

mock_data "aws_region" {
  defaults = {
    name = "eu-west-1"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition = "aws"
  }
}

mock_resource "aws_apigatewayv2_api" {
  defaults = {
    id            = "a1b2c3d4e5"
    api_endpoint  = "wss://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
    execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5"
  }
}

mock_resource "aws_apigatewayv2_integration" {
  defaults = {
    id = "int0001"
  }
}

mock_resource "aws_apigatewayv2_stage" {
  defaults = {
    invoke_url = "wss://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/live"
  }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn = "arn:aws:s3:::mocked-connections-bucket"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-west-1:123456789012:log-group:mocked"
  }
}

mock_resource "aws_lambda_function" {
  defaults = {
    arn        = "arn:aws:lambda:eu-west-1:123456789012:function:mocked"
    invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:mocked/invocations"
  }
}

mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:mocked-dead-letters"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/mocked-dead-letters"
    id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/mocked-dead-letters"
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:eu-west-1:123456789012:mocked"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/mocked"
  }
}

mock_resource "aws_apigatewayv2_authorizer" {
  defaults = {
    id = "auth0001"
  }
}

mock_resource "aws_cognito_user_pool" {
  defaults = {
    id = "eu-west-1_mockpool"
  }
}

mock_resource "aws_cognito_user_pool_client" {
  defaults = {
    id = "mockclient0001"
  }
}

mock_resource "aws_dynamodb_table" {
  defaults = {
    arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/mocked"
  }
}

mock_resource "aws_cloudfront_distribution" {
  defaults = {
    id          = "E2MOCKEDDIST"
    arn         = "arn:aws:cloudfront::123456789012:distribution/E2MOCKEDDIST"
    domain_name = "d111111abcdef8.cloudfront.net"
  }
}

mock_resource "aws_cloudfront_origin_access_control" {
  defaults = {
    id = "E3MOCKEDOAC"
  }
}

mock_resource "aws_cloudfront_response_headers_policy" {
  defaults = {
    id = "mocked-headers-policy"
  }
}
