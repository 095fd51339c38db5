"""The services' sync steps on the real table adapters (both engines): a first import, then a
resync in which nothing changed must write nothing to members, audit or tasks (R24)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from adapters_support import table_for

from shared.adapters.connections import DynamoConnectionStore
from shared.adapters.lock import DynamoConnectionLock
from shared.adapters.members import DynamoMemberStore
from shared.adapters.records import DynamoAuditLog, DynamoRunStore, DynamoTaskStore
from shared.adapters.webhook_backlog import DynamoPendingWebhooks, DynamoWebhookGuardStore
from shared.domain.models import MemberStatus
from shared.domain.records import RunStatus, TaskStatus
from shared.ports import MemberQuery
from shared.services.context import ServiceSettings
from tests.support.world import FakeHR, World, employee, imported

# Which kind of item a key belongs to (docs/table.md).
_KINDS = (("#M#", "member"), ("#E#", "email"), ("#L#", "link"), ("#AUDIT#", "audit"), ("#TASK#", "task"))


def _kind(pk: str) -> str:
    for marker, kind in _KINDS:
        if marker in pk:
            return kind
    return "run/lock/connection"


class WrittenItems:
    """Counts the items each DynamoDB write request touches, by kind."""

    def __init__(self, client: Any) -> None:
        self.items: Counter[str] = Counter()
        client.meta.events.register("provide-client-params.dynamodb.*", self._seen)

    def _seen(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        for pk in _written_keys(model.name, params):
            self.items[_kind(pk)] += 1


def _written_keys(operation: str, params: dict[str, Any]) -> list[str]:
    if operation in ("PutItem",):
        return [params["Item"]["pk"]["S"]]
    if operation in ("UpdateItem", "DeleteItem"):
        return [params["Key"]["pk"]["S"]]
    if operation == "BatchWriteItem":
        return [
            (r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])["pk"]["S"]
            for requests in params["RequestItems"].values()
            for r in requests
        ]
    if operation == "TransactWriteItems":
        keys = []
        for item in params["TransactItems"]:
            ((_, body),) = item.items()
            keys.append((body.get("Item") or body["Key"])["pk"]["S"])
        return keys
    return []


@pytest.fixture
def world(ddb) -> World:
    table = table_for(ddb)
    return World(
        hr=FakeHR(page_size=7),
        connections=DynamoConnectionStore(table),
        members=DynamoMemberStore(table),
        tasks=DynamoTaskStore(table),
        audit=DynamoAuditLog(table),
        runs=DynamoRunStore(table),
        lock=DynamoConnectionLock(table),
        pending=DynamoPendingWebhooks(table),
        webhook_guard=DynamoWebhookGuardStore(table),
        settings=ServiceSettings(chunk_size=10),
    )


def test_r24_a_resync_without_changes_writes_no_member_audit_or_task_item(ddb, world):
    world.hr.set(*(employee(f"e{i:02d}", job_title="Engineer") for i in range(18)))
    written = WrittenItems(ddb.client)
    connection = imported(world, "tenant-a")
    t, c = "tenant-a", connection.connection_id
    assert written.items["member"] == 18
    assert written.items["email"] == 18 and written.items["link"] == 18
    assert written.items["audit"] >= 18 and written.items["task"] == 18
    members = world.members.query(t, MemberQuery(status=MemberStatus.INVITED), limit=200).items
    assert len(members) == 18
    assert len(world.tasks.query(t, status=TaskStatus.OPEN, limit=200).items) == 18

    written.items.clear()
    run = world.sync_now(t, c)
    assert run.status is RunStatus.COMPLETED
    assert {k: v for k, v in written.items.items() if k != "run/lock/connection"} == {}


def test_a_changed_employee_is_one_conditional_member_write(ddb, world):
    world.hr.set(*(employee(f"e{i:02d}") for i in range(5)))
    connection = imported(world, "tenant-a")
    world.hr.set(employee("e03", job_title="Head of Things"))
    written = WrittenItems(ddb.client)
    run = world.sync_now("tenant-a", connection.connection_id)
    assert run.status is RunStatus.COMPLETED
    assert written.items["member"] == 1
    assert written.items["email"] == 0 and written.items["link"] == 0
    member = world.members.find_by_link("tenant-a", connection.connection_id, "e03")
    assert member.profile.job_title == "Head of Things" and member.version == 2
    trail = world.audit.query("tenant-a", member_id=member.member_id).items
    assert trail[0].run_id == run.run_id
    assert trail[0].before["profile"]["job_title"] is None
    assert trail[0].after["profile"]["job_title"] == "Head of Things"
