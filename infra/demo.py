"""`hris-sync demo`: the whole product on this machine, start to finish, in a couple of minutes.

It starts the local stack (the table on DynamoDB Local, the rest of AWS on moto, the real Lambda
handlers in-process, the state machine CDK synthesizes) and a fake BambooHR serving a generated
company, then does what an admin and an HR team would, through the admin API: reads BambooHR's
entry in the provider catalogue, brings in a few of the app's own users (R34), connects BambooHR as
a draft (R32), picks every department but one by its directory id (R33), previews the counts,
activates it and watches the first import (invites later, approval off), makes HR changes in
BambooHR that reach the service as signed webhooks (a hire, a termination, a manager change, a leave
of absence), widens the scope to everyone, and prints what happened: members by status, tasks
opened, emails sent, events emitted and the time each step took. Everything it started is stopped
before it returns.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from infra.local.client import AdminClient, fake_credentials
from infra.local.fake_hris import FakeHRServer, Person, fake_hris
from infra.local.stack import LocalStack
from infra.local.template import REPO_ROOT
from infra.local.up import portal_link, wait_until_stopped
from shared.domain.models import EmployeeStatus

T = TypeVar("T")
TENANT = "northwind"
ADMIN_SUBJECT = "it-admin"
# The local dev token's email claim (<subject>@<tenant>.example): the connecting admin's address.
ADMIN_EMAIL = f"{ADMIN_SUBJECT}@{TENANT}.example"
DEMO_DIR = REPO_ROOT / ".local" / "demo"
# The department the first scope leaves out and the scope edit brings in (a smaller one).
EXCLUDED_DEPARTMENT = "Communications"


@dataclass
class Timings:
    steps: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.steps.append((name, time.perf_counter() - started))


def run_demo(
    employees: int = 2000,
    *,
    as_json: bool = False,
    console: Console | None = None,
    state_dir: Path = DEMO_DIR,
    keep: bool = False,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Run the demo, print it (rich, or one JSON document with ``as_json``), return the summary."""
    console = console or Console(file=sys.stdout)
    quiet = Console(quiet=True) if as_json else console
    state_dir.mkdir(parents=True, exist_ok=True)
    # The functions' own output (Powertools' JSON logs and metrics) goes where Lambda would send
    # it, a log, not between the demo's lines.
    with (state_dir / "functions.log").open("w", encoding="utf-8") as log, redirect_stdout(log):
        return _run(
            employees,
            as_json=as_json,
            console=console,
            quiet=quiet,
            state_dir=state_dir,
            keep=(stop or threading.Event()) if keep else None,
        )


def _run(
    employees: int,
    *,
    as_json: bool,
    console: Console,
    quiet: Console,
    state_dir: Path,
    keep: threading.Event | None = None,
) -> dict[str, Any]:
    timings = Timings()
    if not as_json:
        console.rule("[bold]hris-sync demo[/]")
        console.print(
            "The service syncs people from an HR system into an app's members. This demo runs all of it "
            "on this machine:\nthe table on DynamoDB Local, the rest of AWS on moto, the real Lambda "
            "handlers, the Step Functions workflow CDK synthesizes, and a fake BambooHR.\n"
        )
    with (
        timings.step("start the local stack"),
        quiet.status("Starting the local stack (DynamoDB Local, moto, handlers, gateway)"),
    ):
        stack = LocalStack(state_dir=state_dir, reset=True, persist=False)
        stack.start()
    try:
        with timings.step(f"start a fake BambooHR ({employees:,} people)"):
            fake = fake_hris("bamboohr", employees=employees, seed=7, rate_limit=None).start()
        try:
            summary = _story(stack, fake, employees, timings, quiet)
            stack.drain(timeout=60)
            summary["emails"] = _emails(stack.mail())
            summary["events"] = dict(
                sorted(Counter(e.get("detail-type", "?") for e in stack.events()).items())
            )
            summary["outbox"] = str(stack.outbox.folder) if stack.outbox else None
            summary["errors"] = stack.errors()
            summary["timings"] = [
                {"step": name, "seconds": round(seconds, 3)} for name, seconds in timings.steps
            ]
            if keep is not None:
                summary["portal"] = portal_link(stack, TENANT)
            _show(console, summary, as_json=as_json)
            if keep is not None:
                # The stack and the fake HR system stay up: the portal shows the demo's company.
                console.print(
                    f"\n[bold]Admin portal[/] (the demo's company, one-time link): {summary['portal']}\n"
                    "The stack and the fake BambooHR keep running; stop with Ctrl-C.",
                    soft_wrap=True,
                )
                wait_until_stopped(keep)
        finally:
            fake.stop()
    finally:
        stack.stop()
    return summary


def _show(console: Console, summary: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        console.file.write(json.dumps(summary, indent=2, default=str) + "\n")
    else:
        _print_summary(console, summary)


def _story(
    stack: LocalStack, fake: FakeHRServer, employees: int, timings: Timings, out: Console
) -> dict[str, Any]:
    # The connection's emails go to the connecting admin (ADMIN_EMAIL, the token's claim).
    api = AdminClient(stack.url, stack.token(TENANT, subject=ADMIN_SUBJECT))
    try:
        return _story_with(api, stack, fake, employees, timings, out)
    finally:
        api.close()


def _story_with(  # noqa: PLR0917 - the demo's one narrative and what it runs on
    api: AdminClient, stack: LocalStack, fake: FakeHRServer, employees: int, timings: Timings, out: Console
) -> dict[str, Any]:
    webhook_secret = secrets.token_hex(16)
    out.print(
        f"[bold]1.[/] Local stack up at [cyan]{stack.url}[/] in {timings.steps[0][1]:.1f} s; fake BambooHR "
        f"with [bold]{employees:,}[/] generated employees at [cyan]{fake.base_url}[/]."
    )
    with timings.step("catalogue and the app's users (admin API)"):
        entry = api.call("GET", "/v1/providers/bamboohr")
        app_users = _app_users(fake)
        imported = api.call("POST", "/v1/members/import", json={"users": app_users})
    fields = ", ".join(
        f"{f['name']} ({'secret' if f['secret'] else 'setting'})" for f in entry["api_key_fields"]
    )
    out.print(
        f"[bold]2.[/] The connect journey. [cyan]GET /v1/providers/bamboohr[/]: {entry['name']} asks for "
        f"{fields}. The app's own users first (R34): [cyan]POST /v1/members/import[/] of "
        f"{len(app_users)} users, {imported['counts']['created']} created as manual members."
    )

    with timings.step("draft, directory, scope by group ids, preview (admin API)"):
        draft = api.connect(
            provider="bamboohr",
            label="BambooHR (Northwind)",
            credentials=fake_credentials(fake, webhook_secret),
            invites="later",
            approval="auto",
            deactivate_on_leave=True,
            draft=True,
        )
        connection_id = draft["connection"]["id"]
        departments = [
            g
            for g in api.pages(f"/v1/connections/{connection_id}/directory/groups", limit=200)
            if g["kind"] == "department"
        ]
        chosen = [g for g in departments if g["name"] != EXCLUDED_DEPARTMENT]
        edited = api.edit(connection_id, scope={"mode": "groups", "groups": [g["id"] for g in chosen]})
        preview = api.call("POST", f"/v1/connections/{connection_id}/preview", params={"limit": 1})
    largest = sorted(preview["scope_counts"], key=lambda c: -c["people"])[:3]
    out.print(
        f"    Draft [bold]{connection_id}[/] ([cyan]POST /v1/connections[/] with draft: credentials "
        f"checked, nothing imported). Its directory lists {len(departments)} departments; the scope "
        f"picks {len(chosen)} of them by id (all but {EXCLUDED_DEPARTMENT}). Preview: "
        f"{_counts_line(preview['counts'])}; largest: "
        + ", ".join(f"{c['name']} {c['people']}" for c in largest)
    )
    with timings.step("activate: first import (full sync)"):
        activated = api.activate(connection_id, expected_version=edited["connection"]["version"])
        fake.webhooks_to(stack.webhook_url(connection_id), secret=webhook_secret)
        first = _watch_run(api, activated["run"]["id"], employees, out, "First import")
    out.print(
        f"    Activated ([cyan]POST /v1/connections/{connection_id}/activate[/]); its webhooks go to "
        f"/webhooks/{connection_id}. First import {first['status']}: {_counts_line(first['applied'])}"
    )
    users = _app_users_now(api, app_users)
    out.print(
        f"    The app's users: {users['linked']} linked to their employee by email (R05, same member id "
        f"and external id), {users['manual']} left manual (R13)."
    )

    members = {m["hris_id"]: m for m in api.members() if m.get("hris_id")}
    story = _hr_changes(stack, fake, members, timings, out)

    with timings.step(f"scope edit: everyone (adds {EXCLUDED_DEPARTMENT})"):
        widened = _scope_edit(api, connection_id, out)
    out.print(
        f"[bold]4.[/] Scope edited through [cyan]PATCH /v1/connections/{connection_id}[/] "
        f"(everyone, {EXCLUDED_DEPARTMENT} included, R19): {widened['status']}, "
        f"{_counts_line(widened['applied'])}"
    )

    with timings.step("read members and tasks (admin API)"):
        final = api.members()
        tasks = api.tasks()
    by_hris = {m["hris_id"]: m for m in final if m.get("hris_id")}
    for change in story:
        member = by_hris.get(change["hris_id"])
        change["member_status"] = member["status"] if member else "no member"
        change["deactivation_reason"] = member.get("deactivation_reason") if member else None
    return {
        "employees": employees,
        "connection_id": connection_id,
        "catalogue": {"provider": entry["id"], "fields": [f["name"] for f in entry["api_key_fields"]]},
        "app_users": {"imported": imported["counts"], **users},
        "draft": {
            "status": draft["connection"]["status"],
            "run": draft["run"],
            "connected_by_email": draft["connection"]["connected_by_email"],
            "departments": len(departments),
            "scope_groups": len(chosen),
        },
        "preview": {
            "counts": {k: v for k, v in preview["counts"].items() if v},
            "scope_counts": {c["id"]: c["people"] for c in preview["scope_counts"]},
        },
        "first_import": _run_summary(first),
        "hr_changes": story,
        "scope_edit": _run_summary(widened),
        "members_by_status": dict(sorted(Counter(m["status"] for m in final).items())),
        "members": len(final),
        "tasks_opened": dict(sorted(Counter(t["type"] for t in tasks).items())),
        "webhook_deliveries": [{"status": d.status, "error": d.error} for d in fake.deliveries],
    }


def _watch_run(api: AdminClient, run_id: str, employees: int, out: Console, title: str) -> dict[str, Any]:
    """Follow a run with a progress bar (pages fetched, members planned, chunks applied)."""
    with Progress(
        TextColumn("    {task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=False,
    ) as bar:
        fetched = bar.add_task("employees fetched", total=employees)
        pages = bar.add_task("pages fetched", total=None)
        planned = bar.add_task("members planned", total=None)
        applied = bar.add_task("plan chunks applied", total=None)

        def show(run: dict[str, Any]) -> None:
            p = run["progress"]
            bar.update(fetched, completed=p["employees_fetched"])
            bar.update(pages, completed=p["pages_fetched"], total=max(p["pages_fetched"], 1))
            if p["actions_total"] or p["phase"] != "fetching":
                bar.update(planned, completed=p["actions_total"], total=max(p["actions_total"], 1))
            if p["chunks_total"]:
                bar.update(applied, completed=p["chunks_applied"], total=p["chunks_total"])
            bar.update(applied, description=f"plan chunks applied ({p['phase']})")

        run = api.wait_run(run_id, on_progress=show, interval=0.2)
        show(run)
    del title
    return run


def _pick(people: list[Person], members: dict[str, Any], test: Callable[[Person], bool]) -> Person:
    for person in people:
        member = members.get(person.key)
        if member and member["status"] not in ("deactivated", "archived") and test(person):
            return person
    raise LookupError("no suitable person in the generated company")


def _hr_changes(
    stack: LocalStack, fake: FakeHRServer, members: dict[str, Any], timings: Timings, out: Console
) -> list[dict[str, Any]]:
    """A hire, a termination, a manager change and a leave: each a signed webhook from BambooHR."""
    people = fake.company.people()
    managers = {p.employee.manager_hris_id for p in people if p.employee.manager_hris_id}
    ics = [p for p in people if p.key not in managers and p.employee.manager_hris_id]
    leaver = _pick(ics, members, lambda _p: True)
    on_leave = _pick(ics, members, lambda p: p.key != leaver.key)
    mover = _pick(ics, members, lambda p: p.key not in (leaver.key, on_leave.key))
    new_manager = _pick(
        people, members, lambda p: p.key in managers and p.key != mover.employee.manager_hris_id
    )
    out.print("[bold]3.[/] HR changes in BambooHR, each sent to the service as a signed webhook:")
    story: list[dict[str, Any]] = []

    def play(kind: str, who: Person, what: str, change: Callable[[], Any]) -> None:
        with timings.step(f"webhook: {kind}"):
            started = time.perf_counter()
            result = change()
            stack.drain(timeout=60)
            seconds = time.perf_counter() - started
        person = result if isinstance(result, Person) else who
        story.append(
            {
                "change": kind,
                "hris_id": person.key,
                "who": _name(person),
                "detail": what,
                "seconds": round(seconds, 3),
            }
        )
        out.print(f"    {kind:<16} {_name(person):<24} {what} [dim](applied in {seconds * 1000:.0f} ms)[/]")

    hiring = fake.company.get(new_manager.key).employee
    play(
        "hire",
        new_manager,
        f"Senior Software Engineer, reports to {_name(new_manager)}",
        lambda: fake.hire(
            "Grace",
            "Hopper",
            email="grace.hopper@northwind.example",
            job_title="Senior Software Engineer",
            department=hiring.department,
            groups=hiring.groups,
            company=hiring.company,
            office_location=hiring.office_location,
            home_country=hiring.home_country,
            manager_id=new_manager.key,
        ),
    )
    play(
        "termination",
        leaver,
        f"{leaver.employee.job_title}, leaves today",
        lambda: fake.terminate(leaver.key),
    )
    play(
        "manager change",
        mover,
        f"now reports to {_name(new_manager)}",
        lambda: fake.change_manager(mover.key, new_manager.key),
    )
    play("leave of absence", on_leave, "starts a leave", lambda: fake.start_leave(on_leave.key))
    return story


def scope_without(people: list[Person], department: str) -> list[str]:
    """Scope groups that keep everyone except ``department``: a member is in scope when one of their
    groups is listed, so no group of anyone in that department may be listed, and everyone else
    needs one listed group (their division when it can be, else their department or team)."""
    excluded = {g for p in people if p.employee.department == department for g in p.employee.groups}
    kept: set[str] = set()
    for person in people:
        groups = person.employee.groups
        if person.employee.department == department or kept.intersection(groups):
            continue
        allowed = [g for g in groups if g not in excluded]
        if allowed:
            kept.add(allowed[0])
    return sorted(kept)


def _app_users(fake: FakeHRServer) -> list[dict[str, Any]]:
    """A few of the app's existing users: three are employees in BambooHR (same email), two are not
    (an outside contractor and a service account), each with the app's own user id."""
    people = [
        p
        for p in fake.company.people()
        if p.employee.status is EmployeeStatus.ACTIVE
        and p.employee.department not in (EXCLUDED_DEPARTMENT, None)
        and p.employee.email
    ][:3]
    users: list[dict[str, Any]] = [
        {
            "external_id": f"app-user-{n}",
            "email": str(p.employee.email).upper(),
            "first_name": p.employee.first_name,
            "last_name": p.employee.last_name,
        }
        for n, p in enumerate(people, start=1)
    ]
    users.append({"external_id": "app-user-4", "email": "kim.contractor@agency.example", "first_name": "Kim"})
    users.append({"external_id": "app-user-5", "email": "billing-bot@northwind.example"})
    return users


def _app_users_now(api: AdminClient, users: list[dict[str, Any]]) -> dict[str, int]:
    """How the app's users stand after the import: linked to an employee, or still manual."""
    members = [api.members(external_id=u["external_id"])[0] for u in users]
    linked = sum(1 for m in members if m["source"] == "hris")
    return {"linked": linked, "manual": len(members) - linked}


def _scope_edit(api: AdminClient, connection_id: str, out: Console) -> dict[str, Any]:
    edited = api.edit(connection_id, scope={"mode": "everyone"})
    run = edited.get("run")
    if run is None:
        raise RuntimeError("the scope edit started no sync")
    result = api.wait_run(run["id"], interval=0.2)
    if result["status"] == "blocked":
        out.print("    The safety guard (R23) held the plan; the admin confirms it through the API.")
        api.confirm(result["id"])
        result = api.wait_run(result["id"], interval=0.2)
    return result


def _name(person: Person) -> str:
    return f"{person.employee.first_name} {person.employee.last_name}"


def _counts_line(counts: dict[str, int]) -> str:
    shown = [f"{v:,} {k}" for k, v in counts.items() if v]
    return ", ".join(shown) or "no changes"


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    started = datetime.fromisoformat(run["started_at"])
    finished = datetime.fromisoformat(run["finished_at"]) if run.get("finished_at") else datetime.now(UTC)
    return {
        "run_id": run["id"],
        "status": run["status"],
        "seconds": round((finished - started).total_seconds(), 3),
        "pages": run["progress"]["pages_fetched"],
        "employees_fetched": run["progress"]["employees_fetched"],
        "planned": {k: v for k, v in run["planned"].items() if v},
        "applied": {k: v for k, v in run["applied"].items() if v},
        "skipped": len(run.get("skipped", [])),
    }


def _emails(paths: list[Path]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for path in paths:
        message = message_from_bytes(path.read_bytes())
        out.append(
            {"file": path.name, "to": str(message.get("To", "")), "subject": str(message.get("Subject", ""))}
        )
    return out


def _print_summary(console: Console, summary: dict[str, Any]) -> None:
    console.rule("[bold]What happened[/]")
    statuses = Table(title=f"Members ({summary['members']:,})", show_header=True)
    statuses.add_column("status")
    statuses.add_column("members", justify="right")
    for name, count in summary["members_by_status"].items():
        statuses.add_row(name, f"{count:,}")
    tasks = Table(title="Tasks opened", show_header=True)
    tasks.add_column("type")
    tasks.add_column("open", justify="right")
    for name, count in summary["tasks_opened"].items():
        tasks.add_row(name, f"{count:,}")
    events = Table(title="Events on the bus", show_header=True)
    events.add_column("detail-type")
    events.add_column("count", justify="right")
    for name, count in summary["events"].items():
        events.add_row(name, f"{count:,}")
    console.print(statuses, tasks, events)

    changes = Table(title="HR changes (signed webhooks)", show_header=True)
    for column in ("change", "person", "member now", "applied in"):
        changes.add_column(column)
    for change in summary["hr_changes"]:
        reason = f" ({change['deactivation_reason']})" if change.get("deactivation_reason") else ""
        changes.add_row(
            change["change"],
            change["who"],
            f"{change['member_status']}{reason}",
            f"{change['seconds'] * 1000:.0f} ms",
        )
    console.print(changes)

    mail = Table(title=f"Emails in the outbox ({summary['outbox']})", show_header=True)
    mail.add_column("file")
    mail.add_column("to")
    mail.add_column("subject")
    for email in summary["emails"]:
        mail.add_row(email["file"], email["to"], email["subject"])
    console.print(mail)

    steps = Table(title="Time per step", show_header=True)
    steps.add_column("step")
    steps.add_column("seconds", justify="right")
    for entry in summary["timings"]:
        steps.add_row(entry["step"], f"{entry['seconds']:.2f}")
    console.print(steps)
    first = summary["first_import"]
    rate = first["employees_fetched"] / first["seconds"] if first["seconds"] else 0.0
    console.print(
        f"First import: {first['employees_fetched']:,} employees in {first['seconds']:.1f} s "
        f"({rate:,.0f} employees/s), {first['pages']} pages."
    )
    if summary["errors"]:
        console.print(f"[yellow]Background errors:[/] {summary['errors']}")
