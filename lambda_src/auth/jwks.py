"""The issuer's signing keys (its JWKS), fetched with the standard library and cached while the function is warm.

Keys are refetched when they are older than `max_age_s`, and when a token names a `kid` the cache does not hold
(the issuer rotated its keys) - but at most once per `min_refetch_interval_s`, failed fetches included, so tokens
with made-up kids cannot make the function hammer the issuer. Only asymmetric keys (RSA, EC) are taken: a
symmetric (`oct`) key in a JWKS would let anyone who can read the JWKS sign tokens.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambda_src.errors import JwksUnavailable, UnknownKey

if TYPE_CHECKING:
    from jwt import PyJWK

JWKS_TIMEOUT_S = 3.0
"""A connect waits for this at most; API Gateway itself gives the authorizer 29 s, a user far less patience."""
MAX_JWKS_BYTES = 1024 * 1024
DEFAULT_MAX_AGE_S = 3600.0
DEFAULT_MIN_REFETCH_INTERVAL_S = 60.0
ACCEPTED_KEY_TYPES = frozenset({"RSA", "EC"})


@dataclass(frozen=True)
class SigningKey:
    key: PyJWK
    declared_algorithm: str | None
    """The JWK's own `alg`, when the issuer states one: a token must then use exactly that algorithm."""


def fetch_jwks(url: str, timeout_s: float = JWKS_TIMEOUT_S) -> Mapping[str, Any]:
    """GET the JWKS document (urllib: no dependency for one request a few times an hour)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "wspush-authorizer"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise JwksUnavailable(f"cannot fetch the JWKS from {url}: {getattr(error, 'reason', error)}") from None
    if len(body) > MAX_JWKS_BYTES:
        raise JwksUnavailable(f"the JWKS at {url} is over {MAX_JWKS_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise JwksUnavailable(f"the JWKS at {url} is not JSON") from None
    if not isinstance(document, Mapping):
        raise JwksUnavailable(f"the JWKS at {url} is not a JSON object")
    return document


def parse_keys(document: Mapping[str, Any]) -> dict[str, SigningKey]:
    """The usable signing keys of a JWKS by `kid`; keys that are symmetric, for encryption or malformed are skipped."""
    from jwt import PyJWK
    from jwt.exceptions import PyJWKError

    keys = document.get("keys")
    if not isinstance(keys, list):
        raise JwksUnavailable("the JWKS has no 'keys' list")
    usable: dict[str, SigningKey] = {}
    for entry in keys:
        if not isinstance(entry, Mapping) or entry.get("kty") not in ACCEPTED_KEY_TYPES:
            continue
        kid, use, alg = entry.get("kid"), entry.get("use", "sig"), entry.get("alg")
        if not isinstance(kid, str) or use != "sig":
            continue
        try:
            key = PyJWK(dict(entry))
        except (PyJWKError, ValueError, TypeError):
            continue
        usable[kid] = SigningKey(key, alg if isinstance(alg, str) else None)
    return usable


class JwksCache:
    """The keys of one issuer; `key(kid)` fetches on first use, on expiry and (rate-limited) on an unknown kid."""

    def __init__(
        self,
        url: str,
        *,
        fetch: Callable[[str], Mapping[str, Any]] = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        min_refetch_interval_s: float = DEFAULT_MIN_REFETCH_INTERVAL_S,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._clock = clock
        self._max_age_s = max_age_s
        self._min_interval_s = min_refetch_interval_s
        self._keys: dict[str, SigningKey] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0
        """How many times the JWKS was requested (tests and logs)."""

    def key(self, kid: str) -> SigningKey:
        with self._lock:
            now = self._clock()
            stale = self._keys is None or now - self._fetched_at >= self._max_age_s
            if stale or kid not in (self._keys or {}):
                self._refresh(now, required=self._keys is None)
            found = (self._keys or {}).get(kid)
        if found is None:
            raise UnknownKey(f"no key {kid[:64]!r} in the issuer's JWKS")
        return found

    def _refresh(self, now: float, *, required: bool) -> None:
        if self._attempted_at is not None and now - self._attempted_at < self._min_interval_s:
            if required:
                raise JwksUnavailable("the JWKS could not be fetched recently; not retrying yet")
            return
        self._attempted_at = now
        self.fetches += 1
        try:
            keys = parse_keys(self._fetch(self.url))
        except JwksUnavailable:
            if self._keys is None:
                raise
            return  # keep serving the keys we have; the issuer may be down for a moment
        self._keys = keys
        self._fetched_at = now
