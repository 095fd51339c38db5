"""Google Workspace over HTTP on the local stack: connect through the journey (a draft with the
service account key, its directory of org units and groups, activation), the first import (a
suspended user not active), then Directory push: the activation opens the channels on the
connection's webhook URL, their ``sync`` is answered, a hire and a suspension are applied from their
notifications, and disconnecting stops the channels."""

from __future__ import annotations

from infra.local.client import fake_credentials
from shared.domain.models import EmployeeStatus
from tests.support.local_stack import Tenant, until


def test_google_workspace_connect_import_and_push_for_a_hire_and_a_suspension(tenant: Tenant) -> None:
    fake = tenant.fake("google_workspace", employees=40)
    suspended = fake.company.people()[3]
    fake.terminate(suspended.id)  # suspended in Google before the connection
    api = tenant.api

    drafted = api.connect(
        provider="google_workspace",
        label="Google Workspace",
        credentials=fake_credentials(fake),
        invites="later",
        draft=True,
    )
    cid = drafted["connection"]["id"]
    assert drafted["connection"]["effective_schedule"] == "rate(24 hours)"
    directory = api.call("GET", f"/v1/connections/{cid}/directory")
    kinds = {g["kind"] for g in directory["groups"]}
    assert kinds == {"org_unit", "group"}
    assert directory["people_total"] == len(fake.company.people())

    activated = api.activate(cid, expected_version=drafted["connection"]["version"])
    run = api.wait_run(activated["run"]["id"], timeout=120)
    assert run["status"] == "completed" and run["trigger"] == "first_import"
    members = tenant.by_hris()
    assert suspended.key not in members or members[suspended.key]["status"] != "active"
    # Suspended users (terminated in the fake) are leavers: never created as members.
    current = [p for p in fake.company.people() if p.employee.status is not EmployeeStatus.TERMINATED]
    assert run["applied"]["created"] == len(current) == len(members)

    # The activation opened the users.watch channels on the connection's webhook URL, under the
    # API's own URL as the activating request reached it (shared/services/subscriptions.py).
    channels = fake.vendor.channels  # type: ignore[attr-defined]
    assert channels, "the activation opened no channel"
    assert {c.address for c in channels.values()} == {tenant.stack.webhook_url(cid)}
    sync = until(
        "the sync handshake",
        lambda: [d for d in fake.deliveries if d.headers.get("X-Goog-Resource-State") == "sync"],
        tenant=tenant,
    )
    assert {d.status for d in sync} == {200}, "the sync handshake is answered 200"

    hired = fake.hire("Grace", "Hopper", department="Engineering")
    leaver = fake.company.people()[5]
    fake.terminate(leaver.id)
    assert all(d.status in (200, 202) for d in fake.deliveries)
    until("the hire", lambda: hired.key in tenant.by_hris(), tenant=tenant)
    until(
        "the suspension",
        lambda: (
            tenant.by_hris().get(leaver.key, {}).get("status") == EmployeeStatus.TERMINATED.value
            or tenant.by_hris().get(leaver.key, {}).get("status") not in ("active", None)
        ),
        tenant=tenant,
    )

    # Disconnecting stops the channels (before the credentials are deleted).
    api.disconnect(cid)
    assert fake.vendor.channels == {}  # type: ignore[attr-defined]
