"""Plan actions folded onto one member, one action at a time, by ``shared.domain.apply``.

``apply_plan`` is the single source of truth for what an action does to a member; the services
need every intermediate state (an audit entry's before and after per action), so they apply a
member's actions one by one through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from shared.codecs import member_from, to_plain
from shared.domain.apply import apply_plan
from shared.domain.models import (
    Action,
    Connection,
    CreateMember,
    GuardVerdict,
    Member,
    OpenTask,
    Plan,
    SkipRecord,
    UpdateMember,
)

_NO_GUARD = GuardVerdict(hold=False, deactivations=0, active_members=0, pct=0.0)


def _validated(member: Member) -> Member:
    """Re-validate a member ``apply_plan`` updated (``dataclasses.replace`` validates nothing): an
    update read back from a blob carries its ``after`` values as JSON (dates as strings)."""
    return member_from(to_plain(member, mode="python", warnings=False))


def apply_actions(
    member: Member | None, actions: Sequence[Action], *, connection: Connection, now: datetime
) -> list[Member | None]:
    """Every state of the member: ``[member, after action 1, after action 2, ...]``.

    Versions and ``updated_at`` are left as they were: the caller stamps the final state once.
    A create of a member that exists (a repeated or re-planned create) changes nothing.
    """
    states: list[Member | None] = [member]
    for action in actions:
        current = states[-1]
        if isinstance(action, SkipRecord | OpenTask) or isinstance(action, CreateMember) == (
            current is not None
        ):
            states.append(current)
            continue
        plan = Plan(
            tenant_id=connection.tenant_id,
            connection_id=connection.connection_id,
            mode="targeted",
            complete=False,
            actions=(action,),
            guard=_NO_GUARD,
        )
        existing = {current.member_id: current} if current is not None else {}
        changed = apply_plan(existing, plan, connection, now).get(action.member_id, current)
        if changed is not None and changed is not current and isinstance(action, UpdateMember):
            changed = _validated(changed)
            if current is not None:
                changed = replace(changed, version=current.version, updated_at=current.updated_at)
        states.append(changed)
    return states
