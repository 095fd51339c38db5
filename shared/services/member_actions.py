"""How one plan action changes one member.

Interim home of these semantics until ``shared.domain.apply`` (the reconciler branch) lands; the
services call only ``apply_actions`` so the swap is one import.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from shared.domain.models import (
    Action,
    Actor,
    CreateMember,
    DeactivateMember,
    DeactivationReason,
    LinkMember,
    Member,
    MemberSource,
    MemberStatus,
    Profile,
    ReactivateMember,
    ResendInvite,
    SendInvite,
    SetFlag,
    UpdateMember,
)

_PROFILE_FIELDS = frozenset(Profile.model_fields)
_APP_FIELDS = frozenset({"groups", "location", "role", "region", "approver_member_id"})
_ADMIN_REASONS = frozenset(
    {DeactivationReason.ADMIN, DeactivationReason.REJECTED, DeactivationReason.OFFBOARDED}
)


def apply_action(
    member: Member | None,
    action: Action,
    *,
    tenant_id: str,
    connection_id: str | None,
    now: datetime,
    invite_ttl_days: int,
) -> Member | None:
    """The member after ``action`` (``None`` stays ``None`` for actions that need a member)."""
    if isinstance(action, CreateMember):
        if member is not None:
            return member
        return Member(
            member_id=action.member_id,
            tenant_id=tenant_id,
            source=MemberSource.HRIS,
            connection_id=connection_id,
            hris_id=action.hris_id,
            status=action.status,
            profile=action.profile,
            groups=action.groups,
            location=action.location,
            role=action.role,
            region=action.region,
            approver_member_id=action.approver_member_id,
            flags=action.flags,
            created_at=now,
            updated_at=now,
        )
    if member is None:
        return None
    return _change(member, action, now=now, invite_ttl_days=invite_ttl_days)


def _change(member: Member, action: Action, *, now: datetime, invite_ttl_days: int) -> Member:
    update: dict[str, object] = {}
    match action:
        case LinkMember():
            update = {
                "source": MemberSource.HRIS,
                "connection_id": action.connection_id,
                "hris_id": action.hris_id,
            }
        case UpdateMember():
            profile_updates = {k: c.after for k, c in action.changes.items() if k in _PROFILE_FIELDS}
            update = {k: c.after for k, c in action.changes.items() if k in _APP_FIELDS}
            update["overrides"] = {
                k: v for k, v in member.overrides.items() if k not in action.clear_overrides
            }
            update["profile"] = Profile.model_validate({**member.profile.model_dump(), **profile_updates})
        case DeactivateMember():
            if (
                member.status is not MemberStatus.DEACTIVATED
                or member.deactivation_reason is not action.reason
            ):
                was_deactivated = member.status is MemberStatus.DEACTIVATED
                update = {
                    "status": MemberStatus.DEACTIVATED,
                    "status_before_deactivation": (
                        member.status_before_deactivation if was_deactivated else member.status
                    ),
                    "deactivation_reason": action.reason,
                    "deactivated_by": Actor.ADMIN if action.reason in _ADMIN_REASONS else Actor.SYNC,
                }
        case ReactivateMember():
            update = {
                "status": action.to_status,
                "status_before_deactivation": None,
                "deactivation_reason": None,
                "deactivated_by": None,
            }
        case SendInvite() | ResendInvite():
            update = {
                "status": MemberStatus.INVITED,
                "invite_sent_at": now,
                "invite_expires_at": now + timedelta(days=invite_ttl_days),
            }
        case SetFlag():
            update = {"flags": member.flags | {action.flag} if action.on else member.flags - {action.flag}}
        case _:  # create of an existing member, open_task, skip: no change to the member
            pass
    return member.model_copy(update=update) if update else member


def apply_actions(
    member: Member | None,
    actions: Sequence[Action],
    *,
    tenant_id: str,
    connection_id: str | None,
    now: datetime,
    invite_ttl_days: int,
) -> list[Member | None]:
    """Every intermediate state: ``[member, after action 1, after action 2, ...]``."""
    states: list[Member | None] = [member]
    for action in actions:
        states.append(
            apply_action(
                states[-1],
                action,
                tenant_id=tenant_id,
                connection_id=connection_id,
                now=now,
                invite_ttl_days=invite_ttl_days,
            )
        )
    return states
