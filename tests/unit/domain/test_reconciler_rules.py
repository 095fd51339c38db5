"""The reconciler, rule by rule (RULES.md R01-R26)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError
from reconciler_builders import (
    CONN,
    NOW,
    TENANT,
    TODAY,
    actions,
    by_hris,
    connection,
    deactivated,
    employee,
    full,
    kinds,
    member,
    sync,
    targeted,
)

from shared.domain.apply import apply_plan
from shared.domain.ids import member_id_for
from shared.domain.models import (
    SYNCED_FIELDS,
    Actor,
    ApprovalMode,
    DeactivationReason,
    FieldPolicy,
    InviteMode,
    MappingMode,
    Mappings,
    MemberFlag,
    MemberSource,
    MemberStatus,
    Profile,
    SafetyThresholds,
    Scope,
    ScopeMode,
    TaskType,
)
from shared.domain.reconciler import active_member_count, plan

# --- R01 scope ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (Scope(mode=ScopeMode.EVERYONE), {"1", "2", "3"}),
        (Scope(mode=ScopeMode.COMPANIES, companies=("Acme GmbH",)), {"2"}),
        (Scope(mode=ScopeMode.GROUPS, groups=("Sales", "Team Blue")), {"2", "3"}),
        (Scope(mode=ScopeMode.PEOPLE, people=("1", "3")), {"1", "3"}),
        (Scope(mode=ScopeMode.MANUAL), set()),
    ],
)
def test_r01_scope_picks_who_is_created(scope: Scope, expected: set[str]) -> None:
    staff = [
        employee("1"),
        employee("2", company="Acme GmbH", department="Sales", groups=("Sales",)),
        employee("3", groups=("Engineering", "Team Blue")),
    ]

    result = plan(full(staff), [], connection(scope=scope), TODAY)

    assert {a.hris_id for a in actions(result, "create")} == expected


def test_r01_manual_scope_only_keeps_linked_fields_up_to_date() -> None:
    linked = member("m1", hris_id="1", profile={"email": "person1@acme.example", "job_title": "Old"})
    staff = [employee("1", job_title="New", status="terminated"), employee("2")]

    result = plan(
        full(staff), [linked, member("m9", hris_id="9")], connection(scope=Scope(mode="manual")), TODAY
    )

    assert kinds(result) == ["update", "flag"]  # no manager: flagged (R17)
    assert result.actions[0].changes["job_title"].after == "New"


# --- R02 start dates ---------------------------------------------------------------------------


def test_r02_future_start_date_is_created_on_the_start_date() -> None:
    joiner = employee("1", start_date=TODAY + timedelta(days=3))

    before = plan(full([joiner]), [], connection(), TODAY)
    on_the_day = plan(full([joiner]), [], connection(), TODAY + timedelta(days=3))
    ungated = plan(full([joiner]), [], connection(start_date_gating=False), TODAY)

    assert before.is_empty
    assert kinds(on_the_day).count("create") == 1
    assert kinds(ungated).count("create") == 1


def test_r02_pending_without_start_date_waits() -> None:
    result = plan(full([employee("1", status="pending", start_date=None)]), [], connection(), TODAY)

    assert result.is_empty


def test_r02_start_date_is_judged_in_the_tenants_time_zone() -> None:
    joiner = employee("1", start_date=date(2026, 3, 3))
    # 2026-03-02 20:00 UTC is already 2026-03-03 in Auckland, still 2026-03-02 in New York.
    evening_utc = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)

    auckland = plan(full([joiner]), [], connection(timezone="Pacific/Auckland"), evening_utc)
    new_york = plan(full([joiner]), [], connection(timezone="America/New_York"), evening_utc)

    assert kinds(auckland).count("create") == 1
    assert new_york.is_empty


def test_r02_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        plan(full([]), [], connection(), datetime(2026, 3, 2, 9, 0))  # noqa: DTZ001


# --- R03 terminated, R04 leave -----------------------------------------------------------------


def test_r03_terminated_employee_is_deactivated_and_never_created() -> None:
    linked = member("m1", hris_id="1")
    staff = [employee("1", status="terminated"), employee("2", status="terminated")]

    result, after = sync(full(staff), [linked], connection())

    assert actions(result, "create") == []
    assert by_hris(after, "1").status is MemberStatus.DEACTIVATED
    assert by_hris(after, "1").deactivation_reason is DeactivationReason.TERMINATED


def test_r03_termination_date_on_or_before_today_counts_a_later_one_does_not() -> None:
    leaving_today = member("m1", hris_id="1")
    on_notice = member("m2", hris_id="2")
    staff = [employee("1", termination_date=TODAY), employee("2", termination_date=TODAY + timedelta(days=1))]

    result = plan(full(staff), [leaving_today, on_notice], connection(), TODAY)

    assert [(a.member_id, a.reason) for a in actions(result, "deactivate")] == [
        ("m1", DeactivationReason.TERMINATED)
    ]


def test_r04_leave_is_not_termination_members_on_leave_stay_active_by_default() -> None:
    linked = member("m1", hris_id="1")

    result = plan(
        full([employee("1", status="on_leave"), employee("2", status="on_leave")]),
        [linked],
        connection(),
        TODAY,
    )

    assert actions(result, "deactivate") == []
    assert [a.hris_id for a in actions(result, "create")] == ["2"]


def test_r04_deactivate_on_leave_then_reactivate_on_return() -> None:
    conn = connection(deactivate_on_leave=True)
    linked = member("m1", hris_id="1")

    first, after = sync(full([employee("1", status="on_leave")]), [linked], conn)
    back, after_back = sync(full([employee("1")]), after, conn)

    assert [(a.reason, a.member_id) for a in actions(first, "deactivate")] == [
        (DeactivationReason.ON_LEAVE, "m1")
    ]
    assert actions(first, "open_task") == []  # leave is not offboarding (R26)
    assert [a.to_status for a in actions(back, "reactivate")] == [MemberStatus.ACTIVE]
    assert by_hris(after_back, "1").status is MemberStatus.ACTIVE


def test_r04_unknown_status_is_active_and_reported() -> None:
    result = plan(full([employee("1", status="garden-leave-ish")]), [], connection(), TODAY)

    assert kinds(result).count("create") == 1
    assert [w.code for w in result.warnings] == ["unknown_status"]
    assert result.warnings[0].hris_id == "1"
    assert [(u.hris_id, u.raw_status) for u in result.unknown_statuses] == [("1", "garden-leave-ish")]


def test_r04_missing_and_unknown_statuses_from_a_connector_are_listed_and_nobody_is_deactivated() -> None:
    linked = member("m1", hris_id="1")
    employees = [
        employee(
            "1", status_unknown=True, raw_status="sabbatical", warnings=("x: unknown status 'sabbatical'",)
        ),
        employee("2", status_unknown=True, raw_status=None, warnings=("x: no status; treated as active",)),
        employee("3", status_unknown=True, raw_status="s" * 300),
        employee("4"),
    ]

    result = plan(full(employees), [linked], connection(), TODAY)

    assert [(u.hris_id, u.raw_status) for u in result.unknown_statuses] == [
        ("1", "sabbatical"),
        ("2", None),
        ("3", "s" * 100),  # the first 100 characters: enough to recognise the value
    ]
    assert "deactivate" not in kinds(result)
    assert kinds(result).count("create") == 3
    assert {w.code for w in result.warnings if w.hris_id in ("1", "2")} == {"unknown_status"}


# --- R05 match before create, R06 new members ----------------------------------------------------


def test_r05_stored_link_wins_over_email() -> None:
    linked = member("m1", hris_id="1", email="old@acme.example")
    other = member("m2", hris_id="77", email="person1@acme.example", connection_id="old-conn")

    result = plan(full([employee("1")]), [linked, other], connection(), TODAY)

    assert kinds(result) == ["update", "flag"]
    assert result.actions[0].member_id == "m1"


def test_r05_email_match_is_case_insensitive_and_never_duplicates() -> None:
    old = deactivated(
        member("m1", hris_id="9", connection_id="old-conn", email="ADA@Acme.Example"),
        DeactivationReason.LEFT_HRIS,
    )

    result, after = sync(full([employee("1", email="ada@acme.example")]), [old], connection())

    assert actions(result, "create") == []
    link = actions(result, "link")[0]
    assert (link.member_id, link.hris_id, link.matched_by) == ("m1", "1", "email")
    assert len(after) == 1
    assert by_hris(after, "1").status is MemberStatus.ACTIVE


def test_r05_an_active_member_of_another_connection_is_not_taken() -> None:
    theirs = member("m1", hris_id="9", connection_id="other", email="person1@acme.example")

    result = plan(full([employee("1")]), [theirs], connection(), TODAY)

    assert kinds(result) == ["skip"]
    assert result.actions[0].reason == "linked_to_other_connection"


@pytest.mark.parametrize(
    ("approval", "invites", "status", "invited"),
    [
        (ApprovalMode.AUTO, InviteMode.NOW, MemberStatus.INVITED, True),
        (ApprovalMode.AUTO, InviteMode.LATER, MemberStatus.QUEUED, False),
        (ApprovalMode.ADMIN, InviteMode.NOW, MemberStatus.PENDING_APPROVAL, False),
        (ApprovalMode.ADMIN, InviteMode.LATER, MemberStatus.PENDING_APPROVAL, False),
    ],
)
def test_r06_new_member_first_status(
    approval: ApprovalMode, invites: InviteMode, status: MemberStatus, invited: bool
) -> None:
    result, after = sync(full([employee("1")]), [], connection(approval=approval, invites=invites))

    created = by_hris(after, "1")
    assert created.member_id == member_id_for(TENANT, CONN, "1")
    assert created.source is MemberSource.HRIS
    assert created.status is status
    assert bool(actions(result, "send_invite")) is invited
    assert (created.invite_expires_at is not None) is invited


# --- R07 approval, R08 invites -----------------------------------------------------------------


def test_r07_rejected_member_is_left_alone_by_later_syncs() -> None:
    rejected = deactivated(member("m1", hris_id="1"), DeactivationReason.REJECTED, by=Actor.ADMIN)

    result = plan(full([employee("1", email="m1@acme.example")]), [rejected], connection(), TODAY)

    assert actions(result, "reactivate") == []


def test_r08_expired_invites_of_members_in_scope_are_resent() -> None:
    expired = member(
        "m1",
        hris_id="1",
        email="person1@acme.example",
        status=MemberStatus.INVITED,
        invite_sent_at=NOW - timedelta(days=40),
        invite_expires_at=NOW - timedelta(days=10),
    )
    fresh = replace(
        expired,
        member_id="m2",
        hris_id="2",
        invite_expires_at=NOW + timedelta(days=5),
        profile=replace(expired.profile, email="person2@acme.example"),
    )
    staff = [employee("1"), employee("2")]

    result, after = sync(full(staff), [expired, fresh], connection())
    off = plan(full(staff), [expired, fresh], connection(resend_expired_invites=False), TODAY)
    gone = plan(
        full([employee("1", company="X")]),
        [expired],
        connection(scope=Scope(mode="companies", companies=("Acme Ltd",))),
        TODAY,
    )

    assert [a.member_id for a in actions(result, "resend_invite")] == ["m1"]
    assert by_hris(after, "1").invite_expires_at == NOW + timedelta(days=30)
    assert actions(off, "resend_invite") == []
    assert actions(gone, "resend_invite") == []


# --- R09 gone from the HRIS, R10 manual deactivation, R11 out of scope, R12 coming back ----------


def test_r09_absent_from_a_complete_snapshot_is_deactivated_with_offboarding() -> None:
    linked = [member("m1", hris_id="1"), member("m2", hris_id="2")]

    result, after = sync(full([employee("1", email="m1@acme.example")]), linked, connection())

    assert [(a.member_id, a.reason) for a in actions(result, "deactivate")] == [
        ("m2", DeactivationReason.LEFT_HRIS)
    ]
    assert [(a.member_id, a.task_type) for a in actions(result, "open_task")] == [
        ("m2", TaskType.OFFBOARDING)
    ]
    assert by_hris(after, "2").status_before_deactivation is MemberStatus.ACTIVE


def test_r09_incomplete_snapshot_deactivates_nobody() -> None:
    linked = [member("m1", hris_id="1"), member("m2", hris_id="2")]
    staff = [employee("1", email="m1@acme.example", status="terminated"), employee("3")]

    result = plan(full(staff, complete=False), linked, connection(), TODAY)

    assert actions(result, "deactivate") == []
    assert kinds(result).count("create") == 1  # what was fetched still syncs
    assert not result.complete
    assert "incomplete_snapshot" in [w.code for w in result.warnings]
    assert "page 3 failed" in next(w.message for w in result.warnings if w.code == "incomplete_snapshot")


def test_r09_targeted_plans_never_deactivate_the_absent() -> None:
    linked = [member("m1", hris_id="1"), member("m2", hris_id="2")]

    result = plan(
        targeted([employee("1", email="m1@acme.example", job_title="CTO")]), linked, connection(), TODAY
    )

    assert kinds(result) == ["update", "flag"]
    assert result.mode == "targeted"


def test_r09_targeted_plans_still_deactivate_for_a_reason() -> None:
    result = plan(
        targeted([employee("1", status="terminated")]), [member("m1", hris_id="1")], connection(), TODAY
    )

    assert [a.reason for a in actions(result, "deactivate")] == [DeactivationReason.TERMINATED]


def test_r10_manual_deactivation_is_never_undone() -> None:
    by_admin = deactivated(member("m1", hris_id="1"), DeactivationReason.ADMIN, by=Actor.ADMIN)
    sync_reason_but_admin = deactivated(
        member("m2", hris_id="2"), DeactivationReason.LEFT_HRIS, by=Actor.ADMIN
    )
    staff = [employee("1", email="m1@acme.example"), employee("2", email="m2@acme.example")]

    result = plan(full(staff), [by_admin, sync_reason_but_admin], connection(), TODAY)

    assert actions(result, "reactivate") == []
    assert actions(result, "create") == []


def test_r11_moved_out_of_scope_is_deactivated() -> None:
    conn = connection(scope=Scope(mode=ScopeMode.COMPANIES, companies=("Acme Ltd",)))
    linked = member("m1", hris_id="1", email="person1@acme.example")

    result = plan(full([employee("1", company="Acme Inc.")]), [linked], conn, TODAY)

    assert [a.reason for a in actions(result, "deactivate")] == [DeactivationReason.OUT_OF_SCOPE]
    assert actions(result, "open_task") == []


def test_r12_coming_back_keeps_the_member_id_and_previous_status() -> None:
    queued = member("m1", hris_id="1", status=MemberStatus.QUEUED, email="person1@acme.example")
    conn = connection()

    _, gone = sync(full([]), [queued], conn)
    back, returned = sync(full([employee("1")]), gone, conn)

    assert by_hris(gone, "1").deactivation_reason is DeactivationReason.LEFT_HRIS
    assert [(a.member_id, a.to_status) for a in actions(back, "reactivate")] == [("m1", MemberStatus.QUEUED)]
    assert actions(back, "create") == []
    came_back = by_hris(returned, "1")
    assert came_back.status is MemberStatus.QUEUED
    assert came_back.deactivation_reason is None
    assert came_back.deactivated_by is None


def test_r12_terminated_while_on_leave_is_offboarded() -> None:
    conn = connection(deactivate_on_leave=True)
    _, on_leave = sync(full([employee("1", status="on_leave")]), [member("m1", hris_id="1")], conn)

    result, after = sync(full([employee("1", status="terminated")]), on_leave, conn)

    assert [a.reason for a in actions(result, "deactivate")] == [DeactivationReason.TERMINATED]
    assert [a.task_type for a in actions(result, "open_task")] == [TaskType.OFFBOARDING]
    assert by_hris(after, "1").status_before_deactivation is MemberStatus.ACTIVE
    assert result.guard.deactivations == 0  # it was not live


# --- R13 manual members, R14 archived ------------------------------------------------------------


def test_r13_manual_members_are_never_touched_by_employees_the_sync_would_not_create() -> None:
    manual = member("m1", email="person1@acme.example")
    gone = member("m2", email="person2@acme.example")
    out_of_scope = connection(scope=Scope(mode=ScopeMode.GROUPS, groups=("Sales",)))

    result = plan(full([employee("1")]), [manual], out_of_scope, TODAY)
    ended = plan(full([employee("2", status="terminated")]), [gone], connection(), TODAY)
    claim = plan(
        full([employee("1")]),
        [manual],
        connection(first_complete_sync_at=None, scope=out_of_scope.scope),
        TODAY,
    )

    assert result.is_empty and ended.is_empty and claim.is_empty


def test_r34_a_manual_member_is_linked_by_email_keeping_its_id_and_external_id() -> None:
    app_user = replace(member("m_app", email="Person1@ACME.example"), external_id="auth0|person1")

    result = plan(full([employee("1", job_title="Engineer")]), [app_user], connection(), TODAY)

    assert kinds(result)[:2] == ["link", "update"]  # then R17's flag: no approver here
    assert not {"create", "deactivate", "skip"} & set(kinds(result))
    [link] = actions(result, "link")
    assert (link.member_id, link.hris_id, link.matched_by) == ("m_app", "1", "email")
    after = apply_plan([app_user], result, connection(), NOW)["m_app"]
    assert (after.member_id, after.external_id) == ("m_app", "auth0|person1")
    assert (after.source, after.connection_id, after.hris_id) == (MemberSource.HRIS, CONN, "1")
    assert after.status is MemberStatus.ACTIVE and after.profile.job_title == "Engineer"
    # Linked now: the next sync finds it by its link and changes nothing (R24).
    assert plan(full([employee("1", job_title="Engineer")]), [after], connection(), TODAY).is_empty


def test_r13_manual_members_survive_a_reconnect_claim() -> None:
    manual = member("m1", email="someone@acme.example")

    result = plan(full([]), [manual], connection(first_complete_sync_at=None), TODAY)

    assert result.is_empty


def test_r14_archived_stays_archived() -> None:
    archived_linked = member("m1", hris_id="1", status=MemberStatus.ARCHIVED)
    archived_by_email = member(
        "m2", hris_id="9", connection_id="old", status=MemberStatus.ARCHIVED, email="person2@acme.example"
    )
    staff = [
        employee("1", job_title="New"),
        employee("2"),
        employee("3", status="terminated", email="m1@acme.example"),
    ]

    result = plan(
        full(staff), [archived_linked, archived_by_email], connection(first_complete_sync_at=None), TODAY
    )

    assert [(a.hris_id, a.reason) for a in actions(result, "skip")] == [("2", "archived_member")]
    assert result.is_empty


# --- R15 fields, R16 who wins --------------------------------------------------------------------


def test_r15_a_field_the_provider_does_not_supply_is_never_blanked() -> None:
    linked = member(
        "m1",
        hris_id="1",
        profile={"email": "person1@acme.example", "avatar_url": "https://x/a.png", "job_title": "Old"},
    )
    staff = [employee("1", avatar_url=None, job_title=None)]
    supplied = frozenset(
        {"first_name", "last_name", "email", "job_title", "groups", "department", "company", "start_date"}
    )

    result = plan(full(staff), [linked], connection(), TODAY, capabilities=supplied)

    changes = actions(result, "update")[0].changes
    assert "avatar_url" not in changes
    assert changes["job_title"].after is None  # supplied, and blank in the HR system


_EVERY_SYNCED_FIELD = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "person1@acme.example",
    "employee_number": "E1",
    "avatar_url": "https://x/a.png",
    "job_title": "Engineer",
    "department": "Engineering",
    "company": "Acme Ltd",
    "groups": ("Engineering",),
    "office_location": "London",
    "home_country": "GB",
    "birthday": date(1990, 1, 2),
    "start_date": date(2020, 1, 6),
    "termination_date": date(2030, 1, 1),
    "manager_hris_id": "1",
}
_ANOTHER_VALUE = {
    "email": "other@acme.example",
    "groups": ("Sales",),
    "birthday": date(1999, 9, 9),
    "start_date": date(2019, 9, 9),
    "termination_date": date(2031, 1, 1),
}


@pytest.mark.parametrize("name", SYNCED_FIELDS)
def test_r15_a_synced_field_that_differs_is_updated_alone(name: str) -> None:
    assert set(_EVERY_SYNCED_FIELD) == set(SYNCED_FIELDS)
    staff = [employee("1", **_EVERY_SYNCED_FIELD)]
    mapped = {
        "groups": ("Engineering",),
        "location": "London",
        "region": "GB",
        "flags": {MemberFlag.NO_APPROVER},
    }
    current = member("m1", hris_id="1", profile=Profile(**_EVERY_SYNCED_FIELD), **mapped)
    stale = replace(current, profile=replace(current.profile, **{name: _ANOTHER_VALUE.get(name, "Other")}))

    assert plan(full(staff), [current], connection(), TODAY).is_empty
    [update] = actions(plan(full(staff), [stale], connection(), TODAY), "update")
    assert list(update.changes) == [name]
    assert update.changes[name].after == _EVERY_SYNCED_FIELD[name]


def test_r16_hris_wins_overwrites_and_clears_the_override() -> None:
    edited = member(
        "m1",
        hris_id="1",
        profile={"email": "person1@acme.example", "job_title": "Chief Vibes Officer"},
        overrides={"job_title": "Chief Vibes Officer"},
    )

    result, after = sync(full([employee("1", job_title="Engineer")]), [edited], connection())
    again = plan(full([employee("1", job_title="Engineer")]), after, connection(), TODAY)

    update = actions(result, "update")[0]
    assert update.changes["job_title"].after == "Engineer"
    assert update.clear_overrides == ("job_title",)
    assert by_hris(after, "1").overrides == {}
    assert again.is_empty


def test_r16_manual_wins_keeps_the_edit_until_a_resync() -> None:
    conn = connection(field_policy=FieldPolicy.MANUAL_WINS)
    edited = member(
        "m1",
        hris_id="1",
        profile={"email": "person1@acme.example", "job_title": "Chief Vibes Officer", "last_name": "Old"},
        overrides={"job_title": "Chief Vibes Officer"},
    )
    staff = [employee("1", job_title="Engineer", last_name="New")]

    result, after = sync(full(staff), [edited], conn)
    resynced, after_resync = sync(full(staff), after, conn, resync={"m1"})

    assert set(actions(result, "update")[0].changes) == {
        "last_name",
        "first_name",
        "company",
        "department",
        "groups",
        "start_date",
        "app_groups",
    }
    assert by_hris(after, "1").profile.job_title == "Chief Vibes Officer"
    assert actions(resynced, "update")[0].clear_overrides == ("job_title",)
    assert by_hris(after_resync, "1").profile.job_title == "Engineer"
    assert by_hris(after_resync, "1").overrides == {}


# --- R17 approvers -------------------------------------------------------------------------------


def test_r17_manager_becomes_approver_and_a_director_without_manager_is_flagged() -> None:
    staff = [
        employee("1", job_title="Director"),
        employee("2", manager_hris_id="1"),
        employee("3", manager_hris_id="404"),
    ]

    _result, after = sync(full(staff), [], connection())

    director, report, orphan = (by_hris(after, h) for h in ("1", "2", "3"))
    assert director.approver_member_id is None
    assert MemberFlag.NO_APPROVER in director.flags
    assert report.approver_member_id == director.member_id
    assert report.flags == frozenset()
    assert MemberFlag.NO_APPROVER in orphan.flags
    assert plan(full(staff), after, connection(), TODAY).is_empty


def test_r17_manager_leaving_flags_the_reports() -> None:
    staff = [employee("1"), employee("2", manager_hris_id="1")]
    _, after = sync(full(staff), [], connection())

    result, later = sync(full([staff[1]]), after, connection())

    assert [a.on for a in actions(result, "flag")] == [True]
    assert actions(result, "update")[0].changes["approver_member_id"].after is None
    assert MemberFlag.NO_APPROVER in by_hris(later, "2").flags


# --- R18 mappings --------------------------------------------------------------------------------

_MAPPINGS = Mappings(
    groups={"Engineering": "eng", "Team Blue": "blue"},
    locations={"London": "LON"},
    roles={"Manager": "admin"},
    regions={"GB": "EMEA"},
)


def test_r18_replace_mappings_for_new_members_and_unmapped_roles_reported() -> None:
    conn = connection(mappings=_MAPPINGS, default_role="viewer")
    staff = [
        employee(
            "1",
            groups=("Engineering", "Team Blue"),
            office_location="London",
            home_country="GB",
            hris_role="Manager",
        ),
        employee(
            "2",
            groups=("Engineering", "Team Red"),
            office_location="Paris",
            home_country="FR",
            hris_role="Contractor",
        ),
    ]

    result, after = sync(full(staff), [], conn)

    one, two = by_hris(after, "1"), by_hris(after, "2")
    assert (one.groups, one.location, one.role, one.region) == (("eng", "blue"), "LON", "admin", "EMEA")
    assert (two.groups, two.location, two.role, two.region) == (("eng", "Team Red"), "Paris", "viewer", "FR")
    assert [(w.code, w.message) for w in result.warnings] == [
        ("unmapped_role", "HR role 'Contractor' has no mapping (1 employee)")
    ]


def test_r18_replace_removes_and_additive_only_adds() -> None:
    existing = member(
        "m1",
        hris_id="1",
        profile={"email": "person1@acme.example"},
        groups=("admins-club", "eng"),
        location="NYC",
        role="owner",
    )
    staff = [
        employee("1", groups=("Engineering", "Team Blue"), office_location="London", hris_role="Manager")
    ]

    replace = plan(full(staff), [existing], connection(mappings=_MAPPINGS), TODAY)
    _, after = sync(
        full(staff), [existing], connection(mappings=_MAPPINGS, mapping_mode=MappingMode.ADDITIVE)
    )

    changes = actions(replace, "update")[0].changes
    assert changes["app_groups"].after == ("eng", "blue")
    assert (changes["location"].after, changes["role"].after) == ("LON", "admin")
    kept = by_hris(after, "1")
    assert kept.groups == ("admins-club", "eng", "blue")
    assert (kept.location, kept.role) == ("NYC", "owner")


# --- R19 edit scope, R20 disconnect, R21 reconnect, R22 connections ------------------------------


def test_r19_scope_edit_deactivates_the_newly_out_and_creates_the_newly_in() -> None:
    staff = [employee("1", company="Acme Ltd"), employee("2", company="Acme GmbH")]
    gb = connection(scope=Scope(mode=ScopeMode.COMPANIES, companies=("Acme Ltd",)))
    de = connection(scope=Scope(mode=ScopeMode.COMPANIES, companies=("Acme GmbH",)))
    _, members = sync(full(staff), [], gb)

    edited, after = sync(full(staff), members, de)
    back, _ = sync(full(staff), after, gb)

    assert [(a.member_id, a.reason) for a in actions(edited, "deactivate")] == [
        (member_id_for(TENANT, CONN, "1"), DeactivationReason.OUT_OF_SCOPE)
    ]
    assert [a.hris_id for a in actions(edited, "create")] == ["2"]
    assert [a.member_id for a in actions(back, "reactivate")] == [member_id_for(TENANT, CONN, "1")]


def test_r20_members_of_a_disconnected_connection_keep_their_links() -> None:
    old = member("m1", hris_id="1", connection_id="old-conn", email="m1@acme.example")

    result = plan(full([employee("5")]), [old], connection(), TODAY)

    assert [a.member_id for a in result.writes if a.kind not in {"open_task", "send_invite"}] == [
        member_id_for(TENANT, CONN, "5")
    ]


def test_r21_reconnect_claims_by_email_deactivates_outside_scope_and_reactivates_on_return() -> None:
    # Members of an earlier BambooHR connection; the tenant switches to HiBob, scoped to Sales.
    old = [
        member("m1", hris_id="b1", connection_id="bamboo", email="ada@acme.example"),
        member("m2", hris_id="b2", connection_id="bamboo", email="bob@acme.example"),
        member("m3", hris_id="b3", connection_id="bamboo", email="cy@acme.example"),
        member("m4", email="manual@acme.example"),
    ]
    hibob = connection(scope=Scope(mode=ScopeMode.GROUPS, groups=("Sales",)), first_complete_sync_at=None)
    staff = [
        employee("h1", email="ADA@acme.example", groups=("Sales",)),
        employee("h2", email="bob@acme.example", groups=("Engineering",)),
    ]

    first, after = sync(full(staff), old, hibob)

    assert [(a.member_id, a.hris_id) for a in actions(first, "link")] == [("m1", "h1"), ("m2", "h2")]
    assert sorted((a.member_id, a.reason) for a in actions(first, "deactivate")) == [
        ("m2", DeactivationReason.OUT_OF_SCOPE),
        ("m3", DeactivationReason.OUT_OF_SCOPE),
    ]
    assert actions(first, "open_task") == []
    assert actions(first, "create") == []
    assert by_hris(after, "h1").member_id == "m1"
    assert next(m for m in after if m.member_id == "m4") == old[3]

    # The connection's first complete sync is recorded; then Bob moves to Sales, Cy joins HiBob.
    settled = hibob.model_copy(update={"first_complete_sync_at": NOW})
    staff = [
        *staff[:1],
        employee("h2", email="bob@acme.example", groups=("Sales",)),
        employee("h3", email="cy@acme.example", groups=("Sales",)),
    ]
    later, final = sync(full(staff), after, settled)

    assert sorted(a.member_id for a in actions(later, "reactivate")) == ["m2", "m3"]
    assert [(a.member_id, a.hris_id) for a in actions(later, "link")] == [("m3", "h3")]
    assert actions(later, "create") == []
    assert {m.member_id: m.status for m in final} == {
        "m1": MemberStatus.ACTIVE,
        "m2": MemberStatus.ACTIVE,
        "m3": MemberStatus.ACTIVE,
        "m4": MemberStatus.ACTIVE,
    }


def test_r21_only_a_complete_first_sync_claims() -> None:
    old = [member("m1", hris_id="b1", connection_id="bamboo", email="ada@acme.example")]
    first = connection(first_complete_sync_at=None)

    partial = plan(full([], complete=False), old, first, TODAY)
    settled = plan(full([]), old, connection(), TODAY)

    assert partial.is_empty
    assert settled.is_empty


def test_r22_every_connection_has_a_label() -> None:
    with pytest.raises(ValidationError):
        connection(label="")
    assert connection(label="HiBob (EU)").label == "HiBob (EU)"


# --- R23 guard, R24 idempotent, R25 bad records, R26 tasks ---------------------------------------


def _company(n: int) -> list:
    return [member(f"m{i:03d}", hris_id=str(i), email=f"person{i}@acme.example") for i in range(n)]


def test_r23_guard_holds_when_both_thresholds_are_exceeded() -> None:
    members = _company(300)
    staff = [employee(str(i)) for i in range(300)]

    many = plan(full(staff[:200]), members, connection(), TODAY)  # 100 of 300 leave: 33 %
    few_pct = plan(
        full(staff[:200]), members, connection(safety=SafetyThresholds(max_deactivation_pct=40)), TODAY
    )
    few = plan(full(staff[:260]), members, connection(), TODAY)  # 40 leave: under 50

    assert many.guard.hold
    assert (many.guard.deactivations, many.guard.active_members, many.guard.pct) == (100, 300, 33.33)
    assert not few_pct.guard.hold
    assert not few.guard.hold


def test_r23_active_members_count_only_live_members_of_the_connection() -> None:
    members = [
        *_company(10),
        deactivated(member("d1", hris_id="d1"), DeactivationReason.LEFT_HRIS),
        member("x1", hris_id="x1", connection_id="other"),
        member("man", email="manual@acme.example"),
    ]

    result = plan(full([]), members, connection(), TODAY)

    assert (result.guard.active_members, result.guard.deactivations, result.guard.pct) == (10, 10, 100.0)
    assert active_member_count(members, CONN) == 10
    assert not result.guard.hold  # 10 is not more than 50


def test_r24_the_same_sync_twice_changes_nothing() -> None:
    staff = [
        employee("1"),
        employee("2", manager_hris_id="1", status="on_leave"),
        employee("3", status="terminated"),
    ]
    _, after = sync(full(staff), [member("m9", hris_id="9")], connection())

    again = plan(full(staff), after, connection(), TODAY)
    replay = plan(targeted(staff[1:2]), after, connection(), TODAY)

    assert again.is_empty
    assert replay.is_empty


def test_r25_bad_records_are_skipped_and_the_rest_goes_on() -> None:
    staff = [
        employee("1", email=None),
        employee("2", email="not-an-address"),
        employee("3", email="twin@acme.example"),
        employee("4", email="TWIN@acme.example"),
        employee("5", birthday="31/02/1990"),
        employee("6"),
    ]

    result = plan(full(staff), [], connection(), TODAY)

    assert [(a.hris_id, a.reason) for a in actions(result, "skip")] == [
        ("1", "missing_email"),
        ("2", "invalid_email"),
        ("3", "duplicate_email"),
        ("4", "duplicate_email"),
    ]
    assert sorted(a.hris_id for a in actions(result, "create")) == ["5", "6"]
    assert [(w.code, w.hris_id) for w in result.warnings] == [("malformed_date", "5")]


def test_r25_linked_member_whose_email_went_bad_keeps_its_email_and_still_syncs() -> None:
    linked = member("m1", hris_id="1", email="person1@acme.example")

    result = plan(full([employee("1", email=None, status="terminated")]), [linked], connection(), TODAY)

    assert [a.reason for a in actions(result, "deactivate")] == [DeactivationReason.TERMINATED]
    assert "email" not in actions(result, "update")[0].changes
    assert ("missing_email", "1") in [(w.code, w.hris_id) for w in result.warnings]


def test_r25_duplicate_hris_ids_count_once_with_a_warning() -> None:
    result = plan(full([employee("1"), employee("1", email="other@acme.example")]), [], connection(), TODAY)

    assert kinds(result).count("create") == 1
    assert [w.code for w in result.warnings] == ["duplicate_hris_id"]


def test_r26_tasks_on_create_and_on_offboarding_only() -> None:
    conn = connection(scope=Scope(mode=ScopeMode.COMPANIES, companies=("Acme Ltd",)))
    members = [member("m1", hris_id="1"), member("m2", hris_id="2"), member("m3", hris_id="3")]
    staff = [employee("1", status="terminated"), employee("3", company="Elsewhere"), employee("4")]

    result = plan(full(staff), members, conn, TODAY)

    tasks = sorted((a.member_id, a.task_type, a.reason) for a in actions(result, "open_task"))
    assert tasks == sorted(
        [
            ("m1", TaskType.OFFBOARDING, "terminated"),
            ("m2", TaskType.OFFBOARDING, "left_hris"),
            (member_id_for(TENANT, CONN, "4"), TaskType.ONBOARDING, "created"),
        ]
    )


# --- output order and apply ----------------------------------------------------------------------


def test_plan_order_is_by_kind_then_member_and_independent_of_member_order() -> None:
    members = [
        member("m2", hris_id="2"),
        member(
            "m1",
            hris_id="1",
            status=MemberStatus.INVITED,
            invite_sent_at=NOW,
            invite_expires_at=NOW - timedelta(days=1),
        ),
    ]
    staff = [employee("3", email=None), employee("4"), employee("1", email="m1@acme.example", job_title="X")]

    one = plan(full(staff), members, connection(), TODAY)
    two = plan(full(staff), list(reversed(members)), connection(), TODAY)

    assert one == two
    assert kinds(one) == [
        "skip",
        "create",
        "update",
        "flag",
        "deactivate",
        "send_invite",
        "resend_invite",
        "open_task",
        "open_task",
    ]


def test_apply_bumps_version_once_and_stamps_now() -> None:
    staff = [employee("1", manager_hris_id="1")]
    result = plan(full(staff), [], connection(), TODAY)

    changed = apply_plan([], result, connection(), NOW)

    (created,) = changed.values()
    assert (created.version, created.created_at, created.updated_at) == (1, NOW, NOW)
    assert created.invite_sent_at == NOW
