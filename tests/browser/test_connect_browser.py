"""The connect journey in Chromium, as an admin clicks it, against the real admin API of one local
stack (this module's): choose the HR system from the catalogue, its credentials (API key) or
"Connect with ..." (OAuth, the fake vendor's consent and back), select people by searching the
directory, invites and settings, preview, create accounts, the import's live progress, done.

The fakes answer on loopback, not on the vendors' hosts: where a connector sends its requests is
the internal ``base_url`` setting no form shows (``shared.providers.catalogue.INTERNAL_SETTINGS``).
For the API-key journey the test adds it to the page's draft request on its way out (Playwright's
request routing); everything the admin types and every answer is the real one. The OAuth app
the deployment registers carries the fake's hosts itself."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest

from infra.local.fake_hris import FakeHRServer
from infra.local.fake_hris.server import Fault
from infra.local.stack import LocalStack
from tests.browser.conftest import SCREENSHOTS
from tests.support.local_stack import Tenant

pytestmark = pytest.mark.timeout(240)
LAPTOP = {"width": 1280, "height": 900}


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=LAPTOP)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def fresh(stack: LocalStack) -> Iterator[Tenant]:
    """A tenant of its own per journey (a tenant has one active connection)."""
    made = Tenant(stack)
    try:
        yield made
    finally:
        made.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def connect_link(tenant: Tenant) -> str:
    answer = tenant.api.call(
        "POST", "/v1/portal/links", json={"intent": "connect", "email": tenant.admin_email}
    )
    return str(answer["url"])


def heading_has_focus(page: Any, name: str) -> None:
    """Focus moved to the step's heading (what a screen reader then reads)."""
    page.get_by_role("heading", name=name).wait_for()
    page.wait_for_function(
        "name => document.activeElement && document.activeElement.tagName.match(/^H[1-6]$/) "
        "&& document.activeElement.textContent === name",
        arg=name,
    )


def every_input_is_labelled(page: Any) -> None:
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
          .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
          .map(e => e.outerHTML)"""
    )
    assert unlabelled == []


def point_draft_at(page: Any, fake: FakeHRServer) -> None:
    """Add the fake's host (the internal ``base_url`` setting, never in a form) to the draft."""

    def add_base_url(route: Any) -> None:
        request = route.request
        if request.method != "POST":
            route.continue_()
            return
        body = json.loads(request.post_data or "{}")
        body.setdefault("credentials", {}).setdefault("settings", {})["base_url"] = fake.base_url
        route.continue_(post_data=json.dumps(body))

    page.route(re.compile(r"/portal/api/v1/connections$"), add_base_url)


def test_the_api_key_connect_journey_to_a_finished_import(page: Any, fresh: Tenant) -> None:
    fake = fresh.fake(employees=40, seed=7)
    point_draft_at(page, fake)
    page.goto(connect_link(fresh))

    # Choose: the catalogue's HR systems.
    heading_has_focus(page, "Choose your HR system")
    tiles = page.get_by_role("list", name="HR systems")
    assert tiles.get_by_role("button", name=re.compile("^Employment Hero")).count() == 1
    shot(page, "connect-choose")
    tiles.get_by_role("button", name=re.compile("^BambooHR")).click()

    # Credentials: the catalogue's fields; the secret one is a password field, never filled back.
    heading_has_focus(page, "Connect BambooHR")
    every_input_is_labelled(page)
    page.get_by_label("Company domain").fill(fake.credentials["subdomain"])
    key = page.get_by_label("API key", exact=True)
    assert key.get_attribute("type") == "password"
    key.fill("not-the-key")
    page.get_by_role("button", name="Check and continue").click()
    refused = page.get_by_role("alert").filter(has_text="BambooHR refused the credentials")
    refused.wait_for()
    assert "not-the-key" not in refused.inner_text()
    assert refused.inner_text().endswith("Check what you entered and try again.")
    assert page.get_by_label("API key", exact=True).input_value() == ""  # never kept in the page
    page.get_by_label("Company domain").fill(fake.credentials["subdomain"])
    page.get_by_label("API key", exact=True).fill(fake.credentials["api_key"])
    shot(page, "connect-credentials")
    page.get_by_role("button", name="Check and continue").click()

    # Select people: search the HR system's departments, each with how many people it takes in.
    heading_has_focus(page, "Who gets an account")
    (draft,) = fresh.api.connections()
    assert draft["status"] == "draft"
    groups = fresh.api.call("GET", f"/v1/connections/{draft['id']}/directory/groups")["items"]
    group = max(groups, key=lambda g: g["count"] or 0)
    page.get_by_label(re.compile(r"^Everyone \(40 people\)")).wait_for()
    page.get_by_label("Some departments or teams").check()
    page.get_by_label("Search departments and teams").fill(group["name"][:4])
    picks = page.get_by_role("list", name="Some departments or teams")
    choice = picks.get_by_label(re.compile(rf"^{re.escape(group['name'])} .*\({group['count']} people\)$"))
    choice.check()
    page.get_by_role("status").filter(has_text=f"1 selected, about {group['count']} people.").wait_for()
    every_input_is_labelled(page)
    shot(page, "connect-people")
    page.get_by_role("button", name="Continue").click()

    # Invites, approval and the settings a seed shows.
    heading_has_focus(page, "Invites, approval and settings")
    page.get_by_role("combobox", name=re.compile("^Invites")).select_option("now")
    page.get_by_role("combobox", name=re.compile("^New people")).select_option("auto")
    every_input_is_labelled(page)
    shot(page, "connect-settings")
    page.get_by_role("button", name="Preview").click()

    # Preview: counts and a sample of names, from the draft's real plan.
    heading_has_focus(page, "Preview")
    status = page.get_by_role("status").filter(has_text="accounts would be created")
    status.wait_for()
    assert status.inner_text().startswith(f"{group['count']} accounts would be created")
    sample = page.get_by_role("list", name="Some of the people who would get an account")
    named = sample.get_by_role("listitem").all_inner_texts()
    assert 0 < len(named) <= 10
    shot(page, "connect-preview")

    # Create accounts; the import's progress is live (aria-live), held a moment by a slow page.
    fake.add_fault(Fault(kind="slow", delay=2.0, page=1, times=1))
    page.get_by_role("button", name="Create accounts").click()
    heading_has_focus(page, "Importing your people")
    progress = page.locator("[aria-live=polite]").filter(has_text="Sync running")
    progress.wait_for()
    shot(page, "connect-progress")

    # Done: the summary and where the email went.
    heading_has_focus(page, "Done")
    summary = page.get_by_role("status").filter(has_text="accounts created")
    assert summary.inner_text().startswith(f"{group['count']} accounts created")
    page.get_by_text(f"A summary of the import was emailed to {fresh.admin_email}").wait_for()
    shot(page, "connect-done")

    (active,) = fresh.api.connections()
    assert (active["status"], active["scope"]) == (
        "active",
        {"mode": "groups", "companies": [], "groups": [group["id"]], "people": []},
    )
    assert active["invites"] == "now" and active["last_run"]["status"] == "completed"
    imported = fresh.api.members()
    assert len(imported) == group["count"]
    # The preview's sample named people who then got their accounts ("Name (email)").
    assert set(named) <= {
        f"{m['profile']['first_name']} {m['profile']['last_name']} ({m['profile']['email']})"
        for m in imported
    }
    fresh.stack.drain()
    subjects = [
        str(message_from_bytes(p.read_bytes())["Subject"])
        for p in fresh.stack.mail()
        if fresh.admin_email in str(message_from_bytes(p.read_bytes())["To"])
    ]
    assert any(s.startswith("Import from BambooHR") for s in subjects), subjects
    page.get_by_role("button", name="Go to your connection").click()
    page.get_by_role("heading", name="Connection", level=1).wait_for()


def test_the_oauth_connect_journey_with_employment_hero(page: Any, fresh: Tenant) -> None:
    fake = fresh.fake("employment_hero", employees=20, seed=3)
    fresh.register_oauth_app(fake)
    page.goto(connect_link(fresh))
    page.get_by_role("list", name="HR systems").get_by_role(
        "button", name=re.compile("^Employment Hero")
    ).click()
    heading_has_focus(page, "Connect Employment Hero")
    every_input_is_labelled(page)
    assert page.locator("input[type=password]").count() == 0  # nothing secret is typed here

    # The vendor's consent page answers at once (the fake consents) and sends the browser back
    # through our callback to the portal, which picks the journey up at the people step.
    page.get_by_role("button", name="Connect with Employment Hero").click()
    heading_has_focus(page, "Who gets an account")
    assert page.url.endswith("/portal/app")  # the connection id is gone from the address bar
    (draft,) = fresh.api.connections()
    assert (draft["provider"], draft["status"]) == ("employment_hero", "draft")
    page.get_by_label(re.compile(r"^Everyone \(20 people\)")).check()
    page.get_by_role("button", name="Continue").click()
    heading_has_focus(page, "Invites, approval and settings")
    page.get_by_role("combobox", name=re.compile("^Invites")).select_option("later")
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("status").filter(has_text="accounts would be created")
    preview.wait_for()
    created = int(preview.inner_text().split()[0])
    assert created > 0
    page.get_by_role("button", name="Create accounts").click()
    heading_has_focus(page, "Done")
    done = page.get_by_role("status").filter(has_text="accounts created").inner_text()
    assert done.startswith(f"{created} accounts created")
    page.get_by_text(f"emailed to {fresh.admin_email}").wait_for()
    imported = fresh.api.members()
    assert len(imported) == created and {m["status"] for m in imported} == {"queued"}


def test_a_declined_consent_comes_back_with_a_plain_message(page: Any, fresh: Tenant) -> None:
    fake = fresh.fake("employment_hero", employees=5, seed=4)
    fake.vendor.oauth.deny_consent = True  # type: ignore[attr-defined]
    fresh.register_oauth_app(fake)
    page.goto(connect_link(fresh))
    page.get_by_role("list", name="HR systems").get_by_role(
        "button", name=re.compile("^Employment Hero")
    ).click()
    page.get_by_role("button", name="Connect with Employment Hero").click()
    page.get_by_role("alert").filter(has_text="did not grant access (access denied)").wait_for()
    assert fresh.api.connections() == []


def test_a_selection_changed_by_someone_else_after_the_preview_is_never_imported(
    page: Any, fresh: Tenant
) -> None:
    """The preview is of one version of the draft: should another admin change it meanwhile,
    "Create accounts" is refused (409 version_conflict) in plain words, and nothing is imported."""
    fake = fresh.fake("employment_hero", employees=12, seed=5)
    fresh.register_oauth_app(fake)
    page.goto(connect_link(fresh))
    page.get_by_role("list", name="HR systems").get_by_role(
        "button", name=re.compile("^Employment Hero")
    ).click()
    page.get_by_role("button", name="Connect with Employment Hero").click()
    heading_has_focus(page, "Who gets an account")
    page.get_by_label(re.compile(r"^Everyone \(12 people\)")).check()
    page.get_by_role("button", name="Continue").click()
    heading_has_focus(page, "Invites, approval and settings")
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("status").filter(has_text="accounts would be created").wait_for()

    (draft,) = fresh.api.connections()
    fresh.api.call("PATCH", f"/v1/connections/{draft['id']}", json={"invites": "later"})
    page.get_by_role("button", name="Create accounts").click()

    page.get_by_role("alert").filter(has_text="Someone else changed this meanwhile").wait_for()
    (still,) = fresh.api.connections()
    assert still["status"] == "draft" and fresh.api.members() == []
