"""IAM proven from the code: every AWS call each function makes while the product is used is
allowed by that function's policy in the synthesized template.

The local stack records each call a handler makes (botocore's ``before-parameter-build`` hook,
``infra.local.calls``) and names what IAM must allow for it (action, resource ARN, condition
keys); ``LocalStack.iam_denied`` evaluates those against the template's policies with the same
names and ARNs the functions run with (``infra.local.iam``). The scenarios below drive every path
that touches AWS: connect and the first import, the schedule's sync, sync now, a signed webhook,
member resync, the directory, preview, disconnect, and OAuth token refreshes (Personio's and
Employment Hero's rotating, single-use refresh tokens) in the full sync, the webhook worker and
the admin API.
"""

from __future__ import annotations

import json
import time

from infra.local.fake_hris import FakeHRServer
from infra.local.stack import LocalStack
from shared.adapters.scheduler import schedule_name
from tests.support.local_stack import Tenant


def _assert_allowed(stack: LocalStack) -> None:
    denied = stack.iam_denied()
    assert not denied, "calls the synthesized IAM does not allow:\n" + "\n".join(denied)


def _functions_called(stack: LocalStack) -> set[str]:
    return {call.function for call in stack.calls.calls()}


def _scheduled_sync(stack: LocalStack, tenant_id: str, connection_id: str) -> None:
    """What the connection's schedule does when it fires: invoke its target with its input."""
    assert stack.resources is not None and stack.functions is not None
    name = schedule_name(tenant_id, connection_id)
    schedule = stack.client("scheduler").get_schedule(GroupName=stack.resources.schedule_group, Name=name)
    target = schedule["Target"]
    stack.functions.invoke(target["Arn"], json.loads(target["Input"]))


def _member_of(tenant: Tenant) -> str:
    members = [m for m in tenant.api.members() if m.get("hris_id") and m["status"] != "deactivated"]
    return str(members[0]["id"])


def _wait_member(tenant: Tenant, hris_id: str) -> None:
    deadline = time.monotonic() + 30
    while hris_id not in tenant.by_hris():
        assert time.monotonic() < deadline, "the webhook's member never appeared"
        tenant.stack.drain(timeout=5)


def test_every_call_of_connect_import_webhook_sync_resync_directory_disconnect_is_allowed(
    tenant: Tenant,
) -> None:
    fake = tenant.fake(employees=30)
    connection_id, run = tenant.connect(fake)
    assert run["status"] == "completed"
    hired = fake.hire("Ada", "Lovelace", email=f"ada@{tenant.tenant_id}.example")
    _wait_member(tenant, hired.key)
    now = tenant.api.sync(connection_id)
    assert tenant.api.wait_run(now["id"])["status"] == "completed"
    _scheduled_sync(tenant.stack, tenant.tenant_id, connection_id)
    tenant.stack.drain()
    tenant.api.call("POST", f"/v1/members/{_member_of(tenant)}/resync")
    tenant.api.call("GET", f"/v1/connections/{connection_id}/directory")
    tenant.api.call("POST", f"/v1/connections/{connection_id}/preview")
    tenant.api.disconnect(connection_id)
    tenant.stack.drain()

    assert {
        "admin_api",
        "sync_steps",
        "sync_trigger",
        "webhook_ingest",
        "webhook_worker",
    } <= _functions_called(tenant.stack)
    _assert_allowed(tenant.stack)


def _expire(fake: FakeHRServer) -> None:
    """Every access token the vendor issued so far stops working: the next call refreshes."""
    vendor = fake.vendor
    if hasattr(vendor, "expire_tokens"):
        vendor.expire_tokens()
    else:
        vendor.oauth.expire_access_tokens()


def test_personio_token_refreshes_in_the_full_sync_and_the_webhook_worker_are_allowed(tenant: Tenant) -> None:
    # A token from /v1/auth (client credentials), saved by the full sync; once it expires the
    # worker authenticates again for a webhook and saves the new one.
    personio = tenant.fake("personio", employees=20)
    _, run = tenant.connect(personio)
    assert run["status"] == "completed"
    _expire(personio)
    hired = personio.hire("Grace", "Hopper", email=f"grace@{tenant.tenant_id}.example")
    _wait_member(tenant, hired.key)
    tenant.stack.drain()

    saved_by = {c.function for c in tenant.stack.calls.calls() if c.operation == "PutSecretValue"}
    assert {"sync_steps", "webhook_worker"} <= saved_by
    _assert_allowed(tenant.stack)


def test_employment_hero_rotating_tokens_are_saved_wherever_refreshed_and_allowed(tenant: Tenant) -> None:
    # Single-use refresh tokens, refreshed by the full sync, the member resync and the directory:
    # each refresh must be saved, or the next one spends a used token and the connection breaks.
    hero = tenant.fake("employment_hero", employees=20)
    connection_id, run = tenant.connect(hero)
    assert run["status"] == "completed"
    _expire(hero)
    now = tenant.api.sync(connection_id)
    assert tenant.api.wait_run(now["id"])["status"] == "completed"
    _expire(hero)
    tenant.api.call("POST", f"/v1/members/{_member_of(tenant)}/resync")
    _expire(hero)
    tenant.api.call("GET", f"/v1/connections/{connection_id}/directory")
    _expire(hero)
    again = tenant.api.sync(connection_id)
    assert tenant.api.wait_run(again["id"])["status"] == "completed"
    tenant.api.disconnect(connection_id)

    saved_by = {c.function for c in tenant.stack.calls.calls() if c.operation == "PutSecretValue"}
    assert {"sync_steps", "admin_api"} <= saved_by
    _assert_allowed(tenant.stack)
