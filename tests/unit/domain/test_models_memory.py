"""The plain domain values (``Employee``, ``Profile``, ``Member``): slotted and immutable, equal
and hashed by value, and read from outside data only through ``shared.codecs``, which validates
(memory and speed: bench/reconcile.py)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.codecs import employee_from, member_from, member_from_json, profile_from, to_json, to_plain
from shared.domain.models import Employee, Member, MemberFlag, MemberSource, MemberStatus, Profile

_BARE = {"member_id": "m", "tenant_id": "t", "source": "hris", "status": "active"}


def _member(member_id: str, **profile: str) -> Member:
    return member_from(
        {
            "member_id": member_id,
            "tenant_id": "t1",
            "source": "hris",
            "status": "active",
            "profile": {"email": f"{member_id}@example.com", **profile},
        }
    )


def test_values_are_slotted_without_a_per_instance_dict() -> None:
    for value in (Employee(hris_id="1"), Profile(), _member("m1")):
        assert not hasattr(value, "__dict__")


def test_values_refuse_assignment() -> None:
    employee = Employee(hris_id="1")

    with pytest.raises(dataclasses.FrozenInstanceError):
        employee.email = "a@example.com"  # type: ignore[misc]


def test_equality_and_hashing_are_by_value() -> None:
    first = Profile(email="a@example.com", job_title="Chef")
    same = profile_from({"job_title": "Chef", "email": "a@example.com"})
    other = Profile(email="a@example.com")

    assert first == same
    assert hash(first) == hash(same)
    assert first != other
    assert len({first, same, other}) == 2


def test_copies_and_pickles_are_equal() -> None:
    member = _member("m1", job_title="Chef")

    restored = pickle.loads(pickle.dumps(member))  # noqa: S301 - our own bytes

    assert restored == member
    assert copy.copy(member) == member
    assert copy.deepcopy(member) == member
    assert dataclasses.replace(member, role="admin") != member


def test_stored_json_round_trips() -> None:
    member = dataclasses.replace(
        _member("m1", job_title="Chef", birthday="1990-02-03"),
        created_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        overrides={"job_title": "Chef"},
    )

    assert member_from_json(to_json(member)) == member
    assert member_from(to_plain(member)) == member


def test_codecs_refuse_unknown_fields_empty_ids_and_wrong_types() -> None:
    with pytest.raises(ValidationError, match="nickname"):
        employee_from({"hris_id": "1", "nickname": "Al"})
    with pytest.raises(ValidationError, match="hris_id"):
        employee_from({"hris_id": ""})
    with pytest.raises(ValidationError, match=r"profile\.nickname"):
        member_from(
            {
                "member_id": "m",
                "tenant_id": "t",
                "source": "hris",
                "status": "active",
                "profile": {"nickname": "x"},
            }
        )
    with pytest.raises(ValidationError, match="member_id"):
        member_from_json('{"member_id": "", "tenant_id": "t", "source": "hris", "status": "active"}')
    with pytest.raises(ValidationError, match="version"):
        member_from({**_BARE, "version": -1})
    with pytest.raises(ValidationError, match="status"):
        member_from({**_BARE, "status": "asleep"})


def test_stored_json_is_refused_like_plain_values_and_every_failure_is_a_validation_error() -> None:
    bare = '"member_id": "m", "tenant_id": "t", "source": "hris", "status": "active"'
    with pytest.raises(ValidationError, match="nickname"):
        member_from_json(f'{{{bare}, "nickname": "x"}}')
    with pytest.raises(ValidationError, match=r"profile\.nickname"):
        member_from_json(f'{{{bare}, "profile": {{"nickname": "x"}}}}')
    with pytest.raises(ValidationError, match="version"):
        member_from_json(f'{{{bare}, "version": -1}}')
    for not_a_member in (f"{{{bare}, ", "[]", "null"):
        with pytest.raises(ValidationError):
            member_from_json(not_a_member)


def test_members_read_without_flags_share_one_empty_set_and_flags_are_kept() -> None:
    first, second = _member("m1"), member_from_json(to_json(_member("m2")))
    flagged = dataclasses.replace(first, flags=frozenset({MemberFlag.NO_APPROVER}))

    assert first.flags is second.flags  # one object, not one per member (memory)
    assert member_from_json(to_json(flagged)).flags == {MemberFlag.NO_APPROVER}


def test_datetimes_keep_their_own_zone() -> None:
    paris = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=1)))
    member = Member(
        member_id="m2", tenant_id="t1", source=MemberSource.HRIS, status=MemberStatus.ACTIVE, created_at=paris
    )

    restored = member_from_json(to_json(member))

    assert restored.created_at is not None
    assert restored.created_at.utcoffset() == timedelta(hours=1)
