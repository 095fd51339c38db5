"""The product end to end, over HTTP only: the admin API and webhooks of the local stack (real
handlers, the synthesized state machine on moto) against fake HR servers on loopback. Each test is
its own tenant, so they share one stack without seeing each other."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from infra.demo import scope_without
from infra.local.fake_hris import FakeHRServer
from tests.support.local_stack import Tenant


def _active_in(fake: FakeHRServer) -> set[str]:
    return {p.key for p in fake.company.people() if p.employee.status.value in ("active", "on_leave")}


def test_signed_hire_webhook_creates_the_member_within_5_seconds(
    tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tenant.fake(employees=40)  # first in the module: the shared table is still small
    tenant.connect(fake)
    started = time.perf_counter()
    hired = fake.hire("Grace", "Hopper", email=f"grace@{tenant.tenant_id}.example", department="Platform")
    member = None
    while time.perf_counter() - started < 5.0 and member is None:
        member = tenant.by_hris().get(hired.key)
        if member is None:
            time.sleep(0.05)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n[e2e] signed hire webhook -> member created in {elapsed * 1000:.0f} ms")  # noqa: T201
    assert fake.deliveries[-1].status == 202
    assert member is not None, "no member 5 s after the hire's webhook"
    assert member["profile"]["email"] == f"grace@{tenant.tenant_id}.example"


def test_connect_runs_the_first_import_and_emails_the_admin(tenant: Tenant) -> None:
    fake = tenant.fake()
    _, run = tenant.connect(fake)
    assert run["status"] == "completed"
    assert run["progress"]["employees_fetched"] == len(fake.company.people())
    members = tenant.by_hris()
    assert members and set(members) <= {p.key for p in fake.company.people()}
    assert run["applied"]["created"] == len(members)
    assert {m["status"] for m in members.values()} <= {"queued", "pending_approval", "active"}
    tenant.stack.drain()
    assert any(e["subject"].startswith("Import from BambooHR finished") for e in tenant.emails())


def test_r19_r11_r12_scope_edit_deactivates_then_reactivates(tenant: Tenant) -> None:
    fake = tenant.fake()
    connection_id, _ = tenant.connect(fake)
    people = fake.company.people()
    groups = scope_without(people, "Brand")
    # Out of scope: whoever has none of the listed groups (the Brand department, and anyone who
    # shares all their groups with it).
    leaving = {p.key for p in people if not set(p.employee.groups) & set(groups)}
    assert leaving

    narrowed = tenant.api.edit(connection_id, scope={"mode": "groups", "groups": groups})
    run = tenant.api.wait_run(narrowed["run"]["id"])
    assert run["status"] == "completed"
    members = tenant.by_hris()
    out = {k for k in leaving if k in members}
    assert out and all(members[k]["status"] == "deactivated" for k in out)
    assert all(members[k]["deactivation_reason"] == "out_of_scope" for k in out)
    # Nobody else lost a seat for the edit but people outside the new scope (the connector may
    # report fewer groups than the fake's model, so a few more can fall outside it).
    newly_out = {k for k, m in members.items() if m["deactivation_reason"] == "out_of_scope"}
    assert out <= newly_out
    assert len(newly_out) < len(members) // 4
    out = newly_out

    widened = tenant.api.edit(connection_id, scope={"mode": "everyone"})
    assert tenant.api.wait_run(widened["run"]["id"])["status"] == "completed"
    again = tenant.by_hris()
    assert all(again[k]["status"] != "deactivated" for k in out)
    assert all(again[k]["id"] == members[k]["id"] for k in out)  # the same members came back (R12)


def test_tampered_webhook_is_401_and_changes_nothing(tenant: Tenant) -> None:
    fake = tenant.fake()
    connection_id, _ = tenant.connect(fake)
    before = tenant.api.members()
    fake.webhooks_to(None)
    person = fake.company.people()[5]
    change = fake.terminate(person.key)
    signed = fake.vendor.webhook_requests(change, tenant.webhook_secret)[0]
    body = json.loads(signed.body)
    tampered = json.dumps(body).replace(person.key, fake.company.people()[6].key).encode()
    answer = httpx.post(
        tenant.stack.webhook_url(connection_id), content=tampered + b" ", headers=signed.headers
    )
    assert answer.status_code == 401
    unsigned = {k: v for k, v in signed.headers.items() if "signature" not in k.lower()}
    assert (
        httpx.post(tenant.stack.webhook_url(connection_id), content=signed.body, headers=unsigned).status_code
        == 401
    )
    tenant.stack.drain()
    assert tenant.api.members() == before


def test_r23_mass_termination_over_the_guard_blocks_emails_and_confirm_applies(tenant: Tenant) -> None:
    fake = tenant.fake(employees=150)
    connection_id, _ = tenant.connect(fake)
    fake.webhooks_to(None)  # only a full sync sees the mass termination
    members = tenant.by_hris()
    managers = {p.employee.manager_hris_id for p in fake.company.people()}
    leavers = [
        k for k in sorted(members, key=int) if members[k]["status"] != "deactivated" and k not in managers
    ]
    leavers = leavers[:60]  # over both thresholds: more than 50 and more than 20 % of ~140 active
    assert len(leavers) == 60
    for key in leavers:
        fake.terminate(key)
    run = tenant.api.sync(connection_id)
    held = tenant.api.wait_run(run["id"])
    assert held["status"] == "blocked"
    assert all(tenant.api.member(members[k]["id"])["status"] != "deactivated" for k in leavers[:5])
    tenant.stack.drain()
    assert any("waiting for you" in e["subject"] for e in tenant.emails())

    tenant.api.confirm(held["id"])
    applied = tenant.api.wait_run(held["id"])
    assert applied["status"] == "completed"
    after = tenant.by_hris()
    assert all(after[k]["status"] == "deactivated" for k in leavers)


def test_r20_disconnect_leaves_members_and_r21_switch_to_merge_deactivates_out_of_scope(
    tenant: Tenant,
) -> None:
    bamboo = tenant.fake()
    connection_id, _ = tenant.connect(bamboo)
    before = tenant.api.members()

    tenant.api.disconnect(connection_id)
    assert tenant.api.members() == before  # R20: nobody changed
    bamboo.hire("Late", "Hire", email=f"late@{tenant.tenant_id}.example")
    assert bamboo.deliveries[-1].status == 410  # its webhooks are refused now: gone, at once

    # R21: the same people in Merge; the new scope leaves out one company.
    merge = tenant.fake("merge", employees=[p.employee for p in bamboo.company.people()])
    companies = sorted({p.employee.company for p in merge.company.people() if p.employee.company})
    dropped = "Northwind SAS"
    assert dropped in companies
    _, run = tenant.connect(
        merge, scope={"mode": "companies", "companies": [c for c in companies if c != dropped]}
    )
    assert run["status"] == "completed"
    by_email = {m["profile"]["email"]: m for m in tenant.api.members()}
    for person in bamboo.company.people():
        member = by_email.get(person.employee.email)
        if member is None or person.employee.status.value not in ("active",):
            continue
        if person.employee.company == dropped:
            assert member["status"] == "deactivated" and member["deactivation_reason"] == "out_of_scope"
        else:
            assert member["status"] != "deactivated"
    # Linked to the new connection (one member per person: no duplicates were created).
    assert len({m["profile"]["email"] for m in tenant.api.members()}) == len(tenant.api.members())


def test_two_tenants_see_nothing_of_each_other(new_tenant: Callable[[], Tenant]) -> None:
    first, second = new_tenant(), new_tenant()
    connection_id, run = first.connect(first.fake(employees=40))
    some = first.api.members()[0]
    assert second.api.members() == []
    assert second.api.call("GET", "/v1/connections")["items"] == []
    for path in (f"/v1/connections/{connection_id}", f"/v1/runs/{run['id']}", f"/v1/members/{some['id']}"):
        assert second.api.http.get(path).status_code == 404
    assert second.api.http.delete(f"/v1/connections/{connection_id}").status_code == 404
    assert first.api.call("GET", f"/v1/connections/{connection_id}")["status"] == "active"


def test_r34_r05_r13_app_users_imported_in_bulk_then_linked_by_email_by_the_first_import(
    tenant: Tenant,
) -> None:
    fake = tenant.fake()
    today = datetime.now(UTC).date()
    staff = [
        p
        for p in fake.company.people()
        if p.employee.status.value == "active"
        and p.employee.email
        and (p.employee.start_date is None or p.employee.start_date <= today - timedelta(days=2))
        and (p.employee.termination_date is None or p.employee.termination_date > today + timedelta(days=2))
    ]
    matching = staff[:60]
    users = [
        # The app's own spelling of the email (upper case): matched case-insensitively (R05).
        {"email": p.employee.email.upper(), "external_id": f"app|{n}", "first_name": "App"}
        for n, p in enumerate(matching)
    ]
    users += [
        {"email": f"user{n}@app-{tenant.tenant_id}.example", "external_id": f"app|{n}"}
        for n in range(len(matching), 1000)
    ]

    imported = tenant.api.call("POST", "/v1/members/import", json={"users": users})

    assert imported["counts"]["created"] == 1000, imported["counts"]
    ids = {r["external_id"]: r["member_id"] for r in imported["results"]}
    again = tenant.api.call("POST", "/v1/members/import", json={"users": users})
    assert again["counts"]["existing"] == 1000  # idempotent: nothing written the second time
    before = {m["id"]: m for m in tenant.api.members(source="manual")}
    assert len(before) == 1000

    _, run = tenant.connect(fake)

    assert run["status"] == "completed"
    assert run["applied"]["linked"] == len(matching)
    members = {m["id"]: m for m in tenant.api.members()}
    for n, person in enumerate(matching):  # linked: the same member, its ids kept
        member = members[ids[f"app|{n}"]]
        assert (member["source"], member["hris_id"], member["external_id"]) == (
            "hris",
            person.key,
            f"app|{n}",
        )
        assert member["profile"]["first_name"] == person.employee.first_name  # R15 from now on
    for n in range(len(matching), 1000):  # the app's other users: untouched (R13)
        assert members[ids[f"app|{n}"]] == before[ids[f"app|{n}"]]
    emails = [m["profile"]["email"].lower() for m in members.values() if m["profile"]["email"]]
    assert len(emails) == len(set(emails))  # nobody created twice
    found = tenant.api.members(external_id="app|0")
    assert [m["id"] for m in found] == [ids["app|0"]]
