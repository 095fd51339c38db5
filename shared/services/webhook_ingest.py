"""Webhook intake: what the ingest function does between the HTTP request and the queue.

``intake`` answers a vendor's handshake, or verifies and parses a delivery (``webhook_apply.receivable``
then ``webhook_apply.verify_delivery``) and puts it on the queue as a ``QueuedWebhook``: only once the
queue has stored it may the caller answer 202 (nothing is lost). The worker reads the same model back.

Handshakes (answered for a known, connected connection, before any signature check, because the
vendors send them unsigned or before the signing secret exists):
- Microsoft Graph subscription validation: ``?validationToken=...`` -> 200 ``text/plain`` with the
  token, as Graph requires.
- Slack Events API ``{"type": "url_verification", "challenge": ...}`` -> 200 ``{"challenge": ...}``.
- HiBob's ping (a signed delivery the connector parses as ``PING``) -> 200, nothing queued.

Lifecycle notifications (Graph's ``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``:
``LifecycleNotifications``) are verified like changes and queued with the delivery (``lifecycle``),
so the worker renews or re-makes the subscription and starts a full sync when one is needed.

A delivery for a draft connection (R32) is verified like any other, then answered 200 ``draft``
and dropped: a draft applies nothing, and its first import reads everyone when it is activated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared import json_bounds
from shared.domain.models import Connection, ConnectionStatus
from shared.ports import Clock, ConnectionStore, MessageQueue, ProviderLookup, SecretStore
from shared.providers.base import LifecycleNotifications, Provider, WebhookEvent, WebhookKind
from shared.services.webhook_apply import MAX_WEBHOOK_EMPLOYEES, receivable, verify_delivery

# A handshake token or challenge is echoed back: bounded, printable.
MAX_HANDSHAKE_TOKEN = 1_024
# Lifecycle notifications carried by one queued delivery (Graph batches at most 1,000 items; a
# lifecycle event repeated for one subscription is one instruction).
MAX_LIFECYCLE_EVENTS = 100
MAX_EVENT_NAME = 64
MAX_SUBSCRIPTION_ID = 512


class LifecycleEvent(BaseModel):
    """A vendor's lifecycle notification about a subscription (``subscriptions.on_lifecycle``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: str = Field(min_length=1, max_length=MAX_EVENT_NAME)
    subscription_id: str = Field(min_length=1, max_length=MAX_SUBSCRIPTION_ID)


class QueuedWebhook(BaseModel):
    """One verified delivery on the webhook queue (the worker's input)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str = Field(min_length=1)
    connection_id: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    kind: WebhookKind
    employee_ids: tuple[str, ...] = Field(max_length=MAX_WEBHOOK_EMPLOYEES)
    # The vendor's delivery id (or a digest of the body): with the connection, the idempotency key.
    delivery_id: str = Field(min_length=1, max_length=512)
    received_at: AwareDatetime
    occurred_at: datetime | None = None
    # The delivery's lifecycle notifications (with no employee, or beside the first part's).
    lifecycle: tuple[LifecycleEvent, ...] = Field(default=(), max_length=MAX_LIFECYCLE_EVENTS)


@dataclass(frozen=True, slots=True)
class IntakePorts:
    """What the intake touches (and so what the ingest function's role allows): the connection
    and its webhook secret read, the provider's verification, the clock, the queue."""

    connections: ConnectionStore
    secrets: SecretStore
    providers: ProviderLookup
    clock: Clock
    queue: MessageQueue


@dataclass(frozen=True, slots=True)
class Handshake:
    """A vendor's validation request, and the answer it expects."""

    vendor: Literal["microsoft_graph", "slack"]
    content_type: str
    body: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """``queued`` (with the messages), ``ping`` (verified, nothing to do) or a ``handshake``."""

    status: Literal["queued", "ping", "ignored", "draft", "handshake"]
    tenant_id: str
    connection_id: str
    messages: tuple[QueuedWebhook, ...] = ()
    handshake: Handshake | None = None


def handshake_of(query: Mapping[str, str], raw_body: bytes) -> Handshake | None:
    """The handshake this request is, if it is one (Microsoft Graph or Slack)."""
    token = query.get("validationToken")
    if token:
        return Handshake("microsoft_graph", "text/plain", token[:MAX_HANDSHAKE_TOKEN])
    if raw_body[:1] == b"{" and b"url_verification" in raw_body:
        try:
            body: Any = json_bounds.loads(raw_body)
        except ValueError:  # not JSON, not UTF-8 (UnicodeDecodeError), or out of bounds
            return None
        challenge = body.get("challenge") if isinstance(body, dict) else None
        if body.get("type") == "url_verification" and isinstance(challenge, str) and challenge:
            return Handshake(
                "slack", "application/json", json.dumps({"challenge": challenge[:MAX_HANDSHAKE_TOKEN]})
            )
    return None


def intake(
    ports: IntakePorts,
    connection_id: str,
    *,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    raw_body: bytes,
    received_at: datetime,
) -> Outcome:
    """Answer a handshake, or verify, parse and enqueue a delivery.

    Raises ``ConnectionNotFound`` (unknown connection), ``ConnectionDisconnected`` (disconnected:
    the connection is read on every delivery, so from the moment it is disconnected), the
    provider's ``WebhookRejected`` (bad or missing signature) or ``WebhookUnparseable``
    (unreadable body), and the queue's errors (``Throttled`` ...): in every one of those cases
    nothing was queued.
    """
    connection = receivable(ports.connections, connection_id)
    tenant_id, provider = connection.tenant_id, connection.provider
    shake = handshake_of(query, raw_body)
    if shake is not None:
        return Outcome("handshake", tenant_id, connection_id, handshake=shake)
    receipt = verify_delivery(
        connection, headers, raw_body, providers=ports.providers, secrets=ports.secrets, clock=ports.clock
    )
    lifecycle = lifecycle_of(ports.providers(provider), raw_body)
    if receipt.event.kind is WebhookKind.PING and not lifecycle:
        return Outcome("ping", tenant_id, connection_id)
    if connection.status is ConnectionStatus.DRAFT:
        # R32: verified, and dropped: a draft applies nothing, and its first import (at activation)
        # reads everyone anyway. A 2xx keeps the vendor from disabling the webhook set up early.
        return Outcome("draft", tenant_id, connection_id)
    event = receipt.event
    changed = receipt.should_enqueue and event.kind is not WebhookKind.PING
    if not changed and not lifecycle:
        return Outcome("ignored", tenant_id, connection_id)
    messages = queued_webhooks(
        connection,
        event,
        employee_ids=event.employee_ids if changed else (),
        received_at=received_at,
        lifecycle=lifecycle,
    )
    for message in messages:
        ports.queue.send(message.model_dump(mode="json"))
    return Outcome("queued", tenant_id, connection_id, messages=messages)


def queued_webhooks(
    connection: Connection,
    event: WebhookEvent,
    *,
    employee_ids: Sequence[str],
    received_at: datetime,
    lifecycle: tuple[LifecycleEvent, ...] = (),
) -> tuple[QueuedWebhook, ...]:
    """The queue messages of one verified delivery (a webhook's, or a message pulled from a vendor's
    event queue: ``shared.services.event_queue``), keyed by the event's delivery id (R24).

    A delivery naming more people than one message carries is split, each part with its own
    stable id (a redelivery of the whole splits the same way); the lifecycle notifications go with
    the first part. Raises pydantic's ``ValidationError`` for an event no message can carry (a
    delivery id over 512 characters)."""
    ids = tuple(employee_ids)
    parts = [ids[i : i + MAX_WEBHOOK_EMPLOYEES] for i in range(0, len(ids), MAX_WEBHOOK_EMPLOYEES)] or [()]
    return tuple(
        QueuedWebhook(
            tenant_id=connection.tenant_id,
            connection_id=connection.connection_id,
            provider=connection.provider,
            kind=event.kind,
            employee_ids=part,
            delivery_id=event.delivery_id if len(parts) == 1 else f"{event.delivery_id}#{index}",
            received_at=received_at,
            occurred_at=event.occurred_at,
            lifecycle=lifecycle if index == 0 else (),
        )
        for index, part in enumerate(parts)
    )


def lifecycle_of(provider: Provider, raw_body: bytes) -> tuple[LifecycleEvent, ...]:
    """The lifecycle notifications of a verified delivery (each event once per subscription; ones
    of no readable shape left out), for a connector that sends them."""
    if not isinstance(provider, LifecycleNotifications):
        return ()
    found: dict[tuple[str, str], LifecycleEvent] = {}
    for event, subscription_id in provider.lifecycle_events(raw_body):
        if 0 < len(event) <= MAX_EVENT_NAME and 0 < len(subscription_id) <= MAX_SUBSCRIPTION_ID:
            found.setdefault(
                (event, subscription_id), LifecycleEvent(event=event, subscription_id=subscription_id)
            )
    return tuple(found.values())[:MAX_LIFECYCLE_EVENTS]
