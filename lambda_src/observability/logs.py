"""Structured logging: one JSON object per line, with the request id and connection id on every line, and the
fields of the `context.log_context` blocks it was logged in.

The shape fits Lambda's JSON log format (`timestamp`, `level`, `message`, `logger`, `requestId`), so CloudWatch
and `util tail-logs` read it the same way on AWS and in the local stack. Extra fields passed with
`logger.info(..., extra={...})` become top-level keys.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from lambda_src.observability.context import bound_fields, current_connection_id, current_request_id

LOGGER_NAME = "wspush"


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
            "requestId": current_request_id(),
            "connectionId": current_connection_id(),
            **bound_fields(),
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


class ContextFields(logging.Filter):
    """Puts the `log_context` fields on each record (a field the call passed in `extra=` wins), so that every handler
    sees them as record attributes, not only the JSON formatter: a test's capture, a second handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in bound_fields().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


def get_logger() -> logging.Logger:
    """The service's logger; configured once, writing JSON lines to stdout."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(existing, ContextFields) for existing in logger.filters):
        logger.addFilter(ContextFields())
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
