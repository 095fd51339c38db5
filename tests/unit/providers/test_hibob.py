"""HiBob: one people/search page (inactive included), 50 requests a minute so 429 matters."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
import respx

from shared.codecs import to_plain
from shared.domain.models import EmployeeStatus
from shared.providers.base import Credentials, InvalidCursor, ProviderAuthError, ProviderUnavailable, Secret
from shared.providers.common import encode_cursor
from shared.providers.hibob import HiBob
from tests.unit.providers.provider_helpers import FAST_POLICY, FakeTime, basic_auth, json_response, sent_json

SEARCH_URL = "https://api.hibob.com/v1/people/search"
CREDENTIALS = Credentials(
    secrets={"service_user_id": Secret("SERVICE-1"), "service_user_token": Secret("tok-hb")}
)


def connector(clock: FakeTime | None = None) -> HiBob:
    return HiBob(runtime=(clock or FakeTime()).runtime(), policy=FAST_POLICY)


def bob(employee_id: str, lifecycle: str | None = "employed", **work: Any) -> dict[str, Any]:
    return {
        "id": employee_id,
        "firstName": f"F{employee_id}",
        "surname": f"S{employee_id}",
        "email": f"{employee_id}@acme.test",
        "work": {"department": "R&D", **work},
        "internal": {"lifecycleStatus": lifecycle, "status": "Active"},
    }


@respx.mock
def test_r09_one_search_returns_everyone_inactive_included_as_a_single_page() -> None:
    route = respx.post(SEARCH_URL).mock(
        return_value=json_response({"employees": [bob("1"), bob("2", "terminated")]})
    )

    page = connector().list_employees(CREDENTIALS, None)

    assert [e.hris_id for e in page.employees] == ["1", "2"]
    assert page.next_cursor is None
    request = route.calls[0].request
    assert basic_auth(request) == ("SERVICE-1", "tok-hb")
    body = sent_json(request)
    assert body["showInactive"] is True
    assert body["filters"] == []
    assert {"root.id", "work.reportsTo.id", "internal.lifecycleStatus"} <= set(body["fields"])


def test_no_cursor_is_ever_issued_so_none_is_accepted() -> None:
    with pytest.raises(InvalidCursor):
        connector().list_employees(CREDENTIALS, encode_cursor("hibob", {"page": 2}))


@respx.mock
def test_every_field_is_mapped() -> None:
    record = {
        "id": "3332883884017713238",
        "firstName": "Ada",
        "surname": "Lovelace",
        "email": "ada@acme.test",
        "avatarUrl": "https://images.hibob.test/ada.png",
        "work": {
            "title": "Analyst",
            "department": "Maths",
            "site": "London",
            "startDate": "2022-02-01",
            "employeeIdInCompany": 1815,
            "reportsTo": {"id": "3332883884017713200"},
        },
        "internal": {"status": "Active", "lifecycleStatus": "employed", "terminationDate": None},
        "address": {"country": "United Kingdom"},
    }
    respx.post(SEARCH_URL).mock(return_value=json_response({"employees": [record]}))

    (employee,) = connector().list_employees(CREDENTIALS, None).employees

    assert to_plain(employee, mode="python", exclude={"raw"}) == {
        "hris_id": "3332883884017713238",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@acme.test",
        "employee_number": "1815",
        "avatar_url": "https://images.hibob.test/ada.png",
        "job_title": "Analyst",
        "department": "Maths",
        "company": None,
        "groups": ("Maths",),
        "office_location": "London",
        "home_country": "United Kingdom",
        "birthday": None,
        "start_date": date(2022, 2, 1),
        "termination_date": None,
        "manager_hris_id": "3332883884017713200",
        "hris_role": None,
        "status": EmployeeStatus.ACTIVE,
        "raw_status": "employed",
        "status_unknown": False,
        "warnings": (),
        "company_id": None,
        "group_ids": ("department:Maths",),
    }


@respx.mock
def test_flat_field_paths_are_read_too() -> None:
    record = {"root.id": "5", "root.firstName": "Flat", "/work/title": "Cook", "internal.status": "Inactive"}
    respx.post(SEARCH_URL).mock(return_value=json_response({"employees": [record]}))

    (employee,) = connector().list_employees(CREDENTIALS, None).employees

    assert (employee.hris_id, employee.first_name, employee.job_title) == ("5", "Flat", "Cook")
    assert employee.status is EmployeeStatus.TERMINATED


@respx.mock
def test_statuses_are_mapped_and_unknown_values_reported() -> None:
    records = [
        bob("1", "employed"),
        bob("2", "hired"),
        bob("3", "garden leave"),
        bob("4", "terminated"),
        bob("5", "resting"),
        bob("6", None),
    ]
    records[5]["internal"]["status"] = "Inactive"
    respx.post(SEARCH_URL).mock(return_value=json_response({"employees": records}))

    employees = {e.hris_id: e for e in connector().list_employees(CREDENTIALS, None).employees}

    assert [employees[k].status for k in "12346"] == [
        EmployeeStatus.ACTIVE,
        EmployeeStatus.PENDING,
        EmployeeStatus.ON_LEAVE,
        EmployeeStatus.TERMINATED,
        EmployeeStatus.TERMINATED,
    ]
    assert employees["5"].warnings == ("hibob: unknown status 'resting' treated as active",)


@respx.mock
def test_r04_null_and_unknown_statuses_stay_active_and_are_marked_for_the_run_report() -> None:
    records = [bob("1", "employed"), bob("2", "resting"), bob("3", None), bob("4", None)]
    records[2]["internal"]["status"] = None  # neither a lifecycle nor a status
    records[3]["internal"]["status"] = "Dormant"
    respx.post(SEARCH_URL).mock(return_value=json_response({"employees": records}))

    employees = {e.hris_id: e for e in connector().list_employees(CREDENTIALS, None).employees}

    assert {k: (e.status, e.status_unknown, e.raw_status) for k, e in employees.items()} == {
        "1": (EmployeeStatus.ACTIVE, False, "employed"),
        "2": (EmployeeStatus.ACTIVE, True, "resting"),
        "3": (EmployeeStatus.ACTIVE, True, None),
        "4": (EmployeeStatus.ACTIVE, True, "Dormant"),
    }


@respx.mock
def test_rate_limit_429_is_waited_out_with_retry_after() -> None:
    clock = FakeTime()
    route = respx.post(SEARCH_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "30"}),
            httpx.Response(429, headers={"Retry-After": "20"}),
            json_response({"employees": [bob("1")]}),
        ]
    )

    page = connector(clock).list_employees(CREDENTIALS, None)

    assert len(page.employees) == 1
    assert route.call_count == 3
    assert clock.sleeps == [30.0, 20.0]


@respx.mock
def test_r09_5xx_until_give_up_and_auth_errors_are_typed() -> None:
    respx.post(SEARCH_URL).mock(return_value=httpx.Response(500))
    with pytest.raises(ProviderUnavailable):
        connector().list_employees(CREDENTIALS, None)
    respx.post(SEARCH_URL).mock(return_value=httpx.Response(401))
    with pytest.raises(ProviderAuthError):
        connector().list_employees(CREDENTIALS, None)
    with pytest.raises(ProviderAuthError, match="service_user_token"):
        connector().list_employees(Credentials(secrets={"service_user_id": Secret("x")}), None)


@respx.mock
def test_get_employees_filters_the_search_by_id() -> None:
    route = respx.post(SEARCH_URL).mock(return_value=json_response({"employees": [bob("9")]}))

    page = connector().get_employees(CREDENTIALS, ["9", "9"])

    assert [e.hris_id for e in page.employees] == ["9"]
    assert sent_json(route.calls[0].request)["filters"] == [
        {"fieldPath": "root.id", "operator": "equals", "values": ["9"]}
    ]
    assert connector().get_employees(CREDENTIALS, []).employees == []


@respx.mock
def test_directory_from_one_search() -> None:
    respx.post(SEARCH_URL).mock(
        return_value=json_response({"employees": [bob("1"), bob("2", department="Sales")]})
    )
    directory = connector().directory(CREDENTIALS)
    assert [g.name for g in directory.groups] == ["R&D", "Sales"]
    assert len(directory.people) == 2
