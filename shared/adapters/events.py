"""Member, task and sync events on an EventBridge bus: put_events in batches of 10 (botocore retries
a throttled request), failed entries re-sent after a bounded backoff, then a typed error naming how
many were not delivered."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from botocore.exceptions import ClientError

from shared.adapters.aws_errors import typed
from shared.adapters.clients import Backoff, aws_client
from shared.errors import HrisSyncError, InvalidInput
from shared.ports import EVENT_SOURCE, DomainEvent

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

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

    def __init__(
        self, bus_name: str, *, client: EventBridgeClient | None = None, backoff: Backoff | None = None
    ) -> None:
        self._bus = bus_name
        self._client = client
        self._backoff = backoff or Backoff()

    @property
    def client(self) -> EventBridgeClient:
        if self._client is None:
            self._client = cast("EventBridgeClient", aws_client("events"))
        return self._client

    def _entry(self, event: DomainEvent) -> PutEventsRequestEntryTypeDef:
        detail = json.dumps(dict(event.detail), sort_keys=True, default=str)
        entry: PutEventsRequestEntryTypeDef = {
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

    def _put(self, pending: list[PutEventsRequestEntryTypeDef]) -> None:
        attempt = 0
        while True:
            try:
                response = self.client.put_events(Entries=pending)
            except ClientError as error:  # throttling here outlasted botocore's retries
                raise typed(error, "PutEvents", f"event bus {self._bus!r}") from None
            if not response.get("FailedEntryCount"):
                return
            results = response.get("Entries", [])
            failed = [
                (e, r.get("ErrorCode")) for e, r in zip(pending, results, strict=False) if r.get("ErrorCode")
            ]
            if len(results) != len(pending):  # no per-entry answer: resend all
                failed = [(e, "Unknown") for e in pending]
            attempt += 1
            if attempt >= self._backoff.max_attempts:
                raise EventsNotDelivered(len(failed), [str(code) for _, code in failed])
            self._backoff.sleep(self._backoff.delay(attempt))
            pending = [e for e, _ in failed]
