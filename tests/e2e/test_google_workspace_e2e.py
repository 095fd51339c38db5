"""Google Workspace over HTTP on the local stack: connect through the journey (a draft with the
service account key, its directory of org units and groups, activation), the first import (a
suspended user not active), then Directory push: a channel opened on the connection's webhook URL,
its ``sync`` answered, a hire and a suspension applied from their notifications."""

from __future__ import annotations

import time
from typing import Any

from infra.local.client import fake_credentials
from shared.adapters.secrets import SecretsManagerStore
from shared.domain.models import EmployeeStatus
from shared.providers.google import GoogleWorkspace
from tests.support.local_stack import Tenant


def _until(check: Any, what: str, tenant: Tenant, attempts: int = 60) -> Any:
    """Drain the stack's queues until ``check()`` is truthy (bounded; no timed assertion)."""
    for _ in range(attempts):
        tenant.stack.drain()
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what} was not applied")


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

    # What the subscriptions service does on activation (shared/services/subscriptions.py):
    # subscribe with the stored credentials and store what comes back (the channel secret).
    prefix = tenant.stack.functions.environment_of("admin_api")["SECRETS_PREFIX"]  # type: ignore[union-attr]
    store = SecretsManagerStore(prefix=prefix, client=tenant.stack.client("secretsmanager"))
    credentials = store.get(tenant.tenant_id, cid)
    subscription, stored = GoogleWorkspace().subscribe(credentials, tenant.stack.webhook_url(cid))
    store.put(tenant.tenant_id, cid, stored)
    sync = _until(
        lambda: [d for d in fake.deliveries if d.headers.get("X-Goog-Resource-State") == "sync"],
        "sync",
        tenant,
    )
    assert {d.status for d in sync} == {200}, "the sync handshake is answered 200"

    hired = fake.hire("Grace", "Hopper", department="Engineering")
    leaver = fake.company.people()[5]
    fake.terminate(leaver.id)
    assert all(d.status in (200, 202) for d in fake.deliveries)
    _until(lambda: hired.key in tenant.by_hris(), "the hire", tenant)
    _until(
        lambda: (
            tenant.by_hris().get(leaver.key, {}).get("status") == EmployeeStatus.TERMINATED.value
            or tenant.by_hris().get(leaver.key, {}).get("status") not in ("active", None)
        ),
        "the suspension",
        tenant,
    )

    GoogleWorkspace().unsubscribe(stored, subscription)
    assert fake.vendor.channels == {}  # type: ignore[attr-defined]
