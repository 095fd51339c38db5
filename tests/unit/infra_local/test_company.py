"""The generated company: deterministic, a sound manager tree, a realistic mix of people."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from infra.local.company import DEFAULT_TODAY, generate_company
from shared.codecs import employee_from, to_plain
from shared.domain.models import Employee, EmployeeStatus


@pytest.fixture(scope="module")
def company() -> list[Employee]:
    return generate_company(3000, seed=11, today=date(2026, 3, 1))


def test_same_inputs_give_the_same_company() -> None:
    assert generate_company(500, seed=3) == generate_company(500, seed=3)
    assert generate_company(500, seed=3) != generate_company(500, seed=4)


def test_sizes_and_empty_company() -> None:
    assert generate_company(0) == []
    assert len(generate_company(1)) == 1
    assert len(generate_company(257)) == 257
    with pytest.raises(ValueError, match="n must be"):
        generate_company(-1)


def test_records_are_valid_domain_employees(company: list[Employee]) -> None:
    for employee in company[:300]:
        assert employee_from(to_plain(employee, mode="python")) == employee


def test_ids_emails_and_employee_numbers_are_unique(company: list[Employee]) -> None:
    assert len({e.hris_id for e in company}) == len(company)
    assert len({e.email_key for e in company}) == len(company)
    assert None not in {e.email_key for e in company}
    assert len({e.employee_number for e in company}) == len(company)


def test_manager_tree_has_few_roots_no_cycles_and_every_manager_exists(company: list[Employee]) -> None:
    by_id = {e.hris_id: e for e in company}
    roots = [e for e in company if e.manager_hris_id is None]
    assert 1 <= len(roots) <= 3
    for employee in company:
        seen: set[str] = set()
        current: Employee | None = employee
        while current is not None and current.manager_hris_id is not None:
            assert current.hris_id not in seen, "cycle in the manager tree"
            seen.add(current.hris_id)
            assert current.manager_hris_id in by_id, "manager does not exist"
            current = by_id[current.manager_hris_id]
    fan_out = Counter(e.manager_hris_id for e in company if e.manager_hris_id)
    assert max(fan_out.values()) <= 10
    assert 3.0 <= sum(fan_out.values()) / len(fan_out) <= 9.0


def test_leavers_and_joiners_have_no_reports(company: list[Employee]) -> None:
    managers = {e.manager_hris_id for e in company}
    today = date(2026, 3, 1)
    for employee in company:
        if employee.status is EmployeeStatus.TERMINATED or (employee.start_date or today) > today:
            assert employee.hris_id not in managers


def test_mix_of_statuses_and_dates(company: list[Employee]) -> None:
    today = date(2026, 3, 1)
    statuses = Counter(e.status for e in company)
    assert statuses[EmployeeStatus.ACTIVE] > 0.85 * len(company)
    assert statuses[EmployeeStatus.ON_LEAVE] > 0
    assert statuses[EmployeeStatus.TERMINATED] > 0
    assert statuses[EmployeeStatus.PENDING] > 0
    terminated = [e for e in company if e.status is EmployeeStatus.TERMINATED]
    assert all(e.termination_date is not None and e.termination_date < today for e in terminated)
    notice = [e for e in company if e.status is EmployeeStatus.ACTIVE and e.termination_date]
    assert notice and all(e.termination_date and e.termination_date > today for e in notice)
    future = [e for e in company if e.start_date and e.start_date > today]
    assert future and all(e.status in {EmployeeStatus.ACTIVE, EmployeeStatus.PENDING} for e in future)
    assert all(e.birthday and e.start_date for e in company)


def test_org_structure_has_entities_divisions_departments_and_teams(company: list[Employee]) -> None:
    companies = Counter(e.company for e in company)
    assert len(companies) >= 3
    assert "Southgate Labs B.V." in companies
    southgate = [e for e in company if e.company == "Southgate Labs B.V."]
    assert all(e.email and e.email.endswith("@southgate.example") for e in southgate)
    divisions = {e.groups[0] for e in company}
    assert {"Engineering", "Sales", "People"} <= divisions
    assert len({e.department for e in company}) >= 15
    teams = Counter(e.groups[-1] for e in company)
    assert len(teams) > 100
    assert {e.office_location for e in company} >= {"London", "Berlin", "New York", "Amsterdam"}
    assert Counter(e.home_country != _office_country(e) for e in company)[True] > 0
    assert {e.hris_role for e in company} >= {"Executive", "Manager", "Employee", "HR Admin"}
    titles = Counter(e.job_title for e in company)
    assert titles["Chief Executive Officer"] == 1
    assert len(titles) > 30


def test_default_today_is_fixed() -> None:
    assert date(2026, 1, 15) == DEFAULT_TODAY
    assert generate_company(50) == generate_company(50, seed=7, today=DEFAULT_TODAY)


def _office_country(employee: Employee) -> str:
    return {
        "London": "GB",
        "Berlin": "DE",
        "New York": "US",
        "San Francisco": "US",
        "Paris": "FR",
        "Amsterdam": "NL",
    }[employee.office_location or ""]
