"""The domain models: lenient employee validation, secrets that never show."""

from __future__ import annotations

from datetime import date

from shared.codecs import employee_from
from shared.domain.ids import member_id_for
from shared.domain.models import EmployeeStatus, Member, MemberSource, MemberStatus, Profile


def test_r04_unknown_status_is_active_with_a_warning() -> None:
    employee = employee_from({"hris_id": "7", "status": "sabbatical-ish"})

    assert employee.status is EmployeeStatus.ACTIVE
    assert employee.raw_status == "sabbatical-ish"
    assert employee.warnings == ("unknown status 'sabbatical-ish' treated as active",)


def test_r25_malformed_dates_become_none_with_a_warning() -> None:
    employee = employee_from({"hris_id": "7", "birthday": "31/02/1990", "start_date": "2024-03-01T00:00:00Z"})

    assert employee.birthday is None
    assert employee.start_date == date(2024, 3, 1)
    assert employee.warnings == ("malformed birthday '31/02/1990' ignored",)


def test_r05_email_key_is_case_insensitive_and_rejects_garbage() -> None:
    assert employee_from({"hris_id": "1", "email": " Ada@Example.COM "}).email_key == "ada@example.com"
    assert employee_from({"hris_id": "1", "email": "not-an-email"}).email_key is None
    assert employee_from({"hris_id": "1", "email": "   "}).email is None


def test_member_email_key_and_management() -> None:
    member = Member(
        member_id="m1",
        tenant_id="t1",
        source=MemberSource.HRIS,
        connection_id="c1",
        hris_id="7",
        status=MemberStatus.ACTIVE,
        profile=Profile(email="Ada@Example.com"),
    )

    assert member.email_key == "ada@example.com"
    assert member.is_hris_managed


def test_member_ids_are_stable_and_distinct() -> None:
    assert member_id_for("t", "c", "1") == member_id_for("t", "c", "1")
    assert member_id_for("t", "c", "1") != member_id_for("t", "c", "2")
    assert member_id_for("t", "c", "1") != member_id_for("u", "c", "1")
