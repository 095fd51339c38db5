"""Applying actions to members: the one path every change takes (sync chunks, webhooks, admins).

For each member: fold its actions onto the state they were planned against, write only when
something changed (R24), conditional on that state's version; then, for each applied action, an
audit entry, a task (R26), an event, and for invites an email (R08).

Idempotent by action: a member write carries ``<origin key>:<member id>`` as its action key, so a
repeated chunk finds its writes ``ALREADY_APPLIED``; audit entries and tasks have deterministic ids
derived from the same key, so repeating writes each once; events (with a deterministic
``event_id``) and invite emails go out only for writes that happened in this attempt, so they are
never doubled (a crash between a member write and its events loses those events: at-most-once).

Conflicts (another writer changed the member, a create met an existing member or a taken email)
are handed to a ``replan`` callback that plans those members again against their fresh state,
up to ``settings.max_replans`` times; a member still in conflict is reported as skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from shared.codecs import to_plain
from shared.domain import invite_links
from shared.domain.models import (
    Action,
    Actor,
    Connection,
    DeactivationReason,
    Member,
    MemberStatus,
    OpenTask,
    PlanCounts,
    ResendInvite,
    SendInvite,
    TaskType,
)
from shared.domain.records import AuditEntry, SkippedRecord, Task
from shared.errors import EmailTaken, InvalidInput, MemberNotFound, VersionConflict
from shared.ports import (
    MEMBER_APPROVAL_REQUESTED,
    MEMBER_CREATED,
    MEMBER_DEACTIVATED,
    MEMBER_INVITED,
    MEMBER_REACTIVATED,
    MEMBER_UPDATED,
    TASK_OPENED,
    DomainEvent,
    Email,
    MailTemplate,
    MemberWrite,
    WriteOutcome,
)
from shared.services import notify
from shared.services.context import (
    ServiceSettings,
    WithAudit,
    WithClock,
    WithEvents,
    WithIds,
    WithMailer,
    WithMembers,
    WithSettings,
    WithTasks,
)
from shared.services.member_actions import apply_actions


class ApplyPorts(
    WithMembers, WithTasks, WithAudit, WithMailer, WithEvents, WithClock, WithIds, WithSettings, Protocol
):
    """Applying member changes: the members written, their audit, tasks, events and emails."""


# Fields that are bookkeeping, not a change a person made.
_NOT_CHANGES = frozenset({"version", "updated_at", "created_at"})
_OFFBOARDING_REASONS = frozenset(
    {DeactivationReason.LEFT_HRIS, DeactivationReason.TERMINATED, DeactivationReason.OFFBOARDED}
)
_COUNT_BY_KIND = {
    "create": "created",
    "link": "linked",
    "update": "updated",
    "deactivate": "deactivated",
    "reactivate": "reactivated",
    "send_invite": "invites",
    "resend_invite": "invite_resends",
    "open_task": "tasks",
    "flag": "flags",
}


@dataclass(frozen=True, slots=True)
class MemberGroup:
    """All actions for one member, with the state they were planned against (None: a create)."""

    member_id: str
    base: Member | None
    actions: tuple[Action, ...]


@dataclass(frozen=True, slots=True)
class Origin:
    """Who or what applies the actions, and the key that makes repeating them harmless."""

    actor: Actor
    key: str  # "run_x:c3", "wh:<delivery>", "adm:<request id>"
    connection: Connection
    run_id: str | None = None
    actor_id: str | None = None
    # The audit action name for admin operations ("approve", "edit" ...); None = the action kind.
    audit_action: str | None = None


@dataclass
class ApplyReport:
    counts: dict[str, int] = field(default_factory=dict)
    member_writes: int = 0
    applied_members: list[Member] = field(default_factory=list)
    skipped: list[SkippedRecord] = field(default_factory=list)
    # Members whose write failed for a reason re-planning did not resolve.
    unresolved: dict[str, WriteOutcome] = field(default_factory=dict)
    # Emails SES did not take (the writes they follow stand; the caller records these).
    unsent: list[notify.Unsent] = field(default_factory=list)

    def plan_counts(self) -> PlanCounts:
        return PlanCounts(**self.counts, skipped=len(self.skipped))


Replan = Callable[[Sequence[str]], Mapping[str, MemberGroup]]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _comparable(member: Member | None) -> dict[str, Any] | None:
    return None if member is None else to_plain(member, exclude=set(_NOT_CHANGES))


def _diff(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields that differ between two dumped members: (before values, after values)."""
    old = before or {}
    new = after or {}
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return {k: old.get(k) for k in keys if k in old}, {k: new.get(k) for k in keys if k in new}


def _with_implied_actions(group: MemberGroup, final: Member | None) -> tuple[Action, ...]:
    """Add what R26 and R06 imply when the plan did not say it: tasks for creations and
    offboarding deactivations, and the invite of a member created as ``invited``."""
    actions = list(group.actions)
    task_types = {a.task_type for a in actions if isinstance(a, OpenTask)}
    has_invite = any(a.kind in ("send_invite", "resend_invite") for a in actions)
    for action in group.actions:
        if action.kind == "create":
            if TaskType.ONBOARDING not in task_types:
                actions.append(
                    OpenTask(member_id=group.member_id, task_type=TaskType.ONBOARDING, reason="created")
                )
            if action.status is MemberStatus.INVITED and not has_invite and action.profile.email:
                actions.append(SendInvite(member_id=group.member_id, email=action.profile.email))
        elif (
            action.kind == "deactivate"
            and action.reason in _OFFBOARDING_REASONS
            and TaskType.OFFBOARDING not in task_types
            and final is not None
        ):
            actions.append(
                OpenTask(
                    member_id=group.member_id, task_type=TaskType.OFFBOARDING, reason=action.reason.value
                )
            )
    return tuple(actions)


@dataclass(frozen=True, slots=True)
class _Prepared:
    group: MemberGroup
    actions: tuple[Action, ...]
    states: list[Member | None]
    write: MemberWrite | None


def _prepare(ports: WithClock, group: MemberGroup, origin: Origin) -> _Prepared:
    now = ports.clock.now()

    states = apply_actions(group.base, group.actions, connection=origin.connection, now=now)
    actions = _with_implied_actions(group, states[-1])
    implied = actions[len(group.actions) :]
    if implied:
        states += apply_actions(states[-1], implied, connection=origin.connection, now=now)[1:]
    final = states[-1]
    write = None
    if final is not None and _comparable(final) != _comparable(group.base):
        version = group.base.version + 1 if group.base is not None else 1
        final = replace(final, version=version, updated_at=now)
        states[-1] = final
        write = MemberWrite(member=final, previous=group.base, action_key=f"{origin.key}:{group.member_id}")
    return _Prepared(group, actions, states, write)


def _hris_id(p: _Prepared) -> str:
    for state in (p.states[-1], p.group.base):
        if state is not None and state.hris_id:
            return state.hris_id
    return ""


def apply_groups(
    ports: ApplyPorts,
    tenant_id: str,
    groups: Sequence[MemberGroup],
    origin: Origin,
    replan: Replan | None = None,
) -> ApplyReport:
    """Apply every group; see the module docstring for the guarantees."""
    report = ApplyReport()
    pending = list(groups)
    hris_ids: dict[str, str] = {}
    for attempt in range(ports.settings.max_replans + 1):
        if not pending:
            break
        prepared = [_prepare(ports, g, origin) for g in pending]
        writes = [p.write for p in prepared if p.write is not None]
        results = {r.member_id: r for r in ports.members.write(tenant_id, writes)} if writes else {}
        retry: list[str] = []
        effects = _Effects()
        for p in prepared:
            result = results.get(p.group.member_id)
            if result is None or result.ok:
                repeated = result is not None and result.outcome is WriteOutcome.ALREADY_APPLIED
                report.member_writes += int(result is not None and not repeated)
                _effects(ports, tenant_id, p, origin, report, out=effects, repeated=repeated)
            elif result.outcome is WriteOutcome.UNSTORABLE:
                report.skipped.append(_unstorable(_hris_id(p), p.group.member_id, result.field))
            else:
                retry.append(p.group.member_id)
                report.unresolved[p.group.member_id] = result.outcome
                hris_ids[p.group.member_id] = _hris_id(p)
        report.unsent.extend(effects.flush(ports))
        if not retry:
            break
        if replan is None or attempt == ports.settings.max_replans:
            break
        fresh_groups = replan(retry)
        for member_id in retry:
            report.unresolved.pop(member_id, None)
        pending = [fresh_groups[m] for m in retry if m in fresh_groups]
    for member_id, outcome in report.unresolved.items():
        report.skipped.append(
            SkippedRecord(
                hris_id=hris_ids.get(member_id, ""),
                reason=f"write_{outcome.value}",
                detail=f"member {member_id} kept changing; it will be planned again by the next sync",
            )
        )
    return report


def _unstorable(hris_id: str, member_id: str, field: str | None) -> SkippedRecord:
    """R25: a record whose HR id or email no store can key is skipped with the reason, every run
    (re-planning cannot help: the value is what the HR system holds)."""
    what = field or "value"
    return SkippedRecord(
        hris_id=hris_id,
        reason=f"{what}_too_long",
        detail=f"the HR record's {what} is too long to be stored; member {member_id} was not written",
    )


@dataclass(slots=True)
class _Effects:
    """What a batch of member writes causes, flushed once per batch (not once per member).

    Batching keeps a 10,000-member import at a few hundred audit/task/event requests instead of
    one of each per member; everything is still written after the member writes it follows.
    """

    audit: list[AuditEntry] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)
    emails: list[Email] = field(default_factory=list)

    def flush(self, ports: ApplyPorts) -> list[notify.Unsent]:
        """Write and send everything; return the emails SES did not take (they fail nothing)."""
        if self.audit:
            ports.audit.append(self.audit)
        if self.tasks:
            ports.tasks.open(self.tasks)
        if self.events:
            ports.events.publish(self.events)
        return notify.send_all(ports, self.emails)


def _effects(
    ports: ApplyPorts,
    tenant_id: str,
    p: _Prepared,
    origin: Origin,
    report: ApplyReport,
    *,
    out: _Effects,
    repeated: bool,
) -> None:
    """Collect the audit, tasks, events and emails of one member's applied actions into ``out``.

    ``repeated``: the member write was already applied by an earlier attempt of the same action:
    audit entries and tasks are written again (idempotent ids, healing a crash between the write
    and them); events and emails are not sent twice.
    """
    now = ports.clock.now()
    member_id = p.group.member_id
    connection_id = origin.connection.connection_id
    base_key = f"{origin.key}:{member_id}"
    audit: list[AuditEntry] = []
    tasks: list[Task] = []
    events: list[DomainEvent] = []
    emails: list[Email] = []
    dumps = [_comparable(state) for state in p.states]
    known = next((state for state in reversed(p.states) if state is not None), None)
    for index, action in enumerate(p.actions):
        after = p.states[index + 1]
        old, new = _diff(dumps[index], dumps[index + 1])
        if action.kind == "skip":
            continue
        changed = bool(new or old)
        if action.kind != "open_task" and not changed and action.kind not in ("send_invite", "resend_invite"):
            continue
        key = f"{base_key}:{index}"
        count_name = _COUNT_BY_KIND[action.kind]
        report.counts[count_name] = report.counts.get(count_name, 0) + 1
        detail: dict[str, Any] = {
            "event_id": _digest(key),
            "tenant_id": tenant_id,
            "connection_id": connection_id,
            "member_id": member_id,
            # R34: the app's own user id, so the app knows which of its users an event is about.
            "external_id": known.external_id if known is not None else None,
            "run_id": origin.run_id,
            "actor": origin.actor.value,
        }
        if isinstance(action, OpenTask):
            task_id = "task_" + _digest(base_key, action.task_type.value)
            tasks.append(
                Task(
                    task_id=task_id,
                    tenant_id=tenant_id,
                    member_id=member_id,
                    type=action.task_type,
                    reason=action.reason,
                    connection_id=connection_id,
                    run_id=origin.run_id,
                    opened_at=now,
                )
            )
            events.append(
                DomainEvent(TASK_OPENED, {**detail, "task_id": task_id, "task_type": action.task_type.value})
            )
            continue
        audit.append(
            AuditEntry(
                entry_id="au_" + _digest(key),
                tenant_id=tenant_id,
                member_id=member_id,
                at=now,
                actor=origin.actor,
                actor_id=origin.actor_id,
                action=origin.audit_action or action.kind,
                before=old,
                after=new,
                run_id=origin.run_id,
                connection_id=connection_id,
            )
        )
        detail["changed"] = sorted(new.keys() | old.keys())
        events.extend(_events_for(action, after, detail))
        if isinstance(action, SendInvite | ResendInvite) and after is not None:
            emails.append(_invite_email(action.email, after, origin.connection, ports.settings))
    out.audit += audit
    out.tasks += tasks
    if not repeated:
        out.events += events
        out.emails += emails
    final = p.states[-1]
    if final is not None and p.write is not None:
        report.applied_members.append(final)


def _events_for(action: Action, after: Member | None, detail: dict[str, Any]) -> list[DomainEvent]:
    status = after.status.value if after is not None else None
    detail = {**detail, "status": status}
    if action.kind == "create":
        events = [DomainEvent(MEMBER_CREATED, detail)]
        if after is not None and after.status is MemberStatus.PENDING_APPROVAL:
            events.append(
                DomainEvent(MEMBER_APPROVAL_REQUESTED, {**detail, "event_id": detail["event_id"] + "a"})
            )
        return events
    if action.kind == "deactivate":
        return [DomainEvent(MEMBER_DEACTIVATED, {**detail, "reason": action.reason.value})]
    if action.kind == "reactivate":
        return [DomainEvent(MEMBER_REACTIVATED, detail)]
    if action.kind in ("send_invite", "resend_invite"):
        return [DomainEvent(MEMBER_INVITED, {**detail, "resend": action.kind == "resend_invite"})]
    return [DomainEvent(MEMBER_UPDATED, detail)]


def _invite_email(to: str, member: Member, connection: Connection | None, settings: ServiceSettings) -> Email:
    template = settings.invite_url_template
    link = (
        None
        if template is None
        else invite_links.render(
            template, member_id=member.member_id, external_id=member.external_id, tenant_id=member.tenant_id
        )
    )
    return Email(
        template=MailTemplate.MEMBER_INVITE,
        to=(to,),
        data={
            "member_id": member.member_id,
            "invite_url": link,
            "first_name": member.profile.first_name,
            "last_name": member.profile.last_name,
            "expires_at": member.invite_expires_at.isoformat() if member.invite_expires_at else None,
            "connection_label": connection.label if connection else None,
        },
    )


# ---------------------------------------------------------------------------------------------
# Admin changes: one member, a known new state
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdminChange:
    """An admin's change of one member, described by its new state and what it means."""

    before: Member
    after: Member
    action: str  # audit action: approve, reject, deactivate, reactivate, offboard, resync, archive, edit
    events: tuple[str, ...]  # detail-types to emit
    tasks: tuple[tuple[TaskType, str], ...] = ()  # (type, reason) to open
    invite: bool = False  # send the invite email


def write_admin_change(
    ports: ApplyPorts, change: AdminChange, *, admin_id: str, connection: Connection | None
) -> Member:
    """Write one admin change conditionally on ``change.before.version`` and record its effects.

    Raises ``VersionConflict`` when the member changed meanwhile (the caller re-reads and decides
    again) and ``EmailTaken`` for an email another member has. An invite SES refuses raises
    ``EmailNotSent`` after the change is written (the admin's answer says the email did not go).
    """
    tenant_id = change.before.tenant_id
    now = ports.clock.now()
    request = ports.ids.new_id("req")
    after = replace(change.after, version=change.before.version + 1, updated_at=now)
    [result] = ports.members.write(
        tenant_id, [MemberWrite(member=after, previous=change.before, action_key=f"adm:{request}")]
    )
    if result.outcome is WriteOutcome.EMAIL_TAKEN:
        raise EmailTaken(after.email_key or "", result.conflicting_member_id)
    if result.outcome is WriteOutcome.NOT_FOUND:
        raise MemberNotFound(after.member_id, tenant_id=tenant_id)
    if result.outcome is WriteOutcome.UNSTORABLE:
        raise InvalidInput(f"{result.field or 'a value'} is too long to be stored", field=result.field)
    if not result.ok:
        raise VersionConflict("member", after.member_id, change.before.version)
    old, new = _diff(_comparable(change.before), _comparable(after))
    connection_id = connection.connection_id if connection else after.connection_id
    ports.audit.append(
        [
            AuditEntry(
                entry_id="au_" + _digest(request),
                tenant_id=tenant_id,
                member_id=after.member_id,
                at=now,
                actor=Actor.ADMIN,
                actor_id=admin_id,
                action=change.action,
                before=old,
                after=new,
                connection_id=connection_id,
            )
        ]
    )
    detail: dict[str, Any] = {
        "tenant_id": tenant_id,
        "connection_id": connection_id,
        "member_id": after.member_id,
        "external_id": after.external_id,
        "run_id": None,
        "actor": Actor.ADMIN.value,
        "changed": sorted(new.keys() | old.keys()),
        "status": after.status.value,
    }
    if after.deactivation_reason is not None and MEMBER_DEACTIVATED in change.events:
        detail["reason"] = after.deactivation_reason.value
    events = [DomainEvent(event, {**detail, "event_id": _digest(request, event)}) for event in change.events]
    tasks = [
        Task(
            task_id="task_" + _digest(request, task_type.value),
            tenant_id=tenant_id,
            member_id=after.member_id,
            type=task_type,
            reason=reason,
            connection_id=connection_id,
            opened_at=now,
        )
        for task_type, reason in change.tasks
    ]
    if tasks:
        ports.tasks.open(tasks)
        events.extend(
            DomainEvent(
                TASK_OPENED,
                {**detail, "event_id": _digest(t.task_id), "task_id": t.task_id, "task_type": t.type.value},
            )
            for t in tasks
        )
    ports.events.publish(events)
    if change.invite and after.profile.email:
        unsent = notify.send(ports, _invite_email(after.profile.email, after, connection, ports.settings))
        if unsent is not None:
            raise unsent.error
    return after
