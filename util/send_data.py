"""`util send-data DATA`: push from outside, by publishing to the environment's SNS topic.

The Lambda delivers the message verbatim to every connection, or to a room's members (`--room`), or to
one connection (`--to`): those become the SNS message attributes the Lambda reads. `--idempotency-key` names the
push: publishing it again under the same key within the window reaches nobody twice (`lambda_src.handlers.push`).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from lambda_src.handlers.push import CONNECTION_ATTRIBUTE, IDEMPOTENCY_ATTRIBUTE, IDEMPOTENCY_WINDOW_S, ROOM_ATTRIBUTE
from lambda_src.limits import MAX_MESSAGE_BYTES
from lambda_src.protocol.frames import ROOM_PATTERN

from .clients import sns_client
from .console import out, status
from .environments import Outputs, load_outputs
from .errors import InputError
from .options import EnvOption, resolve_env

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

STDIN_MARKER = "-"


def read_data(data: str, raw: bool) -> str:
    """The message to publish: DATA, or stdin for `-`; JSON unless `raw`."""
    text = sys.stdin.read() if data == STDIN_MARKER else data
    if data == STDIN_MARKER:
        # A trailing newline from `echo` or a file is not part of the message.
        text = text.rstrip("\r\n")
    if not text.strip():
        raise InputError("DATA is empty: SNS cannot publish an empty message")
    if not raw:
        try:
            json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"DATA is not valid JSON ({error}); pass --raw to send it as text") from None
    size = len(text.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise InputError(f"DATA is {size} bytes: the WebSocket limit is {MAX_MESSAGE_BYTES}")
    return text


def message_attributes(
    room: str | None, to: str | None, idempotency_key: str | None = None
) -> dict[str, MessageAttributeValueTypeDef]:
    if room is not None and to is not None:
        raise InputError("--room and --to exclude each other: a push goes to a room or to one connection")
    if room is not None and not ROOM_PATTERN.fullmatch(room):
        raise InputError(f"invalid room {room!r}: 1-64 of letters, digits, '_', '.' and '-'")
    if to is not None and not to.strip():
        raise InputError("--to needs a connection id")
    if idempotency_key is not None and not idempotency_key.strip():
        raise InputError("--idempotency-key needs a key")
    attributes: dict[str, MessageAttributeValueTypeDef] = {}
    if room is not None:
        attributes[ROOM_ATTRIBUTE] = {"DataType": "String", "StringValue": room}
    if to is not None:
        attributes[CONNECTION_ATTRIBUTE] = {"DataType": "String", "StringValue": to}
    if idempotency_key is not None:
        attributes[IDEMPOTENCY_ATTRIBUTE] = {"DataType": "String", "StringValue": idempotency_key}
    return attributes


def publish(outputs: Outputs, message: str, attributes: dict[str, MessageAttributeValueTypeDef]) -> str:
    """Publish; returns SNS's MessageId."""
    response = sns_client(outputs).publish(
        TopicArn=outputs.require("sns_topic_arn"), Message=message, MessageAttributes=attributes
    )
    return response["MessageId"]


def command(
    *,
    data: Annotated[
        str, typer.Argument(metavar="DATA", help="The message: JSON (checked unless --raw), or '-' to read stdin.")
    ],
    env: EnvOption = None,
    raw: Annotated[bool, typer.Option("--raw", help="Send DATA as is, without checking it is JSON.")] = False,
    room: Annotated[str | None, typer.Option("--room", help="Only to the members of this room.")] = None,
    to: Annotated[
        str | None, typer.Option("--to", metavar="CONNECTION_ID", help="Only to this one connection.")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help=f"Publishing again with this key within {IDEMPOTENCY_WINDOW_S // 60} minutes reaches nobody twice.",
        ),
    ] = None,
) -> None:
    """Push DATA to connected clients through the environment's SNS topic; prints the MessageId."""
    message = read_data(data, raw)
    attributes = message_attributes(room, to, idempotency_key)
    outputs = load_outputs(resolve_env(env))
    out.print(publish(outputs, message, attributes), markup=False)
    if to is not None:
        # SNS accepted the message; whether connection `to` exists is only known to the Lambda, later.
        status(
            f"published: delivery is asynchronous, and a push to a connection that does not exist ({to}) is "
            "dropped by the Lambda without an error here (see `util tail-logs`)"
        )
