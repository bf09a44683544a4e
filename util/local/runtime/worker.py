"""One Lambda execution environment: a process that imports the handler once and runs one invocation at a time.

Started by `runtime.py` as `python -m util.local.runtime.worker MODULE.FUNCTION` with the code directory as working
directory (Lambda's task root, first on `sys.path`) and the function's environment. It speaks one JSON object
per line: invocations arrive on the original stdin, replies leave on the original stdout. Before the handler
is imported, fds 0 and 1 are re-pointed (0 to /dev/null, 1 to stderr), so whatever the handler prints, from
Python or from C, lands in the log stream (stderr) and can never corrupt the protocol.

Only the standard library is imported here: this module is the cold start of every worker.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

from util.local.runtime.context import LambdaContext

Handler = Callable[[Any, LambdaContext], Any]

READY = "ready"
INIT_ERROR = "init_error"
RESULT = "result"
ERROR = "error"


class HandlerLoadError(Exception):
    """The handler cannot be imported; `error_type` is the one Lambda reports for that case."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def load_handler(path: str) -> Handler:
    """Import `package.module.function` as Lambda does, with Lambda's error types on failure."""
    module_name, _, function_name = path.rpartition(".")
    if not module_name:
        raise HandlerLoadError("Runtime.MalformedHandlerName", f"Bad handler '{path}': not enough values to unpack")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise HandlerLoadError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise HandlerLoadError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        )
    return function  # type: ignore[no-any-return]


def error_reply(request_id: str | None, error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """Lambda's error payload: errorMessage, errorType, requestId, stackTrace (the handler's frames only)."""
    own_frames = 1 if request_id else len(traceback.extract_tb(error.__traceback__))
    frames = traceback.format_list(traceback.extract_tb(error.__traceback__)[own_frames:])
    return {
        "type": ERROR if request_id else INIT_ERROR,
        "id": request_id,
        "payload": {
            "errorMessage": str(error),
            "errorType": error_type or type(error).__name__,
            "requestId": request_id or "",
            "stackTrace": [frame.rstrip("\n") for frame in frames],
        },
    }


def _log_error(reply: dict[str, Any]) -> None:
    payload = reply["payload"]
    # Lambda logs an unhandled error as one event: its lines joined by carriage returns.
    lines = [f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", *payload["stackTrace"]]
    sys.stderr.write("\r".join(line.replace("\n", "\r") for line in lines) + "\n")
    sys.stderr.flush()


def _context(request: dict[str, Any]) -> LambdaContext:
    env = os.environ
    return LambdaContext(
        function_name=env.get("AWS_LAMBDA_FUNCTION_NAME", ""),
        function_version=env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        invoked_function_arn=str(request.get("invokedFunctionArn", "")),
        memory_limit_in_mb=env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", ""),
        aws_request_id=str(request["id"]),
        log_group_name=env.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
        log_stream_name=env.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
        deadline_ms=int(request.get("deadlineMs", time.time_ns() // 1_000_000)),
    )


def invoke(handler: Handler | HandlerLoadError, request: dict[str, Any]) -> dict[str, Any]:
    """Run one invocation; every failure of the handler becomes an error reply (the process lives on)."""
    request_id = str(request["id"])
    if isinstance(handler, HandlerLoadError):
        return error_reply(request_id, handler, handler.error_type)
    try:
        result = handler(request.get("event"), _context(request))
    except Exception as error:
        reply = error_reply(request_id, error)
        _log_error(reply)
        return reply
    try:
        json.dumps(result)
    except (TypeError, ValueError) as error:
        return error_reply(request_id, error, "Runtime.MarshalError")
    return {"type": RESULT, "id": request_id, "payload": result}


def _send(channel: IO[bytes], message: dict[str, Any]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    channel.write(json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n")
    channel.flush()


def _detach_standard_streams() -> tuple[IO[bytes], IO[bytes]]:
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    # Line buffering, so each print reaches the log stream when it happens, as on Lambda.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    return requests, replies


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m util.local.runtime.worker MODULE.FUNCTION\n")
        return 2
    requests, replies = _detach_standard_streams()
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    handler: Handler | HandlerLoadError
    try:
        handler = load_handler(argv[1])
    except HandlerLoadError as error:
        handler = error
        reply = error_reply(None, error, error.error_type)
        _log_error(reply)
        _send(replies, reply)
    except Exception as error:  # the module's own import-time code failed
        handler = HandlerLoadError("Runtime.ImportModuleError", f"Unable to import module: {error}")
        reply = error_reply(None, handler, handler.error_type)
        _log_error(reply)
        _send(replies, reply)
    else:
        _send(replies, {"type": READY})
    for line in requests:
        _send(replies, invoke(handler, json.loads(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
