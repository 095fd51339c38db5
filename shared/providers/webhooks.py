"""Webhook helpers: constant-time HMAC checks over the raw bytes, replay windows, delivery ids.

A webhook body is verified exactly as received: never parsed and re-serialised first. Every
failure is a ``WebhookRejected`` (HTTP 401) or a ``WebhookUnparseable`` (HTTP 400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared import json_bounds
from shared.providers.base import Secret, WebhookRejected, WebhookUnparseable

DEFAULT_REPLAY_WINDOW = 300.0  # seconds (5 minutes)
_MAX_HEADER = 512


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name (API Gateway lower-cases some and not others)."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def required_header(headers: Mapping[str, str], name: str) -> str:
    value = header(headers, name)
    if value is None or not value.strip():
        raise WebhookRejected(f"missing {name} header")
    if len(value) > _MAX_HEADER:
        raise WebhookRejected(f"{name} header too long")
    return value.strip()


def hmac_sha256(secret: Secret, message: bytes) -> bytes:
    return hmac.new(secret.reveal().encode("utf-8"), message, hashlib.sha256).digest()


def same(expected: bytes, received: bytes) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(expected, received)


def require_same(expected: bytes, received: bytes | None, what: str = "signature") -> None:
    if received is None or not same(expected, received):
        raise WebhookRejected(f"bad {what}")


def decode_hex(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def decode_base64(text: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; None when it is not base64."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        return None


def check_unix_timestamp(text: str, now: datetime, window: float = DEFAULT_REPLAY_WINDOW) -> datetime:
    """The signed timestamp (unix seconds) as a datetime, if within ``window`` of ``now``."""
    try:
        seconds = int(text.strip())
    except ValueError as error:
        raise WebhookRejected("malformed timestamp") from error
    if abs(now.timestamp() - seconds) > window:
        raise WebhookRejected("stale timestamp (outside the replay window)")
    return datetime.fromtimestamp(seconds, UTC)


def body_digest(raw_body: bytes) -> str:
    """A delivery id for vendors that send none: identical bodies are the same delivery."""
    return "sha256:" + hashlib.sha256(raw_body).hexdigest()


def parse_json(raw_body: bytes) -> Any:
    try:
        return json_bounds.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WebhookUnparseable("body is not JSON") from error


def parse_json_object(raw_body: bytes) -> dict[str, Any]:
    body = parse_json(raw_body)
    if not isinstance(body, dict):
        raise WebhookUnparseable("body is not a JSON object")
    return body


def as_id(value: Any) -> str | None:
    """An employee id from a webhook: a non-empty string or an integer, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and len(value) <= 128:
        return value.strip()
    return None


def parse_iso_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
