"""How each plan action changes a member: the one place that says it (pure, no I/O).

``apply_plan(members, plan, connection, now)`` returns the new state of every member the plan
changes, keyed by member id; members it does not change are not returned. Services persist these
states (and turn the plan's tasks, invites and changes into records, emails and events).

Per action:
- ``create``: a new ``source = hris`` member linked to the plan's connection, ``created_at = now``.
- ``link``: ``connection_id`` and ``hris_id`` set; the member becomes HRIS-managed (R05).
- ``update``: profile fields, app fields (``app_groups``, ``location``, ``role``, ``region``) and
  ``approver_member_id`` take their ``after`` values; ``clear_overrides`` drops overrides (R16).
- ``deactivate``: ``deactivated`` with the reason and ``deactivated_by`` of the action; the status
  it had is kept in ``status_before_deactivation`` (not overwritten when the member was already
  deactivated and only the reason changes).
- ``reactivate``: back to ``to_status``; reason, actor and previous status cleared (R12).
- ``send_invite`` / ``resend_invite``: ``invite_sent_at = now``, ``invite_expires_at = now +
  invite_ttl_days`` (R08); a ``queued`` member becomes ``invited``.
- ``flag``: the flag set or cleared. ``open_task`` and ``skip`` change no member.
Every changed member gets ``version + 1`` (once per plan) and ``updated_at = now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from shared.domain.models import (
    SYNCED_FIELDS,
    Connection,
    CreateMember,
    DeactivateMember,
    LinkMember,
    Member,
    MemberSource,
    MemberStatus,
    OpenTask,
    Plan,
    ReactivateMember,
    ResendInvite,
    SendInvite,
    SetFlag,
    SkipRecord,
    UpdateMember,
)

_PROFILE_FIELDS = frozenset(SYNCED_FIELDS)
# Member-level fields an update may set; the member's (app) groups are keyed "app_groups".
_MEMBER_FIELDS = frozenset({"location", "role", "region", "approver_member_id"})


class PlanDoesNotFit(ValueError):
    """The plan names a member that is not in ``members`` (or creates one that already exists)."""


def apply_plan(
    members: Mapping[str, Member] | Sequence[Member],
    plan: Plan,
    connection: Connection,
    now: datetime,
) -> dict[str, Member]:
    """The new state of every member ``plan`` changes (see the module docstring)."""
    if now.tzinfo is None:
        raise ValueError("apply_plan(now=...) takes an aware datetime")
    current: Mapping[str, Member] = (
        members if isinstance(members, Mapping) else {m.member_id: m for m in members}
    )
    changed: dict[str, Member] = {}
    expires = now + timedelta(days=connection.invite_ttl_days)
    for action in plan.actions:
        if isinstance(action, SkipRecord | OpenTask):
            continue
        member_id = action.member_id
        if isinstance(action, CreateMember):
            if member_id in current or member_id in changed:
                raise PlanDoesNotFit(f"member {member_id} already exists")
            changed[member_id] = _created(action, plan, now)
            continue
        member = changed.get(member_id) or current.get(member_id)
        if member is None:
            raise PlanDoesNotFit(f"the plan names member {member_id}, which does not exist")
        changed[member_id] = _changed(member, action, now, expires)
    return {
        member_id: replace(member, version=member.version + 1, updated_at=now)
        for member_id, member in changed.items()
    }


def _created(action: CreateMember, plan: Plan, now: datetime) -> Member:
    return Member(
        member_id=action.member_id,
        tenant_id=plan.tenant_id,
        source=MemberSource.HRIS,
        connection_id=plan.connection_id,
        hris_id=action.hris_id,
        status=action.status,
        profile=action.profile,
        groups=action.groups,
        location=action.location,
        role=action.role,
        region=action.region,
        approver_member_id=action.approver_member_id,
        flags=action.flags,
        version=0,
        created_at=now,
    )


def _changed(member: Member, action: Any, now: datetime, expires: datetime) -> Member:
    update: dict[str, Any]
    if isinstance(action, LinkMember):
        update = {
            "connection_id": action.connection_id,
            "hris_id": action.hris_id,
            "source": MemberSource.HRIS,
        }
    elif isinstance(action, UpdateMember):
        update = _field_update(member, action)
    elif isinstance(action, DeactivateMember):
        before = member.status if member.status is not MemberStatus.DEACTIVATED else None
        update = {
            "status": MemberStatus.DEACTIVATED,
            "deactivation_reason": action.reason,
            "deactivated_by": action.by,
            "status_before_deactivation": before or member.status_before_deactivation,
        }
    elif isinstance(action, ReactivateMember):
        update = {
            "status": action.to_status,
            "deactivation_reason": None,
            "deactivated_by": None,
            "status_before_deactivation": None,
        }
    elif isinstance(action, SendInvite | ResendInvite):
        update = {"invite_sent_at": now, "invite_expires_at": expires}
        if member.status is MemberStatus.QUEUED:
            update["status"] = MemberStatus.INVITED
    elif isinstance(action, SetFlag):
        flags = member.flags | {action.flag} if action.on else member.flags - {action.flag}
        update = {"flags": flags}
    else:  # pragma: no cover - every action kind is handled above
        raise TypeError(f"unknown plan action {type(action).__name__}")
    return replace(member, **update)


def _field_update(member: Member, action: UpdateMember) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    update: dict[str, Any] = {}
    for name, change in action.changes.items():
        if name == "app_groups":
            update["groups"] = tuple(change.after or ())
        elif name in _PROFILE_FIELDS:
            profile[name] = tuple(change.after or ()) if name == "groups" else change.after
        elif name in _MEMBER_FIELDS:
            update[name] = change.after
        else:
            raise PlanDoesNotFit(f"unknown field {name!r} in an update of member {member.member_id}")
    if profile:
        update["profile"] = replace(member.profile, **profile)
    if action.clear_overrides:
        update["overrides"] = {k: v for k, v in member.overrides.items() if k not in action.clear_overrides}
    return update
