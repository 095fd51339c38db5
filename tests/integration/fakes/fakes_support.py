"""Shared bits of the fake HR servers' behaviour tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

TODAY = date(2026, 1, 15)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Sink:
    url: str
    received: list[Received] = field(default_factory=list)
