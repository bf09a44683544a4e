"""The fan-out's own SigV4 signer computes exactly botocore's signature for the same POST, at the same moment."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given
from hypothesis import strategies as st

from lambda_src.aws.signing import PostSigner, normalized_path

SIGNED_AT = datetime.datetime(2026, 12, 2, 3, 4, 5, tzinfo=datetime.UTC)


@dataclass
class Clock:
    now: datetime.datetime

    def seconds(self) -> float:
        return self.now.timestamp()


def botocore_headers(credentials: Credentials, url: str, body: bytes, at: datetime.datetime) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", "eu-west-1").add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("credentials", "host", "base"),
    [
        (Credentials("AKIDEXAMPLE", "secret/with+odd=chars"), "127.0.0.1:3001", "http://127.0.0.1:3001"),
        (
            Credentials("ASIAEXAMPLE", "s3cr3t", token="session/token+=="),
            "abc123.execute-api.eu-west-1.amazonaws.com",
            "https://abc123.execute-api.eu-west-1.amazonaws.com",
        ),
    ],
)
@pytest.mark.parametrize("quoted_id", ["L0SM9cOFvHcCIhw%3D", "L0S%2F9cO%2BvHcCIhw%3D", "plain", "..", "a%20b"])
def test_signature_equals_botocores_for_the_same_post(
    credentials: Credentials, host: str, base: str, quoted_id: str
) -> None:
    path = f"/prod/@connections/{quoted_id}"
    body = '{"type":"message","message":"héllo"}'.encode()
    signer = PostSigner(credentials, "eu-west-1", "execute-api", host, clock=SIGNED_AT.timestamp)

    ours = dict(signer.headers(path, body))

    assert ours == botocore_headers(credentials, base + path, body, SIGNED_AT)


def test_the_signing_key_follows_the_date_and_the_credentials() -> None:
    clock = Clock(SIGNED_AT)
    credentials = Credentials("AKIDEXAMPLE", "first")
    signer = PostSigner(credentials, "eu-west-1", "execute-api", "h:1", clock=clock.seconds)
    path = "/prod/@connections/x"

    for moment, secret in [
        (SIGNED_AT, "first"),
        (SIGNED_AT + datetime.timedelta(days=1), "first"),  # a new day: a new scope and key
        (SIGNED_AT + datetime.timedelta(days=1, seconds=1), "rotated"),  # refreshed credentials: a new key
    ]:
        clock.now = moment
        credentials.secret_key = secret
        assert dict(signer.headers(path, b"x")) == botocore_headers(credentials, "http://h:1" + path, b"x", moment)


SEGMENTS = st.sampled_from(["", ".", "..", "a", "b%2F", "@connections", "x.y", "~t"])


@given(st.lists(SEGMENTS, max_size=8), st.booleans(), st.booleans())
def test_the_canonical_path_is_botocores_for_any_path(segments: list[str], leading: bool, trailing: bool) -> None:
    # botocore's own normalization is the oracle here; the function does not import it (it is not boto3's API).
    from botocore.utils import normalize_url_path

    path = ("/" if leading else "") + "/".join(segments) + ("/" if trailing else "")

    assert normalized_path(path) == normalize_url_path(path)
