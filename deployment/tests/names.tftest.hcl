# Names of the stack's resources: "<project>-<workspace>-<thing>", on a mocked AWS provider.
# Asserted for whatever workspace is selected; tests/terraform runs this file in the default
# workspace and in another one (TF_WORKSPACE).

mock_provider "aws" {
  source = "./tests/mocks"
}

run "names_follow_project_and_workspace" {
  command = apply

  assert {
    condition     = aws_apigatewayv2_api.this.name == "wspush-${terraform.workspace}-api"
    error_message = "API name must be <project>-<workspace>-api."
  }
  assert {
    condition     = aws_lambda_function.handler.function_name == "wspush-${terraform.workspace}-handler"
    error_message = "Function name must be <project>-<workspace>-handler."
  }
  assert {
    condition     = aws_iam_role.handler.name == "wspush-${terraform.workspace}-handler"
    error_message = "Role name must be <project>-<workspace>-handler."
  }
  assert {
    condition     = aws_sns_topic.push.name == "wspush-${terraform.workspace}-push"
    error_message = "Topic name must be <project>-<workspace>-push."
  }
  assert {
    condition     = aws_s3_bucket.connections[0].bucket == "wspush-${terraform.workspace}-connections-123456789012"
    error_message = "Bucket name must be <project>-<workspace>-connections-<account id>."
  }
  assert {
    condition     = aws_cloudwatch_log_group.lambda.name == "/aws/lambda/wspush-${terraform.workspace}-handler"
    error_message = "The Lambda's log group must be the one Lambda writes to by default."
  }
  assert {
    condition     = aws_cloudwatch_log_group.api.name == "/aws/apigateway/wspush-${terraform.workspace}-api"
    error_message = "The API's log group must be /aws/apigateway/<project>-<workspace>-api."
  }
  assert {
    condition     = aws_apigatewayv2_stage.this.name == "live"
    error_message = "The stage must default to \"live\"."
  }
}

run "names_take_the_project_variable" {
  command = apply

  variables {
    project = "acme"
  }

  assert {
    condition     = aws_lambda_function.handler.function_name == "acme-${terraform.workspace}-handler"
    error_message = "Function name must start with the project variable."
  }
  assert {
    condition     = aws_s3_bucket.connections[0].bucket == "acme-${terraform.workspace}-connections-123456789012"
    error_message = "Bucket name must start with the project variable."
  }
}
