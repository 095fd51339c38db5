"""A stand-in for functions/subscription_renewer: records each sweep the schedule fired."""

from __future__ import annotations

from typing import Any

FIRED: list[dict[str, Any]] = []


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    FIRED.append(event)
    return {"checked": 0, "changed": 0, "failed": 0}
