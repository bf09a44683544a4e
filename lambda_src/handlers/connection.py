"""The connection lifecycle: `$connect` (token check, name, store) and `$disconnect`."""

from __future__ import annotations

import hmac
from typing import Any

from lambda_src.config import AuthMode
from lambda_src.errors import ErrorCode, ProtocolError
from lambda_src.observability import metrics
from lambda_src.protocol.events import ConnectRequest, DisconnectRequest
from lambda_src.protocol.frames import error_frame, validate_name
from lambda_src.rooms import presence
from lambda_src.services import Services
from lambda_src.store.contract import Connection, Member


def on_connect(request: ConnectRequest, services: Services) -> dict[str, Any]:
    """Accept (200) and store the connection, or refuse it: 401 for a wrong token, 400 for a bad name.

    A refused handshake cannot receive frames, so the error frame travels as the response body instead.
    In `jwt` mode the authorizer has already let the connect through, and its identity names the connection:
    `?name=` is ignored, and a name claim that broke the name rule is refused here as a bad `?name=` is.
    """
    if services.config.auth_mode == AuthMode.JWT:
        if request.identity is None:
            # Only an API whose $connect lacks the authorizer sends this: refuse rather than admit anyone.
            services.logger.error("connect refused: no authorizer identity on $connect while AUTH_MODE is jwt")
            metrics.refused(ErrorCode.UNAUTHORIZED.value)
            refusal = error_frame(ErrorCode.UNAUTHORIZED, "a valid token is required")
            return {"statusCode": 401, "body": refusal.decode()}
        name_refusal = request.identity.name_refusal
        if name_refusal is not None:
            return _refuse_name(ProtocolError(name_refusal.code, name_refusal.reason), services)
        return _store(request, request.identity.name, services)
    expected = services.config.connect_token
    if expected is not None:
        given = request.query.get("token", "")
        # surrogatepass: a lone surrogate in `?token=` is a wrong token, not a UnicodeEncodeError and an ERROR line.
        if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")):
            services.logger.warning("connect refused", extra={"code": ErrorCode.UNAUTHORIZED.value})
            metrics.refused(ErrorCode.UNAUTHORIZED.value)
            return {
                "statusCode": 401,
                "body": error_frame(ErrorCode.UNAUTHORIZED, "a valid token is required").decode(),
            }
    try:
        name = validate_name(request.query.get("name"))
    except ProtocolError as error:
        return _refuse_name(error, services)
    return _store(request, name, services)


def _refuse_name(error: ProtocolError, services: Services) -> dict[str, Any]:
    """400 with the name rule's error frame as body, whether the name came from `?name=` or from a token."""
    services.logger.info("connect refused", extra={"code": error.code.value})
    metrics.refused(error.code.value)
    return {"statusCode": 400, "body": error_frame(error.code, error.message).decode()}


def _store(request: ConnectRequest, name: str, services: Services) -> dict[str, Any]:
    services.store.add(
        Connection(
            connection_id=request.connection_id,
            name=name,
            connected_at_ms=request.connected_at_ms or services.clock_ms(),
            source_ip=request.source_ip,
        )
    )
    services.logger.info("connected", extra={"clientName": name})
    metrics.connected()
    return {"statusCode": 200}


def on_disconnect(request: DisconnectRequest, services: Services) -> dict[str, Any]:
    record = services.store.get(request.connection_id)
    services.store.remove([request.connection_id])
    metrics.disconnected()
    if record is None:
        return _disconnected(request, services)
    for room in record.rooms:
        try:
            user_id = None if request.identity is None else request.identity.principal_id
            member = Member(record.connection_id, record.name, None, user_id)
            presence.announce(room, presence.Event.LEAVE, member, services)
        except Exception as error:
            # The connection is gone whatever happens here; one room's failed frame must not keep the others'.
            services.logger.warning("presence failed", extra={"room": room, "error": type(error).__name__})
    return _disconnected(request, services)


def _disconnected(request: DisconnectRequest, services: Services) -> dict[str, Any]:
    services.logger.info(
        "disconnected", extra={"disconnectStatusCode": request.status_code, "disconnectReason": request.reason}
    )
    return {"statusCode": 200}
