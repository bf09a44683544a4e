"""Placeholder handler: the function Terraform creates answers this until `util lambda-deploy` ships the real code.

Packed as `lambda_src/app.py` in `lambda.zip` (handler `lambda_src.app.handler`, like the real package).
It rejects WebSocket connects with 503 and drops pushes, logging one line that says what to do.
"""

import json
import logging

NOT_DEPLOYED_STATUS = 503
NOT_DEPLOYED_MESSAGE = "not deployed yet: run `util lambda-deploy ENV`"

logger = logging.getLogger(__name__)


def handler(event: object, context: object) -> dict[str, object]:
    """Answer every event, API Gateway route or SNS notification, with 503 and the hint above."""
    source = "sns" if isinstance(event, dict) and "Records" in event else "apigateway"
    logger.warning(NOT_DEPLOYED_MESSAGE, extra={"eventSource": source})
    return {
        "statusCode": NOT_DEPLOYED_STATUS,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"type": "error", "code": "not_deployed", "error": NOT_DEPLOYED_MESSAGE}),
    }
