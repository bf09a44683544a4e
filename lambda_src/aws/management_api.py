"""The `@connections` management API client that fan-out posts through, kept lean on CPU.

A fan-out is bound by CPU per post, and most of boto3's `post_to_connection` is per-call machinery (parameter
validation, serialisation, event hooks, parsing): docs/benchmarks.md (bench.post_cpu) has the figures. This
client keeps what matters from botocore (its credential chain, refreshed as needed), signs with `signing`
(SigV4 for this one request shape, equal to botocore's signature) and sends the request on a keep-alive
HTTP/1.1 connection (`http1`) per fan-out thread. Retries are those of botocore's
standard mode (5xx and connection errors, full-jitter exponential backoff) with more, shorter attempts: a
lost post is a lost message, and docs/reliability.md shows why 3 attempts lose messages when a tenth of posts
fail. A 429 is not retried here: it comes back at once as `THROTTLED`, because the quota it reports is shared by
every post of the fan-out, whose pacer (`pacing`) slows them all down and posts it again.

Every post is bounded by the invocation's deadline (`deadline`): an attempt waits for its answer at most until
`HANDOFF_RESERVE_MS` before the deadline, and no retry starts (nor backs off) past `DEADLINE_MARGIN_MS`; such a
post comes back `UNFINISHED`, so the fan-out hands it to a continuation instead of the invocation timing out
with its recipients unposted (6 attempts of 10 s each could take a minute against a 30 s function timeout).
"""

from __future__ import annotations

import http.client
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from lambda_src.aws import deadline
from lambda_src.aws.http1 import Http1Connection
from lambda_src.aws.posting import (
    DEADLINE_MARGIN_MS,
    DELIVERED,
    GONE,
    HANDOFF_RESERVE_MS,
    THROTTLED,
    UNFINISHED,
    Outcome,
    PostResult,
)
from lambda_src.aws.signing import PostSigner

if TYPE_CHECKING:
    from botocore.credentials import Credentials

MAX_ATTEMPTS = 6
"""With a tenth of posts failing at random, one post is lost with chance 0.1**6 = 1e-6 (3 attempts: 1e-3)."""
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
THROTTLED_STATUS = 429
BASE_BACKOFF_S = 0.05
MAX_BACKOFF_S = 2.0
"""Retry n waits up to min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2**n): at most 3.1 s in all for one post."""
READ_TIMEOUT_S = 10.0
SIGNING_SERVICE = "execute-api"


class SignedPoster:
    """`Poster` that signs each POST with SigV4 and sends it on a keep-alive connection of the calling thread.

    Fan-out threads each hold one persistent HTTP connection (so the pool is as large as the thread pool);
    a lean HTTP/1.1 connection (`http1`) is used because urllib3's pool machinery, and `http.client`'s response
    parsing, cost more CPU than the request itself.
    """

    def __init__(
        self,
        endpoint_url: str,
        credentials: Credentials,
        region: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(endpoint_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        default_port = 443 if self._https else 80
        # The value botocore signs for `host` (it leaves sending the header to its own HTTP layer).
        self._host_header = self._host if self._port == default_port else f"{self._host}:{self._port}"
        self._path_prefix = f"{parts.path}/@connections/"
        self._signer = PostSigner(credentials, region, SIGNING_SERVICE, self._host_header)
        self._local = threading.local()
        self._ssl_context = ssl.create_default_context() if self._https else None
        self._sleep = sleep

    def post(self, connection_id: str, data: bytes) -> PostResult:
        path = self._path_prefix + quote(connection_id, safe="")
        error = "unknown"
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                backoff_s = random.uniform(0, min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2**attempt))
                left = deadline.remaining_ms()
                if left is not None and left - backoff_s * 1000 <= DEADLINE_MARGIN_MS:
                    return UNFINISHED  # no time for this retry: the continuation posts it
                self._sleep(backoff_s)
            timeout_s = _attempt_timeout_s()
            if timeout_s <= 0:
                return UNFINISHED
            # Signed per attempt: a retry carries a fresh timestamp, as botocore's retries do.
            headers = self._signer.headers(path, data)
            try:
                status, error_type = self._send(path, data, headers, timeout_s)
            except TimeoutError:
                self._drop_connection()
                if timeout_s < READ_TIMEOUT_S:
                    # Cut short by the deadline, not by the endpoint: posted again by the continuation (it may have
                    # arrived: at-least-once, see docs/reliability.md).
                    return UNFINISHED
                error = "TimeoutError"
                continue
            except (OSError, http.client.HTTPException) as failure:
                self._drop_connection()
                error = type(failure).__name__
                continue
            if 200 <= status < 300:
                return DELIVERED
            if status == 410:
                return GONE
            if status == THROTTLED_STATUS:
                return THROTTLED
            error = _error_type(error_type, status)
            if status not in RETRYABLE_STATUSES:
                break
        return PostResult(Outcome.FAILED, error)

    def _send(
        self, path: str, data: bytes, headers: Iterable[tuple[str, str]], timeout_s: float
    ) -> tuple[int, str | None]:
        lines = [f"POST {path} HTTP/1.1", f"Host: {self._host_header}"]
        for name, value in headers:
            if "\r" in value or "\n" in value:  # as http.client refuses: a header must not split the request
                raise ValueError(f"invalid value for header {name}")
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(data)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        response = self._connection().request(head, data, timeout_s=timeout_s)
        return response.status, response.headers.get("x-amzn-errortype")

    def _connection(self) -> Http1Connection:
        connection: Http1Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = Http1Connection(
                self._host, self._port, timeout_s=READ_TIMEOUT_S, ssl_context=self._ssl_context
            )
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _attempt_timeout_s() -> float:
    """How long one attempt may wait: `READ_TIMEOUT_S`, less when the invocation's deadline is nearer."""
    left = deadline.remaining_ms()
    if left is None:
        return READ_TIMEOUT_S
    return min(READ_TIMEOUT_S, (left - HANDOFF_RESERVE_MS) / 1000)


def _error_type(header: str | None, status: int) -> str:
    # API Gateway sends e.g. "ForbiddenException:http://internal.amazon.com/coral/..." or nothing at all.
    if header:
        return header.split(":", 1)[0]
    return f"HTTP {status}"
