"""Shared test helpers for the connector tests: a fake clock that never really waits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.providers.http import RetryPolicy, Runtime

START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TODAY = START.date()


@dataclass
class FakeTime:
    """Sleep advances the clocks instead of waiting; every wait is recorded."""

    start: datetime = START
    elapsed: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def runtime(self) -> Runtime:
        # Full jitter at its upper bound, so the backoff is deterministic in tests.
        return Runtime(sleep=self.sleep, monotonic=self.monotonic, now=self.now, jitter=lambda upper: upper)


FAST_POLICY = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=8.0, max_total=60.0)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


def basic_auth(request: httpx.Request) -> tuple[str, str]:
    kind, _, value = request.headers["authorization"].partition(" ")
    assert kind == "Basic"
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


def hmac_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def hmac_b64url(key: str, message: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


def hmac_b64(key: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()
