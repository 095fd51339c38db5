"""Concurrent writes through the local stack: a run's counts from chunks the state machine's Map
applies at once (the Lambda tasks run in parallel, on DynamoDB Local), and parallel HTTP requests
answered as the product answers them.

The local gateway lets one request at a time into a function, as one Lambda execution environment
does, so parallel connects or edits over HTTP no longer race inside the handler: those two tests
check the answers the API gives parallel callers (one wins, the others a typed 409). The race
itself, which deployed concurrent environments do have, is proven where it still exists locally:
the services and stores on DynamoDB Local (tests/integration/adapters:
test_r22_concurrent_connects_of_one_tenant_activate_one_connection,
test_r22_connection_limit_holds_under_concurrent_connects, the email claims of the member store).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from infra.local.client import ApiError, fake_credentials
from tests.support.local_stack import Tenant


def test_r22_parallel_connects_over_http_make_one_connection_and_refuse_the_rest(tenant: Tenant) -> None:
    fakes = [tenant.fake(employees=5, seed=seed) for seed in range(4)]

    def connect(index: int) -> str:
        try:
            tenant.api.connect(
                provider="bamboohr",
                label=f"racing {index}",
                credentials=fake_credentials(fakes[index], tenant.webhook_secret),
                scope={"mode": "everyone"},
                invites="later",
                approval="auto",
                admin_emails=[tenant.admin_email],
            )
        except ApiError as refused:
            return f"{refused.status} {refused.code}"
        return "created"

    with ThreadPoolExecutor(len(fakes)) as pool:
        answers = sorted(pool.map(connect, range(len(fakes))))
    # The local stack allows one connection per tenant (max_connections = 1).
    assert answers == ["409 connection_limit_reached"] * 3 + ["created"]
    assert len(tenant.api.connections()) == 1
    tenant.stack.drain()


def test_one_email_is_held_by_one_member_when_two_parallel_edits_ask_for_it(tenant: Tenant) -> None:
    fake = tenant.fake(employees=6)
    tenant.connect(fake)
    first, second = sorted(tenant.api.members(), key=lambda m: m["id"])[:2]
    wanted = f"shared@{tenant.tenant_id}.example"

    def edit(member_id: str) -> str:
        try:
            tenant.api.call("PATCH", f"/v1/members/{member_id}", json={"email": wanted})
        except ApiError as refused:
            return f"{refused.status} {refused.code}"
        return "edited"

    with ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(edit, [first["id"], second["id"]]))
    assert answers == ["409 email_taken", "edited"]
    holders = [m["id"] for m in tenant.api.members() if m["profile"]["email"] == wanted]
    assert len(holders) == 1


def test_a_first_import_counts_every_chunk_applied_in_parallel_once(tenant: Tenant) -> None:
    fake = tenant.fake(employees=1_100)  # five chunks of 250: the Map applies up to four at once
    _, run = tenant.connect(fake)
    assert run["status"] == "completed"
    assert run["progress"]["chunks_total"] >= 5
    assert run["progress"]["chunks_applied"] == run["progress"]["chunks_total"]
    members = tenant.api.members()
    assert run["applied"]["created"] == len(members) > 1_000
