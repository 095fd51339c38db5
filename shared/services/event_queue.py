"""Draining a vendor's event queue (ADP Workforce Now's event notifications) into targeted plans.

A connector that is an ``EventQueue`` keeps its changes on a queue at the vendor, which we pull:
``drain`` reads one connection's head message, puts it on the webhook queue as the very
``QueuedWebhook`` a webhook delivery becomes (``webhook_ingest.queued_webhooks``), and only once
the queue has stored it acknowledges it at the vendor. The webhook worker then applies it as a
targeted plan, once per delivery id (R24): a crash between queueing and acknowledging replays the
message, and the replay changes nothing. So:

- a message that names people -> queued, then acknowledged;
- a ``PING`` (or an event naming nobody) -> acknowledged, nothing queued;
- an unreadable message (``event is None``) -> a full sync requested (R09's complete snapshot is
  the remedy for a change we cannot read), then acknowledged;
- a failure to queue, or to request that sync -> not acknowledged: the message stays at the
  vendor, comes back, and this run stops (the next one, a minute later, tries again).

A run polls for ``window`` (a long poll: after an empty queue it pauses and looks again while time
remains; a zero window drains until the queue is empty once), at most ``max_messages`` messages.
The vendor refusing the credentials or not answering stops the run with the reason in the result
(logged without a secret; a refusal marks the active connection ``failing``, as a failed sync
does): a scheduled function that raised would only be retried into the same refusal.

Nothing is polled for an unknown, a disconnected or a draft connection, or one whose connector
keeps no event queue; an unknown or disconnected connection's poll schedule is deleted (R20: a
disconnect deletes it, and this removes one a race left behind).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from shared import observability
from shared.domain.models import Connection, ConnectionStatus
from shared.errors import (
    ConnectionNotFound,
    HrisSyncError,
    ProviderNotFound,
)
from shared.ports import MessageQueue
from shared.providers.base import (
    Credentials,
    EventQueue,
    ProviderAuthError,
    ProviderError,
    ProviderResponseError,
    QueuedMessage,
    WebhookKind,
)
from shared.services.context import (
    WithClock,
    WithConnections,
    WithEvents,
    WithIds,
    WithLock,
    WithPollSchedules,
    WithProviders,
    WithRuns,
    WithSecrets,
    WithSettings,
    WithTokenLock,
    WithWorkflow,
)
from shared.services.full_sync import mark_failing, request_missed_sync
from shared.services.tokens import provider_for
from shared.services.webhook_ingest import queued_webhooks

# Why a run polled nothing, or stopped before its window ended.
Stop = Literal[
    "unknown_connection",
    "disconnected",
    "draft",
    "not_an_event_queue",
    "credentials_refused",
    "vendor_unavailable",
    "vendor_unreadable",
    "queue_failed",
    "full_sync_failed",
    "message_bound",
]


class WithWebhookQueue(Protocol):
    @property
    def queue(self) -> MessageQueue: ...


class DrainPorts(
    WithConnections,
    WithSecrets,
    WithProviders,
    WithTokenLock,
    WithWebhookQueue,
    WithPollSchedules,
    # A full sync requested for an unreadable message (``full_sync.TriggerPorts``).
    WithRuns,
    WithLock,
    WithWorkflow,
    WithEvents,
    WithClock,
    WithIds,
    WithSettings,
    Protocol,
):
    """A connection's event queue drained: the connection and its credentials read (a token the
    vendor grants saved under the token lease, ``tokens.provider_for``, so the next runs, a minute
    apart, reuse it until it expires), the vendor's queue read and acknowledged, the webhook queue
    written, a full sync started, the connection's poll schedule deleted once it is gone."""


@dataclass(frozen=True, slots=True)
class DrainLimits:
    """How long one run polls, how long it pauses after an empty queue, how many messages it takes."""

    window: timedelta
    pause: timedelta
    max_messages: int


@dataclass(frozen=True, slots=True)
class DrainResult:
    tenant_id: str
    connection_id: str
    # Whether the vendor's queue was read at all (False: ``stopped`` says why not).
    polled: bool
    # Why nothing was polled, or why the run ended before its window did (None: the window ended,
    # or a zero window found the queue empty).
    stopped: Stop | None = None
    received: int = 0  # messages read from the vendor's queue
    queued: int = 0  # ... put on the webhook queue (a message naming many people may be several)
    acknowledged: int = 0  # ... removed from the vendor's queue
    ignored: int = 0  # pings and messages naming nobody: acknowledged, nothing queued
    full_syncs: int = 0  # unreadable messages, for which a full sync was requested

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "connection_id": self.connection_id,
            "polled": self.polled,
            "stopped": self.stopped,
            "received": self.received,
            "queued": self.queued,
            "acknowledged": self.acknowledged,
            "ignored": self.ignored,
            "full_syncs": self.full_syncs,
        }


@dataclass
class _Counts:
    received: int = 0
    queued: int = 0
    acknowledged: int = 0
    ignored: int = 0
    full_syncs: int = 0


class _Unqueued(Exception):
    """A message could not be made durable on our side (queue, or full sync request): not acknowledged."""

    def __init__(self, stop: Stop, error: BaseException) -> None:
        super().__init__(stop)
        self.stop = stop
        self.error = error


def drain(
    ports: DrainPorts,
    tenant_id: str,
    connection_id: str,
    *,
    limits: DrainLimits,
    sleep: Callable[[float], None],
) -> DrainResult:
    """Drain one connection's vendor event queue for ``limits.window`` (see the module's docstring).

    ``sleep`` pauses the run (``time.sleep``; the tests' advances their clock). Raises only the
    store's errors reading the connection or its credentials (the scheduled call is retried)."""
    try:
        connection = ports.connections.get(tenant_id, connection_id)
    except ConnectionNotFound:
        ports.poll_schedules.delete(tenant_id, connection_id)
        return _nothing(tenant_id, connection_id, "unknown_connection")
    if connection.status is ConnectionStatus.DISCONNECTED:
        ports.poll_schedules.delete(tenant_id, connection_id)
        return _nothing(tenant_id, connection_id, "disconnected")
    if connection.status is ConnectionStatus.DRAFT:
        return _nothing(tenant_id, connection_id, "draft")  # R32: nothing before its activation
    try:
        connector = provider_for(ports, connection)  # a granted token is saved as it is granted
    except ProviderNotFound:
        return _nothing(tenant_id, connection_id, "not_an_event_queue")
    try:
        if not isinstance(connector, EventQueue):
            return _nothing(tenant_id, connection_id, "not_an_event_queue")
        credentials = ports.secrets.get(tenant_id, connection_id)
        return _poll(ports, connection, connector, credentials, limits=limits, sleep=sleep)
    finally:
        close = getattr(connector, "close", None)
        if callable(close):
            close()


def _nothing(tenant_id: str, connection_id: str, why: Stop) -> DrainResult:
    observability.logger.info("event queue not polled", extra={"reason": why})
    return DrainResult(tenant_id, connection_id, polled=False, stopped=why)


def _poll(
    ports: DrainPorts,
    connection: Connection,
    connector: EventQueue,
    credentials: Credentials,
    *,
    limits: DrainLimits,
    sleep: Callable[[float], None],
) -> DrainResult:
    counts = _Counts()
    deadline = ports.clock.now() + limits.window
    stopped: Stop | None = None
    try:
        while True:
            if counts.received >= limits.max_messages:
                stopped = "message_bound"  # the rest wait for the next run
                break
            if limits.window and ports.clock.now() >= deadline:
                break
            message = connector.next_message(credentials)
            if message is None:
                remaining = deadline - ports.clock.now()
                if remaining <= timedelta(0) or remaining < limits.pause:
                    break  # no time left for another look
                sleep(limits.pause.total_seconds())
                continue
            counts.received += 1
            _take(ports, connection, connector, credentials, message=message, counts=counts)
    except _Unqueued as unqueued:
        stopped = unqueued.stop
        observability.logger.warning(
            "event queue message not made durable: left at the vendor for the next run",
            extra={"reason": unqueued.stop, "error_type": type(unqueued.error).__name__},
        )
    except ProviderAuthError:
        stopped = "credentials_refused"
        observability.logger.warning("the HR system refused the connection's credentials for its event queue")
        mark_failing(ports, connection.tenant_id, connection.connection_id)
    except ProviderResponseError as error:
        # An answer that cannot be used (a message ADP gave no id: it can never be acknowledged).
        # Our own words, never a value: connector errors carry paths and status codes only.
        stopped = "vendor_unreadable"
        observability.logger.warning(
            "the HR system's event queue answered what cannot be used; the scheduled sync still covers it",
            extra={"error_type": type(error).__name__, "detail": str(error)[:300]},
        )
    except ProviderError as error:
        stopped = "vendor_unavailable"
        observability.logger.warning(
            "the HR system's event queue did not answer", extra={"error_type": type(error).__name__}
        )
    result = DrainResult(
        connection.tenant_id,
        connection.connection_id,
        polled=True,
        stopped=stopped,
        received=counts.received,
        queued=counts.queued,
        acknowledged=counts.acknowledged,
        ignored=counts.ignored,
        full_syncs=counts.full_syncs,
    )
    observability.logger.info("event queue drained", extra=_log_fields(result.as_dict()))
    return result


def _take(
    ports: DrainPorts,
    connection: Connection,
    connector: EventQueue,
    credentials: Credentials,
    *,
    message: QueuedMessage,
    counts: _Counts,
) -> None:
    """Make one message durable on our side, then acknowledge it at the vendor."""
    event = message.event
    if event is not None and (event.kind is WebhookKind.PING or not event.employee_ids):
        counts.ignored += 1
    else:
        try:
            bodies = (
                ()
                if event is None
                else queued_webhooks(
                    connection, event, employee_ids=event.employee_ids, received_at=ports.clock.now()
                )
            )
        except ValidationError:
            # No queue message can carry it (its delivery id is too long): unreadable to us.
            bodies, event = (), None
        if event is None:
            _full_sync(ports, connection, message)
            counts.full_syncs += 1
        else:
            for body in bodies:
                try:
                    ports.queue.send(body.model_dump(mode="json"))
                except HrisSyncError as error:
                    raise _Unqueued("queue_failed", error) from error
            counts.queued += 1
    connector.acknowledge(credentials, message.message_id)
    counts.acknowledged += 1


def _full_sync(ports: DrainPorts, connection: Connection, message: QueuedMessage) -> None:
    """A full sync for a message we cannot read (the change it carried is in the next snapshot);
    one already running is the answer, as is one whose machine could not start (closed with its
    reason, the schedule syncs later): as for a vendor's ``missed`` notification."""
    try:
        run_id = request_missed_sync(ports, connection.tenant_id, connection.connection_id)
    except HrisSyncError as error:
        raise _Unqueued("full_sync_failed", error) from error
    observability.logger.info(
        "full sync requested for an unreadable event queue message",
        extra={"run_id": run_id, "problem": (message.problem or "")[:200]},
    )


def _log_fields(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("tenant_id", "connection_id")}
