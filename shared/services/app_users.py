"""R34: the app's own users brought in as manual members, one at a time or up to 1,000 per call.

Each user is keyed by the app's user id (``external_id``, optional) and by email; bringing a user
in twice changes nothing (idempotent), so an app may send its whole user list again after a
failure. Per user, first match wins:

- its external id is a member's: ``existing`` (that member, unchanged), unless the email is
  another member's: ``conflict`` naming both;
- else its email is a member's: ``existing`` when the user has no external id; ``updated`` when the
  member had none (it gets this one: the app now knows which of its users a synced employee is);
  ``conflict`` when the member has another external id;
- else ``created``: a ``manual`` member (R13), ``active`` (they already use the app), no invite, no
  onboarding task (they are not new hires, R26 is for people a sync creates).

A user that cannot be stored (a value too long for a key) is ``invalid`` and writes nothing.
Uniqueness holds under concurrency: every create or external id change is one transaction with
the email and external id guard items (``shared.adapters.members``); a write that loses a race
is decided again against what won (``existing`` or ``conflict``), so two concurrent calls never
leave two members. Linking such a member to an employee later (R05) changes neither its member
id nor its external id.

The reads are two batched lookups (guards, then members) per attempt and the writes go 33 creates
to a transaction: 1,000 users are a few dozen requests (bench/app_users.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from shared.codecs import to_plain
from shared.domain.ids import is_external_id
from shared.domain.models import Actor, Member, MemberSource, MemberStatus, Profile
from shared.domain.records import AuditEntry
from shared.errors import InvalidInput, MemberConflict
from shared.ports import MEMBER_CREATED, MEMBER_UPDATED, DomainEvent, MemberLookup, MemberWrite, WriteOutcome
from shared.services.context import WithAudit, WithClock, WithEvents, WithIds, WithMembers

# Users per call (the API's limit; API Gateway's 29 s leave ample room: bench/app_users.py).
MAX_USERS_PER_CALL = 1_000
# Rounds of "read, decide, write" for users whose write lost a race (then decided as what won).
_ROUNDS = 3
# Write outcomes that mean another writer got there first: read again and decide again.
_RACED = frozenset(
    {
        WriteOutcome.EMAIL_TAKEN,
        WriteOutcome.EXTERNAL_ID_TAKEN,
        WriteOutcome.ALREADY_EXISTS,
        WriteOutcome.VERSION_CONFLICT,
        WriteOutcome.NOT_FOUND,
    }
)


class AppUserPorts(WithMembers, WithAudit, WithEvents, WithClock, WithIds, Protocol):
    """Bringing the app's users in: members written, audited, announced."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AppUser:
    """One of the app's users, as the app describes it (validated by the API's models)."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    external_id: str | None = None
    role: str | None = None
    groups: tuple[str, ...] = ()
    location: str | None = None

    @property
    def email_key(self) -> str:
        return self.email.strip().lower()


class Outcome(StrEnum):
    CREATED = "created"
    EXISTING = "existing"
    UPDATED = "updated"  # an existing member (same email, no external id) got this external id
    INVALID = "invalid"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class UserResult:
    index: int
    outcome: Outcome
    member: Member | None = None
    # invalid / conflict: a stable code; detail: a sentence (never more than the user's own values)
    reason: str | None = None
    detail: str = ""
    # conflict: the members involved (the external id's first, then the email's)
    member_ids: tuple[str, ...] = ()


@dataclass
class _Round:
    writes: list[MemberWrite] = field(default_factory=list)
    actions: dict[str, tuple[int, Outcome, Member | None]] = field(default_factory=dict)


def add_member(
    ports: AppUserPorts, tenant_id: str, user: AppUser, *, admin_id: str
) -> tuple[Member, Outcome]:
    """One user (``POST /v1/members``): the member, ``created``, ``existing`` or ``updated``; a
    conflict raises ``MemberConflict``, a value no key can hold ``InvalidInput``."""
    [result] = import_users(ports, tenant_id, [user], admin_id=admin_id)
    if result.outcome is Outcome.CONFLICT:
        raise MemberConflict(result.detail, member_ids=list(result.member_ids), reason=result.reason or "")
    if result.outcome is Outcome.INVALID or result.member is None:
        raise InvalidInput(result.detail, reason=result.reason)
    return result.member, result.outcome


def import_users(
    ports: AppUserPorts, tenant_id: str, users: Sequence[AppUser], *, admin_id: str
) -> list[UserResult]:
    """Every user's result, in order (see the module docstring)."""
    if len(users) > MAX_USERS_PER_CALL:
        raise InvalidInput(f"at most {MAX_USERS_PER_CALL} users per call", field="users")
    results: dict[int, UserResult] = {}
    pending: list[int] = []
    seen_email: dict[str, int] = {}
    seen_external: dict[str, int] = {}
    for index, user in enumerate(users):
        problem = _problem(user, seen_email, seen_external)
        if problem is not None:
            results[index] = UserResult(index, Outcome.INVALID, reason=problem[0], detail=problem[1])
            continue
        seen_email[user.email_key] = index
        if user.external_id:
            seen_external[user.external_id] = index
        pending.append(index)
    request = ports.ids.new_id("req")
    for attempt in range(_ROUNDS):
        if not pending:
            break
        chosen = [users[i] for i in pending]
        lookup = ports.members.find_many(
            tenant_id,
            emails=[u.email_key for u in chosen],
            external_ids=[u.external_id for u in chosen if u.external_id],
        )
        plan = _Round()
        for index in pending:
            decided = _decide(
                ports,
                tenant_id,
                (index, users[index]),
                lookup,
                plan=plan,
                action_key=f"adm:{request}:{attempt}",
            )
            if decided is not None:
                results[index] = decided
        raced = _write(
            ports, tenant_id, plan, results=results, admin_id=admin_id, request=f"{request}:{attempt}"
        )
        pending = raced
    for index in pending:  # still losing races after every round: say so, write nothing more
        results[index] = UserResult(
            index,
            Outcome.CONFLICT,
            reason="concurrent_change",
            detail="another request kept changing these members; send this user again",
        )
    return [results[i] for i in range(len(users))]


def _problem(
    user: AppUser, seen_email: dict[str, int], seen_external: dict[str, int]
) -> tuple[str, str] | None:
    """Why a user cannot be taken as it is (a code and a sentence), or None."""
    if not user.email_key or "@" not in user.email_key:
        return "invalid_email", "the email is not an address"
    if user.external_id is not None and not is_external_id(user.external_id):
        return (
            "invalid_external_id",
            "the external id has control characters, surrounding spaces or is too long",
        )
    if user.email_key in seen_email:
        return "duplicate_email", f"user {seen_email[user.email_key]} of this call has the same email"
    if user.external_id and user.external_id in seen_external:
        return (
            "duplicate_external_id",
            f"user {seen_external[user.external_id]} of this call has the same external id",
        )
    return None


def _decide(
    ports: AppUserPorts,
    tenant_id: str,
    numbered: tuple[int, AppUser],
    lookup: MemberLookup,
    *,
    plan: _Round,
    action_key: str,
) -> UserResult | None:
    """The user's result when nothing needs writing; otherwise a write added to ``plan`` (None)."""
    index, user = numbered
    by_external = lookup.by_external_id.get(user.external_id) if user.external_id else None
    by_email = lookup.by_email.get(user.email_key)
    if by_external is not None:
        if by_email is not None and by_email.member_id != by_external.member_id:
            return UserResult(
                index,
                Outcome.CONFLICT,
                reason="external_id_and_email_of_different_members",
                detail=f"the external id is member {by_external.member_id}'s and the email is member "
                f"{by_email.member_id}'s",
                member_ids=(by_external.member_id, by_email.member_id),
            )
        return UserResult(index, Outcome.EXISTING, member=by_external)
    if by_email is not None:
        if user.external_id is None or by_email.external_id == user.external_id:
            # The same external id: this user, its external-id guard read before the transaction
            # that wrote both (BatchGetItem is read-committed per item) by a concurrent add.
            return UserResult(index, Outcome.EXISTING, member=by_email)
        if by_email.external_id is not None:
            return UserResult(
                index,
                Outcome.CONFLICT,
                reason="email_of_a_member_with_another_external_id",
                detail=f"the email is member {by_email.member_id}'s, which has another external id",
                member_ids=(by_email.member_id,),
            )
        now = ports.clock.now()
        after = replace(by_email, external_id=user.external_id, version=by_email.version + 1, updated_at=now)
        plan.writes.append(MemberWrite(after, by_email, f"{action_key}:{after.member_id}"))
        plan.actions[after.member_id] = (index, Outcome.UPDATED, by_email)
        return None
    now = ports.clock.now()
    member = Member(
        member_id=ports.ids.new_id("m"),
        tenant_id=tenant_id,
        source=MemberSource.MANUAL,
        status=MemberStatus.ACTIVE,
        profile=Profile(first_name=user.first_name, last_name=user.last_name, email=user.email.strip()),
        groups=user.groups,
        location=user.location,
        role=user.role,
        external_id=user.external_id,
        version=1,
        created_at=now,
        updated_at=now,
    )
    plan.writes.append(MemberWrite(member, None, f"{action_key}:{member.member_id}"))
    plan.actions[member.member_id] = (index, Outcome.CREATED, None)
    return None


def _write(
    ports: AppUserPorts,
    tenant_id: str,
    plan: _Round,
    *,
    results: dict[int, UserResult],
    admin_id: str,
    request: str,
) -> list[int]:
    """Write the round's members; record the results, audit entries and events of those written;
    return the users whose write lost a race."""
    if not plan.writes:
        return []
    raced: list[int] = []
    audit: list[AuditEntry] = []
    events: list[DomainEvent] = []
    now = ports.clock.now()
    written = {w.member.member_id: w.member for w in plan.writes}
    for result in ports.members.write(tenant_id, plan.writes):
        index, outcome, before = plan.actions[result.member_id]
        if result.outcome in _RACED:
            raced.append(index)
            continue
        if result.outcome is WriteOutcome.UNSTORABLE:
            what = result.field or "a value"
            results[index] = UserResult(
                index,
                Outcome.INVALID,
                reason=f"{what}_too_long",
                detail=f"the {what} is too long to be stored",
            )
            continue
        member = written[result.member_id]
        results[index] = UserResult(index, outcome, member=member)
        if result.outcome is WriteOutcome.ALREADY_APPLIED:
            continue
        key = _digest(request, member.member_id)
        old = _fields(before)
        new = _fields(member)
        changed = {k: v for k, v in new.items() if old.get(k) != v}
        audit.append(
            AuditEntry(
                entry_id="au_" + key,
                tenant_id=tenant_id,
                member_id=member.member_id,
                at=now,
                actor=Actor.ADMIN,
                actor_id=admin_id,
                action="add_app_user" if outcome is Outcome.CREATED else "set_external_id",
                before={k: old.get(k) for k in changed if k in old},
                after=changed,
            )
        )
        events.append(
            DomainEvent(
                MEMBER_CREATED if outcome is Outcome.CREATED else MEMBER_UPDATED,
                {
                    "event_id": key,
                    "tenant_id": tenant_id,
                    "connection_id": member.connection_id,
                    "member_id": member.member_id,
                    "external_id": member.external_id,
                    "run_id": None,
                    "actor": Actor.ADMIN.value,
                    "changed": sorted(changed),
                    "status": member.status.value,
                },
            )
        )
    if audit:
        ports.audit.append(audit)
    if events:
        ports.events.publish(events)
    return raced


_NOT_CHANGES = frozenset({"version", "updated_at", "created_at"})


def _fields(member: Member | None) -> dict[str, Any]:
    return {} if member is None else to_plain(member, exclude=set(_NOT_CHANGES))


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
