"""Draft connections over the admin API (R32): ``"draft": true`` then ``/activate``; a connection's
status (last run, next run, effective schedule); the connecting admin's address."""

from __future__ import annotations

from datetime import datetime, timedelta

from admin_api_client import TENANT_A, Client
from admin_api_scenarios import connect_body, connected

from shared.domain.models import ConnectionStatus
from shared.domain.records import RunStatus
from shared.ports import MailTemplate
from tests.support.world import World, employee, hire

ADA = "ada@acme.test"


def _draft(api: Client, **settings: object) -> dict[str, object]:
    answer = api.post("/v1/connections", connect_body(draft=True, **settings))
    assert answer.status == 201, answer.text
    assert answer.json["run"] is None
    connection: dict[str, object] = answer.json["connection"]
    return connection


def test_r32_a_draft_is_201_with_no_run_no_schedule_and_the_connecting_admin(world: World) -> None:
    api = Client(tenant=TENANT_A, sub="admin-a", email=ADA)
    hire(world, "ann")
    draft = _draft(api)
    assert draft["status"] == "draft"
    assert (draft["connected_by"], draft["connected_by_email"]) == ("admin-a", ADA)
    assert draft["last_run"] is None and draft["next_run_at"] is None and draft["activated_at"] is None
    assert draft["effective_schedule"] == "rate(6 hours)"  # R28: the provider's default
    assert world.runs.items == {} and world.scheduler.items == {} and world.mailer.sent == []
    listed = api.get("/v1/connections").json["items"]
    assert [(c["id"], c["status"]) for c in listed] == [(draft["id"], "draft")]


def test_r32_the_journey_directory_preview_scope_then_activate(world: World) -> None:
    api = Client(tenant=TENANT_A, sub="admin-a", email=ADA)
    world.hr.set(employee("ann", company="North"), employee("bob", company="South"))
    draft = _draft(api, admin_emails=["ADA@acme.test", "it@acme.test"])
    cid = draft["id"]
    directory = api.get(f"/v1/connections/{cid}/directory")
    assert directory.status == 200 and [c["id"] for c in directory.json["companies"]] == ["North", "South"]
    assert api.post(f"/v1/connections/{cid}/preview").json["counts"]["created"] == 2
    edited = api.patch(f"/v1/connections/{cid}", {"scope": {"mode": "companies", "companies": ["North"]}})
    assert edited.status == 200 and edited.json["run"] is None and edited.json["running_run_id"] is None
    previewed = api.post(f"/v1/connections/{cid}/preview").json
    assert previewed["counts"]["created"] == 1
    # The sample of people a UI shows: each new member's name and email (never only an id).
    [created] = [a for a in previewed["actions"] if a["kind"] == "create"]
    ann = world.hr.employees["ann"]
    assert created["hris_id"] == "ann"
    assert (created["name"], created["email"]) == (f"{ann.first_name} {ann.last_name}", ann.email)
    # Nothing runs on a draft: sync now and linking are refused with what to do instead.
    refused = api.post(f"/v1/connections/{cid}/sync")
    assert refused.status == 409 and refused.error_code == "connection_not_active"
    assert "activate" in refused.json["error"]["message"]
    assert api.post(f"/v1/connections/{cid}/match", {"dry_run": False}).error_code == "connection_not_active"
    assert world.runs.items == {}

    version = edited.json["connection"]["version"]
    activated = api.post(f"/v1/connections/{cid}/activate", {"expected_version": version})
    assert activated.status == 202, activated.text
    assert activated.json["connection"]["status"] == "active"
    assert activated.json["connection"]["next_run_at"] is not None
    run = activated.json["run"]
    assert run["trigger"] == "first_import" and activated.json["connection"]["last_run"]["id"] == run["id"]
    # Activating again (a retried request) is harmless: the same run, nothing new started.
    again = api.post(f"/v1/connections/{cid}/activate")
    assert again.status == 202 and again.json["run"]["id"] == run["id"]
    assert len(world.workflow.executions) == 1

    done = world.drive(world.runs.get(TENANT_A, run["id"]))
    assert done.status is RunStatus.COMPLETED and done.applied.created == 1
    (email,) = world.emails(MailTemplate.IMPORT_COMPLETE.value)
    assert email.to == (ADA, "it@acme.test")  # the connecting admin, then admin_emails, once each
    shown = api.get(f"/v1/connections/{cid}").json
    assert shown["last_run"]["status"] == "completed" and shown["last_run"]["applied"]["created"] == 1


def test_r32_activate_refuses_a_stale_version_an_unknown_id_and_a_viewer(
    world: World, api: Client, viewer: Client
) -> None:
    draft = _draft(api)
    assert api.patch(f"/v1/connections/{draft['id']}", {"label": "renamed"}).status == 200
    stale = api.post(f"/v1/connections/{draft['id']}/activate", {"expected_version": draft["version"]})
    assert stale.status == 409 and stale.error_code == "version_conflict"
    assert api.post("/v1/connections/conn_missing/activate").error_code == "connection_not_found"
    assert viewer.post(f"/v1/connections/{draft['id']}/activate").status == 403
    assert api.post(f"/v1/connections/{draft['id']}/activate", {"expected_version": 0}).status == 422
    assert world.connections.get(TENANT_A, str(draft["id"])).status is ConnectionStatus.DRAFT


def test_r22_drafts_do_not_count_and_activation_past_the_limit_is_409(world: World, api: Client) -> None:
    tenant = connected(world, api)
    draft = _draft(api)
    refused = api.post(f"/v1/connections/{draft['id']}/activate")
    assert refused.status == 409 and refused.error_code == "connection_limit_reached"
    assert api.delete(f"/v1/connections/{tenant.connection_id}").status == 200
    assert api.post(f"/v1/connections/{draft['id']}/activate").status == 202


def test_r28_a_connection_shows_its_last_run_and_next_scheduled_run(world: World, api: Client) -> None:
    tenant = connected(world, api, schedule={"expression": "rate(12 hours)", "timezone": "UTC"})
    world.clock.advance(timedelta(hours=1))
    shown = api.get(f"/v1/connections/{tenant.connection_id}").json
    assert shown["last_run"]["id"] == tenant.run_id and shown["last_run"]["status"] == "completed"
    assert shown["effective_schedule"] == "rate(12 hours)"
    activated = world.connections.get(TENANT_A, tenant.connection_id).activated_at
    assert activated is not None
    assert datetime.fromisoformat(shown["next_run_at"]) == activated + timedelta(hours=12)
    gone = api.delete(f"/v1/connections/{tenant.connection_id}").json
    assert gone["next_run_at"] is None and gone["effective_schedule"] is None
    assert gone["last_run"]["id"] == tenant.run_id


def test_a_connect_without_an_email_claim_mails_admin_emails_only(world: World, api: Client) -> None:
    connected(world, api)
    (email,) = world.emails(MailTemplate.IMPORT_COMPLETE.value)
    assert email.to == ("it@acme.test",)
