"""Sample Lambda events (``events/``, JSON) for tests and ``hris-sync local invoke``: one loader."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


@cache
def _read(name: str) -> dict[str, Any]:
    path = EVENTS / f"{name}.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``events/<name>.json`` (``name`` like ``admin_api/list_members``)."""
    return copy.deepcopy(_read(name))


def event_names(folder: str) -> list[str]:
    return sorted(f"{folder}/{p.stem}" for p in (EVENTS / folder).glob("*.json"))
