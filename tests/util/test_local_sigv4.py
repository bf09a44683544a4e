"""`util.local.aws.sigv4`: the local stack's SigV4 verifier, request by request (no server: sans-I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict, CIMultiDictProxy

from util.local.aws.credentials import (
    ACCESS_KEY_ID_FIELD,
    SECRET_ACCESS_KEY_FIELD,
    SESSION_TOKEN_FIELD,
    ClientCredentials,
    LocalCredentials,
)
from util.local.aws.sigv4 import MAX_CLOCK_SKEW_S, Refusal, SigV4Verifier

REGION = "us-east-1"
HOST = "127.0.0.1:3001"
PATH = "/live/@connections/a%2Fb%2B1%3D"
BODY = b'{"hello": "world"}'
OWN = LocalCredentials.generate()


def signed(
    credentials: LocalCredentials = OWN,
    *,
    service: str = "execute-api",
    method: str = "POST",
    path: str = PATH,
    body: bytes = BODY,
    extra: dict[str, str] | None = None,
) -> tuple[CIMultiDictProxy[str], float]:
    """The headers botocore sends for this request, and the epoch second it signed at."""
    request = AWSRequest(method=method, url=f"http://{HOST}{path}", data=body, headers=extra or {})
    SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token),
        service,
        REGION,
    ).add_auth(request)
    headers = CIMultiDict({"Host": HOST, **dict(request.headers.items())})
    signed_at = datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    return CIMultiDictProxy(headers), signed_at


def verify(
    headers: CIMultiDictProxy[str],
    at: float,
    *,
    service: str = "execute-api",
    method: str = "POST",
    path: str = PATH,
    body: bytes = BODY,
) -> None:
    verifier = SigV4Verifier(OWN, REGION, clock=lambda: at)
    header = verifier.check_header(headers, service)
    verifier.verify(header, method=method, raw_path=path, headers=headers, body=body, service=service)


def refusal(headers: CIMultiDictProxy[str], at: float, **kwargs: str | bytes) -> Refusal:
    with pytest.raises(Refusal) as refused:
        verify(headers, at, **kwargs)  # type: ignore[arg-type]
    assert refused.value.status == 403
    return refused.value


def with_header(headers: CIMultiDictProxy[str], name: str, value: str) -> CIMultiDictProxy[str]:
    changed = CIMultiDict(headers)
    changed[name] = value
    return CIMultiDictProxy(changed)


def test_a_request_signed_by_botocore_with_the_stacks_credentials_verifies() -> None:
    headers, at = signed()
    verify(headers, at)


def test_a_query_string_is_part_of_what_is_signed() -> None:
    path = "/2015-03-31/functions/f/invocations?Qualifier=%24LATEST"
    headers, at = signed(service="lambda", path=path)
    verify(headers, at, service="lambda", path=path)
    assert refusal(headers, at, service="lambda", path=path.replace("LATEST", "OTHER")).error_type == (
        "InvalidSignatureException"
    )


@pytest.mark.parametrize(
    ("change", "value"),
    [("body", b'{"hello": "mallory"}'), ("path", "/live/@connections/other"), ("method", "DELETE")],
)
def test_changing_what_was_signed_is_refused_as_a_signature_mismatch(change: str, value: str | bytes) -> None:
    headers, at = signed()
    refused = refusal(headers, at, **{change: value})
    assert (refused.error_type, refused.message) == (
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
        "Access Key and signing method. Consult the service documentation for details.",
    )


def test_a_signed_header_changed_in_transit_is_refused() -> None:
    headers, at = signed(extra={"X-Amz-Invocation-Type": "RequestResponse"})
    verify(headers, at)
    assert refusal(with_header(headers, "X-Amz-Invocation-Type", "Event"), at).error_type == "InvalidSignatureException"


def test_a_content_hash_header_that_lies_about_the_body_is_refused() -> None:
    """botocore's signer trusts `X-Amz-Content-SHA256` when present; the verifier checks it against the body."""
    lie = "0" * 64
    headers, at = signed(extra={"X-Amz-Content-SHA256": lie}, body=b"the body that was signed")
    assert refusal(headers, at, body=b"another body").error_type == "InvalidSignatureException"


@pytest.mark.parametrize("offset_s", [MAX_CLOCK_SKEW_S + 1, -(MAX_CLOCK_SKEW_S + 1)])
def test_a_timestamp_more_than_five_minutes_off_is_refused_with_awss_message(offset_s: float) -> None:
    headers, at = signed()
    refused = refusal(headers, at + offset_s)
    assert refused.error_type == "InvalidSignatureException"
    expected = "Signature expired: " if offset_s > 0 else "Signature not yet current: "
    assert refused.message.startswith(expected + headers["X-Amz-Date"])
    assert refused.message.endswith(" 5 min.)")


def test_a_timestamp_within_five_minutes_is_accepted() -> None:
    headers, at = signed()
    verify(headers, at + MAX_CLOCK_SKEW_S - 1)
    verify(headers, at - MAX_CLOCK_SKEW_S + 1)


def test_an_unknown_key_or_session_token_is_an_unrecognized_client() -> None:
    for credentials in (LocalCredentials.generate(), replace(OWN, session_token="another-token")):
        headers, at = signed(credentials)
        refused = refusal(headers, at)
        assert (refused.error_type, refused.message) == (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )


def test_the_right_key_with_a_wrong_secret_is_a_signature_mismatch() -> None:
    headers, at = signed(replace(OWN, secret_access_key="guess"))
    assert refusal(headers, at).error_type == "InvalidSignatureException"


def test_a_scope_for_another_service_is_refused_naming_the_right_one() -> None:
    headers, at = signed(service="lambda")
    refused = refusal(headers, at)
    assert (refused.error_type, refused.message) == (
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'execute-api'. ",
    )


def test_host_must_be_signed() -> None:
    headers, at = signed()
    authorization = headers["Authorization"].replace("SignedHeaders=host;", "SignedHeaders=")
    assert "host" not in authorization.split("SignedHeaders=")[1].split(",")[0]
    refused = refusal(with_header(headers, "Authorization", authorization), at)
    assert refused.message == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


@pytest.mark.parametrize(
    ("authorization", "start"),
    [
        ("AWS4-HMAC-SHA256 x", "'x' not a valid key=value pair (missing equal-sign) in Authorization header."),
        ("Bearer eyJhbGciOi", "Authorization header requires 'Credential' parameter."),
        ("AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=00", "Credential must have exactly 5"),
    ],
)
def test_an_incomplete_authorization_header_is_an_incomplete_signature(authorization: str, start: str) -> None:
    headers, at = signed()
    refused = refusal(with_header(headers, "Authorization", authorization), at)
    assert refused.error_type == "IncompleteSignatureException"
    assert refused.message.startswith(start)


def test_no_authorization_header_is_a_missing_authentication_token() -> None:
    headers, at = signed()
    bare = CIMultiDict(headers)
    del bare["Authorization"]
    refused = refusal(CIMultiDictProxy(bare), at)
    assert (refused.error_type, refused.message) == (
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )


def test_the_credentials_repr_and_client_kwargs_are_what_they_promise() -> None:
    assert OWN.secret_access_key not in repr(OWN) and OWN.session_token not in repr(OWN)
    assert set(ClientCredentials.__annotations__) == {ACCESS_KEY_ID_FIELD, SECRET_ACCESS_KEY_FIELD, SESSION_TOKEN_FIELD}
    assert OWN.to_state() == dict(OWN.client_kwargs())
    assert LocalCredentials.from_state(OWN.to_state()) == OWN
    assert LocalCredentials.from_state({**OWN.to_state(), SESSION_TOKEN_FIELD: ""}) is None
    assert LocalCredentials.generate() != LocalCredentials.generate()
