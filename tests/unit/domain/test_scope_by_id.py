"""R33: scopes select by the directory's ids; names saved before still match; a deleted group
selects nobody and the run says so."""

from __future__ import annotations

import json

from reconciler_builders import TODAY, actions, connection, employee, full, member

from shared.codecs import employees_from_json
from shared.domain.models import (
    Connection,
    DeactivationReason,
    Plan,
    Scope,
    ScopeLabel,
    ScopeMode,
    Snapshot,
    Targeted,
)
from shared.domain.reconciler import plan, scope_counts


def _created(result: Plan) -> set[str]:
    return {a.hris_id for a in actions(result, "create")}


def test_r33_a_groups_scope_by_id_selects_the_employees_carrying_that_id() -> None:
    staff = [
        employee("1", department="Sales", groups=("Sales",), group_ids=("g-sales",)),
        employee("2", department="Ops", groups=("Ops",), group_ids=("g-ops",)),
        employee("3", department="Sales", groups=("Sales", "Berlin"), group_ids=("g-sales", "g-berlin")),
    ]
    scope = Scope(mode=ScopeMode.GROUPS, groups=("g-sales",))

    result = plan(full(staff), [], connection(scope=scope), TODAY)

    assert _created(result) == {"1", "3"}


def test_r33_a_companies_scope_by_id_keeps_linked_members_in_scope() -> None:
    staff = [
        employee("1", company="Acme Ltd", company_id="c-acme"),
        employee("2", company="Other GmbH", company_id="c-other"),
    ]
    members = [member("m1", hris_id="1"), member("m2", hris_id="2")]
    scope = Scope(mode=ScopeMode.COMPANIES, companies=("c-acme",))

    result = plan(full(staff), members, connection(scope=scope), TODAY)

    deactivated = {a.member_id: a.reason for a in result.actions if a.kind == "deactivate"}
    assert deactivated == {"m2": DeactivationReason.OUT_OF_SCOPE}


def test_r33_names_in_scopes_saved_before_ids_still_match() -> None:
    staff = [
        employee("1", company="Acme Ltd", company_id="c-acme", group_ids=("g-eng",)),
        employee("2", company="Other GmbH", company_id="c-other", department="Ops", groups=("Ops",)),
    ]
    by_company = Scope(mode=ScopeMode.COMPANIES, companies=("Acme Ltd",))
    by_group = Scope(mode=ScopeMode.GROUPS, groups=("Ops",))

    assert _created(plan(full(staff), [], connection(scope=by_company), TODAY)) == {"1"}
    assert _created(plan(full(staff), [], connection(scope=by_group), TODAY)) == {"2"}


def test_r33_a_group_the_hr_system_deleted_selects_nobody_and_the_run_warns() -> None:
    staff = [employee("1", group_ids=("g-eng",)), employee("2", group_ids=("g-ops",))]
    scope = Scope(
        mode=ScopeMode.GROUPS,
        groups=("g-eng", "g-gone"),
        labels={"g-gone": ScopeLabel(name="Closed office", kind="location")},
    )

    result = plan(full(staff), [], connection(scope=scope), TODAY)

    assert _created(result) == {"1"}
    unmatched = [w for w in result.warnings if w.code == "scope_value_unmatched"]
    assert len(unmatched) == 1
    assert "'Closed office' (g-gone)" in unmatched[0].message


def test_r33_only_a_complete_snapshot_reports_an_unmatched_scope_value() -> None:
    staff = (employee("1", group_ids=("g-eng",)),)
    scope = Scope(mode=ScopeMode.GROUPS, groups=("g-gone",))
    incomplete = Snapshot(employees=staff, complete=False, reasons=("page 2 failed",))

    for source in (incomplete, Targeted(employees=staff)):
        result = plan(source, [], connection(scope=scope), TODAY)
        assert not [w for w in result.warnings if w.code == "scope_value_unmatched"]


def test_r33_scope_counts_count_each_choice_without_the_terminated() -> None:
    staff = [
        employee("1", group_ids=("g-eng",)),
        employee("2", group_ids=("g-eng", "g-ops")),
        employee("3", group_ids=("g-eng",), status="terminated"),
    ]
    scope = Scope(mode=ScopeMode.GROUPS, groups=("g-ops", "g-eng", "g-gone", "Engineering"))

    assert scope_counts(scope, staff) == {"g-ops": 1, "g-eng": 2, "g-gone": 0, "Engineering": 2}
    assert scope_counts(Scope(), staff) == {}


def test_r33_snapshot_pages_stored_before_the_ids_still_read() -> None:
    stored = json.dumps([{"hris_id": "7", "company": "Acme Ltd", "groups": ["Sales"]}])

    (read,) = employees_from_json(stored)

    assert (read.company_id, read.group_ids, read.groups) == (None, (), ("Sales",))


def test_r33_connections_stored_before_scope_labels_still_read() -> None:
    stored = connection(scope=Scope(mode=ScopeMode.GROUPS, groups=("Sales",))).model_dump(mode="json")
    del stored["scope"]["labels"]

    read = Connection.model_validate(stored)

    assert read.scope.groups == ("Sales",) and read.scope.labels == {}
