"""Identifiers shaped like API Gateway's and Lambda's, so code that parses or stores them meets real shapes."""

from __future__ import annotations

import base64
import secrets
import string
import uuid

GATEWAY_ID_BYTES = 11
"""API Gateway's connection, request and message ids are base64 of 11 bytes: 16 characters ending in '='."""
API_ID_CHARS = 10
_API_ID_ALPHABET = string.ascii_lowercase + string.digits


def gateway_id() -> str:
    """A connection id, request id or message id, e.g. `L0SM9cOFvHcCIhw=` (may contain '+' and '/', as AWS's do)."""
    return base64.b64encode(secrets.token_bytes(GATEWAY_ID_BYTES)).decode("ascii")


def api_id() -> str:
    """An API id like API Gateway's: 10 lowercase letters and digits."""
    return "".join(secrets.choice(_API_ID_ALPHABET) for _ in range(API_ID_CHARS))


def lambda_request_id() -> str:
    """Lambda's request ids are UUIDs."""
    return str(uuid.uuid4())


def log_stream_suffix() -> str:
    """The random part of a Lambda log stream name, `[$LATEST]<32 hex digits>`."""
    return secrets.token_hex(16)
