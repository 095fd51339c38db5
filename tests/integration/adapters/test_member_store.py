"""The member store on both engines (moto and DynamoDB Local): every access pattern, email
uniqueness, optimistic versions, idempotent repeats, paging, corrupt items, tenant isolation."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from adapters_support import (
    CallCounter,
    FlakyClient,
    ScriptedAws,
    Sleeps,
    create,
    member,
    needs_atomic_engine,
    table_for,
    update,
)

from shared.adapters.clients import MAX_ATTEMPTS
from shared.adapters.dynamo import DynamoTable, serialize
from shared.adapters.members import DynamoMemberStore
from shared.domain.models import MemberFlag, MemberSource, MemberStatus
from shared.errors import CorruptItem, InvalidInput, MemberNotFound, Throttled
from shared.ports import MemberQuery, WriteOutcome
from tests.support.contracts import MemberStoreContract


def store_for(ddb, **kwargs) -> DynamoMemberStore:
    return DynamoMemberStore(table_for(ddb, **kwargs))


def outcomes(results) -> list[WriteOutcome]:
    return [r.outcome for r in results]


def test_r05_member_by_id_by_email_case_insensitive_and_by_link(ddb):
    store = store_for(ddb)
    alice = member(hris_id="alice", email="Alice.Smith@Example.com")
    assert outcomes(store.write("t1", [create(alice)])) == [WriteOutcome.APPLIED]

    assert store.get("t1", alice.member_id) == alice
    assert store.find_by_email("t1", "  alice.smith@EXAMPLE.com ") == alice
    assert store.find_by_link("t1", "c1", "alice") == alice
    assert store.find_by_email("t1", "bob@example.com") is None
    assert store.find_by_link("t1", "c1", "bob") is None
    assert store.find_by_link("t1", "c2", "alice") is None
    with pytest.raises(MemberNotFound):
        store.get("t1", "m_missing")
    assert store.get_many("t1", [alice.member_id, "m_missing", alice.member_id]) == {alice.member_id: alice}


def test_members_by_status_by_flag_by_source_and_all(ddb):
    store = store_for(ddb)
    invited = member(hris_id="a")
    active = member(hris_id="b", status=MemberStatus.ACTIVE)
    flagged = member(hris_id="c", status=MemberStatus.ACTIVE, flags=frozenset({MemberFlag.NO_APPROVER}))
    manual = member(hris_id="d", source=MemberSource.MANUAL, member_id="m_manual", status=MemberStatus.ACTIVE)
    store.write("t1", [create(m) for m in (invited, active, flagged, manual)])

    def ids(query: MemberQuery) -> set[str]:
        return {m.member_id for m in store.query("t1", query, limit=200).items}

    assert ids(MemberQuery(status=MemberStatus.INVITED)) == {invited.member_id}
    assert ids(MemberQuery(status=MemberStatus.ACTIVE)) == {active.member_id, flagged.member_id, "m_manual"}
    assert ids(MemberQuery(flag=MemberFlag.NO_APPROVER)) == {flagged.member_id}
    assert ids(MemberQuery(source=MemberSource.MANUAL)) == {"m_manual"}
    assert ids(MemberQuery(source=MemberSource.HRIS)) == {
        invited.member_id,
        active.member_id,
        flagged.member_id,
    }
    assert ids(MemberQuery(status=MemberStatus.ACTIVE, source=MemberSource.HRIS)) == {
        active.member_id,
        flagged.member_id,
    }
    assert ids(MemberQuery(flag=MemberFlag.NO_APPROVER, status=MemberStatus.INVITED)) == set()
    assert ids(MemberQuery()) == {m.member_id for m in (invited, active, flagged, manual)}
    assert {m.member_id for m in store.iter_all("t1")} == ids(MemberQuery())


def test_status_change_moves_the_member_between_index_partitions(ddb):
    store = store_for(ddb)
    m = member(hris_id="a")
    store.write("t1", [create(m)])
    store.write("t1", [update(m, status=MemberStatus.ACTIVE, flags=frozenset({MemberFlag.NO_APPROVER}))])
    assert store.query("t1", MemberQuery(status=MemberStatus.INVITED)).items == ()
    assert [x.member_id for x in store.query("t1", MemberQuery(status=MemberStatus.ACTIVE)).items] == [
        m.member_id
    ]
    assert len(store.query("t1", MemberQuery(flag=MemberFlag.NO_APPROVER)).items) == 1


def test_pagination_cursors_visit_every_member_once(ddb):
    store = store_for(ddb)
    members = [member(hris_id=f"e{i:02d}") for i in range(11)]
    store.write("t1", [create(m) for m in members])
    for query in (
        MemberQuery(),
        MemberQuery(status=MemberStatus.INVITED),
        MemberQuery(source=MemberSource.HRIS),
    ):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = store.query("t1", query, cursor=cursor, limit=4)
            seen += [m.member_id for m in page.items]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted(seen) == sorted(m.member_id for m in members)
        assert len(seen) == len(set(seen))
        assert pages == 3


def test_pagination_with_a_filter_still_fills_pages(ddb):
    store = store_for(ddb)
    hris = [member(hris_id=f"h{i}", status=MemberStatus.ACTIVE) for i in range(5)]
    manual = [
        member(hris_id=f"m{i}", source=MemberSource.MANUAL, member_id=f"m_{i}", status=MemberStatus.ACTIVE)
        for i in range(5)
    ]
    store.write("t1", [create(m) for m in hris + manual])
    query = MemberQuery(status=MemberStatus.ACTIVE, source=MemberSource.MANUAL)
    first = store.query("t1", query, limit=3)
    assert len(first.items) == 3
    second = store.query("t1", query, cursor=first.next_cursor, limit=3)
    assert {m.member_id for m in first.items + second.items} == {m.member_id for m in manual}
    assert second.next_cursor is None


def test_a_cursor_from_another_tenant_or_query_is_refused(ddb):
    store = store_for(ddb)
    store.write("t1", [create(member(hris_id=f"e{i}")) for i in range(3)])
    page = store.query("t1", MemberQuery(), limit=1)
    assert page.next_cursor
    with pytest.raises(InvalidInput):
        store.query("t2", MemberQuery(), cursor=page.next_cursor)
    with pytest.raises(InvalidInput):
        store.query("t1", MemberQuery(status=MemberStatus.INVITED), cursor=page.next_cursor)
    with pytest.raises(InvalidInput):
        store.query("t1", MemberQuery(), cursor="not-a-cursor!")
    with pytest.raises(InvalidInput):
        store.query("t1", MemberQuery(), limit=0)


def test_email_uniqueness_two_concurrent_creates_exactly_one_wins(ddb):
    needs_atomic_engine(ddb)
    store = store_for(ddb)
    first = member(hris_id="x1", email="same@example.com")
    second = member(hris_id="x2", email="SAME@example.com")
    barrier = threading.Barrier(2)

    def attempt(m):
        barrier.wait()
        return store.write("t1", [create(m)])[0]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(attempt, [first, second]))
    assert sorted(r.outcome for r in results) == sorted([WriteOutcome.APPLIED, WriteOutcome.EMAIL_TAKEN])
    winner = next(r for r in results if r.ok)
    loser = next(r for r in results if not r.ok)
    assert loser.conflicting_member_id == winner.member_id
    assert store.find_by_email("t1", "same@example.com").member_id == winner.member_id
    assert len(store.query("t1", MemberQuery()).items) == 1


def test_email_uniqueness_within_one_batch_and_other_writes_still_apply(ddb):
    store = store_for(ddb)
    a = member(hris_id="a", email="dup@example.com")
    b = member(hris_id="b", email="dup@example.com")
    c = member(hris_id="c")
    results = store.write("t1", [create(a), create(b), create(c)])
    assert outcomes(results) == [WriteOutcome.APPLIED, WriteOutcome.EMAIL_TAKEN, WriteOutcome.APPLIED]
    assert results[1].conflicting_member_id == a.member_id


def test_same_email_in_two_tenants_is_allowed_and_tenants_never_see_each_other(ddb):
    store = store_for(ddb)
    one = member("t1", "e1", email="shared@example.com", flags=frozenset({MemberFlag.NO_APPROVER}))
    two = member("t2", "e1", email="shared@example.com", flags=frozenset({MemberFlag.NO_APPROVER}))
    assert outcomes(store.write("t1", [create(one)])) == [WriteOutcome.APPLIED]
    assert outcomes(store.write("t2", [create(two)])) == [WriteOutcome.APPLIED]
    for tenant, mine in (("t1", one), ("t2", two)):
        assert store.find_by_email(tenant, "shared@example.com") == mine
        assert store.find_by_link(tenant, "c1", "e1") == mine
        for query in (
            MemberQuery(),
            MemberQuery(status=MemberStatus.INVITED),
            MemberQuery(flag=MemberFlag.NO_APPROVER),
            MemberQuery(source=MemberSource.HRIS),
        ):
            assert [m.tenant_id for m in store.query(tenant, query).items] == [tenant]
        assert [m.tenant_id for m in store.iter_all(tenant)] == [tenant]
    assert store.get_many("t1", [two.member_id]) == {}
    with pytest.raises(InvalidInput):
        store.write("t1", [create(two)])


def test_version_conflict_on_a_stale_update_and_the_fresh_one_applies(ddb):
    store = store_for(ddb)
    m = member(hris_id="a")
    store.write("t1", [create(m)])
    webhook = update(m, "hook#1", profile=replace(m.profile, job_title="Engineer"))
    assert outcomes(store.write("t1", [webhook])) == [WriteOutcome.APPLIED]
    stale = update(m, "run#7", status=MemberStatus.ACTIVE)
    assert outcomes(store.write("t1", [stale])) == [WriteOutcome.VERSION_CONFLICT]
    current = store.get("t1", m.member_id)
    assert current.version == 2
    assert outcomes(store.write("t1", [update(current, "run#7", status=MemberStatus.ACTIVE)])) == [
        WriteOutcome.APPLIED
    ]
    assert store.get("t1", m.member_id).version == 3


def test_an_update_of_a_missing_member_is_not_found(ddb):
    store = store_for(ddb)
    ghost = member(hris_id="ghost")
    assert outcomes(store.write("t1", [update(ghost)])) == [WriteOutcome.NOT_FOUND]


def test_repeated_chunk_is_already_applied_and_writes_nothing_twice(ddb):
    store = store_for(ddb)
    a, b = member(hris_id="a"), member(hris_id="b")
    chunk = [create(a, "run1#0"), create(b, "run1#1")]
    assert outcomes(store.write("t1", chunk)) == [WriteOutcome.APPLIED] * 2
    assert outcomes(store.write("t1", chunk)) == [WriteOutcome.ALREADY_APPLIED] * 2
    change = [update(a, "run2#0", status=MemberStatus.ACTIVE)]
    assert outcomes(store.write("t1", change)) == [WriteOutcome.APPLIED]
    assert outcomes(store.write("t1", change)) == [WriteOutcome.ALREADY_APPLIED]
    assert store.get("t1", a.member_id).version == 2
    # A create under another action for an existing id is not a repeat.
    assert outcomes(store.write("t1", [create(b, "run9#0")])) == [WriteOutcome.ALREADY_EXISTS]


def test_email_change_moves_the_guard(ddb):
    store = store_for(ddb)
    a = member(hris_id="a", email="old@example.com")
    store.write("t1", [create(a)])
    moved = update(a, profile=replace(a.profile, email="New@example.com"))
    assert outcomes(store.write("t1", [moved])) == [WriteOutcome.APPLIED]
    assert store.find_by_email("t1", "old@example.com") is None
    assert store.find_by_email("t1", "new@example.com").member_id == a.member_id
    b = member(hris_id="b", email="old@example.com")
    assert outcomes(store.write("t1", [create(b)])) == [WriteOutcome.APPLIED]


def test_email_swap_in_one_call_keeps_order(ddb):
    store = store_for(ddb)
    a = member(hris_id="a", email="a@example.com")
    b = member(hris_id="b", email="b@example.com")
    store.write("t1", [create(a), create(b)])
    # a leaves its email for c@; b takes a@ afterwards in the same call.
    a2 = update(a, profile=replace(a.profile, email="c@example.com"))
    b2 = update(b, profile=replace(b.profile, email="a@example.com"))
    assert outcomes(store.write("t1", [a2, b2])) == [WriteOutcome.APPLIED, WriteOutcome.APPLIED]
    assert store.find_by_email("t1", "a@example.com").member_id == b.member_id
    assert store.find_by_email("t1", "b@example.com") is None


def test_r05_a_link_never_duplicates_a_member(ddb):
    store = store_for(ddb)
    linked = member(hris_id="e1")
    store.write("t1", [create(linked)])
    manual = member(hris_id="x", source=MemberSource.MANUAL, member_id="m_manual", email="m@example.com")
    store.write("t1", [create(manual)])
    steal = update(manual, source=MemberSource.HRIS, connection_id="c1", hris_id="e1")
    result = store.write("t1", [steal])[0]
    assert result.outcome is WriteOutcome.ALREADY_EXISTS
    assert result.conflicting_member_id == linked.member_id
    assert store.find_by_link("t1", "c1", "e1").member_id == linked.member_id


def test_relinking_to_a_new_connection_moves_the_link(ddb):
    store = store_for(ddb)
    m = member(hris_id="e1")
    store.write("t1", [create(m)])
    store.write("t1", [update(m, connection_id="c2", hris_id="E-1")])
    assert store.find_by_link("t1", "c1", "e1") is None
    assert store.find_by_link("t1", "c2", "E-1").member_id == m.member_id


def test_writes_are_checked_before_anything_is_sent(ddb):
    store = store_for(ddb)
    a = member(hris_id="a")
    with pytest.raises(InvalidInput):
        store.write("t1", [create(a), create(a, "other")])
    with pytest.raises(InvalidInput):
        store.write("t1", [create(replace(a, version=3))])
    with pytest.raises(InvalidInput):
        store.write("t1", [create(member("t2", "a"))])


def test_corrupted_member_item_is_a_corrupt_item_error_naming_the_key(ddb):
    store = store_for(ddb)
    m = member(hris_id="a")
    store.write("t1", [create(m)])
    item_key = {"pk": {"S": f"T#t1#M#{m.member_id}"}, "sk": {"S": "MEMBER"}}
    item = ddb.client.get_item(TableName=ddb.table_name, Key=item_key)["Item"]
    item["doc"] = {"S": item["doc"]["S"].replace('"status":"invited"', '"status":"vanished"')}
    ddb.client.put_item(TableName=ddb.table_name, Item=item)
    with pytest.raises(CorruptItem) as caught:
        store.get("t1", m.member_id)
    assert f"T#t1#M#{m.member_id}" in str(caught.value)
    assert "status" in str(caught.value)
    with pytest.raises(CorruptItem):
        store.query("t1", MemberQuery())
    for broken in (
        {"pk": "T#t1#M#m_bad", "sk": "MEMBER", "entity": "member", "tenant_id": "t1"},
        {"pk": "T#t1#M#m_bad", "sk": "MEMBER", "entity": "member", "doc": "{not json"},
        {"pk": "T#t1#M#m_bad", "sk": "MEMBER", "entity": "task", "doc": "{}"},
    ):
        ddb.client.put_item(TableName=ddb.table_name, Item=serialize(broken))
        with pytest.raises(CorruptItem) as caught:
            store.get("t1", "m_bad")
        assert "T#t1#M#m_bad" in caught.value.key
        if broken.get("doc") == "{not json":
            assert "unreadable 'doc' document" in str(caught.value)
    # A document that belongs to another key is refused too.
    moved = {**item, "pk": {"S": "T#t1#M#m_elsewhere"}}
    ddb.client.put_item(TableName=ddb.table_name, Item=moved)
    with pytest.raises(CorruptItem):
        store.get("t1", "m_elsewhere")


def test_transaction_sizes_33_creates_or_100_updates_per_request(ddb):
    store = store_for(ddb)
    counter = CallCounter(ddb.client)
    members = [member(hris_id=f"e{i:03d}") for i in range(34)]
    store.write("t1", [create(m) for m in members])
    assert counter.calls["TransactWriteItems"] == 2  # 33 + 1 creates, 3 items each
    counter.calls.clear()
    store.write("t1", [update(m, status=MemberStatus.ACTIVE) for m in members])
    assert counter.calls["TransactWriteItems"] == 1  # 34 single-item updates
    counter.calls.clear()
    assert store.write("t1", []) == []
    assert counter.writes == 0


def test_unprocessed_keys_of_a_batch_get_are_asked_again(ddb):
    members = [member(hris_id=f"e{i}") for i in range(6)]
    store_for(ddb).write("t1", [create(m) for m in members])
    sleeps = Sleeps()
    flaky = store_for(ddb, client=FlakyClient(ddb.client, unprocessed=2), sleeps=sleeps)
    found = flaky.get_many("t1", [m.member_id for m in members])
    assert set(found) == {m.member_id for m in members}
    assert len(sleeps) == 2


def test_throttled_transactions_are_retried_by_botocore_then_raise_throttled(botocore_waits):
    # Given the product's DynamoDB client, and DynamoDB throttling the transaction twice
    aws = ScriptedAws(
        "dynamodb", "TransactWriteItems", ["ProvisionedThroughputExceededException"] * 2 + [None]
    )
    store = DynamoMemberStore(DynamoTable("hris-sync", client=aws.client))
    # Then botocore retries it (backing off each time) and the write is applied
    assert outcomes(store.write("t1", [create(member(hris_id="a"))])) == [WriteOutcome.APPLIED]
    assert aws.sends == 3
    assert len(botocore_waits) == 2
    # And throttling that outlasts botocore's budget is our typed error, after exactly that budget
    aws.answers, aws.sends = ["ProvisionedThroughputExceededException"] * MAX_ATTEMPTS["dynamodb"], 0
    with pytest.raises(Throttled):
        store.write("t1", [create(member(hris_id="b"))])
    assert aws.sends == MAX_ATTEMPTS["dynamodb"] == 4


class TestDynamoMembers(MemberStoreContract):
    """The contract the in-memory fake keeps (tests/support/contracts.py), on both engines."""

    @pytest.fixture
    def members(self, ddb) -> DynamoMemberStore:
        return store_for(ddb)
