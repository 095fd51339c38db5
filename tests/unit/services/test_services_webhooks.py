"""Webhooks that meet a running full sync (R29) and the webhook guard (R30), through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.models import (
    Connection,
    DeactivationReason,
    EmployeeStatus,
    MemberStatus,
    TaskType,
)
from shared.domain.records import RunStatus, RunTrigger, SyncRun
from shared.errors import EmailRejected, InvalidState, LockHeld
from shared.ports import PENDING_LIST, Lease, PendingEmployee, held_list
from shared.providers.base import ProviderError
from shared.services import full_sync, webhook_apply
from tests.support.world import T, World, employee, hire, imported

# The webhook queue's whole retry budget (infra/constants.py): a record comes back every
# visibility timeout (6 x the worker's 2 minutes) and goes to the dead-letter queue after 10.
QUEUE_MAX_RECEIVES = 10
VISIBILITY_TIMEOUT = timedelta(minutes=12)


def _start_and_fetch(world: World, conn: Connection) -> SyncRun:
    """A full sync that has fetched its snapshot and still holds the lock (plan and apply to come)."""
    run = full_sync.request_sync(world.ports, T, conn.connection_id)
    page, cursor = 0, None
    while True:
        fetched = full_sync.fetch_page(
            world.ports, T, conn.connection_id, run.run_id, page=page, cursor=cursor
        )
        if fetched.done:
            return run
        page, cursor = page + 1, fetched.next_cursor


def _finish(world: World, run: SyncRun) -> SyncRun:
    """The rest of the machine: plan, apply the chunks, finish."""
    t, c, r = run.tenant_id, run.connection_id, run.run_id
    planned = full_sync.plan_run(world.ports, t, c, r)
    for chunk in planned.chunks:
        full_sync.apply_chunk(world.ports, t, c, r, chunk)
    return full_sync.finish_run(world.ports, t, c, r)


def _keep_running(world: World, run: SyncRun, delta: timedelta) -> None:
    """Time passes while the sync works: each of its steps renews the lease."""
    world.clock.advance(delta)
    world.lock.renew(
        Lease(T, run.connection_id, run.run_id, world.clock.now()), world.clock.now(), world.settings.lock_ttl
    )


def _deliver_until_acknowledged(
    world: World, conn: Connection, run: SyncRun, ids: list[str], delivery: str
) -> int:
    """The queue delivers the record until the worker acknowledges it or its receives run out
    (then it is dead-lettered). Returns how many receives it took; QUEUE_MAX_RECEIVES + 1 = dead."""
    for receive in range(1, QUEUE_MAX_RECEIVES + 1):
        try:
            webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ids, delivery)
        except LockHeld:
            _keep_running(world, run, VISIBILITY_TIMEOUT)
            continue
        return receive
    return QUEUE_MAX_RECEIVES + 1


def _title(world: World, conn: Connection, hris_id: str) -> str | None:
    return world.member_by_hris(T, conn.connection_id, hris_id).profile.job_title


# ---------------------------------------------------------------------------------------------
# R29: a webhook that meets a running full sync is applied after it, however long it runs
# ---------------------------------------------------------------------------------------------


def test_r29_a_webhook_during_a_sync_longer_than_the_queues_retry_budget_is_applied_after_it(
    world: World,
) -> None:
    hire(world, "ann", "bob")
    conn = imported(world)
    run = _start_and_fetch(world, conn)  # the snapshot still has the old title
    world.hr.set(employee("ann", job_title="Director"))

    receives = _deliver_until_acknowledged(world, conn, run, ["ann"], "dlv-1")
    # The sync runs on, far past the queue's whole retry budget (10 x 12 minutes).
    for _ in range(3 * QUEUE_MAX_RECEIVES):
        _keep_running(world, run, VISIBILITY_TIMEOUT)
    assert _title(world, conn, "ann") is None  # nothing is applied while the sync runs

    finished = _finish(world, run)

    assert receives == 1  # acknowledged at once: never retried, never dead-lettered
    assert finished.status is RunStatus.COMPLETED
    assert _title(world, conn, "ann") == "Director"
    assert world.pending.ids(T, conn.connection_id, PENDING_LIST) == set()


@pytest.mark.parametrize("ending", ["failed", "partial", "blocked"])
def test_r29_every_end_of_the_sync_applies_the_waiting_webhooks(world: World, ending: str) -> None:
    hire(world, "ann", "bob", "cyd", "dan")
    conn = imported(world, safety={"max_deactivations": 0, "max_deactivation_pct": 0})
    if ending == "partial":
        world.hr.fail_pages[1] = ProviderError("timeout")
    if ending == "blocked":
        world.hr.remove("dan")  # the full sync's plan deactivates dan: the guard holds it (R23)
    run = _start_and_fetch(world, conn)
    world.hr.set(employee("ann", job_title="Director"))
    assert webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["ann"], "dlv-1").deferred == 1

    if ending == "failed":
        ended = full_sync.fail_run(world.ports, T, conn.connection_id, run.run_id, "ProviderFailure: boom")
    else:
        t, c = T, conn.connection_id
        planned = full_sync.plan_run(world.ports, t, c, run.run_id)
        for chunk in () if planned.outcome == "blocked" else planned.chunks:
            full_sync.apply_chunk(world.ports, t, c, run.run_id, chunk)
        ended = (
            world.runs.get(t, run.run_id)
            if planned.outcome == "blocked"
            else full_sync.finish_run(world.ports, t, c, run.run_id)
        )

    assert ended.status.value == ending
    assert _title(world, conn, "ann") == "Director"


def test_r29_webhooks_for_one_employee_during_a_sync_are_kept_once(world: World) -> None:
    hire(world, "ann", "bob")
    conn = imported(world)
    run = _start_and_fetch(world, conn)
    world.hr.set(employee("ann", job_title="Director"))
    for delivery in ("dlv-1", "dlv-2", "dlv-3"):
        webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["ann", "bob"], delivery)
    assert world.pending.ids(T, conn.connection_id, PENDING_LIST) == {"ann", "bob"}
    gets_before = [c for c in world.hr.calls if c[0] == "get"]

    _finish(world, run)

    gets = [c for c in world.hr.calls if c[0] == "get"][len(gets_before) :]
    assert gets == [("get", ("ann", "bob"))]  # one fetch for the drained list
    assert _title(world, conn, "ann") == "Director"


def test_r29_a_sync_that_ends_while_a_webhook_is_being_kept_strands_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync finishes (and drains an empty list) after the worker saw the lock held but before
    its entry landed: the worker's second look at the lock applies the entry itself."""
    hire(world, "ann")
    conn = imported(world)
    run = _start_and_fetch(world, conn)
    world.hr.set(employee("ann", job_title="Director"))
    add = world.pending.add

    def add_after_the_sync_ended(*args: object, **kwargs: object) -> None:
        _finish(world, run)
        add(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(world.pending, "add", add_after_the_sync_ended)

    result = webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["ann"], "dlv-1")

    assert world.runs.get(T, run.run_id).status is RunStatus.COMPLETED
    assert result.deferred == 0 and result.counts.updated == 1
    assert _title(world, conn, "ann") == "Director"


def test_r29_a_drain_that_fails_keeps_the_updates_for_the_next_webhook(world: World) -> None:
    hire(world, "ann", "bob")
    conn = imported(world)
    run = _start_and_fetch(world, conn)
    world.hr.set(employee("ann", job_title="Director"))
    webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["ann"], "dlv-1")
    world.hr.fail_get = ProviderError("the HR system is down")

    finished = _finish(world, run)

    assert finished.status is RunStatus.COMPLETED  # the drain never changes how a sync ended
    assert any(w.startswith("webhook_updates_waiting:") for w in world.runs.get(T, run.run_id).warnings)
    assert world.pending.ids(T, conn.connection_id, PENDING_LIST) == {"ann"}

    world.hr.fail_get = None
    world.hr.set(employee("bob", job_title="Engineer"))
    webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["bob"], "dlv-2")

    assert (_title(world, conn, "ann"), _title(world, conn, "bob")) == ("Director", "Engineer")
    assert world.pending.ids(T, conn.connection_id, PENDING_LIST) == set()


def test_r29_a_newer_webhook_for_an_employee_being_drained_is_kept(world: World) -> None:
    """A drain removes only the entries it read: one rewritten meanwhile waits for the next."""
    hire(world, "ann")
    conn = imported(world)
    stale = PendingEmployee(hris_id="ann", token="dlv-1", added_at=world.clock.now())
    world.pending.add(T, conn.connection_id, PENDING_LIST, [stale])
    world.pending.add(
        T, conn.connection_id, PENDING_LIST, [PendingEmployee("ann", "dlv-2", world.clock.now())]
    )
    world.pending.remove(T, conn.connection_id, PENDING_LIST, [stale])
    assert world.pending.ids(T, conn.connection_id, PENDING_LIST) == {"ann"}


# ---------------------------------------------------------------------------------------------
# R30: the webhook guard
# ---------------------------------------------------------------------------------------------


def _terminate(world: World, conn: Connection, *hris_ids: str) -> list[webhook_apply.WebhookResult]:
    """Each employee's termination arrives as its own webhook (as HiBob sends them)."""
    results = []
    for hris_id in hris_ids:
        world.hr.set(employee(hris_id, status=EmployeeStatus.TERMINATED))
        results.append(
            webhook_apply.apply_webhook(world.ports, T, conn.connection_id, [hris_id], f"term-{hris_id}")
        )
    return results


def _status(world: World, conn: Connection, hris_id: str) -> MemberStatus:
    return world.member_by_hris(T, conn.connection_id, hris_id).status


def _guard_runs(world: World, conn: Connection) -> list[SyncRun]:
    runs = world.runs.list_for_connection(T, conn.connection_id, limit=50).items
    return [r for r in runs if r.trigger is RunTrigger.WEBHOOK_GUARD]


STAFF = [f"e{i:03d}" for i in range(81)]


def test_r30_a_mass_termination_by_webhook_is_held_past_the_thresholds_with_one_email(world: World) -> None:
    hire(world, *STAFF)
    conn = imported(world)  # the default thresholds: 50 deactivations and 20%
    leavers = STAFF[:55]

    results = _terminate(world, conn, *leavers)

    applied = [i for i in leavers if _status(world, conn, i) is MemberStatus.DEACTIVATED]
    assert applied == leavers[:50]
    assert all(_status(world, conn, i) is MemberStatus.INVITED for i in leavers[50:])
    assert [r.held for r in results] == [0] * 50 + [1] * 5
    [held] = _guard_runs(world, conn)
    assert held.status is RunStatus.BLOCKED and held.planned.deactivated == 5
    assert {r.held_run_id for r in results[50:]} == {held.run_id}
    [email] = world.emails("webhook_guard")
    assert email.to == ("boss@acme.test",)
    assert (email.data["run_id"], email.data["deactivations"], email.data["active_members"]) == (
        held.run_id,
        50,
        81,
    )
    assert world.events.types().count("sync.blocked") == 1


def test_r30_a_guard_email_ses_refuses_still_holds_and_is_on_the_held_run(world: World) -> None:
    # Given SES refuses the admin's address (sandbox: unverified recipient)
    world.mailer.refuse(EmailRejected("webhook_guard", "MessageRejected"), to="boss@acme.test")
    hire(world, *STAFF[:10])
    conn = imported(world, safety={"max_deactivations": 2, "max_deactivation_pct": 10})

    # When a mass termination arrives by webhook
    results = _terminate(world, conn, *STAFF[:3])

    # Then the deactivations past the thresholds are held all the same, and the refusal is on the run
    assert [r.held for r in results] == [0, 0, 1]
    [held] = _guard_runs(world, conn)
    assert held.status is RunStatus.BLOCKED
    [unsent] = held.emails_not_sent
    assert (unsent.template, unsent.reason, unsent.aws_code, unsent.count) == (
        "webhook_guard",
        "email_rejected",
        "MessageRejected",
        1,
    )
    assert world.emails("webhook_guard") == []


def _held_after(world: World, leavers: int = 3, staff: int = 10) -> tuple[Connection, SyncRun]:
    """A connection whose guard allows 2 webhook deactivations (and 10%) and holds the rest."""
    hire(world, *STAFF[:staff])
    conn = imported(world, safety={"max_deactivations": 2, "max_deactivation_pct": 10})
    _terminate(world, conn, *STAFF[:leavers])
    [held] = _guard_runs(world, conn)
    return conn, held


def test_r30_hires_and_updates_keep_flowing_while_deactivations_are_held(world: World) -> None:
    conn, held = _held_after(world)
    world.hr.set(employee("new", first_name="Nia"), employee("e005", job_title="Director"))
    world.hr.set(employee("e003", status=EmployeeStatus.TERMINATED, job_title="Former"))

    result = webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["new", "e005", "e003"], "mixed")

    assert (result.counts.created, result.held) == (1, 1)
    assert _status(world, conn, "new") is MemberStatus.INVITED
    assert _title(world, conn, "e005") == "Director"
    # The held person's other changes flow; only the deactivation waits.
    assert _title(world, conn, "e003") == "Former"
    assert _status(world, conn, "e003") is MemberStatus.INVITED
    assert world.runs.get(T, held.run_id).planned.deactivated == 2
    assert len(world.emails("webhook_guard")) == 1


def test_r30_confirm_applies_the_held_deactivations_and_restarts_the_window(world: World) -> None:
    conn, held = _held_after(world, leavers=4)
    assert world.runs.get(T, held.run_id).planned.deactivated == 2

    confirmed = full_sync.confirm_held_plan(world.ports, T, held.run_id, "admin-1")

    assert confirmed.status is RunStatus.COMPLETED and confirmed.decided_by == "admin-1"
    assert confirmed.applied.deactivated == 2
    for hris_id in STAFF[:4]:
        member = world.member_by_hris(T, conn.connection_id, hris_id)
        assert member.status is MemberStatus.DEACTIVATED
        assert member.deactivation_reason is DeactivationReason.TERMINATED
    offboarding = [t for t in world.tasks.items.values() if t.type is TaskType.OFFBOARDING]
    assert len(offboarding) == 4
    assert world.pending.ids(T, conn.connection_id, held_list(held.run_id)) == set()
    with pytest.raises(InvalidState):
        full_sync.confirm_held_plan(world.ports, T, held.run_id, "admin-1")
    # The window restarts at the decision: the next termination is applied at once.
    world.clock.advance(timedelta(minutes=1))
    [after] = _terminate(world, conn, STAFF[4])
    assert after.held == 0 and _status(world, conn, STAFF[4]) is MemberStatus.DEACTIVATED


def test_r30_discard_drops_the_held_deactivations(world: World) -> None:
    conn, held = _held_after(world, leavers=4)

    discarded = full_sync.discard_held_plan(world.ports, T, held.run_id, "admin-1")

    assert discarded.status is RunStatus.DISCARDED and discarded.decided_by == "admin-1"
    assert [_status(world, conn, i) for i in STAFF[2:4]] == [MemberStatus.INVITED] * 2
    assert world.pending.ids(T, conn.connection_id, held_list(held.run_id)) == set()
    with pytest.raises(InvalidState):
        full_sync.confirm_held_plan(world.ports, T, held.run_id, "admin-1")


def test_r30_an_employee_back_before_the_decision_leaves_the_held_run(world: World) -> None:
    conn, held = _held_after(world, leavers=4)
    world.hr.set(employee(STAFF[3]))  # rehired: active again in the HR system
    webhook_apply.apply_webhook(world.ports, T, conn.connection_id, [STAFF[3]], "back")
    assert world.runs.get(T, held.run_id).planned.deactivated == 1

    full_sync.confirm_held_plan(world.ports, T, held.run_id, "admin-1")

    assert _status(world, conn, STAFF[2]) is MemberStatus.DEACTIVATED
    assert _status(world, conn, STAFF[3]) is MemberStatus.INVITED


def test_r30_deactivations_older_than_the_window_no_longer_count(world: World) -> None:
    hire(world, *STAFF[:10])
    conn = imported(
        world, safety={"max_deactivations": 2, "max_deactivation_pct": 10, "webhook_window_minutes": 60}
    )
    _terminate(world, conn, *STAFF[:2])
    world.clock.advance(timedelta(minutes=61))

    results = _terminate(world, conn, *STAFF[2:4])

    assert [r.held for r in results] == [0, 0]
    assert _guard_runs(world, conn) == []


def test_r30_a_full_sync_plan_does_not_supersede_the_held_webhook_deactivations(world: World) -> None:
    conn, held = _held_after(world)
    world.sync_now(T, conn.connection_id)
    assert world.runs.get(T, held.run_id).status is RunStatus.BLOCKED
    assert world.webhook_guard.state(T, conn.connection_id).held_run_id == held.run_id
