"""`util dead-letters` reads both kinds of message the dead-letter queue receives, and refuses to guess at others.

The end-to-end run (a push failing three times in `util local up`, listed and replayed) is
tests/util_e2e/test_failures.py; these are the shapes, from Lambda's and SNS's documentation.
"""

from __future__ import annotations

import json
from typing import Any

from lambda_src.protocol.events import Continuation, SegmentShard, Shard, parse_event
from util.dead_letters import REPLAYED_SUBSCRIPTION, event_kind, read

PUSH_EVENT: dict[str, Any] = {
    "Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "sns-42", "Message": '{"hello": 1}'}}]
}


def _record(event: Any, error: str = "1 of 1 records failed: NoSuchBucket\nmore") -> dict[str, Any]:
    # Lambda's invocation record: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
    return {
        "version": "1.0",
        "timestamp": "2026-12-02T03:00:00.000Z",
        "requestContext": {
            "requestId": "req-1",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": error, "errorType": "PushFailed"},
    }


def _message(body: Any) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    return {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": text}


def test_a_lambda_invocation_record_of_a_push_is_read_with_its_event_attempts_and_first_error_line() -> None:
    letter = read(_message(_record(PUSH_EVENT)))

    assert (letter.origin, letter.kind, letter.reference, letter.condition, letter.attempts) == (
        "lambda",
        "push",
        "sns-42",
        "RetriesExhausted",
        3,
    )
    assert letter.error == "1 of 1 records failed: NoSuchBucket"
    assert letter.event == PUSH_EVENT


def test_shard_segment_and_continuation_records_are_named_by_kind_and_request_id() -> None:
    shard = json.loads(Shard(0, b"x", ("a",), None, "o").to_event())
    segment = json.loads(SegmentShard(0, 2, b"x", "o").to_event())
    continuation = json.loads(Continuation(b"x", ("a",), None, "o", 1).to_event())

    kinds = [read(_message(_record(event))).kind for event in (shard, segment, continuation)]
    assert kinds == ["shard", "segment", "continuation"]
    assert read(_message(_record(shard))).reference == "req-1"


def test_an_sns_notification_redriven_by_sns_becomes_the_event_lambdas_sns_trigger_delivers() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "sns-7",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:wspush-dev-push",
        "Message": "verbatim",
        "Timestamp": "2026-12-02T03:00:00.000Z",
        "MessageAttributes": {"room": {"Type": "String", "Value": "lobby"}},
    }

    letter = read(_message(envelope))

    assert (letter.origin, letter.kind, letter.reference, letter.attempts) == ("sns", "push", "sns-7", None)
    assert letter.event["Records"][0]["EventSubscriptionArn"] == REPLAYED_SUBSCRIPTION
    request = parse_event(letter.event)
    assert [(r.message_id, r.message, dict(r.attributes)) for r in request.records] == [  # type: ignore[union-attr]
        ("sns-7", "verbatim", {"room": "lobby"})
    ]


def test_a_message_of_neither_kind_is_listed_as_unknown_and_has_no_event_to_replay() -> None:
    for body in ("not json", {"some": "object"}, [1, 2]):
        letter = read(_message(body))
        assert (letter.origin, letter.kind, letter.event) == ("unknown", "unknown", None)
        assert letter.error


def test_event_kind_of_anything_else_is_unknown() -> None:
    assert [event_kind(e) for e in (None, "x", {"source": "aws.events"}, {"Records": "no"})] == ["unknown"] * 4
