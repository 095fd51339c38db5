"""Apply a webhook: a targeted plan for the employees it names, and nobody else (R09, R28, R29)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.domain.models import Actor, ConnectionStatus, PlanCounts, Targeted
from shared.domain.records import SkippedRecord
from shared.errors import (
    InvalidInput,
    LockHeld,
    ProviderCredentialsRejected,
    ProviderFailure,
    SecretNotFound,
)
from shared.providers.base import (
    ProviderAuthError,
    ProviderError,
    WebhookEvent,
    WebhookKind,
    WebhookRejected,
)
from shared.services.applying import MemberGroup, Origin, apply_groups
from shared.services.context import Ports
from shared.services.planning import group_actions, make_plan
from shared.services.tokens import provider_for

MAX_WEBHOOK_EMPLOYEES = 100


@dataclass(frozen=True, slots=True)
class WebhookResult:
    counts: PlanCounts
    skipped: tuple[SkippedRecord, ...]
    # True when the connection is disconnected: the delivery is dropped (R20).
    ignored: bool = False


def apply_webhook(
    ports: Ports, tenant_id: str, connection_id: str, employee_ids: Sequence[str], delivery_id: str
) -> WebhookResult:
    """Fetch the named employees and apply a targeted plan for them alone.

    Raises ``LockHeld`` while a full sync of the connection runs (R29): the queue redelivers the
    message later, so the update is applied after the sync and never lost. Replaying a delivery
    changes nothing (R24): the plan is empty the second time.
    """
    if not delivery_id:
        raise InvalidInput("a webhook needs a delivery id", field="delivery_id")
    ids = tuple(dict.fromkeys(i for i in employee_ids if i))
    if len(ids) > MAX_WEBHOOK_EMPLOYEES:
        raise InvalidInput(f"at most {MAX_WEBHOOK_EMPLOYEES} employees per webhook", field="employee_ids")
    connection = ports.connections.get(tenant_id, connection_id)
    if connection.status is ConnectionStatus.DISCONNECTED:
        return WebhookResult(counts=PlanCounts(), skipped=(), ignored=True)
    if not ids:
        return WebhookResult(counts=PlanCounts(), skipped=())
    now = ports.clock.now()
    lease = ports.lock.current(tenant_id, connection_id, now)
    if lease is not None:
        raise LockHeld(connection_id, lease.holder, lease.expires_at)
    provider = provider_for(ports, connection)  # a refreshed token is saved as it is refreshed
    credentials = ports.secrets.get(tenant_id, connection_id)
    try:
        page = provider.get_employees(credentials, ids)
    except ProviderAuthError as exc:
        raise ProviderCredentialsRejected("the HR system refused the connection's credentials") from exc
    except ProviderError as exc:
        raise ProviderFailure(f"the HR system did not answer: {type(exc).__name__}") from exc
    source = Targeted(employees=tuple(e for e in page.employees if e.hris_id in ids))

    def plan_groups(only: set[str] | None = None) -> dict[str, MemberGroup]:
        members = list(ports.members.iter_all(tenant_id))
        plan = make_plan(ports, source, members, ports.connections.get(tenant_id, connection_id))
        actions = [a for a in plan.actions if a.kind != "skip" and (only is None or a.member_id in only)]
        groups = group_actions(actions, {m.member_id: m for m in members})
        if only is None:
            skips.extend(
                SkippedRecord(hris_id=a.hris_id, reason=a.reason, detail=a.detail)
                for a in plan.actions
                if a.kind == "skip"
            )
        return {g.member_id: g for g in groups}

    skips: list[SkippedRecord] = []
    groups = plan_groups()
    origin = Origin(
        actor=Actor.SYNC, key=f"wh:{delivery_id}", connection=connection, actor_id=f"webhook:{delivery_id}"
    )
    report = apply_groups(ports, tenant_id, list(groups.values()), origin, lambda m: plan_groups(set(m)))
    return WebhookResult(counts=report.plan_counts(), skipped=(*skips, *report.skipped))


# The key of the webhook signing secret (or token) in a connection's credentials.
WEBHOOK_SECRET_KEY = "webhook_secret"  # noqa: S105 - the name of a credential, not one


@dataclass(frozen=True, slots=True)
class WebhookReceipt:
    """A verified, parsed delivery: what the ingest function enqueues for the worker."""

    tenant_id: str
    connection_id: str
    event: WebhookEvent

    @property
    def should_enqueue(self) -> bool:
        return self.event.kind is not WebhookKind.PING and bool(self.event.employee_ids)

    def message(self) -> dict[str, Any]:
        """The queue message for ``apply_webhook``."""
        return {
            "tenant_id": self.tenant_id,
            "connection_id": self.connection_id,
            "employee_ids": list(self.event.employee_ids),
            "delivery_id": self.event.delivery_id,
        }


def receive_webhook(
    ports: Ports, connection_id: str, headers: Mapping[str, str], raw_body: bytes
) -> WebhookReceipt:
    """Verify and parse a delivery for ``/webhooks/{connection_id}`` (fast: no HR call).

    Raises ``ConnectionNotFound`` for an unknown connection, the provider's ``WebhookRejected``
    (HTTP 401) for a bad signature, a disconnected connection (R20) or a connection without a
    webhook secret, and ``WebhookUnparseable`` (HTTP 400) for a body the provider cannot read.
    """
    tenant_id = ports.connections.tenant_of(connection_id)
    connection = ports.connections.get(tenant_id, connection_id)
    if connection.status is ConnectionStatus.DISCONNECTED:
        raise WebhookRejected("the connection is disconnected")
    provider = ports.providers(connection.provider)
    if not provider.supports_webhooks:
        raise WebhookRejected("this provider sends no webhooks")
    try:
        credentials = ports.secrets.get(tenant_id, connection_id)
    except SecretNotFound:
        raise WebhookRejected("the connection has no credentials") from None
    secret = credentials.secrets.get(WEBHOOK_SECRET_KEY)
    if secret is None:
        raise WebhookRejected("the connection has no webhook secret")
    provider.verify_webhook(headers, raw_body, secret, ports.clock.now())
    event = provider.parse_webhook(headers, raw_body)
    return WebhookReceipt(tenant_id=tenant_id, connection_id=connection_id, event=event)
