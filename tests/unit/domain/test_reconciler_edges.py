"""The reconciler's corner cases, and apply_plan's contract."""

from __future__ import annotations

import gc
from datetime import timedelta

import pytest
from reconciler_builders import (
    NOW,
    TODAY,
    actions,
    by_hris,
    connection,
    deactivated,
    employee,
    full,
    member,
    sync,
    targeted,
)

from shared.domain.apply import PlanDoesNotFit, apply_plan
from shared.domain.models import (
    SYNCED_FIELDS,
    Actor,
    DeactivateMember,
    DeactivationReason,
    MemberFlag,
    MemberStatus,
    Plan,
)
from shared.domain.reconciler import plan


def test_r21_admin_deactivated_member_is_claimed_but_stays_deactivated() -> None:
    old = deactivated(
        member("m1", hris_id="b1", connection_id="bamboo", email="ada@acme.example"),
        DeactivationReason.ADMIN,
        by=Actor.ADMIN,
    )

    result, after = sync(
        full([employee("h1", email="ada@acme.example")]), [old], connection(first_complete_sync_at=None)
    )

    assert [a.member_id for a in actions(result, "link")] == ["m1"]
    assert actions(result, "reactivate") == []
    assert actions(result, "create") == []
    assert by_hris(after, "h1").status is MemberStatus.DEACTIVATED


def test_r21_targeted_plans_never_claim() -> None:
    old = member("m1", hris_id="b1", connection_id="bamboo", email="person1@acme.example")

    result = plan(targeted([employee("1")]), [old], connection(first_complete_sync_at=None), TODAY)

    assert [(a.kind, a.reason) for a in result.actions] == [("skip", "linked_to_other_connection")]


def test_r05_reissued_hr_id_relinks_the_same_member() -> None:
    linked = member("m1", hris_id="old-7", email="person7@acme.example")

    result, after = sync(full([employee("new-7", email="person7@acme.example")]), [linked], connection())

    assert [(a.member_id, a.hris_id) for a in actions(result, "link")] == [("m1", "new-7")]
    assert actions(result, "deactivate") == []
    assert actions(result, "create") == []
    assert by_hris(after, "new-7").member_id == "m1"


def test_r12_reactivated_invitee_with_an_expired_invite_gets_a_new_one() -> None:
    invitee = member(
        "m1",
        hris_id="1",
        email="person1@acme.example",
        status=MemberStatus.INVITED,
        invite_sent_at=NOW - timedelta(days=60),
        invite_expires_at=NOW - timedelta(days=30),
    )
    gone = deactivated(invitee, DeactivationReason.LEFT_HRIS)

    result = plan(full([employee("1")]), [gone], connection(), TODAY)

    assert [a.to_status for a in actions(result, "reactivate")] == [MemberStatus.INVITED]
    assert [a.member_id for a in actions(result, "resend_invite")] == ["m1"]


def test_r02_rehire_with_a_future_start_date_waits() -> None:
    gone = deactivated(member("m1", hris_id="1"), DeactivationReason.TERMINATED)

    waiting = plan(full([employee("1", start_date=TODAY + timedelta(days=7))]), [gone], connection(), TODAY)
    started = plan(full([employee("1", start_date=TODAY)]), [gone], connection(), TODAY)

    assert actions(waiting, "reactivate") == []
    assert [a.member_id for a in actions(started, "reactivate")] == ["m1"]


def test_r17_without_manager_capability_approvers_are_left_alone() -> None:
    linked = member("m1", hris_id="1", email="person1@acme.example", approver_member_id="boss")
    supplied = frozenset(SYNCED_FIELDS) - {"manager_hris_id"}

    result = plan(full([employee("1")]), [linked], connection(), TODAY, capabilities=supplied)

    assert actions(result, "flag") == []
    assert all("approver_member_id" not in a.changes for a in actions(result, "update"))


def test_r17_deactivated_members_lose_the_no_approver_flag() -> None:
    flagged = member("m1", hris_id="1", flags=frozenset({MemberFlag.NO_APPROVER}))

    result, after = sync(full([employee("1", status="terminated")]), [flagged], connection())

    assert [(a.member_id, a.on) for a in actions(result, "flag")] == [("m1", False)]
    assert by_hris(after, "1").flags == frozenset()


def test_r25_invalid_new_email_of_a_linked_member_is_not_taken() -> None:
    linked = member("m1", hris_id="1", email="person1@acme.example")

    result = plan(full([employee("1", email="not an email")]), [linked], connection(), TODAY)

    assert all("email" not in a.changes for a in actions(result, "update"))
    assert ("invalid_email", "1") in [(w.code, w.hris_id) for w in result.warnings]


def test_apply_refuses_a_plan_that_does_not_fit() -> None:
    stale = Plan.model_validate(
        {
            "tenant_id": "t1",
            "connection_id": "c1",
            "mode": "full",
            "complete": True,
            "actions": [DeactivateMember(member_id="ghost", reason=DeactivationReason.LEFT_HRIS)],
            "guard": {"hold": False, "deactivations": 1, "active_members": 1, "pct": 100.0},
        }
    )

    with pytest.raises(PlanDoesNotFit, match="ghost"):
        apply_plan([], stale, connection(), NOW)
    with pytest.raises(ValueError, match="aware"):
        apply_plan([], stale, connection(), NOW.replace(tzinfo=None))


def test_apply_records_an_admin_deactivation_that_later_syncs_keep() -> None:
    active = member("m1", hris_id="1", email="person1@acme.example")
    offboard = Plan.model_validate(
        {
            "tenant_id": "t1",
            "connection_id": "c1",
            "mode": "targeted",
            "complete": False,
            "actions": [
                DeactivateMember(member_id="m1", reason=DeactivationReason.OFFBOARDED, by=Actor.ADMIN)
            ],
            "guard": {"hold": False, "deactivations": 1, "active_members": 1, "pct": 100.0},
        }
    )

    done = apply_plan([active], offboard, connection(), NOW)["m1"]
    later = plan(full([employee("1")]), [done], connection(), TODAY)

    assert (done.deactivated_by, done.status_before_deactivation) == (Actor.ADMIN, MemberStatus.ACTIVE)
    assert actions(later, "reactivate") == []


def test_plan_runs_no_cyclic_collection_and_resumes_the_collector() -> None:
    # A young collection during a plan walks its lists of every employee and member (cache misses
    # at 100,000 people: bench/reconcile.py); the plan pauses the collector and resumes it.
    source = full([employee(str(i)) for i in range(200)])
    linked = [member(f"m{i}", hris_id=str(i), email=f"person{i}@acme.example") for i in range(200)]
    settings = connection()
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    threshold = gc.get_threshold()
    gc.set_threshold(1)
    gc.callbacks.append(count)
    try:
        result = plan(source, linked, settings, TODAY)
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*threshold)

    assert collections == []
    assert gc.isenabled()
    assert result.counts.updated == len(linked)  # every profile filled in: the plan did its work


def test_plan_leaves_a_paused_collector_paused() -> None:
    gc.disable()
    try:
        plan(full([employee("1")]), [], connection(), TODAY)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("stored", "reported"),
    [
        ("Ada.Lovelace@Acme.example", "ada.lovelace@acme.example"),
        ("ada.lovelace@acme.example", "ADA.LOVELACE@ACME.EXAMPLE"),
        ("Éva.Łukasz@Acme.example", "éva.łukasz@acme.EXAMPLE"),
        (" 123@456.example ", "123@456.example"),
    ],
)
def test_r05_email_matching_ignores_case_ascii_or_not(stored: str, reported: str) -> None:
    old = member("m1", hris_id="b1", connection_id="bamboo", email=stored)

    result, _ = sync(full([employee("h1", email=reported)]), [old], connection(first_complete_sync_at=None))

    assert [a.member_id for a in actions(result, "link")] == ["m1"]
