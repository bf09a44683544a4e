"""What stands before the stack's AWS-style HTTP APIs (the Lambda API, `@connections`): Host, body size, SigV4.

`ApiGuard.protect(handler, ...)` wraps one route's handler. In order, with nothing read or changed before a
check passes:
1. the `Host` header must name the stack itself (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT` or the
   configured `--host`), else 421 Misdirected Request: a page that rebinds its own DNS name to 127.0.0.1 gets
   nothing from these APIs, whatever it sends;
2. the `Authorization` header must be a SigV4 one for the stack's credentials, region and the route's signing
   service, with a fresh timestamp (`sigv4.SigV4Verifier.check_header`), else 403 as AWS answers;
3. the body is read only up to the route's limit (a larger one is answered by the route's own 413, unread);
4. the signature must match the method, path, query, signed headers and body, else 403.
The handler then gets a request whose body is already read (its `read()`/`json()` return it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from util.local.aws.sigv4 import Refusal, SigV4Verifier

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BodyLimit = int | Callable[[web.Request], int]
"""A route's largest body in bytes, fixed or chosen from the request's headers (Lambda's Invoke: by type)."""
TooLarge = Callable[[web.Request, int], web.StreamResponse]
"""The route's own answer to a body over its limit (the limit is passed in)."""

SMALL_BODY_BYTES = 16 * 1024
"""The limit of every request the stack reads a body from without a route saying otherwise (aiohttp's
`client_max_size` of the whole app): GETs, DELETEs, anything unknown."""
MISDIRECTED = 421
"""RFC 9110 15.5.20: the server is not willing to answer for the URI's authority (the Host it was sent)."""
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The `Host` values that name this stack: loopback by address or name, and the configured host itself."""
    names = set(LOOPBACK_NAMES)
    if host not in WILDCARD_HOSTS:
        names.add(f"[{host}]" if ":" in host else host)
    values = {f"{name}:{port}".lower() for name in names}
    if port == 80:  # a client may leave the default port out
        values |= {name.lower() for name in names}
    return frozenset(values)


def refusal_response(refusal: Refusal) -> web.Response:
    """AWS's shape for an authentication failure: the type in `x-amzn-ErrorType`, `{"message": ...}`."""
    return web.json_response(
        {"message": refusal.message}, status=refusal.status, headers={"x-amzn-ErrorType": refusal.error_type}
    )


def misdirected() -> web.Response:
    return web.json_response({"message": "Misdirected Request"}, status=MISDIRECTED)


class ApiGuard:
    def __init__(self, verifier: SigV4Verifier, hosts: Iterable[str]) -> None:
        self._verifier = verifier
        self._hosts = frozenset(host.lower() for host in hosts)

    def protect(self, handler: Handler, *, service: str, max_body_bytes: BodyLimit, too_large: TooLarge) -> Handler:
        """`handler` behind the four checks; `service` is the SigV4 signing name (`lambda`, `execute-api`)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Host", "").lower() not in self._hosts:
                return misdirected()
            try:
                header = self._verifier.check_header(request.headers, service)
            except Refusal as refusal:
                return refusal_response(refusal)
            limit = max_body_bytes(request) if callable(max_body_bytes) else max_body_bytes
            if request.content_length is not None and request.content_length > limit:
                return too_large(request, limit)
            bounded = request.clone(client_max_size=limit)
            try:
                body = await bounded.read()  # cached on `bounded`: the handler's read() returns it
            except web.HTTPRequestEntityTooLarge:  # chunked, no Content-Length: found out while reading
                return too_large(request, limit)
            try:
                self._verifier.verify(
                    header,
                    method=request.method,
                    raw_path=request.raw_path,
                    headers=request.headers,
                    body=body,
                    service=service,
                )
            except Refusal as refusal:
                return refusal_response(refusal)
            return await handler(bounded)

        return guarded
