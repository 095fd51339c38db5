"""The fake HR system's company model, OAuth bits and rate limits (no sockets)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from infra.local.company import generate_company
from infra.local.fake_hris.company import FakeCompany, InvalidChange, UnknownEmployee
from infra.local.fake_hris.oauth import OAuthError, OAuthServer, basic, bearer, s256
from infra.local.fake_hris.server import Fault, Faults, RateLimit, RateLimiter
from shared.domain.models import Employee, EmployeeStatus

TODAY = date(2026, 1, 15)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def company() -> FakeCompany:
    return FakeCompany(generate_company(60, 2, TODAY), clock=Clock())


def test_generated_ids_are_kept_and_managers_resolve(company: FakeCompany) -> None:
    employees = company.employees()
    ids = {e.hris_id for e in employees}
    assert len(employees) == 60
    assert all(e.manager_hris_id in ids for e in employees if e.manager_hris_id)


def test_non_numeric_ids_are_renumbered_with_managers_following() -> None:
    boss = Employee(hris_id="boss", first_name="B", email="b@x.example")
    worker = Employee(hris_id="w-1", first_name="W", email="w@x.example", manager_hris_id="boss")
    renumbered = FakeCompany([boss, worker]).employees()
    assert [e.hris_id for e in renumbered] == ["1", "2"]
    assert renumbered[1].manager_hris_id == "1"


def test_hire_in_the_future_is_pending_and_records_a_created_change(company: FakeCompany) -> None:
    person, change = company.hire("Ada", "Lovelace", start_date=company.today() + timedelta(days=30))
    assert person.employee.status is EmployeeStatus.PENDING
    assert person.employee.email
    assert change.kind == "created"
    assert change.event == "hired"
    assert "first_name" in change.changed_fields


def test_terminate_today_or_later(company: FakeCompany) -> None:
    first, second = company.people()[10], company.people()[11]
    company.terminate(first.id)
    later = company.today() + timedelta(days=20)
    change = company.terminate(second.id, on=later)
    assert company.get(first.id).employee.status is EmployeeStatus.TERMINATED
    assert company.get(second.id).employee.status is not EmployeeStatus.TERMINATED
    assert change.changed_fields == ("termination_date",)


def test_move_replaces_the_department_among_the_groups(company: FakeCompany) -> None:
    person = company.people()[20]
    old = person.employee.department
    change = company.move(person.id, department="Brand New Department")
    moved = company.get(person.id).employee
    assert moved.department == "Brand New Department"
    assert "Brand New Department" in moved.groups
    assert old not in moved.groups
    assert set(change.changed_fields) == {"department", "groups"}


def test_bad_changes_are_typed_errors(company: FakeCompany) -> None:
    person = company.people()[3]
    with pytest.raises(UnknownEmployee):
        company.terminate(99999)
    with pytest.raises(InvalidChange):
        company.change_manager(person.id, person.id)
    with pytest.raises(UnknownEmployee):
        company.change_manager(person.id, 99999)
    with pytest.raises(InvalidChange):
        company.update(person.id, salary=10)
    company.delete(person.id)
    with pytest.raises(UnknownEmployee):
        company.start_leave(person.id)


def test_leave_round_trip_and_changes_since(company: FakeCompany) -> None:
    person = company.people()[30]
    mark = company.now()
    company.start_leave(person.id)
    assert company.get(person.id).employee.status is EmployeeStatus.ON_LEAVE
    company.end_leave(person.id)
    assert [c.event for c in company.changes_since(mark)] == ["leave_started", "leave_ended"]
    assert company.get(person.id).version == 2


def test_pkce_s256_matches_rfc7636() -> None:
    assert (
        s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_oauth_codes_are_single_use_and_pkce_checked() -> None:
    server = OAuthServer("client", "secret", access_ttl=900, pkce=True, prefix="t")
    with pytest.raises(OAuthError):
        server.authorize("client", "http://127.0.0.1/cb", None, None)
    code = server.authorize("client", "http://127.0.0.1/cb", s256("v" * 43), "S256")
    with pytest.raises(OAuthError, match="code_verifier"):
        server.exchange_code(
            code,
            client_id="client",
            client_secret="secret",
            redirect_uri="http://127.0.0.1/cb",
            code_verifier="x",
        )
    with pytest.raises(OAuthError, match="invalid or expired"):
        server.exchange_code(
            code,
            client_id="client",
            client_secret="secret",
            redirect_uri="http://127.0.0.1/cb",
            code_verifier="v" * 43,
        )
    pair = server.issue()
    assert server.valid(pair.access_token)
    server.expire_access_tokens()
    assert not server.valid(pair.access_token)
    with pytest.raises(OAuthError, match="Client authentication"):
        server.refresh(pair.refresh_token, client_id="client", client_secret="wrong")


def test_auth_header_parsing() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("Basic abc") is None
    assert basic("Basic dXNlcjpwYXNz") == ("user", "pass")
    assert basic("Basic !!!") is None
    assert basic(None) is None


def test_rate_limits_parse_and_count() -> None:
    assert RateLimit.parse("50/min") == RateLimit(50, 60.0)
    assert RateLimit.parse("10/s") == RateLimit(10, 1.0)
    assert RateLimit.parse("5/30") == RateLimit(5, 30.0)
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit.parse("many")
    limiter = RateLimiter(RateLimit(2, 60))
    assert [limiter.check(), limiter.check()] == [None, None]
    retry_after = limiter.check()
    assert retry_after is not None
    assert 1 <= retry_after <= 60


def test_faults_are_validated() -> None:
    with pytest.raises(ValueError, match="fault kind"):
        Fault(kind="boom")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status"):
        Fault(status=200)
    with pytest.raises(ValueError, match="missing"):
        Fault(kind="short_page", missing=0)
    fault = Fault(page=2, times=1)
    assert fault.matches(2)
    assert not fault.matches(1)


def test_r31_paging_faults_shorten_the_page_and_repeat_the_cursor() -> None:
    faults = Faults()
    faults.add(Fault(kind="short_page", page=1, missing=2))
    faults.add(Fault(kind="repeat_cursor", page=2))
    first, second = faults.on_page(1), faults.on_page(2)
    assert first.shorten([1, 2, 3, 4, 5]) == [1, 2, 3]
    assert not first.repeat
    assert second.repeat and second.shorten([1, 2]) == [1, 2]
    assert first.shorten([1]) == []
