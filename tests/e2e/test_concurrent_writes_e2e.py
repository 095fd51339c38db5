"""Concurrent conditional writes through the local stack, over HTTP: the guarantees the adapter
tests prove on DynamoDB Local alone (tests/integration/adapters: R22's connection limit, an email
held by one member, a run's counts from parallel chunks) hold for the product as it runs, with
requests racing through the gateway and the state machine's Map applying chunks at once. The
stack's tables are on DynamoDB Local; moto would let two racing writers both pass one condition."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from infra.local.client import ApiError, fake_credentials
from tests.support.local_stack import Tenant


def test_r22_connection_limit_holds_under_concurrent_connects(tenant: Tenant) -> None:
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


def test_one_email_is_held_by_one_member_when_two_edits_race_for_it(tenant: Tenant) -> None:
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
