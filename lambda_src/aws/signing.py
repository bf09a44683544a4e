"""SigV4 for the fan-out's one request shape: `POST {stage}/@connections/{id}` with a body, to `execute-api`.

A fan-out signs every post, and botocore's general signer (`SigV4Auth.add_auth` on an `AWSRequest`) spent over
half of the function's CPU per post re-deriving what does not change between posts: it parses the URL three
times, rebuilds the header map twice, and derives the signing key (four HMACs) per request. This signer computes
the same signature (AWS's algorithm, "Create a signed AWS API request",
https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html, read 2026-12-02) from the parts
that vary: the timestamp, the connection id, the body and the credentials. The signing key is scoped to a date,
region and service (step 4 of that page), so it is derived once per day and secret key, as the AWS SDKs do.

The signed headers are botocore's for this request (`host`, `x-amz-date`, and `x-amz-security-token` with
session credentials); the canonical URI is botocore's too (dot segments removed, each character outside
`/~` and the unreserved set percent-encoded once more: API Gateway, like every service but S3, signs the
encoded path). tests/lambda_src/test_signing.py holds the signature equal to botocore's for the same request.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

if TYPE_CHECKING:
    from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


class _Key(NamedTuple):
    secret_key: str
    date: str
    key: bytes


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key: HMAC chain over the date (YYYYMMDD), region, service and `aws4_request`."""
    return _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), date), region), service), TERMINATOR)


def canonical_uri(path: str) -> str:
    """The path as SigV4 puts it into the canonical request (for every service but S3): normalized as RFC 3986
    section 5.2.4 says, without empty segments, then percent-encoded once more ("Create a canonical request",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). botocore signs the same path
    (tests/lambda_src/test_signing.py compares the two for any path)."""
    return quote(normalized_path(path), safe="/~")


def normalized_path(path: str) -> str:
    """`path` without `.` and `..` segments or repeated slashes; `/` for an empty path."""
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment not in ("", "."):
            kept.append(segment)
    leading = "/" if path.startswith("/") else ""
    trailing = "/" if path.endswith("/") and kept else ""
    return leading + "/".join(kept) + trailing


class PostSigner:
    """Signs POSTs to one host for one region and service; thread-safe (one instance serves a fan-out's threads).

    `clock` returns epoch seconds (the timestamp is taken at signing, as botocore does).
    """

    def __init__(
        self,
        credentials: Credentials,
        region: str,
        service: str,
        host_header: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service
        self._host_header = host_header
        self._clock = clock
        self._lock = threading.Lock()
        self._key: _Key | None = None
        self._stamp_second = -1
        self._stamp = ""

    def headers(self, path: str, body: bytes) -> list[tuple[str, str]]:
        """The headers that authenticate `POST path` with `body` (the path as sent, already percent-encoded):
        `X-Amz-Date`, `X-Amz-Security-Token` (session credentials only) and `Authorization`. `Host` is the
        caller's to send, with the value given at construction."""
        # Frozen per request, as botocore does: a refresh between reading key and secret cannot mix them.
        credentials = self._credentials.get_frozen_credentials()
        if not credentials.access_key or not credentials.secret_key:
            raise ValueError("credentials without an access key or secret key cannot sign")
        timestamp = self._timestamp()
        date = timestamp[:8]
        token = credentials.token
        if token:
            canonical_headers = f"host:{self._host_header}\nx-amz-date:{timestamp}\nx-amz-security-token:{token}\n"
            signed_headers = "host;x-amz-date;x-amz-security-token"
        else:
            canonical_headers = f"host:{self._host_header}\nx-amz-date:{timestamp}\n"
            signed_headers = "host;x-amz-date"
        canonical_request = "\n".join(
            (
                "POST",
                canonical_uri(path),
                "",
                canonical_headers,
                signed_headers,
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{date}/{self._region}/{self._service}/{TERMINATOR}"
        string_to_sign = "\n".join(
            (ALGORITHM, timestamp, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest())
        )
        key = self._signing_key(credentials.secret_key, date)
        signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        authorization = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )
        headers = [("X-Amz-Date", timestamp)]
        if token:
            headers.append(("X-Amz-Security-Token", token))
        headers.append(("Authorization", authorization))
        return headers

    def _timestamp(self) -> str:
        now = self._clock()
        second = int(now)
        with self._lock:
            if second != self._stamp_second:
                self._stamp = time.strftime(AMZ_DATE_FORMAT, time.gmtime(second))
                self._stamp_second = second
            return self._stamp

    def _signing_key(self, secret_key: str, date: str) -> bytes:
        cached = self._key
        if cached is not None and cached.date == date and cached.secret_key == secret_key:
            return cached.key
        key = signing_key(secret_key, date, self._region, self._service)
        self._key = _Key(secret_key, date, key)
        return key
