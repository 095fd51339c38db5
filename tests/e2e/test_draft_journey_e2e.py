"""R32 over HTTP on the local stack: a draft connection, its directory, preview and scope (no run),
then its activation: the first import runs and its email reaches the connecting admin (the token's
email claim), with no ``admin_emails`` configured."""

from __future__ import annotations

from email import message_from_bytes

from infra.local.client import fake_credentials
from tests.support.local_stack import Tenant


def test_r32_draft_directory_preview_scope_then_activate_emails_the_connecting_admin(tenant: Tenant) -> None:
    fake = tenant.fake(employees=30)
    api = tenant.api
    # The local dev token carries the admin's email: subject@tenant.example.
    connecting_admin = f"admin-{tenant.tenant_id}@{tenant.tenant_id}.example"

    drafted = api.connect(
        provider=fake.vendor.name,
        label="BambooHR (draft)",
        credentials=fake_credentials(fake, tenant.webhook_secret),
        invites="later",
        draft=True,
    )
    draft = drafted["connection"]
    cid = draft["id"]
    assert drafted["run"] is None and draft["status"] == "draft"
    assert draft["connected_by_email"] == connecting_admin
    assert draft["next_run_at"] is None and draft["effective_schedule"] == "rate(6 hours)"

    directory = api.call("GET", f"/v1/connections/{cid}/directory")
    assert directory["groups"] and directory["people_total"] == len(fake.company.people())
    everyone = api.call("POST", f"/v1/connections/{cid}/preview")["counts"]["created"]
    assert everyone == len(fake.company.people())
    group = directory["groups"][0]["id"]
    edited = api.edit(cid, scope={"mode": "groups", "groups": [group]})
    assert edited["run"] is None and edited["running_run_id"] is None  # R32: a draft never syncs
    picked = api.call("POST", f"/v1/connections/{cid}/preview")["counts"]["created"]
    assert 0 < picked < everyone
    assert api.runs(cid) == [] and tenant.by_hris() == {}

    activated = api.activate(cid, expected_version=edited["connection"]["version"])
    assert activated["connection"]["status"] == "active"
    assert activated["connection"]["next_run_at"] is not None
    run = api.wait_run(activated["run"]["id"], timeout=120)
    assert run["status"] == "completed" and run["trigger"] == "first_import"
    assert run["applied"]["created"] == picked == len(tenant.by_hris())
    shown = api.call("GET", f"/v1/connections/{cid}")
    assert shown["last_run"]["id"] == run["id"] and shown["last_run"]["status"] == "completed"

    tenant.stack.drain()
    to_admin = [
        message_from_bytes(path.read_bytes())
        for path in tenant.stack.mail()
        if connecting_admin in str(message_from_bytes(path.read_bytes()).get("To", ""))
    ]
    assert [str(m["Subject"]) for m in to_admin if str(m["Subject"]).startswith("Import from BambooHR")]
