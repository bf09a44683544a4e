"""The function as Lambda knows it: the handler's import path and the runtime it is declared with.

`deployment/lambda.tf` cannot import Python, so it repeats both values; `tests/terraform/test_contracts.py`
fails when they differ. The local stack reports and uses these values.
"""

from __future__ import annotations

HANDLER = "lambda_src.app.handler"
RUNTIME = "python3.12"
