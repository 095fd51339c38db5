"""The clock and id generator the functions use in production."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


class SystemClock:
    """``Clock``: the machine's time, always aware (UTC)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    """``IdGenerator``: ``<prefix>_<24 hex digits>`` from the OS's random source."""

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"
