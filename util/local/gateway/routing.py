"""Route selection as API Gateway does it for a WebSocket API: `$request.body.<path>` picks the route key."""

from __future__ import annotations

import json
import re
from collections.abc import Collection

from util.errors import InputError

DEFAULT_ROUTE = "$default"
RESERVED_ROUTES = frozenset({"$connect", "$disconnect", DEFAULT_ROUTE})
_EXPRESSION = re.compile(r"\$request\.body\.(?P<path>[^{}]+)|\$\{request\.body\.(?P<braced>[^{}]+)\}")
_SEGMENT = re.compile(r"[A-Za-z0-9_\-$]+")


class RouteSelector:
    """Picks the route of a message: the selected value if it names a route, else `$default`, else None.

    None means API Gateway's answer for an unmatched message: the `Forbidden` frame.
    """

    def __init__(self, expression: str, routes: Collection[str]) -> None:
        match = _EXPRESSION.fullmatch(expression.strip())
        if match is None:
            raise InputError(
                f"unsupported route selection expression {expression!r}: use $request.body.<field>[.<field>...]"
            )
        path = (match.group("path") or match.group("braced")).split(".")
        if not all(_SEGMENT.fullmatch(segment) for segment in path):
            raise InputError(f"unsupported route selection expression {expression!r}: bad field name")
        self.expression = expression
        self._path = tuple(path)
        self._routes = frozenset(routes)

    def select(self, data: str | bytes) -> str | None:
        key = self._selected_value(data)
        if key is not None and key in self._routes and key not in RESERVED_ROUTES:
            return key
        return DEFAULT_ROUTE if DEFAULT_ROUTE in self._routes else None

    def _selected_value(self, data: str | bytes) -> str | None:
        """The evaluated expression, stringified as API Gateway does; None if it has no value."""
        if isinstance(data, bytes):
            return None  # API Gateway evaluates the expression on text (JSON) frames only
        try:
            value: object = json.loads(data)
        except (ValueError, RecursionError):
            return None
        for segment in self._path:
            if not isinstance(value, dict) or segment not in value:
                return None
            value = value[segment]
        return None if value is None else stringify(value)


def stringify(value: object) -> str:
    """A selected JSON value as the route key API Gateway compares: `5` -> "5", `true` -> "true".

    AWS: "the result will be stringified. For example, if your JSONPath expression returns an array of two
    elements, that will be presented as the string "[item1, item2]"" (API Gateway developer guide, "Create routes
    for WebSocket APIs in API Gateway"). Objects are stringified as compact JSON: the guide does not say.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(stringify(item) for item in value) + "]"
    return json.dumps(value, separators=(",", ":"))
