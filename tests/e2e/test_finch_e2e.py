"""Finch end to end over HTTP: Finch Connect through the journey (oauth/start -> the fake's consent ->
our callback -> a draft labelled with the payroll system -> activate), the first import, a signed
``directory.created`` that creates a member and an ``employment.updated`` termination that
deactivates one (applied within seconds: polled), and a short directory page that leaves the
snapshot incomplete (R31/R09: nobody deactivated)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from infra.local.fake_hris import FakeHRServer
from infra.local.fake_hris.finch import individual_id
from tests.support.local_stack import Tenant, a_short_page_deactivates_nobody, until

RETURN_URL = "http://127.0.0.1:9/admin/connections/oauth-done"


def _connect(tenant: Tenant, fake: FakeHRServer) -> str:
    tenant.register_oauth_app(fake, webhook_secret=fake.credentials["webhook_secret"])
    connection_id, authorize_url = tenant.connect_by_oauth(
        fake, RETURN_URL, label="Finch", invites="later", approval="auto"
    )
    authorize = urlsplit(authorize_url)
    assert authorize.path == "/authorize"
    assert parse_qs(authorize.query)["products"] == ["company directory individual employment"]
    return connection_id


def test_finch_connect_import_webhooks_and_an_incomplete_snapshot(tenant: Tenant) -> None:
    fake = tenant.fake("finch", employees=25)
    connection_id = _connect(tenant, fake)
    draft = tenant.api.call("GET", f"/v1/connections/{connection_id}")
    assert (draft["provider"], draft["status"], draft["label"]) == ("finch", "draft", "Finch (Gusto)")

    directory = tenant.api.call("GET", f"/v1/connections/{connection_id}/directory", params={"limit": 200})
    assert {g["kind"] for g in directory["groups"]} == {"department"}
    assert all(g["id"] == f"department:{g['name']}" for g in directory["groups"])
    assert [c["kind"] for c in directory["companies"]] == ["company"]

    activated = tenant.api.activate(connection_id)
    run = tenant.api.wait_run(activated["run"]["id"], timeout=120)
    assert run["status"] == "completed", run
    members = tenant.by_hris()
    expected = {e.hris_id for e in fake.expected_employees() if e.status.value == "active"}
    assert expected and expected <= set(members)

    # Real time: Finch's signed webhooks, each a targeted plan for the individual it names.
    fake.webhooks_to(tenant.stack.webhook_url(connection_id), secret=fake.credentials["webhook_secret"])
    hired = fake.hire("Nia", "Newcomer", department="Engineering")
    assert fake.deliveries[-1].status == 202, fake.deliveries[-1]
    member = until("the hire", lambda: tenant.by_hris().get(individual_id(hired.key)))
    assert member["profile"]["first_name"] == "Nia" and member["status"] != "deactivated"

    leaver = next(p for p in fake.company.people() if individual_id(p.key) in expected)
    fake.terminate(leaver.id)
    assert fake.deliveries[-1].status == 202, fake.deliveries[-1]
    assert until(
        "the termination",
        lambda: tenant.by_hris()[individual_id(leaver.key)]["status"] == "deactivated" or None,
    )

    # A short directory page while paging.count says more: the run is partial, nobody deactivated.
    a_short_page_deactivates_nobody(tenant, fake, connection_id)
