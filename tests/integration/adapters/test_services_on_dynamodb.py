"""The services' sync steps on the real table adapters (both engines): a first import, then a
resync in which nothing changed must write nothing to members, audit or tasks (R24)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from adapters_support import needs_atomic_engine, table_for

from shared.adapters import keys
from shared.adapters.connections import DynamoConnectionStore
from shared.adapters.lock import DynamoConnectionLock
from shared.adapters.members import DynamoMemberStore
from shared.adapters.record_stores import DynamoAuditLog, DynamoRunStore, DynamoTaskStore
from shared.adapters.webhook_backlog import DynamoPendingWebhooks, DynamoWebhookGuardStore
from shared.domain.models import ConnectionStatus, MemberStatus
from shared.domain.records import RunStatus, TaskStatus
from shared.errors import ConnectionLimitReached
from shared.ports import MemberQuery
from shared.services import app_users, connections
from shared.services.app_users import AppUser, Outcome
from shared.services.context import ServiceSettings
from tests.support.world import CREDENTIALS, FakeHR, World, employee, imported

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


# R25: whatever characters an HR system puts in an id, an email or a name.
_ODD_PEOPLE = {
    "e#1": {"email": "hash#tag@acme.test", "first_name": "Hash#Tag"},
    "e/2": {"email": "slash/name@acme.test", "first_name": "Sla/sh"},
    "e\"3'": {"email": 'o\'brien"q"@acme.test', "first_name": 'O\'Brien "Q"'},
    "é-日本-🙂": {"email": "zoë@exämple.test", "first_name": "Zoë 日本 🙂"},
    "%23#M#x": {"email": "percent%23@acme.test", "last_name": "%25 and #"},
    "x" * 1000: {"email": "y" * 990 + "@acme.test", "first_name": "n" * 1000},
}


def test_r25_a_full_sync_stores_ids_emails_and_names_with_any_characters_faithfully(ddb, world):
    world.hr.set(employee("plain"), *(employee(hris_id, **fields) for hris_id, fields in _ODD_PEOPLE.items()))
    connection = imported(world, "tenant-a")
    c = connection.connection_id
    run = world.last_run("tenant-a", c)
    assert run.status is RunStatus.COMPLETED and run.skipped == ()
    assert run.applied.created == len(_ODD_PEOPLE) + 1
    for hris_id, fields in _ODD_PEOPLE.items():
        member = world.member_by_hris("tenant-a", c, hris_id)
        assert member.hris_id == hris_id
        for name, value in fields.items():
            assert getattr(member.profile, name) == value
        assert world.members.find_by_email("tenant-a", fields["email"].upper()) == member
    # The guards' keys hold the values themselves (escaped, readable back).
    items = ddb.client.scan(TableName=ddb.table_name)["Items"]
    guards = {i["entity"]["S"]: set() for i in items if "entity" in i}
    for item in items:
        if item.get("entity", {}).get("S") in ("link", "email"):
            guards[item["entity"]["S"]].add(keys.split(item["pk"]["S"])[-1])
    assert guards["link"] == {"plain", *_ODD_PEOPLE}
    assert guards["email"] == {"plain@acme.test", *(f["email"].lower() for f in _ODD_PEOPLE.values())}
    # Nothing was stored differently from what was read: the next sync changes nothing (R24).
    again = world.sync_now("tenant-a", c)
    assert again.status is RunStatus.COMPLETED
    assert again.applied.created == again.applied.updated == 0
    assert again.planned.created == again.planned.updated == 0


def test_r25_a_record_whose_id_or_email_is_too_long_for_a_key_is_skipped_with_a_reason(ddb, world):
    too_long_id = "z" * 2100  # a partition key holds 2,048 bytes
    too_long_email = "€" * 700 + "@acme.test"  # 2,110 bytes in UTF-8
    world.hr.set(
        employee("ok"),
        employee(too_long_id, email="long-id@acme.test"),
        employee("long-email", email=too_long_email),
    )
    connection = imported(world, "tenant-a")
    c = connection.connection_id
    run = world.last_run("tenant-a", c)
    assert run.status is RunStatus.COMPLETED
    assert run.applied.created == 1 and run.applied.skipped == 2
    assert {(s.hris_id, s.reason) for s in run.skipped} == {
        (too_long_id, "hris_id_too_long"),
        ("long-email", "email_too_long"),
    }
    assert world.member_by_hris("tenant-a", c, "ok").profile.email == "ok@acme.test"
    assert world.members.find_by_link("tenant-a", c, too_long_id) is None
    assert world.members.find_by_email("tenant-a", too_long_email) is None
    # Every run says so again, and still completes.
    again = world.sync_now("tenant-a", c)
    assert again.status is RunStatus.COMPLETED
    assert {s.reason for s in again.skipped} == {"hris_id_too_long", "email_too_long"}


@pytest.mark.parametrize("external_id", ["app|ann #1", None])
def test_r34_concurrent_adds_of_one_app_user_leave_exactly_one_member(ddb, world, external_id):
    needs_atomic_engine(ddb)
    callers = 8
    start = threading.Barrier(callers)

    def add(_: int) -> tuple[str, Outcome]:
        start.wait()
        member, outcome = app_users.add_member(
            world.ports,
            "tenant-a",
            AppUser(email="Ann@App.test", external_id=external_id),
            admin_id="admin-1",
        )
        return member.member_id, outcome

    with ThreadPoolExecutor(callers) as pool:
        answers = list(pool.map(add, range(callers)))

    assert len({member_id for member_id, _ in answers}) == 1
    assert sorted(outcome.value for _, outcome in answers) == ["created"] + ["existing"] * (callers - 1)
    [member] = world.members.iter_all("tenant-a")
    assert (member.member_id, member.external_id) == (answers[0][0], external_id)
    assert world.members.find_by_email("tenant-a", "ann@app.test") == member


def test_r34_a_bulk_import_sent_twice_writes_once(ddb, world):
    users = [AppUser(email=f"user{n}@app.test", external_id=f"u{n}") for n in range(120)]
    written = WrittenItems(ddb.client)

    first = app_users.import_users(world.ports, "tenant-a", users, admin_id="admin-1")

    assert {r.outcome for r in first} == {Outcome.CREATED}
    assert written.items["member"] == 120 and written.items["email"] == 120
    written.items.clear()
    again = app_users.import_users(world.ports, "tenant-a", users, admin_id="admin-1")
    assert {r.outcome for r in again} == {Outcome.EXISTING}
    assert [r.member.member_id for r in again] == [r.member.member_id for r in first]
    assert sum(written.items.values()) == 0


def test_r22_concurrent_connects_of_one_tenant_activate_one_connection(ddb, world):
    """R22 where the race still exists: the local gateway lets one request at a time into the
    admin API (as one Lambda environment does), but deployed, concurrent requests run in
    concurrent environments. The connect service itself, four at once on the real table: one
    connection is made, the others are refused with nothing left behind."""
    needs_atomic_engine(ddb)
    world.hr.set(employee("ann"))
    callers = 4
    start = threading.Barrier(callers)

    def connect(i: int) -> str:
        start.wait()
        try:
            connections.connect(
                world.ports, "tenant-a", provider="fakehr", label=f"racing {i}", credentials=CREDENTIALS
            )
        except ConnectionLimitReached:
            return "refused"
        return "created"

    with ThreadPoolExecutor(callers) as pool:
        answers = sorted(pool.map(connect, range(callers)))

    assert answers == ["created"] + ["refused"] * (callers - 1)
    [made] = world.connections.list_for_tenant("tenant-a")
    assert made.status is ConnectionStatus.ACTIVE
    assert len(world.scheduler.items) == 1
