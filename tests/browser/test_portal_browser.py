"""The admin portal as an admin uses it: a one-time link opened in Chromium, then the manage
screens driven by labels and roles (approve and reject from the queue, confirm a held sync), and
the pages an expired or reused link shows. Each main screen is saved under docs/portal/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.local.fake_hris import FakeHRServer
from shared.adapters.dynamo import DynamoTable
from shared.adapters.portal import DynamoPortalStore
from shared.ports import PortalIntent, PortalLink
from shared.services.portal import digest
from tests.browser.conftest import SCREENSHOTS
from tests.support.local_stack import Tenant

pytestmark = pytest.mark.timeout(240)
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SAFETY = {"max_deactivations": 1, "max_deactivation_pct": 5.0}


def name_of(member: dict[str, Any]) -> str:
    profile = member["profile"]
    return " ".join(p for p in (profile["first_name"], profile["last_name"]) if p)


def link(tenant: Tenant, intent: str = "manage") -> str:
    answer: dict[str, Any] = tenant.api.call("POST", "/v1/portal/links", json={"intent": intent})
    url = str(answer["url"])
    assert url.startswith(f"{tenant.stack.url}/portal/open?token=")
    return url


@pytest.fixture(scope="module")
def company(tenant: Tenant) -> Iterator[tuple[FakeHRServer, str]]:
    fake = tenant.fake(employees=24, seed=5)
    connection_id, run = tenant.connect(fake, approval="admin", invites="later", safety=SAFETY)
    assert run["status"] == "completed", run
    yield fake, connection_id


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=LAPTOP)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def open_portal(page: Any, tenant: Tenant) -> None:
    page.goto(link(tenant))
    page.get_by_role("heading", name="Connection", level=1).wait_for()


def test_a_link_opens_the_portal_with_an_http_only_strict_session(
    page: Any, tenant: Tenant, company: tuple[FakeHRServer, str]
) -> None:
    open_portal(page, tenant)
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "__Host-hris-portal"
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    assert page.evaluate("document.cookie") == ""  # no script can read it
    assert page.url.endswith("/portal/app")  # the token is gone from the address bar
    page.get_by_role("heading", name=re.compile("bamboohr")).wait_for()
    page.get_by_text("Last sync").wait_for()
    shot(page, "connection")


def test_approve_and_reject_from_the_queue(
    page: Any, tenant: Tenant, company: tuple[FakeHRServer, str]
) -> None:
    waiting = sorted(
        (m for m in tenant.api.members() if m["status"] == "pending_approval"), key=lambda m: m["id"]
    )
    assert len(waiting) >= 4
    first, second, third = waiting[0], waiting[1], waiting[2]
    open_portal(page, tenant)
    page.get_by_role("navigation", name="Portal").get_by_role("button", name="People").click()
    page.get_by_role("heading", name="Waiting for approval").wait_for()
    shot(page, "people")

    page.get_by_role("button", name=f"Approve {name_of(first)}", exact=True).click()
    page.get_by_role("status").filter(has_text="Approved 1 of 1.").wait_for()

    page.get_by_role("checkbox", name=f"Select {name_of(second)}", exact=True).check()
    page.get_by_role("checkbox", name=f"Select {name_of(third)}", exact=True).check()
    page.get_by_role("button", name="Reject selected").click()
    page.get_by_role("status").filter(has_text="Rejected 2 of 2.").wait_for()

    assert tenant.api.member(first["id"])["status"] == "queued"
    assert {tenant.api.member(m["id"])["status"] for m in (second, third)} == {"deactivated"}
    audit = tenant.api.call("GET", "/v1/audit", params={"member_id": first["id"]})["items"]
    assert any(e["action"] == "approve" and str(e["actor_id"]).startswith("portal:") for e in audit)

    page.set_viewport_size(PHONE)
    shot(page, "people-phone")
    page.set_viewport_size(LAPTOP)

    # Recent changes name the people, never by their ids.
    page.get_by_role("navigation", name="Portal").get_by_role("button", name="History").click()
    changes = page.get_by_role("heading", name="Recent changes").locator("..").get_by_role("listitem")
    approved = changes.filter(has_text="Approve").filter(has_text=name_of(first))
    approved.first.wait_for()
    assert first["id"] not in " ".join(changes.all_inner_texts())
    shot(page, "history")


def test_confirm_a_held_sync(page: Any, tenant: Tenant, company: tuple[FakeHRServer, str]) -> None:
    fake, connection_id = company
    fake.webhooks_to(None)  # only a full sync sees the leavers
    members = tenant.by_hris()
    managers = {p.employee.manager_hris_id for p in fake.company.people()}
    leavers = [
        k for k in sorted(members, key=int) if members[k]["status"] != "deactivated" and k not in managers
    ][:3]
    for key in leavers:
        fake.terminate(key)
    held = tenant.api.wait_run(tenant.api.sync(connection_id)["id"])
    assert held["status"] == "blocked"

    open_portal(page, tenant)
    page.get_by_role("heading", name="A sync is waiting for your decision").wait_for()
    # Who would be deactivated, and why, before the admin decides.
    who = page.get_by_role("table", name=re.compile("^Who would be deactivated"))
    who.get_by_role("row").nth(len(leavers)).wait_for()
    rows = who.get_by_role("row").all_inner_texts()[1:]
    assert len(rows) == len(leavers)
    for key in leavers:
        member = members[key]
        row = who.get_by_role("row", name=re.compile(f"^{re.escape(name_of(member))}"))
        assert member["profile"]["email"] in row.inner_text()
        assert "left the company (terminated in the HR system)" in row.inner_text()
    shot(page, "held-sync")
    page.get_by_role("button", name="Confirm and deactivate").click()
    page.get_by_role("status").filter(has_text=re.compile(r"^Sync completed: \d+ deactivated")).wait_for()
    after = tenant.by_hris()
    assert all(after[k]["status"] == "deactivated" for k in leavers)

    page.get_by_role("navigation", name="Portal").get_by_role("button", name="Syncs").click()
    page.get_by_role("heading", name=re.compile("^Syncs of")).wait_for()
    shot(page, "syncs")


def test_tasks_name_their_members(page: Any, tenant: Tenant, company: tuple[FakeHRServer, str]) -> None:
    tasks = tenant.api.tasks(status="open")
    assert tasks, "the held sync's leavers have offboarding tasks"
    task = tasks[0]
    member = tenant.api.member(task["member_id"])
    open_portal(page, tenant)
    page.get_by_role("navigation", name="Portal").get_by_role("button", name="Tasks").click()
    page.get_by_role("heading", name="Tasks", level=1).wait_for()
    listed = page.get_by_role("list", name="Tasks")
    item = listed.get_by_role("listitem").filter(has_text=f"of {name_of(member)}").first
    item.wait_for()
    assert task["member_id"] not in listed.inner_text()  # names, never ids
    shot(page, "tasks")
    kind = task["type"]
    page.get_by_role("button", name=f"Mark {kind} of {name_of(member)} complete").first.click()
    page.get_by_role("status").filter(has_text=f"of {name_of(member)} is complete.").wait_for()
    assert tenant.api.call("GET", "/v1/tasks", params={"status": "done"})["items"]


def test_a_reused_link_shows_a_clear_page(page: Any, tenant: Tenant) -> None:
    url = link(tenant)
    page.goto(url)
    page.get_by_role("heading", name="Connection", level=1).wait_for()
    page.context.clear_cookies()
    page.goto(url)
    page.get_by_role("heading", name="This link has already been used").wait_for()
    assert page.context.cookies() == []
    assert page.get_by_role("navigation").count() == 0


def test_an_expired_link_shows_a_clear_page(page: Any, tenant: Tenant) -> None:
    token = "expired-link-token-for-the-browser-test-012"
    assert len(token) == 43
    store = DynamoPortalStore(
        DynamoTable(tenant.stack.resources.table_name, client=tenant.stack.client("dynamodb"))
    )
    store.add_link(
        PortalLink(
            token_digest=digest(token),
            tenant_id=tenant.tenant_id,
            intent=PortalIntent.MANAGE,
            created_by="test",
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )
    )
    page.goto(f"{tenant.stack.url}/portal/open?token={token}")
    page.get_by_role("heading", name="This link has expired").wait_for()
    assert page.context.cookies() == []
    shot(page, "expired-link")
