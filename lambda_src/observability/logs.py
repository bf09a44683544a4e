"""Structured logging: one JSON object per line, with the request id and connection id on every line.

The shape fits Lambda's JSON log format (`timestamp`, `level`, `message`, `logger`, `requestId`), so CloudWatch
and `util tail-logs` read it the same way on AWS and in the local stack. Extra fields passed with
`logger.info(..., extra={...})` become top-level keys.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar, Token
from datetime import UTC, datetime

LOGGER_NAME = "wspush"

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_connection_id: ContextVar[str | None] = ContextVar("connection_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON; never raises on odd `extra` values."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": _request_id.get(),
            "connectionId": _connection_id.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class StdoutHandler(logging.Handler):
    """Writes each line to whatever `sys.stdout` is at the time (the runtime or a test may replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def get_logger() -> logging.Logger:
    """The service's logger; configured once, writing JSON lines to stdout."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = StdoutHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        # Lambda's runtime puts its own handler on the root logger: propagating would log every line twice.
        logger.propagate = False
        # INFO unless LOG_LEVEL says otherwise; inheriting the root's WARNING would silence (and leave untested)
        # every info line.
        logger.setLevel(logging.INFO)
    return logger


def set_level(level: str) -> None:
    get_logger().setLevel(level)


def bind(request_id: str | None, connection_id: str | None) -> tuple[Token[str | None], Token[str | None]]:
    """Tag every following line of this invocation; undo with `unbind`."""
    return _request_id.set(request_id), _connection_id.set(connection_id)


def current_request_id() -> str | None:
    """The Lambda request id that `bind` set for this invocation (None outside one)."""
    return _request_id.get()


def unbind(tokens: tuple[Token[str | None], Token[str | None]]) -> None:
    _request_id.reset(tokens[0])
    _connection_id.reset(tokens[1])
