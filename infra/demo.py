"""`hris-sync demo` (interim): the reconciler on a generated company, in one process.

It generates a company, plans and applies a first import for a connection (scope everyone, invites
later, approval auto), plays a few HR changes (a hire, a termination, a manager change, a leave)
and plans and applies the next sync, printing what happened. A later issue replaces the insides
with the real local stack (fake HR server, handlers, state machine); the command line stays
``hris-sync demo [--employees N] [--json]``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

from infra.local.company import generate_company
from shared.domain.apply import apply_plan
from shared.domain.models import (
    Connection,
    Employee,
    EmployeeStatus,
    InviteMode,
    Mappings,
    Member,
    MemberFlag,
    Plan,
    Scope,
    ScopeMode,
    Snapshot,
)
from shared.domain.reconciler import local_today, plan

T = TypeVar("T")

DEMO_CONNECTION = Connection(
    connection_id="demo-bamboohr",
    tenant_id="demo-tenant",
    provider="bamboohr",
    label="BambooHR (demo)",
    scope=Scope(mode=ScopeMode.EVERYONE),
    invites=InviteMode.LATER,
    deactivate_on_leave=True,
    mappings=Mappings(
        groups={"Engineering": "eng", "Sales": "sales", "People": "people-team"},
        roles={"Executive": "admin", "Manager": "approver", "HR Admin": "hr-admin"},
        regions={"GB": "EMEA", "DE": "EMEA", "FR": "EMEA", "NL": "EMEA", "US": "AMER"},
    ),
    default_role="member",
)


@dataclass(frozen=True)
class Step:
    """One sync of the demo: its plan, how long planning and applying took, the members after."""

    title: str
    plan: Plan
    plan_seconds: float
    apply_seconds: float
    members: dict[str, Member]


def run_demo(
    employees: int = 2000, *, as_json: bool = False, console: Console | None = None
) -> dict[str, Any]:
    """Run the demo and print it (rich, or one JSON document); returns the summary."""
    console = console or Console()
    now = datetime.now(UTC)
    today = local_today(now, DEMO_CONNECTION.timezone)
    started = time.perf_counter()
    company = generate_company(employees, seed=7, today=today)
    generated = time.perf_counter() - started

    first = _sync("First import", company, {}, DEMO_CONNECTION, now)
    settled = DEMO_CONNECTION.model_copy(update={"first_complete_sync_at": now})
    changed, story = _hr_changes(company, first.members, today)
    second = _sync("After HR changes", changed, first.members, settled, now)

    summary = {
        "employees": employees,
        "generate_seconds": round(generated, 4),
        "connection": DEMO_CONNECTION.model_dump(
            mode="json", include={"provider", "label", "scope", "invites", "approval"}
        ),
        "hr_changes": story,
        "steps": [_step_summary(step) for step in (first, second)],
    }
    if as_json:
        console.file.write(json.dumps(summary, indent=2) + "\n")
    else:
        _print(console, summary, (first, second), generated)
    return summary


def _sync(
    title: str, staff: Iterable[Employee], members: dict[str, Member], connection: Connection, now: datetime
) -> Step:
    started = time.perf_counter()
    result = plan(Snapshot(employees=tuple(staff), complete=True), list(members.values()), connection, now)
    planned = time.perf_counter() - started
    started = time.perf_counter()
    after = members | apply_plan(members, result, connection, now)
    applied = time.perf_counter() - started
    return Step(title, result, planned, applied, after)


def _first(items: Iterable[T], test: Callable[[T], bool]) -> T | None:
    return next((item for item in items if test(item)), None)


def _hr_changes(
    company: list[Employee], members: dict[str, Member], today: date
) -> tuple[list[Employee], list[str]]:
    """A hire, a termination, a manager change and a leave, on people who are members."""
    linked = {m.hris_id for m in members.values() if m.status.value != "deactivated"}
    managers = {e.manager_hris_id for e in company if e.manager_hris_id}
    by_id = {e.hris_id: e for e in company}
    ics = [e for e in company if e.hris_id in linked and e.hris_id not in managers and e.manager_hris_id]
    story: list[str] = []
    changes: dict[str, Employee] = {}
    leaver = ics[0] if ics else None
    if leaver is not None:
        changes[leaver.hris_id] = leaver.model_copy(
            update={"status": EmployeeStatus.TERMINATED, "termination_date": today}
        )
        story.append(f"terminated: {_name(leaver)} ({leaver.job_title})")
    on_leave = ics[1] if len(ics) > 1 else None
    if on_leave is not None:
        changes[on_leave.hris_id] = on_leave.model_copy(update={"status": EmployeeStatus.ON_LEAVE})
        story.append(f"on leave: {_name(on_leave)} ({on_leave.job_title})")
    mover = ics[2] if len(ics) > 2 else None
    new_manager = _first(
        (by_id[m] for m in sorted(managers) if m in linked),
        lambda e: mover is not None and e.hris_id not in {mover.manager_hris_id, mover.hris_id},
    )
    if mover is not None and new_manager is not None:
        changes[mover.hris_id] = mover.model_copy(update={"manager_hris_id": new_manager.hris_id})
        story.append(f"new manager: {_name(mover)} now reports to {_name(new_manager)}")
    staff = [changes.get(e.hris_id, e) for e in company]
    hiring_manager = new_manager or (by_id[sorted(managers)[0]] if managers else None)
    hire = Employee(
        hris_id="900001",
        first_name="Grace",
        last_name="Hopper",
        email="grace.hopper@northwind.example",
        employee_number="E900001",
        job_title="Senior Software Engineer",
        department="Platform",
        company="Northwind Inc.",
        groups=("Engineering", "Platform"),
        office_location="New York",
        home_country="US",
        start_date=today,
        manager_hris_id=hiring_manager.hris_id if hiring_manager else None,
        hris_role="Employee",
    )
    staff.append(hire)
    story.append(f"hired: {_name(hire)} ({hire.job_title}), starting today")
    return staff, story


def _name(employee: Employee) -> str:
    return f"{employee.first_name} {employee.last_name}"


def _step_summary(step: Step) -> dict[str, Any]:
    result = step.plan
    statuses = Counter(m.status.value for m in step.members.values())
    flagged = sum(1 for m in step.members.values() if MemberFlag.NO_APPROVER in m.flags)
    tasks = Counter(a.task_type.value for a in result.actions if a.kind == "open_task")
    return {
        "title": step.title,
        "plan_seconds": round(step.plan_seconds, 4),
        "apply_seconds": round(step.apply_seconds, 4),
        "counts": result.counts.model_dump(),
        "guard": result.guard.model_dump(),
        "members_by_status": dict(sorted(statuses.items())),
        "flagged_no_approver": flagged,
        "tasks_opened": dict(sorted(tasks.items())),
        "skipped": dict(Counter(a.reason for a in result.actions if a.kind == "skip")),
        "warnings": dict(Counter(w.code for w in result.warnings)),
        "actions": [a.model_dump(mode="json") for a in result.actions] if len(result.actions) <= 60 else None,
    }


def _print(console: Console, summary: dict[str, Any], steps: tuple[Step, ...], generated: float) -> None:
    console.rule("[bold]hris-sync demo[/] (interim: the reconciler on a generated company)")
    console.print(
        f"Generated [bold]{summary['employees']:,}[/] employees in {generated * 1000:.0f} ms; connection "
        f"[bold]{DEMO_CONNECTION.label}[/]: scope everyone, invites later, approval auto, "
        "deactivate on leave."
    )
    for step, data in zip(steps, summary["steps"], strict=True):
        console.rule(f"[bold]{step.title}[/]")
        if step is steps[-1]:
            for line in summary["hr_changes"]:
                console.print(f"  HR change: {line}")
        counts = Table(title="Plan", show_header=True)
        counts.add_column("action")
        counts.add_column("count", justify="right")
        for name, value in data["counts"].items():
            if value:
                counts.add_row(name, f"{value:,}")
        statuses = Table(title="Members by status", show_header=True)
        statuses.add_column("status")
        statuses.add_column("members", justify="right")
        for name, value in data["members_by_status"].items():
            statuses.add_row(name, f"{value:,}")
        statuses.add_row("[dim]flag no_approver[/]", f"{data['flagged_no_approver']:,}")
        console.print(counts, statuses)
        guard = data["guard"]
        console.print(
            f"  tasks opened: {data['tasks_opened'] or 'none'}; skipped: {data['skipped'] or 'none'}; "
            f"warnings: {data['warnings'] or 'none'}"
        )
        console.print(
            f"  guard (R23): {'HOLD' if guard['hold'] else 'ok'} ({guard['deactivations']} deactivations, "
            f"{guard['pct']}% of {guard['active_members']:,} active members)"
        )
        console.print(
            f"  timings: plan {step.plan_seconds * 1000:.0f} ms, apply {step.apply_seconds * 1000:.0f} ms"
        )
        if step is steps[-1]:
            _print_actions(console, step.plan, step.members)


def _print_actions(console: Console, result: Plan, members: dict[str, Member]) -> None:
    names = {m.member_id: f"{m.profile.first_name} {m.profile.last_name}" for m in members.values()}
    table = Table(title="What the second sync does", show_header=True)
    table.add_column("action")
    table.add_column("member / HR id")
    table.add_column("detail", overflow="fold")
    for action in result.actions[:40]:
        data = action.model_dump(mode="json")
        kind = data.pop("kind")
        member_id = data.pop("member_id", None)
        who = names.get(member_id, member_id) if member_id else f"HR id {data.get('hris_id')}"
        if kind == "update":
            detail = ", ".join(
                f"{k}: {names.get(v['before'], v['before'])!r} -> {names.get(v['after'], v['after'])!r}"
                if k == "approver_member_id"
                else f"{k}: {v['before']!r} -> {v['after']!r}"
                for k, v in data["changes"].items()
            )
        else:
            detail = ", ".join(
                f"{k}={names.get(v, v) if k == 'approver_member_id' else v}"
                for k, v in data.items()
                if k not in {"profile", "hris_id"} and v
            )
        table.add_row(kind, who, detail[:120])
    if len(result.actions) > 40:
        table.add_row("...", f"{len(result.actions) - 40} more", "")
    console.print(table)
