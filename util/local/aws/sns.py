"""SNS delivery to the function, as Lambda's SNS trigger does it, message attributes included.

moto drops SNS -> Lambda subscriptions and strips attributes from HTTP deliveries, but an SQS subscription
keeps the whole SNS envelope. The stack subscribes its own queue to the topic, long-polls it, turns each
notification into the event Lambda would receive, and invokes the function asynchronously (as SNS does).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from util.local.runtime.pool import Runtime, RuntimeStopped

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

LOGGER = logging.getLogger("wspush.local.sns")

POLL_WAIT_S = 1
"""Long-poll wait: the delay of a stop, at most; a publish is delivered as soon as it lands."""
MAX_MESSAGES_PER_POLL = 10


def sns_event(envelope: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The event Lambda's SNS trigger delivers for one notification (one record, as SNS always sends)."""
    topic_arn = str(envelope.get("TopicArn", ""))
    region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else "us-east-1"
    attributes = envelope.get("MessageAttributes") or {}
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": envelope.get("Type", "Notification"),
                    "MessageId": envelope.get("MessageId", ""),
                    "TopicArn": topic_arn,
                    "Subject": envelope.get("Subject"),
                    "Message": envelope.get("Message", ""),
                    "Timestamp": envelope.get("Timestamp", ""),
                    "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Signature": envelope.get("Signature", ""),
                    # Lambda spells these two differently from the HTTP/SQS envelope (Url, not URL).
                    "SigningCertUrl": envelope.get("SigningCertURL", ""),
                    "UnsubscribeUrl": (
                        f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
                    ),
                    "MessageAttributes": {
                        name: {"Type": value.get("Type"), "Value": value.get("Value")}
                        for name, value in attributes.items()
                        if isinstance(value, dict)
                    },
                },
            }
        ]
    }


class SnsDelivery:
    def __init__(self, sqs: SQSClient, queue_url: str, subscription_arn: str, runtime: Runtime) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._subscription_arn = subscription_arn
        self._runtime = runtime
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sns-delivery")

    async def _run(self) -> None:
        while not self._stopping:
            try:
                messages = await asyncio.to_thread(self._receive)
            except Exception as error:
                if self._stopping:
                    return
                LOGGER.warning("polling the SNS delivery queue failed: %s", error)
                await asyncio.sleep(POLL_WAIT_S)
                continue
            for message in messages:
                self._deliver(message)
            if messages:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
                await asyncio.to_thread(self._sqs.delete_message_batch, QueueUrl=self._queue_url, Entries=entries)  # type: ignore[arg-type]

    def _receive(self) -> list[MessageTypeDef]:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url, WaitTimeSeconds=POLL_WAIT_S, MaxNumberOfMessages=MAX_MESSAGES_PER_POLL
        )
        return list(response.get("Messages", []))

    def _deliver(self, message: MessageTypeDef) -> None:
        try:
            envelope = json.loads(message.get("Body", ""))
        except ValueError:
            LOGGER.warning("dropped a delivery that is not an SNS envelope")
            return
        if not isinstance(envelope, dict) or envelope.get("Type") != "Notification":
            return
        try:
            self._runtime.invoke_event(sns_event(envelope, self._subscription_arn))
        except RuntimeStopped:
            LOGGER.warning("dropped SNS message %s: the runtime is stopping", envelope.get("MessageId"))

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            await self._task
