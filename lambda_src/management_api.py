"""The `@connections` management API client that fan-out posts through, kept lean on CPU.

A fan-out is bound by CPU per post, and most of boto3's `post_to_connection` is per-call machinery (parameter
validation, serialisation, event hooks, parsing): docs/benchmarks.md (bench.post_cpu) has the figures. This
client keeps what matters from botocore (its credential chain, refreshed as needed, and its SigV4 signer) and
sends the request on a keep-alive `http.client` connection per fan-out thread. Retries are those of botocore's
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

from . import deadline
from .fanout import DEADLINE_MARGIN_MS, DELIVERED, GONE, HANDOFF_RESERVE_MS, THROTTLED, UNFINISHED, Outcome, PostResult

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
    plain `http.client` is used because urllib3's pool machinery costs more CPU than the request itself.
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
        self._base = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        default_port = 443 if self._https else 80
        # The value botocore signs for `host` (it leaves sending the header to its own HTTP layer).
        self._host_header = self._host if self._port == default_port else f"{self._host}:{self._port}"
        self._path_prefix = f"{parts.path}/@connections/"
        self._credentials = credentials
        self._region = region
        self._local = threading.local()
        self._ssl_context = ssl.create_default_context() if self._https else None
        self._sleep = sleep

    def post(self, connection_id: str, data: bytes) -> PostResult:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        quoted = quote(connection_id, safe="")
        url = f"{self._base}/@connections/{quoted}"
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
            request = AWSRequest(method="POST", url=url, data=data)
            # Frozen per request, as botocore does: a refresh between reading key and secret cannot mix them.
            SigV4Auth(self._credentials.get_frozen_credentials(), SIGNING_SERVICE, self._region).add_auth(request)
            try:
                status, error_type = self._send(self._path_prefix + quoted, data, request.headers.items(), timeout_s)
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
        connection = self._connection()
        connection.timeout = timeout_s
        if connection.sock is not None:
            connection.sock.settimeout(timeout_s)
        connection.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", self._host_header)
        for name, value in headers:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(data)))
        connection.endheaders(data)
        response = connection.getresponse()
        response.read()
        if response.will_close:
            self._drop_connection()
        return response.status, response.getheader("x-amzn-ErrorType")

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=READ_TIMEOUT_S, context=self._ssl_context
                )
            else:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=READ_TIMEOUT_S)
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
