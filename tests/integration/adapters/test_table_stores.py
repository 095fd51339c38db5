"""Connections, tasks, audit, runs and the lock on both engines (moto and DynamoDB Local)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from adapters_support import NOW, CallCounter, FlakyClient, Sleeps, needs_atomic_engine, table_for

from shared.adapters import keys
from shared.adapters.connections import DynamoConnectionStore
from shared.adapters.dynamo import serialize
from shared.adapters.lock import DynamoConnectionLock
from shared.adapters.record_stores import DynamoAuditLog, DynamoRunStore, DynamoTaskStore
from shared.domain.models import Actor, Connection, ConnectionStatus, PlanCounts, TaskType, WatchSubscription
from shared.domain.records import AuditEntry, RunStatus, RunTrigger, SyncRun, Task, TaskStatus
from shared.errors import (
    AlreadyExists,
    ConnectionLimitReached,
    ConnectionNotFound,
    CorruptItem,
    InvalidInput,
    KeyTooLong,
    LockHeld,
    LockLost,
    RunNotFound,
    TaskNotFound,
    VersionConflict,
)


def connection(tenant: str = "t1", cid: str = "c1", minutes: int = 0, **kw) -> Connection:
    return Connection(
        connection_id=cid,
        tenant_id=tenant,
        provider="bamboohr",
        label=f"HR {cid}",
        version=1,
        created_at=NOW + timedelta(minutes=minutes),
        **kw,
    )


# --- connections -------------------------------------------------------------------------------
def test_a_tenants_connections_oldest_first_and_by_id(ddb):
    store = DynamoConnectionStore(table_for(ddb))
    store.create(connection(cid="c2", minutes=5), max_active=5)
    store.create(connection(cid="c1"), max_active=5)
    store.create(connection("t2", "c9"), max_active=5)
    assert [c.connection_id for c in store.list_for_tenant("t1")] == ["c1", "c2"]
    assert [c.connection_id for c in store.list_for_tenant("t2")] == ["c9"]
    assert store.get("t1", "c2").label == "HR c2"
    assert store.tenant_of("c9") == "t2"
    with pytest.raises(ConnectionNotFound):
        store.get("t2", "c1")
    with pytest.raises(ConnectionNotFound):
        store.tenant_of("nope")
    with pytest.raises(AlreadyExists):
        store.create(connection(cid="c1"), max_active=5)
    with pytest.raises(InvalidInput):
        store.create(connection(cid="c7").model_copy(update={"version": 0}), max_active=5)


def test_the_renewal_sweep_finds_connections_with_a_subscription_across_tenants(ddb):
    store = DynamoConnectionStore(table_for(ddb))
    url = "https://api.example/prod/webhooks/c1"
    held = WatchSubscription(id="sub-1", expires_at=NOW + timedelta(days=2), resource="users")
    store.create(connection(cid="c1"), max_active=5)
    store.create(connection("t2", "c2"), max_active=5)
    store.create(connection("t2", "c3"), max_active=5)
    assert store.list_subscribed() == []

    c1 = store.get("t1", "c1")
    store.save(
        c1.model_copy(update={"version": 2, "subscription": held, "notification_url": url}),
        expected_version=1,
    )
    c2 = store.get("t2", "c2")  # wants one (its subscribe failed): the sweep makes it
    store.save(c2.model_copy(update={"version": 2, "notification_url": url}), expected_version=1)
    assert sorted(store.list_subscribed()) == [("t1", "c1"), ("t2", "c2")]

    renewed = held.model_copy(update={"expires_at": NOW + timedelta(days=3)})
    store.save(
        store.get("t1", "c1").model_copy(update={"version": 3, "subscription": renewed}), expected_version=2
    )
    gone = store.get("t2", "c2").model_copy(update={"version": 3, "status": ConnectionStatus.DISCONNECTED})
    store.save(gone, expected_version=2)
    assert store.list_subscribed() == [("t1", "c1")]


def test_r22_connection_limit_holds_under_concurrent_connects(ddb):
    needs_atomic_engine(ddb)
    store = DynamoConnectionStore(table_for(ddb))
    barrier = threading.Barrier(4)

    def connect(i: int) -> str:
        barrier.wait()
        try:
            store.create(connection(cid=f"c{i}"), max_active=2)
        except ConnectionLimitReached:
            return "refused"
        return "created"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(connect, range(4)))
    assert sorted(results) == ["created", "created", "refused", "refused"]


def test_r22_disconnecting_frees_a_slot_and_saves_are_versioned(ddb):
    store = DynamoConnectionStore(table_for(ddb))
    store.create(connection(cid="c1"), max_active=1)
    with pytest.raises(ConnectionLimitReached):
        store.create(connection(cid="c2"), max_active=1)
    first = store.get("t1", "c1")
    gone = first.model_copy(update={"status": ConnectionStatus.DISCONNECTED, "version": 2})
    store.save(gone, expected_version=1)
    with pytest.raises(VersionConflict):
        store.save(first.model_copy(update={"label": "late", "version": 2}), expected_version=1)
    store.create(connection(cid="c2"), max_active=1)
    assert store.get("t1", "c1").status is ConnectionStatus.DISCONNECTED
    with pytest.raises(ConnectionNotFound):
        store.save(connection(cid="zz").model_copy(update={"version": 2}), expected_version=1)


def _activated(draft: Connection) -> Connection:
    return draft.model_copy(update={"status": ConnectionStatus.ACTIVE, "version": draft.version + 1})


def test_r22_r32_drafts_take_no_slot_and_their_activation_is_held_to_the_limit(ddb):
    store = DynamoConnectionStore(table_for(ddb))
    store.create(connection(cid="c1"), max_active=1)
    # Drafts are stored past the limit: they are not counted ...
    store.create(connection(cid="d1", status=ConnectionStatus.DRAFT), max_active=1)
    store.create(connection(cid="d2", status=ConnectionStatus.DRAFT), max_active=1)
    # ... until one is activated, in the same transaction as the count.
    with pytest.raises(ConnectionLimitReached):
        store.save(_activated(store.get("t1", "d1")), expected_version=1, max_active=1)
    assert store.get("t1", "d1").status is ConnectionStatus.DRAFT
    # An activation must name the limit.
    with pytest.raises(InvalidInput):
        store.save(_activated(store.get("t1", "d1")), expected_version=1)
    # A disconnected draft frees nothing (it took nothing); a disconnected active one does.
    gone = store.get("t1", "d2").model_copy(update={"status": ConnectionStatus.DISCONNECTED, "version": 2})
    store.save(gone, expected_version=1)
    with pytest.raises(ConnectionLimitReached):
        store.save(_activated(store.get("t1", "d1")), expected_version=1, max_active=1)
    first = store.get("t1", "c1")
    store.save(
        first.model_copy(update={"status": ConnectionStatus.DISCONNECTED, "version": 2}), expected_version=1
    )
    store.save(_activated(store.get("t1", "d1")), expected_version=1, max_active=1)
    assert store.get("t1", "d1").status is ConnectionStatus.ACTIVE


def test_r22_r32_concurrent_activations_of_drafts_never_pass_the_limit(ddb):
    needs_atomic_engine(ddb)
    store = DynamoConnectionStore(table_for(ddb))
    for i in range(4):
        store.create(connection(cid=f"d{i}", status=ConnectionStatus.DRAFT), max_active=2)
    barrier = threading.Barrier(4)

    def activate(i: int) -> str:
        draft = store.get("t1", f"d{i}")
        barrier.wait()
        try:
            store.save(_activated(draft), expected_version=1, max_active=2)
        except ConnectionLimitReached:
            return "refused"
        return "activated"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(activate, range(4)))
    assert sorted(results) == ["activated", "activated", "refused", "refused"]


def test_corrupted_connection_is_named(ddb):
    store = DynamoConnectionStore(table_for(ddb))
    ddb.client.put_item(
        TableName=ddb.table_name,
        Item=serialize({"pk": "T#t1", "sk": "CONN#c1", "entity": "connection", "tenant_id": "t1"}),
    )
    with pytest.raises(CorruptItem) as caught:
        store.get("t1", "c1")
    assert "CONN#c1" in str(caught.value)


def test_r25_ids_with_separators_are_stored_as_they_are_and_forge_no_other_key(ddb):
    store = DynamoConnectionStore(table_for(ddb))
    store.create(connection("t1", "c1"), max_active=5)
    store.create(connection("t1#CONN#c1", "c#1"), max_active=5)
    assert [c.connection_id for c in store.list_for_tenant("t1#CONN#c1")] == ["c#1"]
    assert [c.connection_id for c in store.list_for_tenant("t1")] == ["c1"]
    assert store.tenant_of("c#1") == "t1#CONN#c1"
    with pytest.raises(ConnectionNotFound):
        store.get("t1#CONN#c1", "c1")
    with pytest.raises(ConnectionNotFound):
        store.get("t1", "c#1")
    with pytest.raises(KeyTooLong):
        store.get("t1", "c" * 1100)  # a sort key holds 1,024 bytes: bad input, not a crash


# --- tasks -------------------------------------------------------------------------------------
def task(tid: str, kind: TaskType = TaskType.ONBOARDING, minutes: int = 0, tenant: str = "t1") -> Task:
    return Task(
        task_id=tid,
        tenant_id=tenant,
        member_id=f"m_{tid}",
        type=kind,
        reason="created",
        opened_at=NOW + timedelta(minutes=minutes),
    )


def test_r26_tasks_open_once_and_list_by_type_and_status_newest_first(ddb):
    store = DynamoTaskStore(table_for(ddb))
    tasks = [task("a", minutes=1), task("b", TaskType.OFFBOARDING, minutes=2), task("c", minutes=3)]
    assert store.open(tasks) == [True, True, True]
    assert store.open([*tasks, task("d", minutes=4), task("d", minutes=4)]) == [
        False,
        False,
        False,
        True,
        False,
    ]
    store.open([task("x", tenant="t2")])

    def ids(**kw) -> list[str]:
        return [t.task_id for t in store.query("t1", **kw).items]

    assert ids() == ["d", "c", "b", "a"]
    assert ids(type=TaskType.ONBOARDING, status=TaskStatus.OPEN) == ["d", "c", "a"]
    assert ids(type=TaskType.OFFBOARDING) == ["b"]
    done = store.complete("t1", "c", by="admin-1", at=NOW + timedelta(hours=1))
    assert done.status is TaskStatus.DONE and done.completed_by == "admin-1"
    assert store.complete("t1", "c", by="admin-2", at=NOW) == done
    assert ids(status=TaskStatus.OPEN) == ["d", "b", "a"]
    assert ids(status=TaskStatus.DONE) == ["c"]
    assert ids(type=TaskType.ONBOARDING, status=TaskStatus.DONE) == ["c"]
    with pytest.raises(TaskNotFound):
        store.complete("t1", "x", by="a", at=NOW)
    with pytest.raises(TaskNotFound):
        store.get("t2", "a")


def test_tasks_page_with_cursors(ddb):
    store = DynamoTaskStore(table_for(ddb))
    store.open([task(f"t{i}", minutes=i) for i in range(7)])
    first = store.query("t1", status=TaskStatus.OPEN, limit=4)
    second = store.query("t1", status=TaskStatus.OPEN, limit=4, cursor=first.next_cursor)
    assert [t.task_id for t in first.items + second.items] == [f"t{i}" for i in range(6, -1, -1)]
    assert second.next_cursor is None
    with pytest.raises(InvalidInput):
        store.query("t2", status=TaskStatus.OPEN, cursor=first.next_cursor)


# --- audit -------------------------------------------------------------------------------------
def entry(eid: str, member_id: str = "m1", minutes: int = 0, tenant: str = "t1") -> AuditEntry:
    return AuditEntry(
        entry_id=eid,
        tenant_id=tenant,
        member_id=member_id,
        at=NOW + timedelta(minutes=minutes),
        actor=Actor.SYNC,
        actor_id="run1",
        action="update",
        before={"job_title": "Dev", "score": 1.5},
        after={"job_title": "Lead", "score": 2.25},
        run_id="run1",
    )


def test_audit_trail_per_member_and_per_tenant_newest_first_idempotent(ddb):
    log = DynamoAuditLog(table_for(ddb))
    entries = [entry(f"e{i}", member_id="m1" if i % 2 else "m2", minutes=i) for i in range(6)]
    log.append(entries)
    log.append(entries)  # a repeated chunk writes each entry once
    log.append([entry("other", tenant="t2")])
    trail = log.query("t1", member_id="m1").items
    assert [e.entry_id for e in trail] == ["e5", "e3", "e1"]
    assert trail[0].after == {"job_title": "Lead", "score": 2.25}
    assert [e.entry_id for e in log.query("t1").items] == [f"e{i}" for i in range(5, -1, -1)]
    page = log.query("t1", limit=4)
    rest = log.query("t1", limit=4, cursor=page.next_cursor)
    assert len(page.items) == 4 and len(rest.items) == 2 and rest.next_cursor is None
    assert [e.entry_id for e in log.query("t2").items] == ["other"]


def test_unprocessed_items_are_resent_with_backoff(ddb):
    sleeps = Sleeps()
    flaky = FlakyClient(ddb.client, unprocessed=3)
    log = DynamoAuditLog(table_for(ddb, client=flaky, sleeps=sleeps))
    log.append([entry(f"e{i:02d}", minutes=i) for i in range(30)])
    assert len(log.query("t1", limit=200).items) == 30
    assert len(sleeps) == 3
    assert sleeps == sorted(sleeps)  # backoff grows


# --- runs --------------------------------------------------------------------------------------
def run(rid: str, minutes: int = 0, connection_id: str = "c1", tenant: str = "t1") -> SyncRun:
    return SyncRun(
        run_id=rid,
        tenant_id=tenant,
        connection_id=connection_id,
        trigger=RunTrigger.SCHEDULE,
        started_at=NOW + timedelta(minutes=minutes),
        version=1,
    )


def test_a_connections_runs_newest_first_and_saves_are_versioned(ddb):
    store = DynamoRunStore(table_for(ddb))
    for i in range(5):
        store.create(run(f"r{i}", minutes=i))
    store.create(run("other", connection_id="c2"))
    with pytest.raises(AlreadyExists):
        store.create(run("r1"))
    with pytest.raises(InvalidInput):
        store.create(run("r9").model_copy(update={"version": 0}))
    page = store.list_for_connection("t1", "c1", limit=3)
    rest = store.list_for_connection("t1", "c1", limit=3, cursor=page.next_cursor)
    assert [r.run_id for r in page.items + rest.items] == ["r4", "r3", "r2", "r1", "r0"]
    stored = store.get("t1", "r2")
    finished = stored.model_copy(update={"status": RunStatus.COMPLETED, "finished_at": NOW, "version": 2})
    store.save(finished, expected_version=1)
    with pytest.raises(VersionConflict):
        store.save(stored.model_copy(update={"version": 2}), expected_version=1)
    with pytest.raises(RunNotFound):
        store.save(run("ghost").model_copy(update={"version": 2}), expected_version=1)
    assert store.get("t1", "r2").status is RunStatus.COMPLETED
    with pytest.raises(RunNotFound):
        store.get("t2", "r2")


def test_record_chunk_adds_counts_once_even_from_parallel_chunks(ddb):
    needs_atomic_engine(ddb)
    store = DynamoRunStore(table_for(ddb))
    store.create(run("r1"))
    barrier = threading.Barrier(4)

    def record(chunk: int):
        barrier.wait()
        return store.record_chunk("t1", "r1", chunk, PlanCounts(created=10, tasks=10))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(record, range(4)))
    again = store.record_chunk("t1", "r1", 2, PlanCounts(created=10, tasks=10))
    assert again.applied.created == 40
    assert again.chunks_done == frozenset({0, 1, 2, 3})
    assert again.progress.chunks_applied == 4
    assert again.version == 5
    with pytest.raises(RunNotFound):
        store.record_chunk("t1", "ghost", 0, PlanCounts())


# --- the lock (R29) ----------------------------------------------------------------------------
def test_r29_lock_is_a_lease_held_renewed_and_released(ddb):
    lock = DynamoConnectionLock(table_for(ddb))
    ttl = timedelta(minutes=15)
    lease = lock.acquire("t1", "c1", "run1", NOW, ttl)
    assert lease.expires_at == NOW + ttl
    with pytest.raises(LockHeld) as held:
        lock.acquire("t1", "c1", "run2", NOW + timedelta(minutes=5), ttl)
    assert held.value.holder == "run1"
    assert lock.acquire("t1", "c1", "run1", NOW + timedelta(minutes=1), ttl).holder == "run1"  # renew
    lock.acquire("t2", "c1", "run9", NOW, ttl)  # another tenant's connection is another lock
    renewed = lock.renew(lease, NOW + timedelta(minutes=10), ttl)
    assert lock.current("t1", "c1", NOW + timedelta(minutes=20)) == renewed
    lock.release(renewed)
    assert lock.current("t1", "c1", NOW) is None
    lock.release(renewed)  # releasing twice does nothing


def test_r29_an_expired_lease_is_stolen_and_the_old_holder_loses_it(ddb):
    lock = DynamoConnectionLock(table_for(ddb))
    ttl = timedelta(minutes=15)
    old = lock.acquire("t1", "c1", "run1", NOW, ttl)
    later = NOW + ttl + timedelta(seconds=1)
    assert lock.current("t1", "c1", later) is None
    new = lock.acquire("t1", "c1", "run2", later, ttl)
    assert new.holder == "run2"
    with pytest.raises(LockLost):
        lock.renew(old, later, ttl)
    lock.release(old)  # not the holder any more: nothing happens
    assert lock.current("t1", "c1", later).holder == "run2"


def test_a_token_refresh_lease_is_its_own_item_beside_the_sync_lock(ddb):
    table = table_for(ddb)
    sync_lock = DynamoConnectionLock(table)
    token_lock = DynamoConnectionLock(table, sort_key=keys.token_lease_sk)
    ttl = timedelta(minutes=1)
    sync_lock.acquire("t1", "c1", "run1", NOW, ttl)
    refresh = token_lock.acquire("t1", "c1", "refresh_1", NOW, ttl)  # a sync's refresh takes it
    with pytest.raises(LockHeld):
        token_lock.acquire("t1", "c1", "refresh_2", NOW, ttl)
    token_lock.release(refresh)
    assert token_lock.current("t1", "c1", NOW) is None
    assert sync_lock.current("t1", "c1", NOW).holder == "run1"  # untouched by the token lease


def test_no_change_writes_nothing(ddb):
    table = table_for(ddb)
    counter = CallCounter(ddb.client)
    DynamoAuditLog(table).append([])
    assert DynamoTaskStore(table).open([]) == []
    assert counter.writes == 0
