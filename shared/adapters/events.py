"""Member, task and sync events on an EventBridge bus: put_events in batches of 10, failed entries
re-sent with a bounded backoff, then a typed error naming how many were not delivered."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from shared.adapters.aws_errors import is_throttling, typed
from shared.adapters.dynamo import RetryPolicy
from shared.errors import HrisSyncError, InvalidInput, Throttled
from shared.ports import EVENT_SOURCE, DomainEvent

BATCH = 10
MAX_ENTRY_BYTES = 256 * 1024


class EventsNotDelivered(HrisSyncError):
    """EventBridge kept refusing some entries after the retries."""

    code = "events_not_delivered"

    def __init__(self, failed: int, error_codes: Sequence[str]) -> None:
        super().__init__(
            f"{failed} event(s) were not delivered ({', '.join(sorted(set(error_codes)))})",
            failed=failed,
            error_codes=sorted(set(error_codes)),
        )
        self.failed = failed


class EventBridgePublisher:
    """``EventPublisher`` on one EventBridge bus."""

    def __init__(self, bus_name: str, *, client: Any | None = None, retry: RetryPolicy | None = None) -> None:
        self._bus = bus_name
        self._client = client
        self._retry = retry or RetryPolicy()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("events")
        return self._client

    def _entry(self, event: DomainEvent) -> dict[str, Any]:
        detail = json.dumps(dict(event.detail), sort_keys=True, default=str)
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": event.detail_type,
            "Detail": detail,
            "EventBusName": self._bus,
        }
        if len(json.dumps(entry)) > MAX_ENTRY_BYTES:
            raise InvalidInput(f"event {event.detail_type} is larger than 256 KB")
        return entry

    def publish(self, events: Sequence[DomainEvent]) -> None:
        entries = [self._entry(e) for e in events]
        for start in range(0, len(entries), BATCH):
            self._put(entries[start : start + BATCH])

    def _put(self, pending: list[dict[str, Any]]) -> None:
        attempt = 0
        while True:
            try:
                response = self.client.put_events(Entries=pending)
            except ClientError as error:
                if not is_throttling(error):
                    raise typed(error, "PutEvents", f"event bus {self._bus!r}") from None
                attempt += 1
                if attempt >= self._retry.max_attempts:
                    raise Throttled("PutEvents") from None
                self._retry.sleep(self._retry.delay(attempt))
                continue
            if not response.get("FailedEntryCount"):
                return
            results = response.get("Entries", [])
            failed = [(e, r) for e, r in zip(pending, results, strict=False) if r.get("ErrorCode")]
            if len(results) != len(pending):  # no per-entry answer: resend all
                failed = [(e, {"ErrorCode": "Unknown"}) for e in pending]
            attempt += 1
            if attempt >= self._retry.max_attempts:
                raise EventsNotDelivered(len(failed), [str(r.get("ErrorCode")) for _, r in failed])
            self._retry.sleep(self._retry.delay(attempt))
            pending = [e for e, _ in failed]
