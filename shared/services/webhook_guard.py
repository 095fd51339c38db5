"""R30, the webhook guard: webhook deactivations counted in a rolling window against R23's thresholds.

A webhook's targeted plan is screened before it is applied (``screen``). Its deactivations of live
members are logged in the connection's window first, then the window is counted (so two workers
racing each see the other's: the guard errs on holding, never on applying). While the count stays
within ``safety.max_deactivations`` or ``safety.max_deactivation_pct`` of the connection's active
members (as they were before the window's webhook deactivations), they are applied; past both,
the rest are held in one run (``trigger = webhook_guard``, status ``blocked``) that every later
webhook deactivation of the connection joins until an admin decides: one email, one
``sync.blocked`` event, the run in the connection's runs. Everything else in the webhook (hires,
updates, a held person's other changes) is applied as usual.

An admin confirms the held run (each held member still live and linked to the same employee is
deactivated with the reason the HR system gave, with its offboarding task, R26) or discards it
(nothing is applied); either way the window restarts at the decision. A later webhook that names a
held employee without deactivating them (they came back) takes them out of the held run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from shared.domain.models import (
    Actor,
    Connection,
    DeactivateMember,
    DeactivationReason,
    Member,
    TaskType,
)
from shared.domain.reconciler import LIVE_STATUSES, active_member_count
from shared.domain.records import RunPhase, RunProgress, RunStatus, RunTrigger, SyncRun
from shared.errors import AlreadyExists, InvalidState, RunNotFound
from shared.ports import (
    MAX_PAGE_LIMIT,
    SYNC_BLOCKED,
    DomainEvent,
    Email,
    MailTemplate,
    PendingEmployee,
    held_list,
)
from shared.services import notify, run_records
from shared.services.context import (
    WithAudit,
    WithClock,
    WithConnections,
    WithEvents,
    WithIds,
    WithMailer,
    WithMembers,
    WithPending,
    WithRuns,
    WithSettings,
    WithTasks,
    WithWebhookGuard,
)
from shared.services.member_writes import MemberGroup, Origin, apply_groups


class GuardPorts(
    WithConnections,
    WithMembers,
    WithTasks,
    WithAudit,
    WithRuns,
    WithPending,
    WithWebhookGuard,
    WithMailer,
    WithEvents,
    WithClock,
    WithIds,
    WithSettings,
    Protocol,
):
    """The webhook guard (R30): its window, the held deactivations and their run, applied on confirm."""


# Re-reads of the guard's state when an admin decides while a worker is adding to the held run.
_HOLD_ATTEMPTS = 3
_AFTER = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Screened:
    """A targeted plan's groups after the guard: what to apply now, and what it held where."""

    apply: list[MemberGroup]
    held: int = 0
    run_id: str | None = None
    # Members whose deactivation may be applied (a re-plan after a conflict keeps to these).
    deactivations_allowed: frozenset[str] = field(default_factory=frozenset)


def deactivates(group: MemberGroup) -> bool:
    """The group deactivates a live member (what R23 and R30 count)."""
    return (
        group.base is not None
        and group.base.status in LIVE_STATUSES
        and any(a.kind == "deactivate" for a in group.actions)
    )


def _without_deactivation(group: MemberGroup) -> MemberGroup | None:
    """A held member's other changes (they flow, R30): all but the deactivation and its task."""
    rest = tuple(
        a
        for a in group.actions
        if a.kind != "deactivate" and not (a.kind == "open_task" and a.task_type is TaskType.OFFBOARDING)
    )
    return MemberGroup(member_id=group.member_id, base=group.base, actions=rest) if rest else None


def screen(
    ports: GuardPorts,
    connection: Connection,
    groups: Sequence[MemberGroup],
    members: Sequence[Member],
    named: Sequence[str],
) -> Screened:
    """Split a webhook's plan into what is applied now and the deactivations the guard holds.

    ``members`` are the tenant's members the plan was made from; ``named`` the HR ids the webhook
    named (those it does not deactivate leave a held run: the HR system no longer says they left).
    """
    t, c = connection.tenant_id, connection.connection_id
    state = ports.webhook_guard.state(t, c)
    deactivating = [g for g in groups if deactivates(g)]
    if state.held_run_id is not None:
        leaving = {g.base.hris_id for g in deactivating if g.base is not None}
        back = [i for i in named if i not in leaving]
        if back:
            ports.pending.discard(t, c, held_list(state.held_run_id), back)
            _count_held(ports, t, c, state.held_run_id)
    if not deactivating:
        return Screened(apply=list(groups))
    now = ports.clock.now()
    active = active_member_count(members, c)
    earlier = 0
    allowed = 0
    if state.held_run_id is None:
        ports.webhook_guard.record_deactivations(t, c, [g.member_id for g in deactivating], now)
        since = now - timedelta(minutes=connection.safety.webhook_window_minutes)
        if state.decided_at is not None and state.decided_at >= since:
            since = state.decided_at + _AFTER  # only what came after the admin's decision
        # The count includes this webhook's own entries (and any a concurrent worker logged).
        earlier = max(0, ports.webhook_guard.count_deactivations(t, c, since) - len(deactivating))
        allowed = connection.safety.webhook_allowance(earlier, len(deactivating), active)
    held = deactivating[allowed:]
    allowed_ids = frozenset(g.member_id for g in deactivating[:allowed])
    if not held:
        return Screened(apply=list(groups), deactivations_allowed=allowed_ids)
    run_id = _hold(ports, connection, held, state.held_run_id, applied=earlier + allowed, active=active)
    held_ids = {g.member_id for g in held}
    apply = [g for g in groups if g.member_id not in held_ids]
    apply.extend(rest for g in held if (rest := _without_deactivation(g)) is not None)
    return Screened(apply=apply, held=len(held), run_id=run_id, deactivations_allowed=allowed_ids)


def _hold(
    ports: GuardPorts,
    connection: Connection,
    held: Sequence[MemberGroup],
    held_run_id: str | None,
    *,
    applied: int,
    active: int,
) -> str:
    """Add the held deactivations to the connection's held run (made, and announced, once)."""
    t, c = connection.tenant_id, connection.connection_id
    now = ports.clock.now()
    entries = [
        PendingEmployee(
            hris_id=g.base.hris_id,
            token=ports.ids.new_id("held"),
            added_at=now,
            member_id=g.member_id,
            reason=next(a.reason.value for a in g.actions if isinstance(a, DeactivateMember)),
        )
        for g in held
        if g.base is not None and g.base.hris_id is not None
    ]
    run_id = held_run_id
    created = False
    for _ in range(_HOLD_ATTEMPTS):
        if run_id is None:
            run_id = ports.webhook_guard.hold(t, c, ports.ids.new_id("run"))
        created = _ensure_run(ports, connection, run_id, now) or created
        ports.pending.add(t, c, held_list(run_id), entries)
        if ports.webhook_guard.state(t, c).held_run_id == run_id:
            break
        # An admin decided the run while we added to it: hold these in the next one instead.
        ports.pending.discard(t, c, held_list(run_id), [e.hris_id for e in entries])
        run_id = None
    if run_id is None:  # pragma: no cover - three decisions during one webhook
        raise InvalidState("the webhook guard's held run kept changing", connection_id=c)
    run = _count_held(ports, t, c, run_id)
    if created:
        _announce(ports, connection, run, applied=applied, active=active)
    return run_id


def _ensure_run(ports: WithRuns, connection: Connection, run_id: str, now: datetime) -> bool:
    """The held run exists; True when this call created it (the one that sends the email)."""
    try:
        ports.runs.get(connection.tenant_id, run_id)
    except RunNotFound:
        pass
    else:
        return False
    run = SyncRun(
        run_id=run_id,
        tenant_id=connection.tenant_id,
        connection_id=connection.connection_id,
        trigger=RunTrigger.WEBHOOK_GUARD,
        status=RunStatus.BLOCKED,
        started_at=now,
        progress=RunProgress(phase=RunPhase.PLANNING),
        version=1,
    )
    try:
        ports.runs.create(run)
    except AlreadyExists:
        return False
    return True


def _announce(ports: GuardPorts, connection: Connection, run: SyncRun, *, applied: int, active: int) -> None:
    window = connection.safety.webhook_window_minutes
    before = active + applied
    unsent = notify.send_all(
        ports,
        [
            Email(
                template=MailTemplate.WEBHOOK_GUARD,
                to=notify.recipients(connection),
                data={
                    "connection_id": connection.connection_id,
                    "connection_label": connection.label,
                    "provider": notify.provider_name(connection.provider),
                    "run_id": run.run_id,
                    "deactivations": applied,
                    "active_members": before,
                    "window_minutes": window,
                    "max_deactivations": connection.safety.max_deactivations,
                    "max_deactivation_pct": f"{connection.safety.max_deactivation_pct:g}",
                },
            )
        ],
    )
    run_records.record_unsent(ports, run, unsent)
    ports.events.publish(
        [
            DomainEvent(
                SYNC_BLOCKED,
                {
                    "tenant_id": run.tenant_id,
                    "connection_id": run.connection_id,
                    "run_id": run.run_id,
                    "trigger": RunTrigger.WEBHOOK_GUARD.value,
                    "deactivations": applied,
                    "active_members": before,
                },
            )
        ]
    )


# ---------------------------------------------------------------------------------------------
# The held run: its entries, counts, and an admin's decision
# ---------------------------------------------------------------------------------------------


def held_entries(
    ports: WithPending, tenant_id: str, connection_id: str, run_id: str
) -> list[PendingEmployee]:
    entries: list[PendingEmployee] = []
    cursor: str | None = None
    while True:
        page = ports.pending.read(
            tenant_id, connection_id, held_list(run_id), cursor=cursor, limit=MAX_PAGE_LIMIT
        )
        entries.extend(page.items)
        if page.next_cursor is None:
            return entries
        cursor = page.next_cursor


def _count_held(ports: GuardPorts, tenant_id: str, connection_id: str, run_id: str) -> SyncRun:
    """The held run shows how many deactivations it holds (its ``planned`` counts)."""
    held = len(held_entries(ports, tenant_id, connection_id, run_id))
    return run_records.mutate_run(
        ports,
        tenant_id,
        run_id,
        lambda r: (
            {
                "planned": r.planned.model_copy(update={"deactivated": held}),
                "progress": r.progress.model_copy(update={"actions_total": held}),
            }
            if r.status is RunStatus.BLOCKED
            else {}
        ),
    )


def _check_held(run: SyncRun) -> None:
    if run.trigger is not RunTrigger.WEBHOOK_GUARD or run.status is not RunStatus.BLOCKED:
        raise InvalidState(f"run {run.run_id!r} is {run.status.value}, not blocked", run_id=run.run_id)


def confirm_held(ports: GuardPorts, run: SyncRun, admin_id: str) -> SyncRun:
    """Apply the held deactivations: each held member still live and linked to the same employee
    is deactivated with the HR system's reason (and its offboarding task); the run completes."""
    _check_held(run)
    t, c = run.tenant_id, run.connection_id
    now = ports.clock.now()
    ports.webhook_guard.decide(t, c, run.run_id, now)
    connection = ports.connections.get(t, c)
    entries = held_entries(ports, t, c, run.run_id)
    by_member = {e.member_id: e for e in entries if e.member_id is not None}

    def groups_for(member_ids: Sequence[str]) -> dict[str, MemberGroup]:
        found = ports.members.get_many(t, list(member_ids))
        groups: dict[str, MemberGroup] = {}
        for member_id in member_ids:
            member, entry = found.get(member_id), by_member[member_id]
            if (
                member is None
                or member.connection_id != c
                or member.hris_id != entry.hris_id
                or member.status not in LIVE_STATUSES
            ):
                continue
            reason = DeactivationReason(entry.reason or DeactivationReason.TERMINATED.value)
            action = DeactivateMember(member_id=member_id, reason=reason)
            groups[member_id] = MemberGroup(member_id=member_id, base=member, actions=(action,))
        return groups

    origin = Origin(
        actor=Actor.SYNC,
        key=f"{run.run_id}:confirm",
        connection=connection,
        run_id=run.run_id,
        actor_id=run.run_id,
    )
    groups = groups_for(sorted(by_member))
    report = apply_groups(
        ports, t, list(groups.values()), origin, lambda ids: groups_for([i for i in ids if i in by_member])
    )
    ports.pending.remove(t, c, held_list(run.run_id), entries)
    return run_records.mutate_run(
        ports,
        t,
        run.run_id,
        lambda r: {
            "status": RunStatus.COMPLETED,
            "decided_by": admin_id,
            "finished_at": ports.clock.now(),
            "applied": report.plan_counts(),
            "skipped": tuple(report.skipped[: ports.settings.max_skipped_kept]),
            "progress": r.progress.model_copy(update={"phase": RunPhase.DONE}),
        },
    )


def discard_held(ports: GuardPorts, run: SyncRun, admin_id: str) -> SyncRun:
    """Drop the held deactivations: nothing of them is applied."""
    _check_held(run)
    t, c = run.tenant_id, run.connection_id
    now = ports.clock.now()
    ports.webhook_guard.decide(t, c, run.run_id, now)
    ports.pending.remove(t, c, held_list(run.run_id), held_entries(ports, t, c, run.run_id))
    return run_records.mutate_run(
        ports,
        t,
        run.run_id,
        lambda r: {
            "status": RunStatus.DISCARDED,
            "decided_by": admin_id,
            "finished_at": now,
            "progress": r.progress.model_copy(update={"phase": RunPhase.DONE}),
        },
    )
