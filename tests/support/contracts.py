"""Behaviour every implementation of the stateful ports must show, as reusable test classes.

The in-memory fakes run these in ``tests/unit/services/test_fakes_contract.py``; an adapter's
integration tests subclass the same classes and override the fixture that builds the store::

    class TestDynamoMembers(MemberStoreContract):
        @pytest.fixture
        def members(self, table): return DynamoMemberStore(table.name, client=table.client)

so the fakes the service tests rely on and the real adapters cannot drift apart.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.domain.models import (
    Actor,
    Connection,
    ConnectionStatus,
    Member,
    MemberFlag,
    MemberSource,
    MemberStatus,
    PlanCounts,
    Profile,
    TaskType,
)
from shared.domain.records import AuditEntry, RunStatus, RunTrigger, SyncRun, Task, TaskStatus
from shared.errors import (
    AlreadyExists,
    BlobNotFound,
    ConnectionLimitReached,
    ConnectionNotFound,
    InvalidInput,
    LockHeld,
    LockLost,
    MemberNotFound,
    PortalLinkExpired,
    PortalLinkUsed,
    PortalSessionInvalid,
    RunNotFound,
    SecretNotFound,
    TaskNotFound,
    VersionConflict,
)
from shared.ports import (
    PENDING_LIST,
    AuditLog,
    BlobStore,
    ConnectionLock,
    ConnectionStore,
    GuardState,
    MemberQuery,
    MemberStore,
    MemberWrite,
    PendingEmployee,
    PendingWebhooks,
    PortalIntent,
    PortalLink,
    PortalSession,
    PortalStore,
    RunStore,
    Scheduler,
    SecretStore,
    TaskStore,
    WebhookGuardStore,
    WriteOutcome,
    held_list,
)
from shared.providers.base import Credentials, Secret

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
A, B = "tenant-a", "tenant-b"


def new_member(tenant: str, member_id: str, email: str | None, **fields: Any) -> Member:
    return Member(
        member_id=member_id,
        tenant_id=tenant,
        source=fields.pop("source", MemberSource.HRIS),
        status=fields.pop("status", MemberStatus.ACTIVE),
        profile=Profile(email=email, first_name=member_id),
        version=1,
        **fields,
    )


def create(store: MemberStore, member: Member, key: str = "k") -> WriteOutcome:
    [result] = store.write(member.tenant_id, [MemberWrite(member=member, previous=None, action_key=key)])
    return result.outcome


def update(store: MemberStore, previous: Member, key: str, **changes: Any) -> tuple[Member, WriteOutcome]:
    after = replace(previous, **{**changes, "version": previous.version + 1})
    [result] = store.write(previous.tenant_id, [MemberWrite(member=after, previous=previous, action_key=key)])
    return after, result.outcome


class MemberStoreContract:
    @pytest.fixture
    def members(self) -> MemberStore:
        raise NotImplementedError

    def test_create_then_get_and_find_by_email_case_insensitively_and_by_link(
        self, members: MemberStore
    ) -> None:
        m = new_member(A, "m1", "Ann@Acme.Test", connection_id="c1", hris_id="h1")
        assert create(members, m) is WriteOutcome.APPLIED
        assert members.get(A, "m1") == m
        assert members.find_by_email(A, "ann@acme.test") == m
        assert members.find_by_email(A, " ANN@ACME.TEST ") == m
        assert members.find_by_link(A, "c1", "h1") == m
        assert members.find_by_link(A, "c1", "h2") is None
        assert members.get_many(A, ["m1", "nope"]) == {"m1": m}

    def test_emails_are_unique_per_tenant(self, members: MemberStore) -> None:
        assert create(members, new_member(A, "m1", "ann@acme.test")) is WriteOutcome.APPLIED
        [taken] = members.write(
            A, [MemberWrite(member=new_member(A, "m2", "ANN@acme.test"), previous=None, action_key="k2")]
        )
        assert taken.outcome is WriteOutcome.EMAIL_TAKEN
        with pytest.raises(MemberNotFound):
            members.get(A, "m2")
        # Another tenant may use the same email.
        assert create(members, new_member(B, "m2", "ann@acme.test")) is WriteOutcome.APPLIED

    def test_a_create_of_an_existing_id_reports_already_exists_or_already_applied(
        self, members: MemberStore
    ) -> None:
        m = new_member(A, "m1", "ann@acme.test")
        assert create(members, m, key="k1") is WriteOutcome.APPLIED
        assert create(members, m, key="k1") is WriteOutcome.ALREADY_APPLIED
        assert create(members, m, key="other") is WriteOutcome.ALREADY_EXISTS

    def test_updates_are_conditional_on_the_version_and_repeats_are_recognised(
        self, members: MemberStore
    ) -> None:
        m = new_member(A, "m1", "ann@acme.test")
        create(members, m)
        v2, outcome = update(members, m, "u1", role="admin")
        assert outcome is WriteOutcome.APPLIED
        assert members.get(A, "m1").version == 2
        # The same action again (a retried batch): recognised, nothing done.
        _, again = update(members, m, "u1", role="admin")
        assert again is WriteOutcome.ALREADY_APPLIED
        # Another action computed from the stale state: a conflict.
        _, stale = update(members, m, "u2", role="owner")
        assert stale is WriteOutcome.VERSION_CONFLICT
        assert members.get(A, "m1") == v2

    def test_an_update_of_a_missing_member_is_not_found(self, members: MemberStore) -> None:
        _, outcome = update(members, new_member(A, "ghost", "g@acme.test"), "u1", role="x")
        assert outcome is WriteOutcome.NOT_FOUND

    def test_a_changed_email_moves_the_guard(self, members: MemberStore) -> None:
        m = new_member(A, "m1", "old@acme.test")
        create(members, m)
        moved, outcome = update(members, m, "u1", profile=Profile(email="new@acme.test"))
        assert outcome is WriteOutcome.APPLIED
        assert members.find_by_email(A, "old@acme.test") is None
        assert members.find_by_email(A, "new@acme.test") == moved
        assert create(members, new_member(A, "m2", "old@acme.test")) is WriteOutcome.APPLIED
        _, taken = update(members, moved, "u2", profile=Profile(email="OLD@acme.test"))
        assert taken is WriteOutcome.EMAIL_TAKEN

    def test_one_failed_write_does_not_fail_the_batch(self, members: MemberStore) -> None:
        create(members, new_member(A, "m0", "taken@acme.test"))
        batch = [
            MemberWrite(member=new_member(A, f"m{i}", f"p{i}@acme.test"), previous=None, action_key=f"k{i}")
            for i in range(1, 30)
        ]
        batch.append(
            MemberWrite(member=new_member(A, "m99", "taken@acme.test"), previous=None, action_key="k99")
        )
        results = members.write(A, batch)
        assert [r.member_id for r in results] == [w.member.member_id for w in batch]
        assert [r.outcome for r in results].count(WriteOutcome.APPLIED) == 29
        assert results[-1].outcome is WriteOutcome.EMAIL_TAKEN

    def test_two_writes_for_one_member_in_a_batch_are_refused(self, members: MemberStore) -> None:
        m = new_member(A, "m1", "a@acme.test")
        with pytest.raises(InvalidInput):
            members.write(A, [MemberWrite(m, None, "k1"), MemberWrite(m, None, "k2")])

    def test_query_filters_and_pages_with_an_opaque_cursor(self, members: MemberStore) -> None:
        for i in range(7):
            status = MemberStatus.QUEUED if i % 2 else MemberStatus.ACTIVE
            flags = frozenset({MemberFlag.NO_APPROVER}) if i < 3 else frozenset()
            create(members, new_member(A, f"m{i}", f"p{i}@acme.test", status=status, flags=flags))
        create(members, new_member(A, "manual", "x@acme.test", source=MemberSource.MANUAL))
        create(members, new_member(B, "b1", "p1@acme.test", status=MemberStatus.QUEUED))
        seen: list[str] = []
        cursor = None
        while True:
            page = members.query(A, MemberQuery(status=MemberStatus.QUEUED), cursor=cursor, limit=2)
            seen.extend(m.member_id for m in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted(seen) == ["m1", "m3", "m5"]
        flagged = members.query(A, MemberQuery(flag=MemberFlag.NO_APPROVER), limit=50).items
        assert sorted(m.member_id for m in flagged) == ["m0", "m1", "m2"]
        manual = members.query(A, MemberQuery(source=MemberSource.MANUAL), limit=50).items
        assert [m.member_id for m in manual] == ["manual"]
        assert len(list(members.iter_all(A))) == 8
        with pytest.raises(InvalidInput):
            members.query(A, MemberQuery(), cursor="not-a-cursor", limit=2)

    def test_r34_external_ids_are_unique_per_tenant_and_found_exactly(self, members: MemberStore) -> None:
        odd = "auth0|Ann #1 / 100%"  # characters that must neither clash with a key nor be refused
        ann = new_member(A, "m1", "ann@acme.test", source=MemberSource.MANUAL, external_id=odd)
        assert create(members, ann) is WriteOutcome.APPLIED
        assert members.find_by_external_id(A, odd) == ann
        assert members.find_by_external_id(A, odd.upper()) is None  # exact, not case-insensitive
        assert members.find_by_external_id(B, odd) is None
        [taken] = members.write(
            A, [MemberWrite(new_member(A, "m2", "bob@acme.test", external_id=odd), None, "k2")]
        )
        assert (taken.outcome, taken.conflicting_member_id) == (WriteOutcome.EXTERNAL_ID_TAKEN, "m1")
        with pytest.raises(MemberNotFound):
            members.get(A, "m2")
        assert create(members, new_member(B, "m2", "ann@acme.test", external_id=odd)) is WriteOutcome.APPLIED
        # Setting an external id on a member that had none claims it; changing it moves the guard.
        bob = new_member(A, "m3", "bob@acme.test")
        create(members, bob)
        _, refused = update(members, bob, "u1", external_id=odd)
        assert refused is WriteOutcome.EXTERNAL_ID_TAKEN
        bob2, outcome = update(members, bob, "u2", external_id="app-bob")
        assert outcome is WriteOutcome.APPLIED
        _, outcome = update(members, bob2, "u3", external_id="app-bob-2")
        assert outcome is WriteOutcome.APPLIED
        assert members.find_by_external_id(A, "app-bob") is None
        assert members.find_by_external_id(A, "app-bob-2") is not None
        assert (
            create(members, new_member(A, "m4", "cy@acme.test", external_id="app-bob"))
            is WriteOutcome.APPLIED
        )

    def test_r34_find_many_by_emails_and_external_ids(self, members: MemberStore) -> None:
        for i in range(150):  # more than one batch of guard reads
            create(members, new_member(A, f"m{i}", f"p{i}@acme.test", external_id=f"u{i}"), key=f"k{i}")
        found = members.find_many(
            A,
            emails=["P1@Acme.test", "p149@acme.test", "nobody@acme.test", "x" * 3000 + "@acme.test"],
            external_ids=[f"u{i}" for i in range(0, 150, 2)] + ["nobody", "y" * 3000],
        )
        assert {k: m.member_id for k, m in found.by_email.items()} == {
            "p1@acme.test": "m1",
            "p149@acme.test": "m149",
        }
        assert {k: m.member_id for k, m in found.by_external_id.items()} == {
            f"u{i}": f"m{i}" for i in range(0, 150, 2)
        }
        assert members.find_many(B, emails=["p1@acme.test"], external_ids=["u1"]).by_email == {}

    def test_r34_query_by_email_external_id_and_text(self, members: MemberStore) -> None:
        ann = replace(
            new_member(A, "m1", "Ann.Lee@Acme.test", external_id="u-1", source=MemberSource.MANUAL),
            profile=Profile(first_name="Ann", last_name="Lée", email="Ann.Lee@Acme.test"),
        )
        create(members, ann)
        for i in range(2, 8):
            create(members, new_member(A, f"m{i}", f"p{i}@other.test", external_id=f"u-{i}"), key=f"k{i}")
        create(members, new_member(B, "b1", "ann.lee@acme.test", external_id="u-1"))

        def ids(query: MemberQuery, limit: int = 50) -> list[str]:
            return [m.member_id for m in members.query(A, query, limit=limit).items]

        assert ids(MemberQuery(email=" ANN.LEE@acme.TEST")) == ["m1"]
        assert ids(MemberQuery(email="ann.lee@acme.test", source=MemberSource.HRIS)) == []
        assert ids(MemberQuery(external_id="u-1")) == ["m1"]
        assert ids(MemberQuery(external_id="U-1")) == []
        assert ids(MemberQuery(external_id="u-3", email="p3@other.test")) == ["m3"]
        assert ids(MemberQuery(external_id="u-3", email="p4@other.test")) == []
        assert ids(MemberQuery(text="ann lée")) == ["m1"]
        assert ids(MemberQuery(text="LÉE")) == ["m1"]
        assert ids(MemberQuery(text="@OTHER.test")) == [f"m{i}" for i in range(2, 8)]
        assert ids(MemberQuery(text="other", source=MemberSource.MANUAL)) == []
        with pytest.raises(InvalidInput):
            members.query(A, MemberQuery(email="ann.lee@acme.test"), cursor="anything", limit=5)
        seen: list[str] = []
        cursor = None
        while True:
            page = members.query(A, MemberQuery(text="other.test"), cursor=cursor, limit=2)
            assert len(page.items) <= 2
            seen.extend(m.member_id for m in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [f"m{i}" for i in range(2, 8)]

    def test_tenants_never_see_each_other(self, members: MemberStore) -> None:
        create(members, new_member(A, "m1", "ann@acme.test", connection_id="c1", hris_id="h1"))
        with pytest.raises(MemberNotFound):
            members.get(B, "m1")
        assert members.find_by_email(B, "ann@acme.test") is None
        assert members.find_by_link(B, "c1", "h1") is None
        assert members.get_many(B, ["m1"]) == {}
        assert list(members.iter_all(B)) == []


def new_connection(tenant: str, connection_id: str, **fields: Any) -> Connection:
    return Connection(
        connection_id=connection_id, tenant_id=tenant, provider="bamboohr", label="HR", version=1, **fields
    )


class ConnectionStoreContract:
    @pytest.fixture
    def connections(self) -> ConnectionStore:
        raise NotImplementedError

    def test_create_get_list_and_the_r22_limit(self, connections: ConnectionStore) -> None:
        connections.create(new_connection(A, "c1"), max_active=1)
        stored = connections.get(A, "c1")
        assert stored.version == 1
        with pytest.raises(ConnectionLimitReached):
            connections.create(new_connection(A, "c2"), max_active=1)
        connections.create(new_connection(B, "c2"), max_active=1)
        assert [c.connection_id for c in connections.list_for_tenant(A)] == ["c1"]
        with pytest.raises(AlreadyExists):
            connections.create(new_connection(A, "c1"), max_active=5)
        with pytest.raises(ConnectionNotFound):
            connections.get(B, "c1")
        # Webhooks find the tenant from the connection id alone.
        assert connections.tenant_of("c1") == A
        assert connections.tenant_of("c2") == B
        with pytest.raises(ConnectionNotFound):
            connections.tenant_of("nope")

    def test_the_renewal_sweep_lists_active_connections_wanting_a_subscription(
        self, connections: ConnectionStore
    ) -> None:
        url = "https://api.example/prod/webhooks/x"
        connections.create(new_connection(A, "c1"), max_active=5)
        connections.create(new_connection(B, "c2", status=ConnectionStatus.DRAFT), max_active=5)
        for tenant, cid in ((A, "c1"), (B, "c2")):
            stored = connections.get(tenant, cid)
            connections.save(
                stored.model_copy(update={"version": 2, "notification_url": url}), expected_version=1
            )
        assert connections.list_subscribed() == [(A, "c1")]  # a draft is never swept

    def test_save_is_conditional_and_a_disconnect_frees_a_slot(self, connections: ConnectionStore) -> None:
        connections.create(new_connection(A, "c1"), max_active=1)
        stored = connections.get(A, "c1")
        gone = stored.model_copy(update={"status": ConnectionStatus.DISCONNECTED, "version": 2})
        connections.save(gone, expected_version=1)
        with pytest.raises(VersionConflict):
            connections.save(gone.model_copy(update={"version": 2}), expected_version=1)
        connections.create(new_connection(A, "c2"), max_active=1)
        assert {c.connection_id for c in connections.list_for_tenant(A)} == {"c1", "c2"}


def new_run(tenant: str, run_id: str, connection_id: str = "c1", minute: int = 0) -> SyncRun:
    return SyncRun(
        run_id=run_id,
        tenant_id=tenant,
        connection_id=connection_id,
        trigger=RunTrigger.MANUAL,
        started_at=NOW + timedelta(minutes=minute),
        version=1,
    )


class RunStoreContract:
    @pytest.fixture
    def runs(self) -> RunStore:
        raise NotImplementedError

    def test_runs_are_listed_newest_first_per_connection(self, runs: RunStore) -> None:
        for i in range(5):
            runs.create(new_run(A, f"r{i}", minute=i))
        runs.create(new_run(A, "other", connection_id="c2"))
        runs.create(new_run(B, "b", minute=9))
        first = runs.list_for_connection(A, "c1", limit=3)
        assert [r.run_id for r in first.items] == ["r4", "r3", "r2"]
        assert first.next_cursor is not None
        rest = runs.list_for_connection(A, "c1", cursor=first.next_cursor, limit=3)
        assert [r.run_id for r in rest.items] == ["r1", "r0"]
        with pytest.raises(RunNotFound):
            runs.get(B, "r1")
        with pytest.raises(AlreadyExists):
            runs.create(new_run(A, "r1"))

    def test_save_is_conditional(self, runs: RunStore) -> None:
        runs.create(new_run(A, "r1"))
        stored = runs.get(A, "r1")
        done = stored.model_copy(update={"status": RunStatus.COMPLETED, "version": stored.version + 1})
        runs.save(done, expected_version=stored.version)
        with pytest.raises(VersionConflict):
            runs.save(done, expected_version=stored.version)
        assert runs.get(A, "r1").status is RunStatus.COMPLETED

    def test_record_chunk_adds_counts_once_per_chunk(self, runs: RunStore) -> None:
        runs.create(new_run(A, "r1"))
        runs.record_chunk(A, "r1", 0, PlanCounts(created=2, tasks=2))
        runs.record_chunk(A, "r1", 1, PlanCounts(created=1))
        after = runs.record_chunk(A, "r1", 0, PlanCounts(created=2, tasks=2))
        assert after.applied.created == 3 and after.applied.tasks == 2
        assert after.chunks_done == frozenset({0, 1})
        assert after.progress.chunks_applied == 2
        assert runs.get(A, "r1") == after
        with pytest.raises(RunNotFound):
            runs.record_chunk(B, "r1", 2, PlanCounts())


class LockContract:
    @pytest.fixture
    def lock(self) -> ConnectionLock:
        raise NotImplementedError

    def test_a_lease_keeps_others_out_until_it_expires(self, lock: ConnectionLock) -> None:
        ttl = timedelta(minutes=15)
        lease = lock.acquire(A, "c1", "r1", NOW, ttl)
        assert lease.expires_at == NOW + ttl
        with pytest.raises(LockHeld) as held:
            lock.acquire(A, "c1", "r2", NOW + timedelta(minutes=1), ttl)
        assert held.value.holder == "r1"
        # Other connections and tenants are free.
        lock.acquire(A, "c2", "r2", NOW, ttl)
        lock.acquire(B, "c1", "r2", NOW, ttl)
        # The holder may take it again (renewal); after expiry anyone may take it over.
        lock.acquire(A, "c1", "r1", NOW + timedelta(minutes=2), ttl)
        taken = lock.acquire(A, "c1", "r2", NOW + timedelta(minutes=20), ttl)
        assert lock.current(A, "c1", NOW + timedelta(minutes=20)) == taken
        with pytest.raises(LockLost):
            lock.renew(lease, NOW + timedelta(minutes=21), ttl)

    def test_release_frees_only_the_holders_lock(self, lock: ConnectionLock) -> None:
        ttl = timedelta(minutes=15)
        lease = lock.acquire(A, "c1", "r1", NOW, ttl)
        lock.release(lease.__class__(A, "c1", "someone-else", lease.expires_at))
        assert lock.current(A, "c1", NOW) is not None
        renewed = lock.renew(lease, NOW + timedelta(minutes=10), ttl)
        assert renewed.expires_at == NOW + timedelta(minutes=25)
        lock.release(renewed)
        assert lock.current(A, "c1", NOW) is None
        lock.release(renewed)  # harmless
        assert lock.current(A, "c1", NOW + timedelta(hours=1)) is None


def new_task(tenant: str, task_id: str, minute: int = 0, task_type: TaskType = TaskType.ONBOARDING) -> Task:
    return Task(
        task_id=task_id,
        tenant_id=tenant,
        member_id="m1",
        type=task_type,
        opened_at=NOW + timedelta(minutes=minute),
    )


class TaskStoreContract:
    @pytest.fixture
    def tasks(self) -> TaskStore:
        raise NotImplementedError

    def test_open_is_idempotent_and_complete_marks_done(self, tasks: TaskStore) -> None:
        assert tasks.open([new_task(A, "t1"), new_task(A, "t2", 1, TaskType.OFFBOARDING)]) == [True, True]
        assert tasks.open([new_task(A, "t1")]) == [False]
        done = tasks.complete(A, "t2", by="admin-1", at=NOW)
        assert done.status is TaskStatus.DONE and done.completed_by == "admin-1"
        assert tasks.complete(A, "t2", by="admin-2", at=NOW) == done
        assert [t.task_id for t in tasks.query(A, status=TaskStatus.OPEN).items] == ["t1"]
        assert [t.task_id for t in tasks.query(A, type=TaskType.OFFBOARDING).items] == ["t2"]
        with pytest.raises(TaskNotFound):
            tasks.complete(B, "t1", by="x", at=NOW)
        with pytest.raises(TaskNotFound):
            tasks.get(B, "t1")

    def test_tasks_are_listed_newest_first_in_pages(self, tasks: TaskStore) -> None:
        tasks.open([new_task(A, f"t{i}", i) for i in range(5)])
        first = tasks.query(A, limit=2)
        second = tasks.query(A, limit=2, cursor=first.next_cursor)
        assert [t.task_id for t in (*first.items, *second.items)] == ["t4", "t3", "t2", "t1"]


def new_entry(tenant: str, entry_id: str, member_id: str, minute: int) -> AuditEntry:
    return AuditEntry(
        entry_id=entry_id,
        tenant_id=tenant,
        member_id=member_id,
        at=NOW + timedelta(minutes=minute),
        actor=Actor.SYNC,
        action="update",
        before={"role": None},
        after={"role": "admin"},
        run_id="r1",
    )


class AuditLogContract:
    @pytest.fixture
    def audit(self) -> AuditLog:
        raise NotImplementedError

    def test_entries_are_idempotent_by_id_and_listed_newest_first(self, audit: AuditLog) -> None:
        audit.append([new_entry(A, "e1", "m1", 0), new_entry(A, "e2", "m1", 1), new_entry(A, "e3", "m2", 2)])
        audit.append([new_entry(A, "e1", "m1", 0)])
        assert [e.entry_id for e in audit.query(A, member_id="m1").items] == ["e2", "e1"]
        assert [e.entry_id for e in audit.query(A).items] == ["e3", "e2", "e1"]
        assert audit.query(B).items == ()
        assert audit.query(A, member_id="m1").items[0].after == {"role": "admin"}


class SecretStoreContract:
    @pytest.fixture
    def secrets(self) -> SecretStore:
        raise NotImplementedError

    def test_one_secret_per_connection_put_get_replace_delete(self, secrets: SecretStore) -> None:
        first = Credentials(secrets={"api_key": Secret("k1")}, settings={"subdomain": "acme"})
        second = Credentials(secrets={"api_key": Secret("k2")}, settings={"subdomain": "acme"})
        secrets.put(A, "c1", first)
        secrets.put(A, "c1", second)
        assert secrets.get(A, "c1") == second
        with pytest.raises(SecretNotFound):
            secrets.get(B, "c1")
        secrets.delete(A, "c1")
        secrets.delete(A, "c1")  # idempotent
        with pytest.raises(SecretNotFound) as caught:
            secrets.get(A, "c1")
        assert "k2" not in str(caught.value)


class SchedulerContract:
    @pytest.fixture
    def scheduler(self) -> Scheduler:
        raise NotImplementedError

    def test_invalid_expressions_and_time_zones_are_refused(self, scheduler: Scheduler) -> None:
        payload = {"tenant_id": A, "connection_id": "c1"}
        scheduler.upsert(A, "c1", expression="rate(6 hours)", timezone="UTC", payload=payload)
        scheduler.upsert(
            A, "c1", expression="cron(0 8 ? * MON-FRI *)", timezone="Europe/Berlin", payload=payload
        )
        with pytest.raises(InvalidInput):
            scheduler.upsert(A, "c1", expression="every day", timezone="UTC", payload=payload)
        with pytest.raises(InvalidInput):
            scheduler.upsert(A, "c1", expression="rate(6 hours)", timezone="Mars/Base", payload=payload)
        scheduler.delete(A, "c1")
        scheduler.delete(A, "c1")  # idempotent


class BlobStoreContract:
    @pytest.fixture
    def blobs(self) -> BlobStore:
        raise NotImplementedError

    def test_put_get_delete(self, blobs: BlobStore) -> None:
        blobs.put(f"{A}/c1/runs/r1/pages/000000.json", b"[]")
        assert blobs.get(f"{A}/c1/runs/r1/pages/000000.json") == b"[]"
        with pytest.raises(BlobNotFound):
            blobs.get(f"{A}/c1/runs/r1/pages/000001.json")
        blobs.delete(f"{A}/c1/runs/r1/pages/000000.json")
        blobs.delete(f"{A}/c1/runs/r1/pages/000000.json")
        with pytest.raises(BlobNotFound):
            blobs.get(f"{A}/c1/runs/r1/pages/000000.json")


class PendingWebhooksContract:
    @pytest.fixture
    def pending(self) -> PendingWebhooks:
        raise NotImplementedError

    def test_entries_are_kept_once_per_hr_id_and_read_in_pages(self, pending: PendingWebhooks) -> None:
        odd = "id/with#hash and ünïcode " + "x" * 600  # any id fits: the key is its digest
        ids = [f"e{i:03d}" for i in range(7)] + [odd]
        pending.add(A, "c1", PENDING_LIST, [PendingEmployee(i, "d1", NOW) for i in ids])
        pending.add(
            A, "c1", PENDING_LIST, [PendingEmployee("e000", "d2", NOW, member_id="m0", reason="terminated")]
        )
        seen: list[PendingEmployee] = []
        cursor = None
        while True:
            page = pending.read(A, "c1", PENDING_LIST, cursor=cursor, limit=3)
            seen.extend(page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert sorted(e.hris_id for e in seen) == sorted(ids)
        [first] = [e for e in seen if e.hris_id == "e000"]
        assert (first.token, first.member_id, first.reason, first.added_at) == ("d2", "m0", "terminated", NOW)
        # Lists, connections and tenants are apart.
        assert pending.read(A, "c1", held_list("r1")).items == ()
        assert pending.read(A, "c2", PENDING_LIST).items == ()
        assert pending.read(B, "c1", PENDING_LIST).items == ()

    def test_remove_takes_only_what_was_read_and_discard_takes_all(self, pending: PendingWebhooks) -> None:
        pending.add(A, "c1", PENDING_LIST, [PendingEmployee(i, "d1", NOW) for i in ("ann", "bob", "cyd")])
        read = pending.read(A, "c1", PENDING_LIST).items
        pending.add(A, "c1", PENDING_LIST, [PendingEmployee("bob", "d2", NOW)])  # a newer webhook
        pending.remove(A, "c1", PENDING_LIST, read)
        assert [(e.hris_id, e.token) for e in pending.read(A, "c1", PENDING_LIST).items] == [("bob", "d2")]
        pending.remove(A, "c1", PENDING_LIST, read)  # harmless
        pending.discard(A, "c1", PENDING_LIST, ["bob", "nobody"])
        assert pending.read(A, "c1", PENDING_LIST).items == ()

    def test_a_cursor_of_another_list_is_refused(self, pending: PendingWebhooks) -> None:
        pending.add(A, "c1", PENDING_LIST, [PendingEmployee(f"e{i}", "d", NOW) for i in range(3)])
        cursor = pending.read(A, "c1", PENDING_LIST, limit=1).next_cursor
        assert cursor is not None
        with pytest.raises(InvalidInput):
            pending.read(B, "c1", PENDING_LIST, cursor=cursor)
        with pytest.raises(InvalidInput):
            pending.read(A, "c1", PENDING_LIST, limit=0)


class WebhookGuardStoreContract:
    @pytest.fixture
    def guard(self) -> WebhookGuardStore:
        raise NotImplementedError

    def test_deactivations_are_counted_since_a_time(self, guard: WebhookGuardStore) -> None:
        guard.record_deactivations(A, "c1", ["m1", "m2"], NOW)
        guard.record_deactivations(A, "c1", ["m3"], NOW + timedelta(minutes=30))
        guard.record_deactivations(A, "c2", ["m4"], NOW)
        guard.record_deactivations(B, "c1", ["m5"], NOW)
        assert guard.count_deactivations(A, "c1", NOW) == 3
        assert guard.count_deactivations(A, "c1", NOW + timedelta(minutes=1)) == 1
        assert guard.count_deactivations(A, "c1", NOW + timedelta(hours=1)) == 0
        assert guard.count_deactivations(B, "c1", NOW) == 1

    def test_the_first_hold_wins_until_its_own_decision(self, guard: WebhookGuardStore) -> None:
        assert guard.state(A, "c1") == GuardState()
        assert guard.hold(A, "c1", "r1") == "r1"
        assert guard.hold(A, "c1", "r2") == "r1"
        assert guard.state(B, "c1") == GuardState()
        guard.decide(A, "c1", "r2", NOW)  # not the held run: nothing changes
        assert guard.state(A, "c1") == GuardState(held_run_id="r1")
        guard.decide(A, "c1", "r1", NOW)
        assert guard.state(A, "c1") == GuardState(held_run_id=None, decided_at=NOW)
        assert guard.hold(A, "c1", "r3") == "r3"
        assert guard.state(A, "c1") == GuardState(held_run_id="r3", decided_at=NOW)


class PortalStoreContract:
    """The admin portal's links (single use, minutes) and sessions (hours)."""

    @pytest.fixture
    def portal(self) -> PortalStore:
        raise NotImplementedError

    NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def _link(self, digest: str = "a" * 64, **fields: Any) -> PortalLink:
        values: dict[str, Any] = {
            "token_digest": digest,
            "tenant_id": "tenant-a",
            "intent": PortalIntent.CONNECT,
            "created_by": "backend-1",
            "expires_at": self.NOW + timedelta(minutes=5),
            "return_url": "https://app.example/settings",
            "email": "ada@example.com",
        }
        values.update(fields)
        return PortalLink(**values)

    def _session(self, digest: str = "b" * 64, **fields: Any) -> PortalSession:
        values: dict[str, Any] = {
            "token_digest": digest,
            "tenant_id": "tenant-a",
            "subject": "portal:backend-1",
            "intent": PortalIntent.MANAGE,
            "csrf_token": "c" * 43,
            "expires_at": self.NOW + timedelta(hours=4),
        }
        values.update(fields)
        return PortalSession(**values)

    def test_a_link_is_taken_once_with_everything_it_was_given(self, portal: PortalStore) -> None:
        link = self._link()
        portal.add_link(link)
        assert portal.take_link(link.token_digest, self.NOW) == link
        with pytest.raises(PortalLinkUsed):
            portal.take_link(link.token_digest, self.NOW)

    def test_an_expired_link_is_refused_as_expired_and_stays_unusable(self, portal: PortalStore) -> None:
        link = self._link(expires_at=self.NOW - timedelta(seconds=1))
        portal.add_link(link)
        with pytest.raises(PortalLinkExpired):
            portal.take_link(link.token_digest, self.NOW)
        with pytest.raises(PortalLinkExpired):
            portal.take_link(link.token_digest, self.NOW)

    def test_a_link_never_issued_is_refused(self, portal: PortalStore) -> None:
        with pytest.raises(PortalLinkUsed):
            portal.take_link("d" * 64, self.NOW)

    def test_a_link_digest_cannot_be_stored_twice(self, portal: PortalStore) -> None:
        portal.add_link(self._link())
        with pytest.raises(AlreadyExists):
            portal.add_link(self._link(tenant_id="tenant-b"))

    def test_a_session_is_read_until_it_expires_or_ends(self, portal: PortalStore) -> None:
        session = self._session(email="ada@example.com", return_url="http://127.0.0.1:9/done")
        portal.add_session(session)
        assert portal.session(session.token_digest, self.NOW) == session
        with pytest.raises(PortalSessionInvalid):
            portal.session(session.token_digest, session.expires_at)
        portal.end_session(session.token_digest)
        with pytest.raises(PortalSessionInvalid):
            portal.session(session.token_digest, self.NOW)
        portal.end_session(session.token_digest)  # idempotent

    def test_an_unknown_session_is_invalid(self, portal: PortalStore) -> None:
        with pytest.raises(PortalSessionInvalid):
            portal.session("e" * 64, self.NOW)
