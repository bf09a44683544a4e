"""The handler as API Gateway's REQUEST authorizer (jwt mode), and identity in the events after it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jwt
import pytest

from lambda_src.auth.jwks import JwksCache
from lambda_src.auth.tokens import TokenVerifier
from lambda_src.config import AuthMode
from lambda_src.errors import ErrorCode, InvalidClaims
from lambda_src.handlers.authorize import token_of
from lambda_src.protocol.identity import Identity, NameRefusal, from_authorizer, from_claims
from lambda_src.services import Services
from tests.strict_json import loads

from .conftest import connect_event, invoke, message_event
from .connections_server import ConnectionsServer
from .names import REFUSED_NAMES
from .test_tokens import EC_KEY, SETTINGS, Issuer, claims, public_jwk

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc/live/$connect"


def authorizer_event(query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers or {}}
    if query is not None:
        event["queryStringParameters"] = query
    event["requestContext"] = {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "c-1"}
    return event


@pytest.fixture
def jwt_services(services: Services) -> Services:
    services.config = replace(services.config, auth_mode=AuthMode.JWT, jwt=SETTINGS)
    cache = JwksCache(SETTINGS.jwks_url, fetch=Issuer(public_jwk(EC_KEY, "ec-1")).fetch)
    services.token_verifier = TokenVerifier(SETTINGS, cache)
    return services


def token(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})


def test_a_valid_token_gets_an_allow_on_the_method_arn_with_the_identity_as_context(jwt_services: Services) -> None:
    answer = invoke(jwt_services, authorizer_event({"token": token(name="Alice", rooms=["team-*", "lobby"])}))
    assert answer == {
        "principalId": "alice",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}],
        },
        "context": {"name": "Alice", "rooms": "team-*,lobby"},
    }


def test_a_bearer_header_works_when_the_query_has_no_token(jwt_services: Services) -> None:
    answer = invoke(jwt_services, authorizer_event(headers={"authorization": f"Bearer {token()}"}))
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert token_of({}, {"Authorization": "Basic abc"}) is None


@pytest.mark.parametrize(
    "event",
    [
        authorizer_event(),
        authorizer_event({"token": "garbage"}),
        authorizer_event({"token": token(aud="other")}),
        authorizer_event({"token": token(rooms="not a list!")}),
        authorizer_event({"token": token(sub="alice\u202eecila")}),
        authorizer_event({"token": token(sub="a" * 256)}),
        authorizer_event({"token": token(broadcast="yes")}),
    ],
    ids=[
        "no token",
        "garbage",
        "wrong audience",
        "malformed rooms claim",
        "sub with a bidi override",
        "sub over 255",
        "grant claim not a boolean",
    ],
)
def test_a_refused_token_gets_a_deny(jwt_services: Services, event: dict[str, Any]) -> None:
    answer = invoke(jwt_services, event)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "context" not in answer


def test_an_authorizer_event_outside_jwt_mode_is_denied(services: Services) -> None:
    answer = invoke(services, authorizer_event({"token": token()}))
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def with_authorizer(event: dict[str, Any], context: dict[str, str]) -> dict[str, Any]:
    event["requestContext"]["authorizer"] = context
    return event


def test_connect_in_jwt_mode_takes_the_name_from_the_identity_and_ignores_name(jwt_services: Services) -> None:
    event = with_authorizer(connect_event("c-1", {"name": "Eve"}), {"principalId": "alice", "name": "Alice"})
    assert invoke(jwt_services, event)["statusCode"] == 200
    stored = jwt_services.store.get("c-1")
    assert stored is not None and stored.name == "Alice"


def test_connect_in_jwt_mode_without_an_authorizer_identity_is_refused(jwt_services: Services) -> None:
    assert invoke(jwt_services, connect_event("c-2", {"name": "Eve"}))["statusCode"] == 401
    assert jwt_services.store.get("c-2") is None


def test_whoami_answers_from_the_event_without_reading_the_store(
    jwt_services: Services, connections_server: ConnectionsServer
) -> None:
    # No record stored: the name can only have come from requestContext.authorizer.
    event = with_authorizer(message_event("c-3", {"action": "whoami"}), {"principalId": "bob", "name": "Bob"})
    assert invoke(jwt_services, event)["statusCode"] == 200
    assert connections_server.frames("c-3") == [{"type": "whoami", "connectionId": "c-3", "name": "Bob"}]


def test_join_outside_the_rooms_claim_is_forbidden(
    jwt_services: Services, connections_server: ConnectionsServer
) -> None:
    context = {"principalId": "bob", "name": "Bob", "rooms": "team-*"}
    event = with_authorizer(message_event("c-4", {"action": "join", "room": "secret"}), context)
    assert invoke(jwt_services, event)["statusCode"] == 400
    (frame,) = connections_server.frames("c-4")
    assert frame["code"] == "forbidden"


def test_identity_from_claims_and_back() -> None:
    identity = from_claims({"sub": "u1", "name": "Ada"}, name_claim="name", rooms_claim="rooms")
    assert identity == Identity("u1", "Ada", None), "no rooms claim: any room"
    assert from_claims({"sub": "u1"}, name_claim="name", rooms_claim="rooms").name == "u1"
    assert from_claims({"sub": "u" * 80}, name_claim="name", rooms_claim="rooms").name == "u" * 64, "sub cut to 64"
    too_long = from_claims({"sub": "u1", "name": "N" * 65}, name_claim="name", rooms_claim="rooms")
    assert too_long.name_refusal == NameRefusal(ErrorCode.NAME_TOO_LONG, "a name is at most 64 characters")
    assert from_authorizer({"principalId": "u1", **too_long.to_context()}) == too_long
    limited = from_claims({"sub": "u1", "rooms": []}, name_claim="name", rooms_claim="rooms")
    assert not limited.may_use("lobby"), "an empty rooms claim allows no room"
    assert from_authorizer({"principalId": "u1", **limited.to_context()}) == limited
    with pytest.raises(InvalidClaims):
        from_claims({"sub": "u1", "rooms": ["a,b"]}, name_claim="name", rooms_claim="rooms")


def _connect_through_the_authorizer(services: Services, name: str) -> tuple[dict[str, str], dict[str, Any]]:
    """What API Gateway does: run the authorizer, then `$connect` with its answer as `requestContext.authorizer`.
    Returns the authorizer's context and `$connect`'s result."""
    answer = invoke(services, authorizer_event({"token": token(name=name)}))
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow", "the token itself is valid"
    authorizer = {"principalId": answer["principalId"], **answer["context"]}
    return answer["context"], invoke(services, with_authorizer(connect_event("c-9"), authorizer))


def _connect_with_query_name(services: Services, name: str) -> dict[str, Any]:
    jwt_config = services.config
    services.config = replace(jwt_config, auth_mode=AuthMode.NONE)
    try:
        return invoke(services, connect_event("q-9", {"name": name}))
    finally:
        services.config = jwt_config


@pytest.mark.parametrize(
    "name",
    [n for _, n in REFUSED_NAMES] + ["N" * 65],
    ids=[case for case, _ in REFUSED_NAMES] + ["65 characters"],
)
def test_a_name_claim_is_refused_at_connect_exactly_as_the_same_name_in_the_query(
    jwt_services: Services, name: str
) -> None:
    context, by_claim = _connect_through_the_authorizer(jwt_services, name)
    by_query = _connect_with_query_name(jwt_services, name)

    assert "name" not in context, "a refused name never travels as the connection's name"

    assert by_claim["statusCode"] == by_query["statusCode"] == 400
    assert loads(by_claim["body"]) == loads(by_query["body"])
    assert loads(by_claim["body"])["code"] == ("name_too_long" if len(name) > 64 else "invalid_field")
    assert jwt_services.store.get("c-9") is None and jwt_services.store.get("q-9") is None


@pytest.mark.parametrize("name", ["Zoë", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "👩\u200d💻", "N" * 64])
def test_a_name_claim_the_rule_allows_names_the_connection(jwt_services: Services, name: str) -> None:
    context, result = _connect_through_the_authorizer(jwt_services, name)
    assert (context["name"], result) == (name, {"statusCode": 200})
    stored = jwt_services.store.get("c-9")
    assert stored is not None and stored.name == name
