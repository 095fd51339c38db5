"""Small builders for reconciler tests: employees, members, connections, and one sync step."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from shared.codecs import employee_from, member_from
from shared.domain.apply import apply_plan
from shared.domain.models import (
    Actor,
    Connection,
    DeactivationReason,
    Employee,
    Member,
    MemberSource,
    MemberStatus,
    Plan,
    Profile,
    Snapshot,
    Targeted,
)
from shared.domain.reconciler import plan

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT = "t1"
CONN = "c1"


def connection(**settings: Any) -> Connection:
    """A connection past its first complete sync (no R21 claim) unless told otherwise."""
    values: dict[str, Any] = {
        "connection_id": CONN,
        "tenant_id": TENANT,
        "provider": "bamboohr",
        "label": "BambooHR",
        "first_complete_sync_at": NOW,
    }
    values.update(settings)
    return Connection(**values)


def employee(hris_id: str, **fields: Any) -> Employee:
    values: dict[str, Any] = {
        "hris_id": hris_id,
        "first_name": f"First{hris_id}",
        "last_name": f"Last{hris_id}",
        "email": f"person{hris_id}@acme.example",
        "company": "Acme Ltd",
        "department": "Engineering",
        "groups": ("Engineering",),
        "start_date": date(2020, 1, 6),
    }
    values.update(fields)
    return employee_from(values)


def member(member_id: str, **fields: Any) -> Member:
    """A member; ``email=...`` sets the profile email, ``hris_id=...`` links it to CONN."""
    email = fields.pop("email", f"{member_id}@acme.example")
    values: dict[str, Any] = {
        "member_id": member_id,
        "tenant_id": TENANT,
        "source": MemberSource.HRIS if "hris_id" in fields else MemberSource.MANUAL,
        "status": MemberStatus.ACTIVE,
        "profile": Profile(email=email),
    }
    if "hris_id" in fields:
        values["connection_id"] = CONN
    values.update(fields)
    return member_from(values)


def deactivated(m: Member, reason: DeactivationReason, by: Actor = Actor.SYNC) -> Member:
    return replace(
        m,
        status=MemberStatus.DEACTIVATED,
        deactivation_reason=reason,
        deactivated_by=by,
        status_before_deactivation=m.status,
    )


def full(employees: Iterable[Employee], *, complete: bool = True) -> Snapshot:
    return Snapshot(
        employees=tuple(employees), complete=complete, reasons=() if complete else ("page 3 failed",)
    )


def targeted(employees: Iterable[Employee]) -> Targeted:
    return Targeted(employees=tuple(employees))


def sync(
    source: Snapshot | Targeted,
    members: Sequence[Member],
    conn: Connection,
    today: date = TODAY,
    **options: Any,
) -> tuple[Plan, list[Member]]:
    """Plan, apply, and return the plan and every member of the tenant afterwards."""
    result = plan(source, members, conn, today, **options)
    changed = apply_plan(members, result, conn, NOW)
    by_id = {m.member_id: m for m in members}
    by_id.update(changed)
    return result, sorted(by_id.values(), key=lambda m: m.member_id)


def kinds(result: Plan) -> list[str]:
    return [a.kind for a in result.actions]


def actions(result: Plan, kind: str) -> list[Any]:
    return [a for a in result.actions if a.kind == kind]


def by_hris(members: Iterable[Member], hris_id: str) -> Member:
    found = [m for m in members if m.hris_id == hris_id and m.connection_id == CONN]
    assert len(found) == 1, found
    return found[0]
