"""Planning helpers shared by full syncs, webhooks, previews and the match operation.

Snapshot pages and plan chunks live in blobs under keys that start with the tenant, so no
key can reach another tenant's data.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence

from pydantic import TypeAdapter, ValidationError

from shared.codecs import employees_from_json, member_from, to_plain
from shared.domain.models import Action, Connection, Employee, Member, Plan, Snapshot, Targeted
from shared.domain.reconciler import plan as reconcile
from shared.errors import CorruptItem
from shared.services.context import WithBlobs, WithClock
from shared.services.member_writes import MemberGroup

_ACTIONS = TypeAdapter(list[Action])


def page_key(tenant_id: str, connection_id: str, run_id: str, page: int) -> str:
    return f"{tenant_id}/{connection_id}/runs/{run_id}/pages/{page:06d}.json"


def plan_prefix(tenant_id: str, connection_id: str, run_id: str) -> str:
    return f"{tenant_id}/{connection_id}/runs/{run_id}/plan"


def chunk_key(prefix: str, chunk: int) -> str:
    return f"{prefix}/chunk-{chunk:06d}.json"


def make_plan(
    ports: WithClock,
    source: Snapshot | Targeted,
    members: Sequence[Member],
    connection: Connection,
    *,
    capabilities: frozenset[str],
    resync: Collection[str] = (),
) -> Plan:
    """The reconciler's plan; "today" is now, which it converts to the tenant's time zone (R02).

    ``capabilities``: the fields ``source`` supplies (R15), from the credentials that fetched it
    (``Provider.capabilities_for``): a field outside them is neither filled nor blanked.
    """
    return reconcile(
        source,
        members,
        connection,
        ports.clock.now(),
        capabilities=capabilities,
        resync=resync,
    )


def group_actions(actions: Iterable[Action], bases: Mapping[str, Member]) -> list[MemberGroup]:
    """The plan's actions per member, in order of first appearance (skips have no member)."""
    grouped: dict[str, list[Action]] = {}
    for action in actions:
        if action.kind == "skip":
            continue
        grouped.setdefault(action.member_id, []).append(action)
    return [MemberGroup(member_id=m, base=bases.get(m), actions=tuple(a)) for m, a in grouped.items()]


def dump_employees(employees: Sequence[Employee]) -> bytes:
    return json.dumps([to_plain(e, exclude={"raw"}) for e in employees]).encode()


def load_employees(ports: WithBlobs, key: str) -> list[Employee]:
    data = ports.blobs.get(key)
    try:
        return employees_from_json(data)
    except ValidationError as exc:
        raise CorruptItem(key, f"{exc.error_count()} invalid field(s)") from exc


def dump_groups(groups: Sequence[MemberGroup]) -> bytes:
    return json.dumps(
        [
            {
                "member_id": g.member_id,
                "base": to_plain(g.base) if g.base is not None else None,
                "actions": _ACTIONS.dump_python(list(g.actions), mode="json"),
            }
            for g in groups
        ]
    ).encode()


def load_groups(ports: WithBlobs, key: str) -> list[MemberGroup]:
    data = ports.blobs.get(key)
    try:
        rows = json.loads(data)
        return [
            MemberGroup(
                member_id=str(row["member_id"]),
                base=member_from(row["base"]) if row["base"] is not None else None,
                actions=tuple(_ACTIONS.validate_python(row["actions"])),
            )
            for row in rows
        ]
    except (ValueError, KeyError, TypeError) as exc:  # ValidationError is a ValueError
        raise CorruptItem(key, type(exc).__name__) from exc
