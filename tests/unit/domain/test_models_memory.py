"""Validated models share one fields-set per distinct set of names (memory, bench/reconcile.py),
and every behaviour that reads it is unchanged: copies, ``exclude_unset`` dumps, equality,
hashing, pickling."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.domain.models import Employee, Member, MemberSource, MemberStatus, Profile


def _member(member_id: str, **profile: str) -> Member:
    return Member.model_validate(
        {
            "member_id": member_id,
            "tenant_id": "t1",
            "source": "hris",
            "status": "active",
            "profile": {"email": f"{member_id}@example.com", **profile},
        }
    )


def test_instances_with_the_same_names_share_one_fields_set() -> None:
    first = Employee.model_validate({"hris_id": "1", "email": "a@example.com"})
    second = Employee(hris_id="2", email="b@example.com")

    assert first.model_fields_set == {"hris_id", "email"}
    assert first.model_fields_set is second.model_fields_set
    assert _member("m1").profile.model_fields_set is _member("m2").profile.model_fields_set


def test_different_names_keep_different_fields_sets() -> None:
    first = Employee(hris_id="1", email="a@example.com")
    second = Employee(hris_id="2", job_title="Chef")

    assert first.model_fields_set == {"hris_id", "email"}
    assert second.model_fields_set == {"hris_id", "job_title"}


def test_model_copy_with_update_leaves_the_shared_set_alone() -> None:
    original = Employee(hris_id="1", email="a@example.com")
    sibling = Employee(hris_id="2", email="b@example.com")

    changed = original.model_copy(update={"job_title": "Chef"})

    assert changed.job_title == "Chef"
    assert changed.model_fields_set == {"hris_id", "email", "job_title"}
    assert original.model_fields_set == {"hris_id", "email"}
    assert sibling.model_fields_set == {"hris_id", "email"}
    assert original.model_dump(exclude_unset=True) == {"hris_id": "1", "email": "a@example.com"}
    assert changed.model_dump(exclude_unset=True) == {
        "hris_id": "1",
        "email": "a@example.com",
        "job_title": "Chef",
    }


def test_copy_and_deepcopy_leave_the_shared_set_alone() -> None:
    original = _member("m1", job_title="Chef")

    for duplicate in (copy.copy(original), copy.deepcopy(original), original.model_copy(deep=True)):
        assert duplicate == original
        assert duplicate.model_fields_set == original.model_fields_set
    assert _member("m2").model_fields_set == {"member_id", "tenant_id", "source", "status", "profile"}


def test_exclude_unset_dumps_only_what_was_given() -> None:
    member = _member("m1", job_title="Chef")

    assert member.model_dump(exclude_unset=True) == {
        "member_id": "m1",
        "tenant_id": "t1",
        "source": MemberSource.HRIS,
        "status": MemberStatus.ACTIVE,
        "profile": {"email": "m1@example.com", "job_title": "Chef"},
    }


def test_equality_and_hashing_are_by_value() -> None:
    first = Profile(email="a@example.com", job_title="Chef")
    same = Profile.model_validate({"job_title": "Chef", "email": "a@example.com"})
    other = Profile(email="a@example.com")

    assert first == same
    assert hash(first) == hash(same)
    assert first != other
    assert len({first, same, other}) == 2


def test_frozen_models_still_refuse_assignment() -> None:
    employee = Employee(hris_id="1")

    with pytest.raises(ValidationError):
        employee.email = "a@example.com"  # type: ignore[misc]
    assert employee.model_fields_set == {"hris_id"}


def test_pickling_round_trips() -> None:
    member = _member("m1", job_title="Chef")

    restored = pickle.loads(pickle.dumps(member))  # noqa: S301 - our own bytes

    assert restored == member
    assert restored.model_fields_set == member.model_fields_set
    assert restored.model_dump(exclude_unset=True) == member.model_dump(exclude_unset=True)


def test_model_construct_does_not_adopt_the_callers_set() -> None:
    names = {"hris_id"}

    built = Employee.model_construct(_fields_set=names, hris_id="1")
    names.add("email")

    assert built.model_fields_set == {"hris_id"}


def test_values_that_repeat_across_people_are_one_object() -> None:
    data = {"hris_id": "1", "department": "Sales", "groups": ["Sales", "EMEA"], "start_date": "2024-03-01"}
    first = Employee.model_validate(data)
    second = Employee.model_validate({**data, "hris_id": "2", "department": "".join(["Sa", "les"])})

    assert second.department == "Sales"
    assert first.department is second.department
    assert first.groups is second.groups
    assert first.start_date is second.start_date
    assert first.model_dump() == {**second.model_dump(), "hris_id": "1"}


def test_datetimes_keep_their_own_zone() -> None:
    utc = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    first = Member(
        member_id="m1", tenant_id="t1", source=MemberSource.HRIS, status=MemberStatus.ACTIVE, created_at=utc
    )
    second = Member(
        member_id="m2", tenant_id="t1", source=MemberSource.HRIS, status=MemberStatus.ACTIVE, created_at=paris
    )

    assert second.created_at is not None
    assert second.created_at.utcoffset() == timedelta(hours=1)
    assert first.tenant_id is second.tenant_id
