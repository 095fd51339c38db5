"""Admin actions on members: approve/reject (R07), invites (R08), deactivate/reactivate (R10),
archive (R14), edit with overrides and resync (R16), offboard now (R27); tasks and audit."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from shared.codecs import profile_from, to_plain
from shared.domain.models import (
    SYNCED_FIELDS,
    Actor,
    Connection,
    ConnectionStatus,
    DeactivationReason,
    InviteMode,
    Member,
    MemberFlag,
    MemberSource,
    MemberStatus,
    Targeted,
    TaskType,
)
from shared.domain.records import AuditEntry, Task, TaskStatus
from shared.errors import (
    ConnectionNotFound,
    EmailNotSent,
    InvalidInput,
    InvalidState,
    ProviderCredentialsRejected,
    ProviderFailure,
    VersionConflict,
)
from shared.ports import (
    DEFAULT_PAGE_LIMIT,
    MEMBER_DEACTIVATED,
    MEMBER_INVITED,
    MEMBER_REACTIVATED,
    MEMBER_UPDATED,
    MemberQuery,
    Page,
)
from shared.providers.base import ProviderAuthError, ProviderError
from shared.services.context import (
    WithAudit,
    WithClock,
    WithConnections,
    WithEvents,
    WithIds,
    WithMailer,
    WithMembers,
    WithProviders,
    WithSecrets,
    WithSettings,
    WithTasks,
    WithTokenLock,
)
from shared.services.full_sync import check_limit
from shared.services.member_actions import apply_actions
from shared.services.member_writes import AdminChange, write_admin_change
from shared.services.planning import make_plan
from shared.services.tokens import provider_for


class DecisionPorts(
    WithConnections,
    WithMembers,
    WithTasks,
    WithAudit,
    WithMailer,
    WithEvents,
    WithClock,
    WithIds,
    WithSettings,
    Protocol,
):
    """An admin's change to a member, applied with its effects (audit, tasks, events, emails)."""


class ResyncPorts(
    WithConnections,
    WithMembers,
    WithTasks,
    WithAudit,
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
    """One member re-read from the HR system and the change applied."""


class TaskDonePorts(WithTasks, WithClock, Protocol):
    """A task completed."""


class AuditReadPorts(WithMembers, WithAudit, Protocol):
    """A member's (or the tenant's) audit trail."""


MAX_INVITES_PER_CALL = 500
_ATTEMPTS = 3
_DEFAULT_INVITE_TTL_DAYS = 30

Decision = Callable[[Member, Connection | None], AdminChange | None]


def get_member(ports: WithMembers, tenant_id: str, member_id: str) -> Member:
    return ports.members.get(tenant_id, member_id)


def list_members(
    ports: WithMembers,
    tenant_id: str,
    *,
    status: MemberStatus | None = None,
    flag: MemberFlag | None = None,
    source: MemberSource | None = None,
    email: str | None = None,
    external_id: str | None = None,
    text: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
) -> Page[Member]:
    query = MemberQuery(
        status=status, flag=flag, source=source, email=email, external_id=external_id, text=text
    )
    return ports.members.query(tenant_id, query, cursor=cursor, limit=check_limit(limit))


def _connection_of(ports: WithConnections, member: Member) -> Connection | None:
    if member.connection_id is None:
        return None
    try:
        return ports.connections.get(member.tenant_id, member.connection_id)
    except ConnectionNotFound:
        return None


def _decide(ports: DecisionPorts, tenant_id: str, member_id: str, admin_id: str, decide: Decision) -> Member:
    """Read, decide, write conditionally; on a concurrent change read and decide again."""
    for attempt in range(_ATTEMPTS):
        member = ports.members.get(tenant_id, member_id)
        connection = _connection_of(ports, member)
        change = decide(member, connection)
        if change is None:
            return member
        try:
            return write_admin_change(ports, change, admin_id=admin_id, connection=connection)
        except VersionConflict:
            if attempt == _ATTEMPTS - 1:
                raise
    raise VersionConflict("member", member_id, None)  # pragma: no cover - the loop returns or raises


def _not_archived(member: Member, what: str) -> None:
    if member.status is MemberStatus.ARCHIVED:
        raise InvalidState(f"an archived member cannot be {what}", member_id=member.member_id)


def _invited(ports: WithClock, member: Member, connection: Connection | None) -> Member:
    now = ports.clock.now()
    ttl = connection.invite_ttl_days if connection else _DEFAULT_INVITE_TTL_DAYS
    return replace(
        member,
        status=MemberStatus.INVITED,
        invite_sent_at=now,
        invite_expires_at=now + timedelta(days=ttl),
    )


def _deactivated(member: Member, reason: DeactivationReason) -> Member:
    was = member.status_before_deactivation if member.status is MemberStatus.DEACTIVATED else member.status
    return replace(
        member,
        status=MemberStatus.DEACTIVATED,
        status_before_deactivation=was,
        deactivation_reason=reason,
        deactivated_by=Actor.ADMIN,
    )


# ---------------------------------------------------------------------------------------------
# R07 approval
# ---------------------------------------------------------------------------------------------


def approve(ports: DecisionPorts, tenant_id: str, member_id: str, admin_id: str) -> Member:
    """``pending_approval`` -> ``invited`` (invite sent) or ``queued`` (invites later)."""

    def decide(member: Member, connection: Connection | None) -> AdminChange:
        if member.status is not MemberStatus.PENDING_APPROVAL:
            raise InvalidState(f"member is {member.status.value}, not pending approval", member_id=member_id)
        if connection is not None and connection.invites is InviteMode.LATER:
            after = replace(member, status=MemberStatus.QUEUED)
            return AdminChange(member, after, "approve", (MEMBER_UPDATED,))
        after = _invited(ports, member, connection)
        return AdminChange(member, after, "approve", (MEMBER_UPDATED, MEMBER_INVITED), invite=True)

    return _decide(ports, tenant_id, member_id, admin_id, decide)


def reject(ports: DecisionPorts, tenant_id: str, member_id: str, admin_id: str) -> Member:
    """Rejected -> deactivated by an admin, so later syncs leave it alone (R10)."""

    def decide(member: Member, _connection: Connection | None) -> AdminChange:
        if member.status is not MemberStatus.PENDING_APPROVAL:
            raise InvalidState(f"member is {member.status.value}, not pending approval", member_id=member_id)
        return AdminChange(
            member, _deactivated(member, DeactivationReason.REJECTED), "reject", (MEMBER_DEACTIVATED,)
        )

    return _decide(ports, tenant_id, member_id, admin_id, decide)


# ---------------------------------------------------------------------------------------------
# R08 invites
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InviteResult:
    sent: tuple[str, ...]
    # (member id, reason): not_found, not_queued, missing_email, conflict
    not_sent: tuple[tuple[str, str], ...]


def send_invites(
    ports: DecisionPorts, tenant_id: str, admin_id: str, member_ids: Sequence[str] | None = None
) -> InviteResult:
    """Send the invites of some queued members, or of all of them (``member_ids`` None).

    A member SES refused the email of is invited but listed in ``not_sent`` with the refusal's
    code (``email_rejected`` ...); after throttling or paused sending the rest stay queued."""
    if member_ids is not None:
        ids = list(dict.fromkeys(member_ids))
        if not ids or len(ids) > MAX_INVITES_PER_CALL:
            raise InvalidInput(f"name 1 to {MAX_INVITES_PER_CALL} members", field="member_ids")
    else:
        ids = []
        cursor: str | None = None
        while True:
            page = ports.members.query(
                tenant_id, MemberQuery(status=MemberStatus.QUEUED), cursor=cursor, limit=200
            )
            ids.extend(m.member_id for m in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    found = ports.members.get_many(tenant_id, ids)
    sent: list[str] = []
    not_sent: list[tuple[str, str]] = []
    for position, member_id in enumerate(ids):
        if member_id not in found:
            not_sent.append((member_id, "not_found"))
            continue
        try:
            member = _decide(ports, tenant_id, member_id, admin_id, _invite_decision(ports))
        except InvalidState as exc:
            not_sent.append((member_id, str(exc.details.get("reason", "not_queued"))))
            continue
        except VersionConflict:
            not_sent.append((member_id, "conflict"))
            continue
        except EmailNotSent as refused:
            # The member is invited; SES did not take the email (its code says why). After a
            # refusal every later email would get too, the rest stay queued for a later call.
            not_sent.append((member_id, refused.code))
            if refused.stops_sending:
                not_sent.extend((rest, refused.code) for rest in ids[position + 1 :])
                break
            continue
        sent.append(member.member_id)
    return InviteResult(sent=tuple(sent), not_sent=tuple(not_sent))


def _invite_decision(ports: DecisionPorts) -> Decision:
    def decide(member: Member, connection: Connection | None) -> AdminChange:
        if member.status is not MemberStatus.QUEUED:
            raise InvalidState("member is not queued", member_id=member.member_id, reason="not_queued")
        if not member.profile.email:
            raise InvalidState("member has no email", member_id=member.member_id, reason="missing_email")
        after = _invited(ports, member, connection)
        return AdminChange(member, after, "send_invite", (MEMBER_INVITED,), invite=True)

    return decide


# ---------------------------------------------------------------------------------------------
# R10 manual deactivation, R27 offboarding, R14 archive
# ---------------------------------------------------------------------------------------------


def deactivate(ports: DecisionPorts, tenant_id: str, member_id: str, admin_id: str) -> Member:
    """Deactivated by an admin: no sync ever reactivates it (R10)."""

    def decide(member: Member, _connection: Connection | None) -> AdminChange | None:
        _not_archived(member, "deactivated")
        if member.status is MemberStatus.DEACTIVATED and member.deactivated_by is Actor.ADMIN:
            return None
        return AdminChange(
            member, _deactivated(member, DeactivationReason.ADMIN), "deactivate", (MEMBER_DEACTIVATED,)
        )

    return _decide(ports, tenant_id, member_id, admin_id, decide)


def reactivate(ports: DecisionPorts, tenant_id: str, member_id: str, admin_id: str) -> Member:
    """Only an admin undoes an admin's deactivation (R10); the member gets its earlier status back."""

    def decide(member: Member, _connection: Connection | None) -> AdminChange:
        _not_archived(member, "reactivated")
        if member.status is not MemberStatus.DEACTIVATED:
            raise InvalidState(f"member is {member.status.value}, not deactivated", member_id=member_id)
        after = replace(
            member,
            status=member.status_before_deactivation or MemberStatus.ACTIVE,
            status_before_deactivation=None,
            deactivation_reason=None,
            deactivated_by=None,
        )
        return AdminChange(member, after, "reactivate", (MEMBER_REACTIVATED,))

    return _decide(ports, tenant_id, member_id, admin_id, decide)


def offboard(ports: DecisionPorts, tenant_id: str, member_id: str, admin_id: str) -> Member:
    """R27: deactivate at once (by an admin) and open an offboarding task."""

    def decide(member: Member, _connection: Connection | None) -> AdminChange | None:
        _not_archived(member, "offboarded")
        if member.deactivation_reason is DeactivationReason.OFFBOARDED:
            return None
        after = _deactivated(member, DeactivationReason.OFFBOARDED)
        return AdminChange(
            member, after, "offboard", (MEMBER_DEACTIVATED,), tasks=((TaskType.OFFBOARDING, "offboarded"),)
        )

    return _decide(ports, tenant_id, member_id, admin_id, decide)


def archive(ports: DecisionPorts, tenant_id: str, member_id: str, admin_id: str) -> Member:
    """R14: archived members are never changed, reactivated or re-created by a sync."""

    def decide(member: Member, _connection: Connection | None) -> AdminChange | None:
        if member.status is MemberStatus.ARCHIVED:
            return None
        return AdminChange(
            member, replace(member, status=MemberStatus.ARCHIVED), "archive", (MEMBER_UPDATED,)
        )

    return _decide(ports, tenant_id, member_id, admin_id, decide)


# ---------------------------------------------------------------------------------------------
# R16 edits (overrides) and resync
# ---------------------------------------------------------------------------------------------


def edit_member(
    ports: DecisionPorts, tenant_id: str, member_id: str, admin_id: str, changes: Mapping[str, Any]
) -> Member:
    """An admin's edit of profile fields; for HRIS-managed members each edited synced field is
    recorded as an override (R16). A taken email raises ``EmailTaken``."""
    unknown = sorted(set(changes) - set(SYNCED_FIELDS))
    if unknown or not changes:
        raise InvalidInput(
            f"editable fields are {', '.join(SYNCED_FIELDS)}", field=unknown[0] if unknown else "changes"
        )

    def decide(member: Member, _connection: Connection | None) -> AdminChange | None:
        _not_archived(member, "edited")
        try:
            profile = profile_from({**to_plain(member.profile, mode="python"), **changes})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"invalid {where}: {first['msg']}", field=where) from exc
        if profile.email is not None and ("@" not in profile.email or profile.email != profile.email.strip()):
            raise InvalidInput("invalid email", field="email")
        edited = {k for k in changes if getattr(profile, k) != getattr(member.profile, k)}
        if not edited:
            return None
        overrides = dict(member.overrides)
        if member.is_hris_managed:
            dumped = to_plain(profile)
            overrides.update({k: dumped[k] for k in edited})
        after = replace(member, profile=profile, overrides=overrides)
        return AdminChange(member, after, "edit", (MEMBER_UPDATED,))

    return _decide(ports, tenant_id, member_id, admin_id, decide)


def resync_member(ports: ResyncPorts, tenant_id: str, member_id: str, admin_id: str) -> Member:
    """R16: drop the member's overrides and take the HR system's values at once."""

    def decide(member: Member, connection: Connection | None) -> AdminChange | None:
        _not_archived(member, "resynced")
        if not member.is_hris_managed or member.hris_id is None:
            raise InvalidState("only a member linked to an HR system can be resynced", member_id=member_id)
        if connection is None or connection.status is ConnectionStatus.DISCONNECTED:
            raise InvalidState("the member's connection is disconnected", member_id=member_id)
        provider = provider_for(ports, connection)  # a refreshed token is saved as it is refreshed
        credentials = ports.secrets.get(tenant_id, connection.connection_id)
        try:
            page = provider.get_employees(credentials, [member.hris_id])
        except ProviderAuthError as exc:
            raise ProviderCredentialsRejected("the HR system refused the connection's credentials") from exc
        except ProviderError as exc:
            raise ProviderFailure(f"the HR system did not answer: {type(exc).__name__}") from exc
        employees = tuple(e for e in page.employees if e.hris_id == member.hris_id)
        if not employees:
            raise InvalidState("the HR system no longer has this employee", member_id=member_id)
        members = list(ports.members.iter_all(tenant_id))
        plan = make_plan(
            ports,
            Targeted(employees=employees),
            members,
            connection,
            capabilities=provider.capabilities_for(credentials),
            resync=(member_id,),
        )
        updates = [a for a in plan.actions if a.kind == "update" and a.member_id == member_id]
        after = apply_actions(member, updates, connection=connection, now=ports.clock.now())[-1]
        if after is not None and after.overrides:
            after = replace(after, overrides={})
        if after is None or after == member:
            return None
        return AdminChange(member, after, "resync", (MEMBER_UPDATED,))

    return _decide(ports, tenant_id, member_id, admin_id, decide)


# ---------------------------------------------------------------------------------------------
# Tasks (R26) and audit
# ---------------------------------------------------------------------------------------------


def list_tasks(
    ports: WithTasks,
    tenant_id: str,
    *,
    type: TaskType | None = None,
    status: TaskStatus | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
) -> Page[Task]:
    return ports.tasks.query(tenant_id, type=type, status=status, cursor=cursor, limit=check_limit(limit))


def complete_task(ports: TaskDonePorts, tenant_id: str, task_id: str, admin_id: str) -> Task:
    return ports.tasks.complete(tenant_id, task_id, by=admin_id, at=ports.clock.now())


def list_audit(
    ports: AuditReadPorts,
    tenant_id: str,
    *,
    member_id: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
) -> Page[AuditEntry]:
    if member_id is not None:
        ports.members.get(tenant_id, member_id)
    return ports.audit.query(tenant_id, member_id=member_id, cursor=cursor, limit=check_limit(limit))
