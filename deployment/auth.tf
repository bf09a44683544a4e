# Who may connect (var.auth_mode):
#   none   anyone.
#   token  a shared token, kept in an SSM SecureString parameter. Terraform creates it with a placeholder and
#          then ignores its value, so the token is never in a variable, the plan or the state: set it with
#          `aws ssm put-parameter --name <connect_token_parameter> --type SecureString --overwrite --value ...`.
#          The function refuses to start while the placeholder is there (lambda_src/config.py, same text).
#   jwt    a Lambda REQUEST authorizer on $connect, served by the one handler: it verifies the token against the
#          issuer's JWKS. API Gateway needs every identity source present, so there is one: the query string's
#          `token` (browsers cannot set headers on a WebSocket) or, by variable, the Authorization header.
# create_user_pool adds a Cognito user pool and app client, and takes issuer and audience from them. The name
# recipients see comes from jwt_name_claim, which the app client does not let users write (write_attributes).

locals {
  auth_jwt   = var.auth_mode == "jwt"
  auth_token = var.auth_mode == "token"

  connect_token_parameter   = "/${local.name}/connect-token"
  connect_token_placeholder = "placeholder: set the connect token with aws ssm put-parameter --overwrite"

  user_pool_issuer = var.create_user_pool ? "https://cognito-idp.${data.aws_region.current.name}.amazonaws.com/${aws_cognito_user_pool.this[0].id}" : null
  jwt_issuer       = local.auth_jwt ? coalesce(local.user_pool_issuer, var.jwt_issuer) : null
  jwt_audience     = local.auth_jwt ? (var.create_user_pool ? aws_cognito_user_pool_client.this[0].id : var.jwt_audience) : null
  jwks_url         = local.auth_jwt ? coalesce(var.jwt_jwks_url, "${trimsuffix(local.jwt_issuer, "/")}/.well-known/jwks.json") : null

  # The standard attributes a signed-in user may still change on their own (UpdateUserAttributes with their access
  # token). Without write_attributes an app client may write every standard attribute, `name` included, and a user
  # could rename themselves "Admin" (API_CreateUserPoolClient, WriteAttributes). The display name's claim
  # (jwt_name_claim) must never be here; `sub` cannot be written by anyone.
  user_writable_attributes = ["locale", "zoneinfo"]

  auth_environment = merge(
    { AUTH_MODE = var.auth_mode },
    local.auth_token ? { CONNECT_TOKEN_PARAMETER = local.connect_token_parameter } : {},
    local.auth_jwt ? {
      JWT_ISSUER     = local.jwt_issuer
      JWT_AUDIENCE   = local.jwt_audience
      JWT_JWKS_URL   = local.jwks_url
      JWT_NAME_CLAIM = var.jwt_name_claim
    } : {},
  )
}

resource "aws_ssm_parameter" "connect_token" {
  #checkov:skip=CKV_AWS_337:Encrypted with the AWS managed key aws/ssm; a customer managed key adds cost and no reader we do not already trust (the function's role is the only one granted GetParameter).
  count = local.auth_token ? 1 : 0

  name        = local.connect_token_parameter
  description = "Connect token of ${local.name}: clients pass it as ?token= (set the value outside Terraform)"
  type        = "SecureString"
  value       = local.connect_token_placeholder

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = local.auth_jwt ? 1 : 0

  api_id           = aws_apigatewayv2_api.this.id
  name             = "${local.name}-jwt"
  authorizer_type  = "REQUEST"
  authorizer_uri   = aws_lambda_function.handler.invoke_arn
  identity_sources = [var.authorizer_identity_source]
}

resource "aws_lambda_permission" "authorizer" {
  count = local.auth_jwt ? 1 : 0

  statement_id  = "AllowInvokeAsOwnApiAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.handler.function_name
  principal     = "apigateway.amazonaws.com"
  # arn:...:execute-api:REGION:ACCOUNT:API_ID/authorizers/AUTHORIZER_ID
  source_arn = "${aws_apigatewayv2_api.this.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.jwt[0].id}"
}

resource "aws_cognito_user_pool" "this" {
  count = var.create_user_pool ? 1 : 0

  name                     = "${local.name}-users"
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  mfa_configuration        = "OFF"

  password_policy {
    minimum_length    = 12
    require_lowercase = true
    require_uppercase = true
    require_numbers   = true
    require_symbols   = false
  }

  admin_create_user_config {
    # Users are invited by an administrator; nobody signs themselves up to a push service by default.
    allow_admin_create_user_only = true
  }
}

resource "aws_cognito_user_pool_client" "this" {
  count = var.create_user_pool ? 1 : 0

  name         = "${local.name}-clients"
  user_pool_id = aws_cognito_user_pool.this[0].id
  # A public client (browsers, apps): no secret; ID tokens carry aud = this client's id.
  generate_secret               = false
  explicit_auth_flows           = ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors = "ENABLED"
  id_token_validity             = 60
  token_validity_units {
    id_token = "minutes"
  }
  # An explicit, non-empty list: an empty one is the same as none, which lets users write every standard attribute.
  # https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_CreateUserPoolClient.html
  write_attributes = local.user_writable_attributes

  lifecycle {
    precondition {
      condition     = length(local.user_writable_attributes) > 0 && !contains(local.user_writable_attributes, var.jwt_name_claim)
      error_message = "Users may not write the display name's claim (jwt_name_claim): it is shown to every recipient."
    }
  }
}
