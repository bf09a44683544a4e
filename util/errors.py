"""The errors of `util`, and how any error becomes one line for the user.

Every command raises `UtilError` (or a subclass) for a failure the user can fix; the CLI's single error
boundary (`util.boundary.BoundaryGroup`) prints `describe(error)` and exits with `exit_code(error)`. Errors of the
libraries underneath (botocore, websockets, OS) are translated here too, so no command needs its own
`try/except` just to print nicely.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    WaiterError,
)

EXIT_FAILURE = 1
EXIT_USAGE = 2
"""Bad input: the same code click uses for usage errors."""
EXIT_INTERRUPTED = 130
"""128 + SIGINT, as shells report a Ctrl-C."""


class UtilError(Exception):
    """A failure the user can act on; its message is one line and says what to do."""

    exit_code = EXIT_FAILURE


class InputError(UtilError):
    """The user's input (an argument, an option, stdin) is malformed."""

    exit_code = EXIT_USAGE


class EnvironmentResolutionError(UtilError):
    """The environment's outputs cannot be read (no stack, no state file, no terraform, ...)."""


class LocalStackNotRunning(EnvironmentResolutionError):
    """`--env local` but the local stack's state file is absent."""


class TerraformError(EnvironmentResolutionError):
    """Terraform is missing, failed, or knows no such workspace."""


class UnknownWorkspace(TerraformError):
    """The environment names a Terraform workspace that does not exist."""


class MissingOutputs(EnvironmentResolutionError):
    """The environment exists but lacks outputs a command needs."""


class AwsError(UtilError):
    """An AWS (or moto, or local stack) API call failed."""


class ConnectionFailed(UtilError):
    """The WebSocket client could not connect or lost its connection for good."""


def exit_code(error: BaseException) -> int:
    """The process exit code for `error`."""
    if isinstance(error, UtilError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_FAILURE


def describe(error: BaseException) -> str:
    """One line saying what went wrong, for any error (ours or a library's)."""
    if isinstance(error, UtilError):
        return _one_line(str(error))
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "Error")
        message = details.get("Message") or str(error)
        operation = getattr(error, "operation_name", "AWS call")
        return _one_line(f"{operation} failed: {code}: {message}")
    if isinstance(error, EndpointConnectionError):
        return _one_line(f"cannot reach {error.kwargs.get('endpoint_url', 'the AWS endpoint')}: is it running?")
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found: configure a profile or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    if isinstance(error, NoRegionError):
        return "no AWS region: the environment's outputs should name one"
    if isinstance(error, WaiterError):
        return _one_line(f"gave up waiting: {error}")
    if isinstance(error, BotoCoreError):
        return _one_line(f"AWS client error: {error}")
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return _one_line(f"{error.strerror}{where}")
    return _one_line(f"unexpected {type(error).__name__}: {error} (run with --debug for the traceback)")


def _one_line(text: str) -> str:
    """Terraform and AWS messages often span lines; the user gets them joined, whitespace collapsed."""
    return " ".join(text.split()) or "failed"
