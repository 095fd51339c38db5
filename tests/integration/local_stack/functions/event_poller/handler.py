"""A stand-in for functions/event_poller: records each poll the connection's schedule fired, and the
poll window its environment gave it."""

from __future__ import annotations

import os
from typing import Any

FIRED: list[dict[str, Any]] = []
WINDOWS: list[str | None] = []


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    FIRED.append(event)
    WINDOWS.append(os.environ.get("EVENT_POLL_WINDOW_SECONDS"))
    return {"polled": True}
