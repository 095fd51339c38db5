"""Apply a webhook: a targeted plan for the employees it names, and nobody else (R09, R28, R29)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.domain.models import Actor, ConnectionStatus, PlanCounts, Targeted
from shared.domain.records import SkippedRecord
from shared.errors import InvalidInput, LockHeld, ProviderCredentialsRejected, ProviderFailure
from shared.providers.base import ProviderAuthError, ProviderError
from shared.services.applying import MemberGroup, Origin, apply_groups
from shared.services.context import Ports
from shared.services.planning import group_actions, make_plan

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
    provider = ports.providers(connection.provider)
    credentials = ports.secrets.get(tenant_id, connection_id)
    try:
        page = provider.get_employees(credentials, ids)
    except ProviderAuthError as exc:
        raise ProviderCredentialsRejected("the HR system refused the connection's credentials") from exc
    except ProviderError as exc:
        raise ProviderFailure(f"the HR system did not answer: {type(exc).__name__}") from exc
    if page.refreshed_credentials is not None:
        ports.secrets.put(tenant_id, connection_id, page.refreshed_credentials)
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
