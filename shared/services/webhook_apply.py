"""Apply a webhook: a targeted plan for the employees it names, and nobody else (R09, R28, R29, R30)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.domain.models import Actor, Connection, ConnectionStatus, Member, PlanCounts, Targeted
from shared.domain.records import SkippedRecord
from shared.errors import (
    ConnectionDisconnected,
    InvalidInput,
    ProviderCredentialsRejected,
    ProviderFailure,
    SecretNotFound,
)
from shared.ports import (
    MAX_PAGE_LIMIT,
    PENDING_LIST,
    Clock,
    ConnectionStore,
    PendingEmployee,
    ProviderLookup,
    SecretStore,
)
from shared.providers.base import (
    ProviderAuthError,
    ProviderError,
    WebhookEvent,
    WebhookKind,
    WebhookRejected,
)
from shared.providers.catalogue import WEBHOOK_SECRET
from shared.services import webhook_guard
from shared.services.context import (
    WithAudit,
    WithClock,
    WithConnections,
    WithEvents,
    WithIds,
    WithLock,
    WithMailer,
    WithMembers,
    WithPending,
    WithProviders,
    WithRuns,
    WithSecrets,
    WithSettings,
    WithTasks,
    WithTokenLock,
    WithWebhookGuard,
)
from shared.services.member_writes import MemberGroup, Origin, apply_groups
from shared.services.planning import group_actions, make_plan
from shared.services.tokens import provider_for


class WebhookPorts(
    WithConnections,
    WithMembers,
    WithTasks,
    WithAudit,
    WithRuns,
    WithLock,
    WithPending,
    WithWebhookGuard,
    WithTokenLock,
    WithSecrets,
    WithMailer,
    WithEvents,
    WithClock,
    WithIds,
    WithProviders,
    WithSettings,
    Protocol,
):
    """Applying a webhook or a connection's pending ones: the HR system read, the plan applied,
    deferred while a full sync holds the lock (R29), deactivations screened (R30)."""


# A disconnected connection (R20) and a draft (R32: nothing applied before its activation) apply
# no webhook.
_NOT_SYNCING = frozenset({ConnectionStatus.DISCONNECTED, ConnectionStatus.DRAFT})
MAX_WEBHOOK_EMPLOYEES = 100


@dataclass(frozen=True, slots=True)
class WebhookResult:
    counts: PlanCounts
    skipped: tuple[SkippedRecord, ...]
    # True when the connection is disconnected: the delivery is dropped (R20).
    ignored: bool = False
    # R29: employees kept for the end of the running full sync (the delivery is done with).
    deferred: int = 0
    # R30: deactivations the webhook guard held, and the run holding them.
    held: int = 0
    held_run_id: str | None = None

    def __add__(self, other: WebhookResult) -> WebhookResult:
        return WebhookResult(
            counts=PlanCounts(
                **{n: getattr(self.counts, n) + getattr(other.counts, n) for n in PlanCounts.model_fields}
            ),
            skipped=(*self.skipped, *other.skipped),
            ignored=self.ignored and other.ignored,
            deferred=self.deferred + other.deferred,
            held=self.held + other.held,
            held_run_id=other.held_run_id or self.held_run_id,
        )


_NOTHING = WebhookResult(counts=PlanCounts(), skipped=())


def _sync_running(ports: WebhookPorts, tenant_id: str, connection_id: str) -> bool:
    return ports.lock.current(tenant_id, connection_id, ports.clock.now()) is not None


def apply_webhook(
    ports: WebhookPorts, tenant_id: str, connection_id: str, employee_ids: Sequence[str], delivery_id: str
) -> WebhookResult:
    """Fetch the named employees and apply a targeted plan for them alone.

    While a full sync of the connection runs (R29) the named employees are added to the
    connection's pending list instead (``deferred``), and the delivery is done with: the sync's
    end drains the list, however long the sync took. The lock is looked at again after the add,
    so a sync that ended in between (and drained before the add landed) cannot strand them.
    Leftovers of an earlier drain (one cut short by a failure) are applied after the delivery.
    Deactivations pass the webhook guard first (R30). Replaying a delivery changes nothing (R24).
    """
    if not delivery_id:
        raise InvalidInput("a webhook needs a delivery id", field="delivery_id")
    ids = tuple(dict.fromkeys(i for i in employee_ids if i))
    if len(ids) > MAX_WEBHOOK_EMPLOYEES:
        raise InvalidInput(f"at most {MAX_WEBHOOK_EMPLOYEES} employees per webhook", field="employee_ids")
    connection = ports.connections.get(tenant_id, connection_id)
    if connection.status in _NOT_SYNCING:
        return WebhookResult(counts=PlanCounts(), skipped=(), ignored=True)
    if not ids:
        return _NOTHING
    if _sync_running(ports, tenant_id, connection_id):
        now = ports.clock.now()
        ports.pending.add(
            tenant_id,
            connection_id,
            PENDING_LIST,
            [PendingEmployee(hris_id=i, token=delivery_id, added_at=now) for i in ids],
        )
        if _sync_running(ports, tenant_id, connection_id):
            return WebhookResult(counts=PlanCounts(), skipped=(), deferred=len(ids))
        return drain_pending(ports, tenant_id, connection_id)
    applied = apply_targeted(
        ports, connection, ids, key=f"wh:{delivery_id}", actor_id=f"webhook:{delivery_id}"
    )
    return applied + drain_pending(ports, tenant_id, connection_id)


def drain_pending(ports: WebhookPorts, tenant_id: str, connection_id: str) -> WebhookResult:
    """Apply the connection's pending webhook employees (R29), ``MAX_WEBHOOK_EMPLOYEES`` at a time.

    Called when a full sync ends (completed, partial, failed or held by the guard) and after
    each webhook. Each batch is removed from the list once applied (an entry a newer delivery
    rewrote meanwhile stays for the next drain); a full sync that starts meanwhile stops the drain
    (its own end drains the rest). A repeated drain of the same entries writes nothing twice.
    """
    connection = ports.connections.get(tenant_id, connection_id)
    if connection.status in _NOT_SYNCING:
        return WebhookResult(counts=PlanCounts(), skipped=(), ignored=True)
    entries: list[PendingEmployee] = []
    cursor: str | None = None
    while len(entries) < ports.settings.max_drained:
        page = ports.pending.read(tenant_id, connection_id, PENDING_LIST, cursor=cursor, limit=MAX_PAGE_LIMIT)
        entries.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    total = _NOTHING
    for start in range(0, min(len(entries), ports.settings.max_drained), MAX_WEBHOOK_EMPLOYEES):
        if _sync_running(ports, tenant_id, connection_id):
            break
        batch = entries[start : start + MAX_WEBHOOK_EMPLOYEES]
        digest = hashlib.sha256("\x1f".join(f"{e.hris_id}\x1e{e.token}" for e in batch).encode()).hexdigest()
        total += apply_targeted(
            ports,
            connection,
            [e.hris_id for e in batch],
            key=f"wh:pending:{digest[:32]}",
            actor_id="webhook:pending",
        )
        ports.pending.remove(tenant_id, connection_id, PENDING_LIST, batch)
    return total


def apply_targeted(
    ports: WebhookPorts, connection: Connection, ids: Sequence[str], *, key: str, actor_id: str
) -> WebhookResult:
    """Fetch ``ids`` from the HR system and apply their targeted plan, deactivations screened by
    the webhook guard (R30). ``key`` makes repeating the same application harmless (R24)."""
    tenant_id, connection_id = connection.tenant_id, connection.connection_id
    provider = provider_for(ports, connection)  # a refreshed token is saved as it is refreshed
    credentials = ports.secrets.get(tenant_id, connection_id)
    try:
        page = provider.get_employees(credentials, ids)
    except ProviderAuthError as exc:
        raise ProviderCredentialsRejected("the HR system refused the connection's credentials") from exc
    except ProviderError as exc:
        raise ProviderFailure(f"the HR system did not answer: {type(exc).__name__}") from exc
    wanted = set(ids)
    source = Targeted(employees=tuple(e for e in page.employees if e.hris_id in wanted))
    capabilities = provider.capabilities_for(credentials)
    skips: list[SkippedRecord] = []
    planned_from: list[Member] = []

    def plan_groups(only: set[str] | None = None) -> dict[str, MemberGroup]:
        members = list(ports.members.iter_all(tenant_id))
        fresh = ports.connections.get(tenant_id, connection_id)
        plan = make_plan(ports, source, members, fresh, capabilities=capabilities)
        actions = [a for a in plan.actions if a.kind != "skip" and (only is None or a.member_id in only)]
        groups = group_actions(actions, {m.member_id: m for m in members})
        if only is None:
            planned_from.extend(members)
            skips.extend(
                SkippedRecord(hris_id=a.hris_id, reason=a.reason, detail=a.detail)
                for a in plan.actions
                if a.kind == "skip"
            )
        return {g.member_id: g for g in groups}

    screened = webhook_guard.screen(ports, connection, list(plan_groups().values()), planned_from, ids)

    def replan(member_ids: Sequence[str]) -> dict[str, MemberGroup]:
        # A conflict's re-plan never deactivates anyone the guard did not let through.
        fresh = plan_groups(set(member_ids))
        return {
            m: g
            for m, g in fresh.items()
            if not webhook_guard.deactivates(g) or m in screened.deactivations_allowed
        }

    origin = Origin(actor=Actor.SYNC, key=key, connection=connection, actor_id=actor_id)
    report = apply_groups(ports, tenant_id, screened.apply, origin, replan)
    return WebhookResult(
        counts=report.plan_counts(),
        skipped=(*skips, *report.skipped),
        held=screened.held,
        held_run_id=screened.run_id,
    )


# The key of the webhook signing secret (or token) in a connection's credentials.
WEBHOOK_SECRET_KEY = WEBHOOK_SECRET  # the catalogue's name for it


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


def receivable(connections: ConnectionStore, connection_id: str) -> Connection:
    """The connection a delivery to ``/webhooks/{connection_id}`` is for, read afresh.

    Raises ``ConnectionNotFound`` (HTTP 404) for an unknown connection and
    ``ConnectionDisconnected`` (HTTP 410) for a disconnected one (R20: nothing about it is accepted
    any more, from the moment it is disconnected).
    """
    tenant_id = connections.tenant_of(connection_id)
    connection = connections.get(tenant_id, connection_id)
    if connection.status is ConnectionStatus.DISCONNECTED:
        raise ConnectionDisconnected(connection_id)
    return connection


def verify_delivery(
    connection: Connection,
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    providers: ProviderLookup,
    secrets: SecretStore,
    clock: Clock,
) -> WebhookReceipt:
    """Verify and parse a delivery for a connection that may receive webhooks (fast: no HR call).

    Raises the provider's ``WebhookRejected`` (HTTP 401) for a bad or missing signature (missing:
    also where the vendor's signing is optional when the connection sets ``require_signature``),
    a provider without webhooks or a connection without a webhook secret, and
    ``WebhookUnparseable`` (HTTP 400) for a body the provider cannot read.
    """
    tenant_id, connection_id = connection.tenant_id, connection.connection_id
    provider = providers(connection.provider)
    if not provider.supports_webhooks:
        raise WebhookRejected("this provider sends no webhooks")
    try:
        credentials = secrets.get(tenant_id, connection_id)
    except SecretNotFound:
        raise WebhookRejected("the connection has no credentials") from None
    secret = credentials.secrets.get(WEBHOOK_SECRET_KEY)
    if secret is None:
        raise WebhookRejected("the connection has no webhook secret")
    provider.verify_webhook(
        headers, raw_body, secret, clock.now(), require_signature=connection.require_signature
    )
    event = provider.parse_webhook(headers, raw_body)
    return WebhookReceipt(tenant_id=tenant_id, connection_id=connection_id, event=event)


def receive_webhook(
    connection_id: str,
    headers: Mapping[str, str],
    raw_body: bytes,
    *,
    connections: ConnectionStore,
    providers: ProviderLookup,
    secrets: SecretStore,
    clock: Clock,
) -> WebhookReceipt:
    """``receivable`` then ``verify_delivery``: the errors of both."""
    connection = receivable(connections, connection_id)
    return verify_delivery(connection, headers, raw_body, providers=providers, secrets=secrets, clock=clock)
