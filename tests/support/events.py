"""The sample Lambda events in ``events/`` (one helper for every test that uses them).

The webhook events are signed with ``TEST_WEBHOOK_SECRET`` at ``EVENT_TIME`` (BambooHR signs a
timestamp, so a test verifying them sets its clock there); ids in them name ``EVENT_TENANT`` and
the connections ``conn-<provider>``.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"
TEST_WEBHOOK_SECRET = "test-webhook-secret"
EVENT_TIME = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
EVENT_TENANT = "tenant-acme"


def connection_of(provider: str) -> str:
    return f"conn-{provider}"


@cache
def _read(name: str) -> str:
    return (EVENTS / f"{name}.json").read_text()


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``events/<name>.json`` (``"webhook_ingest/bamboohr"``)."""
    return dict(json.loads(_read(name)))


def with_state(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A Step Functions task event with fields of its ``state`` replaced."""
    changed = copy.deepcopy(event)
    changed["state"].update(changes)
    return changed


def event_names(folder: str) -> list[str]:
    return sorted(f"{folder}/{p.stem}" for p in (EVENTS / folder).glob("*.json"))
