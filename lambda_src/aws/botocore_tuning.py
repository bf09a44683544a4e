"""The one place the function tunes botocore past its documented client options.

The store never reads an object's `LastModified`, and botocore parsing it for every listed key was most of a
listing's CPU (docs/benchmarks.md). botocore has no client option for it; its response parser factory (a session
component) takes parser defaults. That factory is botocore's, not part of the boto3 API, and the Lambda runtime
brings its own botocore, so the tuning is optional: a botocore without it parses timestamps as before (slower,
the same results). tests/lambda_src/test_botocore_tuning.py fails loudly when the tested botocore changes it.
"""

from __future__ import annotations

from typing import Any


def leave_timestamps_as_text(core_session: Any) -> bool:
    """Make clients of `core_session` return timestamps as the service's text; False where botocore cannot."""
    try:
        factory = core_session.get_component("response_parser_factory")
        factory.set_parser_defaults(timestamp_parser=str)
    except (AttributeError, TypeError, ValueError, KeyError):
        return False
    return True
