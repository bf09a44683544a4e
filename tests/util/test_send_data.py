"""`util send-data`: publishes to the SNS topic; an SQS queue subscribed in moto sees what arrived."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import StateWriter, UtilRunner, assert_one_line_error, aws_client

RECEIVE_WAIT_S = 0
"""moto delivers to SQS during Publish: whatever was published is already in the queue."""


class Subscriber:
    """An SQS queue subscribed to the topic: it keeps the message attributes, as the local stack's does."""

    def __init__(self, endpoint: str, topic_arn: str) -> None:
        self.sqs = aws_client(endpoint, "sqs")
        self.sns = aws_client(endpoint, "sns")
        self.queue_url = self.sqs.create_queue(QueueName=f"send-data-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.subscription_arn = self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)[
            "SubscriptionArn"
        ]

    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS envelope delivered so far."""
        envelopes: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=RECEIVE_WAIT_S
            ).get("Messages", [])
            if not messages:
                return envelopes
            for message in messages:
                envelopes.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def close(self) -> None:
        self.sns.unsubscribe(SubscriptionArn=self.subscription_arn)
        self.sqs.delete_queue(QueueUrl=self.queue_url)


@pytest.fixture
def subscriber(local_stack: dict[str, str]) -> Iterator[Subscriber]:
    subscriber = Subscriber(local_stack["aws_endpoint_url"], local_stack["sns_topic_arn"])
    yield subscriber
    subscriber.close()


def only_notification(subscriber: Subscriber) -> dict[str, Any]:
    notifications = subscriber.notifications()
    assert len(notifications) == 1, notifications
    return notifications[0]


def test_send_data_publishes_json_verbatim_and_prints_the_message_id(util: UtilRunner, subscriber: Subscriber) -> None:
    data = '{"hello": "world", "n": [1, 2]}'
    result = util("send-data", data)
    assert result.code == 0, result
    notification = only_notification(subscriber)
    assert notification["Message"] == data
    assert result.stdout.strip() == notification["MessageId"]
    assert not notification.get("MessageAttributes")


def test_send_data_room_becomes_the_room_message_attribute(util: UtilRunner, subscriber: Subscriber) -> None:
    result = util("send-data", '{"x": 1}', "--room", "lobby-1")
    assert result.code == 0, result
    assert only_notification(subscriber)["MessageAttributes"] == {"room": {"Type": "String", "Value": "lobby-1"}}


def test_send_data_to_becomes_the_connection_id_message_attribute(util: UtilRunner, subscriber: Subscriber) -> None:
    result = util("send-data", '"just for you"', "--to", "Ab12Cd34=")
    assert result.code == 0, result
    notification = only_notification(subscriber)
    assert notification["Message"] == '"just for you"'
    assert notification["MessageAttributes"] == {"connectionId": {"Type": "String", "Value": "Ab12Cd34="}}
    # Exit 0 means SNS took it, not that Ab12Cd34= exists: the user is told so.
    assert "delivery is asynchronous" in result.stderr and "Ab12Cd34=" in result.stderr


def test_send_data_idempotency_key_becomes_the_idempotency_key_message_attribute(
    util: UtilRunner, subscriber: Subscriber
) -> None:
    result = util("send-data", '{"x": 1}', "--idempotency-key", "order-42")
    assert result.code == 0, result
    expected = {"idempotencyKey": {"Type": "String", "Value": "order-42"}}
    assert only_notification(subscriber)["MessageAttributes"] == expected


def test_send_data_refuses_an_empty_idempotency_key(util: UtilRunner, local_stack: dict[str, str]) -> None:
    assert_one_line_error(util("send-data", "{}", "--idempotency-key", " "), "--idempotency-key needs a key", code=2)


def test_send_data_dash_reads_the_message_from_stdin(util: UtilRunner, subscriber: Subscriber) -> None:
    result = util("send-data", "-", stdin='{"from": "stdin"}\n')
    assert result.code == 0, result
    assert only_notification(subscriber)["Message"] == '{"from": "stdin"}'


def test_send_data_raw_publishes_text_that_is_not_json(util: UtilRunner, subscriber: Subscriber) -> None:
    result = util("send-data", "--raw", "plain text, not JSON")
    assert result.code == 0, result
    assert only_notification(subscriber)["Message"] == "plain text, not JSON"


def test_send_data_refuses_invalid_json_and_publishes_nothing(util: UtilRunner, subscriber: Subscriber) -> None:
    result = util("send-data", "{not json")
    assert_one_line_error(result, "not valid JSON", "--raw", code=2)
    assert subscriber.notifications() == []


def test_send_data_refuses_invalid_json_from_stdin(util: UtilRunner, subscriber: Subscriber) -> None:
    result = util("send-data", "-", stdin="hello\n")
    assert_one_line_error(result, "not valid JSON", code=2)
    assert subscriber.notifications() == []


def test_send_data_refuses_empty_data(util: UtilRunner, local_stack: dict[str, str]) -> None:
    assert_one_line_error(util("send-data", "-", stdin=""), "empty", code=2)


def test_send_data_refuses_a_message_over_the_websocket_limit(util: UtilRunner, local_stack: dict[str, str]) -> None:
    big = json.dumps("x" * (128 * 1024))
    assert_one_line_error(util("send-data", "-", stdin=big), "limit", code=2)


def test_send_data_refuses_room_and_to_together(util: UtilRunner, local_stack: dict[str, str]) -> None:
    assert_one_line_error(util("send-data", "{}", "--room", "a", "--to", "b"), "--room and --to", code=2)


def test_send_data_refuses_an_invalid_room_name(util: UtilRunner, local_stack: dict[str, str]) -> None:
    assert_one_line_error(util("send-data", "{}", "--room", "no spaces"), "invalid room", code=2)


def test_send_data_names_a_missing_topic_output(
    util: UtilRunner, stack: dict[str, str], write_state: StateWriter
) -> None:
    write_state({key: value for key, value in stack.items() if key != "sns_topic_arn"})
    assert_one_line_error(util("send-data", "{}"), "no output 'sns_topic_arn'", code=1)
