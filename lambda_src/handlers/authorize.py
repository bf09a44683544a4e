"""The `$connect` REQUEST authorizer (`AUTH_MODE=jwt`): a token in, an IAM policy for the connect out.

API Gateway calls this before `$connect` and keeps the answer for the connection's life: `principalId` (the
token's `sub`) and `context` (the name and room patterns, strings only) reach every later event as
`requestContext.authorizer`. A refused token gets a Deny policy, which API Gateway answers with 403; a request
without the identity source (`?token=`) never gets here: API Gateway answers 401 itself.

The token is read from `?token=` (browsers cannot set headers on a WebSocket) or, failing that, from an
`Authorization: Bearer` header. Neither the token nor any part of it is ever logged.
See https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html and
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambda_src.errors import InvalidClaims, InvalidToken
from lambda_src.protocol.events import AuthorizeRequest
from lambda_src.protocol.identity import from_claims
from lambda_src.services import Services

TOKEN_QUERY_PARAMETER = "token"
BEARER_PREFIX = "bearer "
DENIED_PRINCIPAL = "unauthenticated"


def token_of(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The token from `?token=`, else from `Authorization: Bearer ...` (header names are case-insensitive)."""
    if query.get(TOKEN_QUERY_PARAMETER):
        return query[TOKEN_QUERY_PARAMETER]
    for name, value in headers.items():
        if name.lower() == "authorization" and value[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX:
            return value[len(BEARER_PREFIX) :].strip() or None
    return None


def policy(principal_id: str, effect: str, method_arn: str, context: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The authorizer's answer as API Gateway reads it; `context` values must be strings, numbers or booleans."""
    answer: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}],
        },
    }
    if context:
        answer["context"] = dict(context)
    return answer


def on_authorize(request: AuthorizeRequest, services: Services) -> dict[str, Any]:
    verifier = services.token_verifier
    if verifier is None:
        services.logger.error("authorizer event, but AUTH_MODE is not jwt: refusing the connect")
        return policy(DENIED_PRINCIPAL, "Deny", request.method_arn)
    token = token_of(request.query, request.headers)
    if token is None:
        services.logger.warning("connect refused", extra={"reason": "no token"})
        return policy(DENIED_PRINCIPAL, "Deny", request.method_arn)
    try:
        claims = verifier.verify(token)
        settings = verifier.settings
        identity = from_claims(claims, name_claim=settings.name_claim, rooms_claim=settings.rooms_claim)
    except InvalidToken as error:
        services.logger.warning("connect refused", extra={"reason": error.reason})
        return policy(DENIED_PRINCIPAL, "Deny", request.method_arn)
    except InvalidClaims as error:
        services.logger.warning("connect refused", extra={"reason": str(error)})
        return policy(DENIED_PRINCIPAL, "Deny", request.method_arn)
    services.logger.info(
        "authorized",
        extra={"principalId": identity.principal_id, "rooms": None if identity.rooms is None else len(identity.rooms)},
    )
    return policy(identity.principal_id, "Allow", request.method_arn, identity.to_context())
