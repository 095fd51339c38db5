"""Full syncs through the services, step by step, on in-memory ports."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from shared.domain.models import (
    Connection,
    ConnectionStatus,
    DeactivationReason,
    EmployeeStatus,
    MemberStatus,
    PlanCounts,
    TaskType,
)
from shared.domain.records import RunStatus, RunTrigger, TaskStatus
from shared.errors import (
    ConnectionNotFound,
    InvalidState,
    LockHeld,
    RunNotFound,
    Throttled,
    WorkflowNotStarted,
)
from shared.ports import MemberQuery, WriteOutcome
from shared.providers.base import ProviderAuthError, ProviderUnavailable
from shared.services import connections, full_sync, members
from tests.support.world import T, World, connect, employee, hire, imported

# ---------------------------------------------------------------------------------------------
# First import
# ---------------------------------------------------------------------------------------------


def test_r06_r26_first_import_creates_members_with_invites_tasks_events_audit_and_one_email(
    world: World,
) -> None:
    hire(world, "ann", "bob", "cid", "dan", "eve")
    conn = imported(world)

    found = world.members.query(T, MemberQuery()).items
    assert {m.hris_id for m in found} == {"ann", "bob", "cid", "dan", "eve"}
    assert all(m.status is MemberStatus.INVITED and m.version == 1 for m in found)
    # R06/R08: an invite each; R26: an onboarding task each.
    assert len(world.emails("member_invite")) == 5
    assert {t.type for t in world.tasks.items.values()} == {TaskType.ONBOARDING}
    assert len(world.tasks.items) == 5
    types = world.events.types()
    assert types.count("member.created") == 5
    assert types.count("member.invited") == 5
    assert types.count("task.opened") == 5
    assert types.count("sync.completed") == 1
    assert {e.action for e in world.audit.all()} >= {"create"}
    # The admins hear once that the import finished.
    [done] = world.emails("import_complete")
    assert done.to == ("boss@acme.test",)
    assert done.data["created"] == 5
    run = world.last_run(T, conn.connection_id)
    assert run.trigger is RunTrigger.FIRST_IMPORT
    assert run.applied.created == 5
    assert run.progress.pages_fetched == 2
    assert run.progress.employees_fetched == 5
    assert run.progress.chunks_applied == run.progress.chunks_total == 3
    # R21: the first complete sync is recorded; the lock is free again (R29).
    assert conn.first_complete_sync_at == world.clock.now()
    assert world.lock.current(T, conn.connection_id, world.clock.now()) is None


def test_event_detail_names_tenant_connection_member_changes_and_run(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    created = next(e for e in world.events.published if e.detail_type == "member.created")
    run = world.last_run(T, conn.connection_id)
    assert created.detail["tenant_id"] == T
    assert created.detail["connection_id"] == conn.connection_id
    assert created.detail["run_id"] == run.run_id
    assert created.detail["member_id"] == world.member_by_hris(T, conn.connection_id, "ann").member_id
    assert "profile" in created.detail["changed"]


# ---------------------------------------------------------------------------------------------
# R24 idempotence
# ---------------------------------------------------------------------------------------------


def test_r24_second_sync_performs_zero_member_writes_events_and_emails(world: World) -> None:
    hire(world, "ann", "bob", "cid", "dan")
    conn = imported(world)
    writes, events, emails = world.members.write_calls, len(world.events.published), len(world.mailer.sent)
    tasks, audit = len(world.tasks.items), len(world.audit.items)

    run = world.sync_now(T, conn.connection_id)

    assert run.status is RunStatus.COMPLETED
    assert world.members.write_calls == writes
    assert len(world.events.published) == events
    assert len(world.mailer.sent) == emails
    assert (len(world.tasks.items), len(world.audit.items)) == (tasks, audit)
    assert run.progress.chunks_total == 0


def test_r24_repeating_an_applied_chunk_changes_nothing(world: World) -> None:
    hire(world, "ann", "bob", "cid")
    result = connect(world)
    run = world.drive(result.run)
    writes, events = world.members.write_calls, len(world.events.published)

    counts = full_sync.apply_chunk(world.ports, T, run.connection_id, run.run_id, 0)

    assert counts.created == 0
    assert (world.members.write_calls, len(world.events.published)) == (writes, events)


def test_r24_chunk_repeated_after_a_crash_is_idempotent_by_action(world: World) -> None:
    """A chunk whose member writes landed but whose completion was not recorded (a crash) is
    applied again: its writes come back ALREADY_APPLIED; no event, email or task is doubled."""
    hire(world, "ann", "bob")
    result = connect(world)
    ports, cid, rid = world.ports, result.connection.connection_id, result.run.run_id
    full_sync.start_run(ports, T, cid, RunTrigger.FIRST_IMPORT, run_id=rid)
    full_sync.fetch_page(ports, T, cid, rid, page=0, cursor=None)
    full_sync.plan_run(ports, T, cid, rid)
    full_sync.apply_chunk(ports, T, cid, rid, 0)
    # Forget the chunk as if the step died before recording it.
    run = world.runs.get(T, rid)
    world.runs.items[(T, rid)] = run.model_copy(update={"chunks_done": frozenset(), "applied": PlanCounts()})
    events, emails, tasks = len(world.events.published), len(world.mailer.sent), len(world.tasks.items)
    outcomes: list[WriteOutcome] = []
    original = world.members._write_one

    def spy(tenant_id: str, w: Any) -> Any:
        got = original(tenant_id, w)
        outcomes.append(got.outcome)
        return got

    world.members._write_one = spy  # type: ignore[method-assign]
    full_sync.apply_chunk(ports, T, cid, rid, 0)

    assert outcomes == [WriteOutcome.ALREADY_APPLIED, WriteOutcome.ALREADY_APPLIED]
    assert (len(world.events.published), len(world.mailer.sent), len(world.tasks.items)) == (
        events,
        emails,
        tasks,
    )
    assert full_sync.finish_run(ports, T, cid, rid).status is RunStatus.COMPLETED


# ---------------------------------------------------------------------------------------------
# R09 incomplete snapshots, R26 offboarding tasks
# ---------------------------------------------------------------------------------------------


def test_r09_gone_from_a_complete_snapshot_is_deactivated_with_an_offboarding_task(world: World) -> None:
    hire(world, "ann", "bob", "cid", "dan")
    conn = imported(world)
    world.hr.remove("bob")

    run = world.sync_now(T, conn.connection_id)

    bob = world.member_by_hris(T, conn.connection_id, "bob")
    assert bob.status is MemberStatus.DEACTIVATED
    assert bob.deactivation_reason is DeactivationReason.LEFT_HRIS
    assert run.applied.deactivated == 1
    offboarding = [t for t in world.tasks.items.values() if t.type is TaskType.OFFBOARDING]
    assert [t.member_id for t in offboarding] == [bob.member_id]
    deactivated = [e for e in world.events.published if e.detail_type == "member.deactivated"]
    assert deactivated[-1].detail["reason"] == "left_hris"


def test_r09_a_failed_page_makes_the_run_partial_and_deactivates_nobody(world: World) -> None:
    hire(world, "ann", "bob", "cid", "dan", "eve", "fay")
    conn = imported(world)
    world.hr.fail_pages[1] = ProviderUnavailable("HTTP 503 after 5 retries")
    world.hr.remove("ann")  # absent from page 0 as well: still nobody is deactivated

    run = world.sync_now(T, conn.connection_id)

    assert run.status is RunStatus.PARTIAL
    assert not run.snapshot_complete
    assert any("ProviderUnavailable" in r for r in run.incomplete_reasons)
    statuses = {m.status for m in world.members.query(T, MemberQuery()).items}
    assert statuses == {MemberStatus.INVITED}


def test_r09_first_import_that_is_partial_does_not_mark_the_first_complete_sync(world: World) -> None:
    hire(world, "ann", "bob", "cid", "dan")
    world.hr.fail_pages[1] = ProviderUnavailable("timeout")
    result = connect(world)
    run = world.drive(result.run)
    assert run.status is RunStatus.PARTIAL
    assert world.connections.get(T, result.connection.connection_id).first_complete_sync_at is None


# ---------------------------------------------------------------------------------------------
# Failure
# ---------------------------------------------------------------------------------------------


def test_rejected_credentials_fail_the_run_mark_the_connection_failing_and_tell_the_admins(
    world: World,
) -> None:
    hire(world, "ann")
    conn = imported(world)
    world.hr.fail_pages[0] = ProviderAuthError("401")

    run = world.sync_now(T, conn.connection_id)

    assert run.status is RunStatus.FAILED
    assert run.error is not None and "ProviderCredentialsRejected" in run.error
    assert "sk-very-secret" not in run.error
    assert world.connections.get(T, conn.connection_id).status is ConnectionStatus.FAILING
    [failing] = world.emails("connection_failing")
    assert failing.to == ("boss@acme.test",)
    assert world.events.types()[-1] == "sync.failed"
    assert world.lock.current(T, conn.connection_id, world.clock.now()) is None
    # Failing twice (a retried catch) does not notify twice.
    full_sync.fail_run(world.ports, T, conn.connection_id, run.run_id, "again")
    assert len(world.emails("connection_failing")) == 1

    del world.hr.fail_pages[0]
    assert world.sync_now(T, conn.connection_id).status is RunStatus.COMPLETED
    assert world.connections.get(T, conn.connection_id).status is ConnectionStatus.ACTIVE


# ---------------------------------------------------------------------------------------------
# R23 the guard
# ---------------------------------------------------------------------------------------------


def _guarded(world: World) -> tuple[Connection, str]:
    hire(world, *(f"e{i:02d}" for i in range(10)))
    conn = imported(world, safety={"max_deactivations": 2, "max_deactivation_pct": 20})
    world.hr.remove("e00", "e01", "e02", "e03", "e04")
    run = world.sync_now(T, conn.connection_id)
    assert run.status is RunStatus.BLOCKED
    return conn, run.run_id


def test_r23_a_plan_over_both_thresholds_is_held_and_the_admins_are_told(world: World) -> None:
    writes = world.members.write_calls
    conn, run_id = _guarded(world)
    run = world.runs.get(T, run_id)
    assert run.planned.deactivated == 5
    assert run.applied.deactivated == 0
    # Nothing of the plan was applied.
    assert all(m.status is MemberStatus.INVITED for m in world.members.query(T, MemberQuery()).items)
    assert world.members.write_calls > writes  # the import's writes only
    [blocked] = world.emails("sync_blocked")
    assert blocked.data["deactivations"] == 5
    assert world.events.types()[-1] == "sync.blocked"
    # The lock is free while an admin decides: webhooks and other work go on.
    assert world.lock.current(T, conn.connection_id, world.clock.now()) is None


def test_r23_confirm_applies_the_held_plan(world: World) -> None:
    _conn, run_id = _guarded(world)
    confirmed = full_sync.confirm_held_plan(world.ports, T, run_id, "admin-1")
    assert confirmed.status is RunStatus.RUNNING
    assert world.workflow.executions[f"{run_id}-confirmed"]["phase"] == "apply"

    run = world.drive(confirmed, phase="apply")

    assert run.status is RunStatus.COMPLETED
    assert run.decided_by == "admin-1"
    assert run.applied.deactivated == 5
    gone = [m for m in world.members.query(T, MemberQuery(status=MemberStatus.DEACTIVATED)).items]
    assert {m.hris_id for m in gone} == {"e00", "e01", "e02", "e03", "e04"}


def test_r23_discard_drops_the_held_plan(world: World) -> None:
    _conn, run_id = _guarded(world)
    writes = world.members.write_calls

    run = full_sync.discard_held_plan(world.ports, T, run_id, "admin-1")

    assert run.status is RunStatus.DISCARDED
    assert world.members.write_calls == writes
    with pytest.raises(InvalidState):
        full_sync.confirm_held_plan(world.ports, T, run_id, "admin-1")


def test_r23_confirm_of_a_run_that_is_not_blocked_is_refused(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    run = world.last_run(T, conn.connection_id)
    with pytest.raises(InvalidState):
        full_sync.confirm_held_plan(world.ports, T, run.run_id, "admin-1")


# ---------------------------------------------------------------------------------------------
# R29 one sync at a time
# ---------------------------------------------------------------------------------------------


def test_r29_a_second_full_sync_is_refused_while_one_runs(world: World) -> None:
    hire(world, "ann")
    result = connect(world)
    with pytest.raises(LockHeld) as held:
        full_sync.request_sync(world.ports, T, result.connection.connection_id)
    assert held.value.holder == result.run.run_id
    # The scheduler's start step reports it instead of failing.
    started = full_sync.start_run(world.ports, T, result.connection.connection_id, RunTrigger.SCHEDULE)
    assert started.run is None
    assert started.running is not None and started.running.holder == result.run.run_id


def test_r29_an_expired_lease_is_taken_over(world: World) -> None:
    hire(world, "ann")
    result = connect(world)
    world.clock.advance(world.settings.lock_ttl + timedelta(seconds=1))
    run = full_sync.request_sync(world.ports, T, result.connection.connection_id)
    assert run.run_id != result.run.run_id


# ---------------------------------------------------------------------------------------------
# Stale versions are resolved by re-planning
# ---------------------------------------------------------------------------------------------


def test_stale_version_is_resolved_by_replanning_and_keeps_both_changes(world: World) -> None:
    hire(world, "ann", "bob")
    conn = imported(world, field_policy="manual_wins")
    ann = world.member_by_hris(T, conn.connection_id, "ann")
    world.hr.set(employee("ann", job_title="CTO", department="Tech"))
    ports = world.ports
    run = full_sync.request_sync(ports, T, conn.connection_id)
    full_sync.fetch_page(ports, T, conn.connection_id, run.run_id, page=0, cursor=None)
    full_sync.plan_run(ports, T, conn.connection_id, run.run_id)
    # Between planning and applying an admin edits ann's department.
    members.edit_member(ports, T, ann.member_id, "admin-1", {"department": "Research"})
    writes = world.members.write_calls

    full_sync.apply_chunk(ports, T, conn.connection_id, run.run_id, 0)
    full_sync.finish_run(ports, T, conn.connection_id, run.run_id)

    after = world.members.get(T, ann.member_id)
    assert after.profile.job_title == "CTO"  # the sync's change
    assert after.profile.department == "Research"  # the admin's override (manual_wins)
    assert world.members.write_calls == writes + 2  # the conflict, then the re-planned write


def test_a_create_racing_a_webhook_create_is_replanned_not_duplicated(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    hire(world, "zed")
    ports = world.ports
    run = full_sync.request_sync(ports, T, conn.connection_id)
    full_sync.fetch_page(ports, T, conn.connection_id, run.run_id, page=0, cursor=None)
    plan = full_sync.plan_run(ports, T, conn.connection_id, run.run_id)
    # The lock is held, but suppose a racing writer created zed meanwhile (deterministic id).
    zed_created = {"done": False}

    def race(w: Any) -> None:
        if w.member.hris_id == "zed" and not zed_created["done"]:
            zed_created["done"] = True
            world.members.seed(replace(w.member, version=1))

    world.members.before_write = race
    for chunk in plan.chunks:
        full_sync.apply_chunk(ports, T, conn.connection_id, run.run_id, chunk)
    world.members.before_write = None

    linked = [m for m in world.members.query(T, MemberQuery()).items if m.hris_id == "zed"]
    assert len(linked) == 1


# ---------------------------------------------------------------------------------------------
# R21 reconnect / switch HR system
# ---------------------------------------------------------------------------------------------


def test_r21_a_new_connection_claims_the_members_of_the_old_one_by_email(world: World) -> None:
    hire(world, "ann", "bob")
    old = imported(world)
    connections.disconnect(world.ports, T, old.connection_id)
    before = {m.member_id for m in world.members.query(T, MemberQuery()).items}

    new = imported(world)

    after = world.members.query(T, MemberQuery()).items
    assert {m.member_id for m in after} == before  # nobody duplicated
    assert {m.connection_id for m in after} == {new.connection_id}
    assert new.first_complete_sync_at is not None


# ---------------------------------------------------------------------------------------------
# Bad input and isolation
# ---------------------------------------------------------------------------------------------


def test_unknown_connection_or_run_is_a_typed_not_found(world: World) -> None:
    with pytest.raises(ConnectionNotFound):
        full_sync.request_sync(world.ports, T, "conn_nope")
    with pytest.raises(RunNotFound):
        full_sync.get_run(world.ports, T, "run_nope")
    hire(world, "ann")
    conn = imported(world)
    run = world.last_run(T, conn.connection_id)
    # A run is found only in its own tenant, and only under its own connection.
    with pytest.raises(RunNotFound):
        full_sync.get_run(world.ports, "tenant-b", run.run_id)
    with pytest.raises(RunNotFound):
        full_sync.fetch_page(world.ports, T, "conn_other", run.run_id, page=0, cursor=None)


def test_runs_are_listed_newest_first_with_counts_and_skipped_records(world: World) -> None:
    hire(world, "ann", "bob")
    world.hr.set(employee("nomail", email=None))
    conn = imported(world)
    world.clock.advance(timedelta(hours=1))
    world.sync_now(T, conn.connection_id)
    page = full_sync.list_runs(world.ports, T, conn.connection_id)
    assert [r.trigger for r in page.items] == [RunTrigger.MANUAL, RunTrigger.FIRST_IMPORT]
    first = page.items[1]
    assert first.applied.created == 2
    assert [(s.hris_id, s.reason) for s in first.skipped] == [("nomail", "missing_email")]


def test_tenant_isolation_a_sync_of_tenant_a_never_touches_tenant_b(world: World) -> None:
    hire(world, "ann", "bob")
    conn_a = imported(world, tenant="tenant-a")
    world.hr.remove("ann")
    # Tenant B has members with the same emails; its data must not be read or written.
    for store in (world.members, world.connections, world.runs, world.tasks, world.audit, world.lock):
        store.tenants_seen.clear()
    b_member = world.members.items[(T, world.member_by_hris(T, conn_a.connection_id, "bob").member_id)]
    world.members.seed(replace(b_member, tenant_id="tenant-b"))

    world.sync_now("tenant-a", conn_a.connection_id)

    for store in (world.members, world.connections, world.runs, world.tasks, world.audit, world.lock):
        assert store.tenants_seen <= {"tenant-a"}, type(store).__name__
    assert all(k.startswith("tenant-a/") for k in world.blobs.items)
    assert world.members.items[("tenant-b", b_member.member_id)].version == b_member.version


def test_an_employee_with_status_terminated_is_deactivated_and_offboarded(world: World) -> None:
    hire(world, "ann", "bob")
    conn = imported(world)
    world.hr.set(employee("bob", status=EmployeeStatus.TERMINATED))
    world.sync_now(T, conn.connection_id)
    bob = world.member_by_hris(T, conn.connection_id, "bob")
    assert bob.deactivation_reason is DeactivationReason.TERMINATED
    assert any(
        t.member_id == bob.member_id and t.type is TaskType.OFFBOARDING for t in world.tasks.items.values()
    )
    assert all(t.status is TaskStatus.OPEN for t in world.tasks.items.values())


def test_profile_change_in_hr_updates_the_member_and_emits_member_updated(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    world.hr.set(employee("ann", job_title="Head of Sales"))
    world.sync_now(T, conn.connection_id)
    ann = world.member_by_hris(T, conn.connection_id, "ann")
    assert ann.profile.job_title == "Head of Sales"
    updated = [e for e in world.events.published if e.detail_type == "member.updated"]
    assert updated and updated[-1].detail["member_id"] == ann.member_id


def test_a_member_that_keeps_changing_is_reported_as_skipped_not_lost(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    ann = world.member_by_hris(T, conn.connection_id, "ann")
    world.hr.set(employee("ann", job_title="Director"))

    def always_race(w: Any) -> None:
        stored = world.members.items[(T, ann.member_id)]
        world.members.items[(T, ann.member_id)] = replace(stored, version=stored.version + 1)

    world.members.before_write = always_race
    run = world.sync_now(T, conn.connection_id)
    world.members.before_write = None

    assert run.status is RunStatus.COMPLETED
    assert [(s.hris_id, s.reason) for s in run.skipped] == [("ann", "write_version_conflict")]
    # The next sync picks the change up.
    world.sync_now(T, conn.connection_id)
    assert world.members.get(T, ann.member_id).profile.job_title == "Director"


def test_r08_a_sync_resends_expired_invites_of_members_still_in_scope(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    world.clock.advance(timedelta(days=31))

    run = world.sync_now(T, conn.connection_id)

    assert run.applied.invite_resends == 1
    assert len(world.emails("member_invite")) == 2
    resent = [e for e in world.events.published if e.detail_type == "member.invited"][-1]
    assert resent.detail["resend"] is True
    ann = world.member_by_hris(T, conn.connection_id, "ann")
    assert ann.invite_expires_at == world.clock.now() + timedelta(days=30)


def test_a_retried_plan_step_returns_the_stored_plan_without_planning_again(world: World) -> None:
    hire(world, "ann", "bob", "cid")
    result = connect(world)
    ports, cid, rid = world.ports, result.connection.connection_id, result.run.run_id
    full_sync.fetch_page(ports, T, cid, rid, page=0, cursor=None)
    first = full_sync.plan_run(ports, T, cid, rid)
    blobs = dict(world.blobs.items)
    world.hr.set(employee("dan"))  # would change a new plan

    again = full_sync.plan_run(ports, T, cid, rid)

    assert again == first
    assert world.blobs.items == blobs


def test_a_workflow_that_cannot_start_leaves_no_running_run_and_no_lock(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)

    def refuse(name: str, input: Any) -> str:
        raise Throttled("StartExecution")

    world.workflow.start = refuse  # type: ignore[method-assign]
    with pytest.raises(WorkflowNotStarted) as caught:
        full_sync.request_sync(world.ports, T, conn.connection_id)
    assert isinstance(caught.value.__cause__, Throttled)
    assert world.last_run(T, conn.connection_id).status is RunStatus.FAILED
    assert world.lock.current(T, conn.connection_id, world.clock.now()) is None


def test_r23_a_newer_plan_supersedes_a_held_one(world: World) -> None:
    conn, first = _guarded(world)
    world.clock.advance(timedelta(hours=6))
    second = world.sync_now(T, conn.connection_id)
    assert second.status is RunStatus.BLOCKED
    old = world.runs.get(T, first)
    assert old.status is RunStatus.DISCARDED
    assert old.decided_by == f"superseded by {second.run_id}"
    with pytest.raises(InvalidState):
        full_sync.confirm_held_plan(world.ports, T, first, "admin-1")


def test_an_error_after_a_run_finished_does_not_turn_it_into_a_failure(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    run = world.last_run(T, conn.connection_id)
    after = full_sync.fail_run(world.ports, T, conn.connection_id, run.run_id, "SES throttled")
    assert after.status is RunStatus.COMPLETED
    assert world.connections.get(T, conn.connection_id).status is ConnectionStatus.ACTIVE
    assert world.emails("connection_failing") == []


def test_dates_in_a_stored_plan_are_dates_again_when_applied(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    world.hr.set(employee("ann", termination_date="2026-12-31", birthday="1990-05-17"))
    world.sync_now(T, conn.connection_id)
    ann = world.member_by_hris(T, conn.connection_id, "ann")
    assert ann.profile.termination_date == date(2026, 12, 31)
    assert ann.profile.birthday == date(1990, 5, 17)
    assert isinstance(ann.profile.termination_date, date)
