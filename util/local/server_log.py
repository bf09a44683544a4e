"""What aiohttp's server logs about requests it cannot parse: never the request's own bytes.

aiohttp logs an unparsable request (a request line over 8190 bytes, a malformed one, an over-long header)
to `aiohttp.server` with its exception, and the exception's text quotes the raw line: `?token=...` and all.
With no handler configured for that logger, Python's last-resort handler prints it to stderr. The filter
here keeps the record (one line: which error, from whom) and drops the quoted bytes and the traceback.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

SERVER_LOGGER = "aiohttp.server"


class _RedactUnparsableRequests(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            # The message is aiohttp's "Error handling request from <peer>": no request bytes in it.
            record.msg = f"{record.getMessage()}: {type(error).__name__} (HTTP {error.code}); request not shown"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = _RedactUnparsableRequests()


def quiet_server_errors() -> None:
    """Install the filter on aiohttp's server logger (once, however many stacks start in a process)."""
    logger = logging.getLogger(SERVER_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
