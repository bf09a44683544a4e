"""`util dead-letters [--json] [--replay]`: what landed in the dead-letter queue, and sending it back through.

The queue (output `dead_letter_queue_url`) receives two kinds of message:
- Lambda's invocation records: an asynchronous invocation (a push, a shard, a segment, a continuation) that failed every
  attempt or outlived its maximum event age; the event is the record's `requestPayload`
  (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
- SNS notifications SNS could not deliver to the function at all (the subscription's redrive policy): the SNS
  envelope, turned back into the event Lambda's SNS trigger would have delivered.

`--replay` invokes the function asynchronously with each event (as SNS or the splitter would) and deletes the
message once Lambda accepted the invocation (202); a message whose invoke failed stays in the queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from .clients import lambda_client, sqs_client
from .console import out, status
from .environments import load_outputs
from .errors import UtilError
from .options import EnvOption, resolve_env

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

LIST_VISIBILITY_S = 30
"""How long a listed message stays hidden from other readers while the listing runs (shown again after)."""
REPLAY_VISIBILITY_S = 120
"""How long a message being replayed stays hidden: its invoke must be answered before then."""
RECEIVE_BATCH = 10
"""SQS's largest ReceiveMessage batch."""
REPLAYED_SUBSCRIPTION = "replayed-by-util-dead-letters"
"""`EventSubscriptionArn` of a replayed SNS notification's event (the original subscription is not in the message)."""


@dataclass(frozen=True)
class DeadLetter:
    """One message of the queue, read whichever kind it is."""

    message_id: str
    receipt_handle: str
    origin: str
    """`lambda` (an invocation record) or `sns` (a notification SNS could not deliver)."""
    kind: str
    """What the event is: push, shard, segment, continuation, or unknown."""
    event: Any
    """The event to invoke the function with."""
    reference: str
    """The SNS message id of a push, else the failed invocation's request id."""
    condition: str
    attempts: int | None
    error: str
    timestamp: str

    def as_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "origin": self.origin,
            "kind": self.kind,
            "reference": self.reference,
            "condition": self.condition,
            "attempts": self.attempts,
            "error": self.error,
            "timestamp": self.timestamp,
            "event": self.event,
        }


def event_kind(event: Any) -> str:
    """push, shard, segment, continuation (the sources `lambda_src.protocol.events` parses), or unknown."""
    from lambda_src.protocol.events import CONTINUATION_EVENT_SOURCE, SEGMENT_EVENT_SOURCE, SHARD_EVENT_SOURCE

    if not isinstance(event, dict):
        return "unknown"
    if isinstance(event.get("Records"), list):
        return "push"
    sources = {SHARD_EVENT_SOURCE: "shard", SEGMENT_EVENT_SOURCE: "segment", CONTINUATION_EVENT_SOURCE: "continuation"}
    return sources.get(str(event.get("source")), "unknown")


def _sns_message_id(event: Any) -> str | None:
    try:
        return str(event["Records"][0]["Sns"]["MessageId"])
    except (KeyError, IndexError, TypeError):
        return None


def read(message: dict[str, Any]) -> DeadLetter:
    """A queue message as a `DeadLetter`; a body of neither kind is listed as unknown (and not replayed)."""
    from .local.aws.sns import sns_event

    body_text = message.get("Body", "")
    try:
        body = json.loads(body_text)
    except ValueError:
        body = None
    base = {"message_id": message.get("MessageId", ""), "receipt_handle": message.get("ReceiptHandle", "")}
    if isinstance(body, dict) and isinstance(body.get("requestContext"), dict) and "requestPayload" in body:
        context = body["requestContext"]
        event = body["requestPayload"]
        response = body.get("responsePayload")
        error = ""
        if isinstance(response, dict):
            error = str(response.get("errorMessage") or response.get("errorType") or "")
        attempts = context.get("approximateInvokeCount")
        return DeadLetter(
            **base,
            origin="lambda",
            kind=event_kind(event),
            event=event,
            reference=_sns_message_id(event) or str(context.get("requestId", "")),
            condition=str(context.get("condition", "")),
            attempts=attempts if isinstance(attempts, int) else None,
            error=error.splitlines()[0][:200] if error else "",
            timestamp=str(body.get("timestamp", "")),
        )
    if isinstance(body, dict) and body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        event = sns_event(body, REPLAYED_SUBSCRIPTION)
        return DeadLetter(
            **base,
            origin="sns",
            kind="push",
            event=event,
            reference=str(body.get("MessageId", "")),
            condition="SnsDeliveryFailed",
            attempts=None,
            error="",
            timestamp=str(body.get("Timestamp", "")),
        )
    return DeadLetter(
        **base,
        origin="unknown",
        kind="unknown",
        event=None,
        reference="",
        condition="",
        attempts=None,
        error="neither a Lambda invocation record nor an SNS notification",
        timestamp="",
    )


def receive_all(sqs: SQSClient, queue_url: str, visibility_s: int) -> list[DeadLetter]:
    """Every message of the queue, each received once (hidden for `visibility_s` while we work on it)."""
    letters: dict[str, DeadLetter] = {}
    while True:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=RECEIVE_BATCH,
            VisibilityTimeout=visibility_s,
            WaitTimeSeconds=0,
        )
        messages = response.get("Messages", [])
        fresh = [m for m in messages if m.get("MessageId") not in letters]
        if not fresh:
            return list(letters.values())
        for message in fresh:
            letter = read(dict(message))
            letters[letter.message_id] = letter


def show_again(sqs: SQSClient, queue_url: str, letters: list[DeadLetter]) -> None:
    """Make listed messages visible again at once: listing must not hide them from a replay."""
    for start in range(0, len(letters), RECEIVE_BATCH):
        batch = letters[start : start + RECEIVE_BATCH]
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                for i, letter in enumerate(batch)
            ],
        )


def table(letters: list[DeadLetter]) -> Table:
    view = Table("timestamp", "kind", "reference", "condition", "attempts", "error", box=None, pad_edge=False)
    for letter in letters:
        attempts = "" if letter.attempts is None else str(letter.attempts)
        view.add_row(letter.timestamp, letter.kind, letter.reference, letter.condition, attempts, letter.error)
    return view


def command(
    *,
    env: EnvOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of objects instead of a table.")] = False,
    replay: Annotated[
        bool, typer.Option("--replay", help="Send each event back through the function; delete it once accepted.")
    ] = False,
) -> None:
    """List what landed in the dead-letter queue (failed pushes, shards, continuations), or replay it."""
    outputs = load_outputs(resolve_env(env))
    queue_url = outputs.require("dead_letter_queue_url")
    sqs = sqs_client(outputs)
    letters = receive_all(sqs, queue_url, REPLAY_VISIBILITY_S if replay else LIST_VISIBILITY_S)
    if not replay:
        show_again(sqs, queue_url, letters)
        if as_json:
            out.print(json.dumps([letter.as_json() for letter in letters], indent=2), markup=False)
        else:
            out.print(table(letters))
        return
    function = outputs.require("lambda_function_name")
    api = lambda_client(outputs)
    replayed: list[DeadLetter] = []
    failures: list[str] = []
    for letter in letters:
        if letter.event is None:
            failures.append(f"{letter.message_id}: {letter.error}")
            continue
        try:
            answer = api.invoke(
                FunctionName=function, InvocationType="Event", Payload=json.dumps(letter.event).encode("utf-8")
            )
        except Exception as error:
            failures.append(f"{letter.message_id}: {type(error).__name__}")
            continue
        if answer.get("StatusCode") != 202:
            failures.append(f"{letter.message_id}: invoke answered {answer.get('StatusCode')}")
            continue
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=letter.receipt_handle)
        replayed.append(letter)
    kept = [letter for letter in letters if letter not in replayed]
    show_again(sqs, queue_url, kept)
    if as_json:
        out.print(
            json.dumps({"replayed": [letter.as_json() for letter in replayed], "failed": failures}, indent=2),
            markup=False,
        )
    else:
        status(f"replayed {len(replayed)} of {len(letters)} dead letter(s) through {function}")
    if failures:
        raise UtilError(f"{len(failures)} dead letter(s) not replayed (kept in the queue): {'; '.join(failures)}")
