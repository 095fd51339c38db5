"""The demo's scope edit: the groups that keep everyone except one department (R01's group scope)."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.demo import scope_without
from infra.local.company import generate_company
from infra.local.fake_hris.company import Person


def test_scope_without_a_department_keeps_everyone_else_and_nobody_of_it() -> None:
    now = datetime(2026, 1, 15, tzinfo=UTC)
    people = [
        Person(id=int(e.hris_id), employee=e, created_at=now, updated_at=now) for e in generate_company(600)
    ]
    groups = set(scope_without(people, "Communications"))
    inside = {p.key for p in people if groups & set(p.employee.groups)}
    department = {p.key for p in people if p.employee.department == "Communications"}
    assert department and not department & inside
    # Everyone else is in scope unless all their groups are shared with that department.
    left_out = {p.key for p in people} - inside - department
    assert len(left_out) <= 3
    assert len(groups) < 200  # divisions and departments first: a short list an admin could read
