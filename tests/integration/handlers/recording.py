"""The real handler, with every event it receives appended to `$EVENT_LOG` first (one JSON line each).

The identity tests read that file to see which events reached the function, and with what
`requestContext.authorizer`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from lambda_src import app


def handler(event: Any, context: Any) -> dict[str, Any]:
    with open(os.environ["EVENT_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(event) + "\n")
    return app.handler(event, context)
