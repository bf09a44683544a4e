"""The on-failure destination of asynchronous invocations: the stack's dead-letter queue, a real SQS queue in moto.

When the runtime gives up on an event (retries exhausted, or older than the maximum event age), Lambda sends an
invocation record to the function's on-failure destination: "The invocation record contains details about the
request and response in JSON format" (Lambda developer guide, "Capturing records of Lambda asynchronous
invocations", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html). The local
stack does the same with the destination of its event-invoke config (an SQS ARN in its own moto), so
`util dead-letters` reads and replays the same records locally as on AWS.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from util.local.runtime.pool import FailedEvent

LOGGER = logging.getLogger("wspush.local.destinations")

RECORD_VERSION = "1.0"


def invocation_record(failed: FailedEvent, function_arn: str) -> dict[str, Any]:
    """Lambda's invocation record of a discarded event, as its on-failure destination receives it."""
    record: dict[str, Any] = {
        "version": RECORD_VERSION,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": failed.request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": failed.condition,
            "approximateInvokeCount": failed.attempts,
        },
        "requestPayload": failed.event,
    }
    if failed.result is not None:
        record["responseContext"] = {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
        record["responsePayload"] = failed.result.payload
    return record


def queue_name_of(arn: str) -> tuple[str, str] | None:
    """(account, queue name) of an SQS ARN, `arn:aws:sqs:REGION:ACCOUNT:NAME`; None for any other ARN."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not parts[5]:
        return None
    return parts[4], parts[5]


class SqsDestinations:
    """Sends invocation records to SQS queues of the embedded moto, by ARN (blocking: call from a thread)."""

    def __init__(self, sqs_client: Callable[[], Any]) -> None:
        self._sqs_client = sqs_client

    def send(self, destination_arn: str, record: dict[str, Any]) -> bool:
        """True once the queue took the record; False (logged) when there is no such queue or it refused."""
        named = queue_name_of(destination_arn)
        if named is None:
            LOGGER.warning("on-failure destination %s is not an SQS queue: the record is dropped", destination_arn)
            return False
        account, name = named
        sqs = self._sqs_client()
        try:
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, separators=(",", ":")))
        except Exception as error:
            # Lambda then counts a DestinationDeliveryFailures metric; here the stack's output says it.
            LOGGER.warning("could not send an invocation record to %s: %s", destination_arn, error)
            return False
        return True
