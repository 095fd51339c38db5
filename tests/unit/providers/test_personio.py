"""Personio v1: auth token cached until expiry, limit/offset paging at most 100, attribute objects."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from shared.domain.models import EmployeeStatus
from shared.providers.base import Credentials, ProviderAuthError, ProviderUnavailable, Secret, Tier
from shared.providers.personio import CAPABILITIES, PAGE_LIMIT, Personio
from tests.unit.providers.provider_helpers import FAST_POLICY, START, FakeTime, json_response, sent_json

BASE = "https://api.personio.de"
AUTH_URL = f"{BASE}/v1/auth"
EMPLOYEES_URL = f"{BASE}/v1/company/employees"
CREDENTIALS = Credentials(secrets={"client_id": Secret("pid"), "client_secret": Secret("psecret")})


def connector(clock: FakeTime | None = None) -> Personio:
    return Personio(runtime=(clock or FakeTime()).runtime(), policy=FAST_POLICY)


def attr(label: str, value: Any, kind: str = "standard", universal_id: str | None = None) -> dict[str, Any]:
    return {"label": label, "value": value, "type": kind, "universal_id": universal_id}


def relation(kind: str, item_id: int, name: str) -> dict[str, Any]:
    return {"type": kind, "attributes": {"id": item_id, "name": name}}


def person(employee_id: int, status: str | None = "active", **attributes: Any) -> dict[str, Any]:
    base = {
        "id": attr("ID", employee_id, "integer", "id"),
        "first_name": attr("First name", f"F{employee_id}"),
        "last_name": attr("Last name", f"L{employee_id}"),
        "email": attr("Email", f"p{employee_id}@acme.test"),
        "status": attr("Status", status),
    }
    return {"type": "Employee", "attributes": {**base, **attributes}}


def auth_ok(token: str = "tok-1", expires_in: int = 86400) -> httpx.Response:  # noqa: S107
    return json_response({"success": True, "data": {"token": token, "expires_in": expires_in, "scope": "x"}})


def paged(total: int) -> Any:
    people = [person(i) for i in range(1, total + 1)]

    def answer(request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        limit, offset = int(query["limit"][0]), int(query["offset"][0])
        chunk = people[offset : offset + limit]
        pages = -(-total // limit)
        return json_response(
            {
                "success": True,
                "metadata": {"total_elements": total, "current_page": offset // limit, "total_pages": pages},
                "offset": offset,
                "limit": limit,
                "data": chunk,
            }
        )

    return answer


def one_page(records: list[dict[str, Any]]) -> httpx.Response:
    """Everyone on one page, as the spec shapes it (the metadata says where the list ends)."""
    meta = {"total_elements": len(records), "current_page": 0, "total_pages": 1}
    return json_response(
        {"success": True, "metadata": meta, "offset": 0, "limit": PAGE_LIMIT, "data": records}
    )


def test_declares_tier_and_capabilities() -> None:
    assert Personio.tier is Tier.FULL
    assert "company" in CAPABILITIES and "birthday" in CAPABILITIES


@respx.mock
def test_r09_pages_by_offset_to_the_end_with_one_auth_call() -> None:
    auth = respx.post(AUTH_URL).mock(return_value=auth_ok())
    route = respx.get(EMPLOYEES_URL).mock(side_effect=paged(total=230))
    provider = connector()

    ids: list[str] = []
    cursor = None
    credentials = CREDENTIALS
    while True:
        page = provider.list_employees(credentials, cursor)
        credentials = page.refreshed_credentials or credentials
        ids.extend(e.hris_id for e in page.employees)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert ids == [str(i) for i in range(1, 231)]
    assert auth.call_count == 1
    assert sent_json(auth.calls[0].request) == {"client_id": "pid", "client_secret": "psecret"}
    offsets = [parse_qs(urlsplit(str(c.request.url)).query)["offset"][0] for c in route.calls]
    assert offsets == ["0", "100", "200"]
    assert {parse_qs(urlsplit(str(c.request.url)).query)["limit"][0] for c in route.calls} == {
        str(PAGE_LIMIT)
    }
    assert all(c.request.headers["authorization"] == "Bearer tok-1" for c in route.calls)


@respx.mock
def test_the_token_is_handed_back_and_reused_by_the_next_step_until_it_expires() -> None:
    auth = respx.post(AUTH_URL).mock(return_value=auth_ok("tok-1", 86400))
    respx.get(EMPLOYEES_URL).mock(side_effect=paged(total=3))

    first = connector().list_employees(CREDENTIALS, None)
    assert first.refreshed_credentials is not None
    assert first.refreshed_credentials.secrets["access_token"] == Secret("tok-1")
    expires = first.refreshed_credentials.settings["token_expires_at"]
    assert expires == (START + timedelta(days=1)).isoformat()

    # A new connector (the next Lambda step) reuses the stored token: no second /v1/auth.
    second = connector().list_employees(first.refreshed_credentials, None)
    assert auth.call_count == 1
    assert second.refreshed_credentials is None

    # Near expiry it authenticates again.
    late = FakeTime(start=START + timedelta(hours=23, minutes=58))
    connector(late).list_employees(first.refreshed_credentials, None)
    assert auth.call_count == 2


@respx.mock
def test_a_401_with_a_stored_token_authenticates_again_once() -> None:
    respx.post(AUTH_URL).mock(return_value=auth_ok("tok-2"))
    route = respx.get(EMPLOYEES_URL).mock(side_effect=[httpx.Response(401), paged(total=1)])
    stored = Credentials(
        secrets={**CREDENTIALS.secrets, "access_token": Secret("tok-old")},
        settings={"token_expires_at": (START + timedelta(hours=5)).isoformat()},
    )

    page = connector().list_employees(stored, None)

    assert [c.request.headers["authorization"] for c in route.calls] == ["Bearer tok-old", "Bearer tok-2"]
    assert page.refreshed_credentials is not None


@respx.mock
def test_refused_client_credentials_are_a_typed_auth_error() -> None:
    respx.post(AUTH_URL).mock(return_value=httpx.Response(401, json={"success": False}))
    with pytest.raises(ProviderAuthError) as caught:
        connector().list_employees(CREDENTIALS, None)
    assert "psecret" not in str(caught.value)


@respx.mock
def test_every_field_is_mapped_from_attribute_objects() -> None:
    record = person(
        7,
        first_name=attr("First name", "Alexander"),
        last_name=attr("Last name", "Bergmann"),
        email=attr("Email", "alexander@demo.test"),
        position=attr("Position", "CTO"),
        supervisor=attr("Supervisor", {"type": "Employee", "attributes": {"id": attr("ID", 2, "integer")}}),
        hire_date=attr("Hire date", "2014-11-09T00:00:00+01:00", "date"),
        termination_date=attr("Termination date", None, "date"),
        subcompany=attr("Subcompany", relation("Subcompany", 7033, "CS Demo GmbH")),
        office=attr("Office", relation("Office", 131014, "Munich")),
        department=attr("Department", relation("Department", 281521, "Customer Support")),
        team=attr("Team", relation("Team", 59026, "T_X")),
        profile_picture=attr(
            "Profile Picture", "https://api.personio.de/v1/company/employees/7/profile-picture"
        ),
        dynamic_99=attr("Birthday", "1988-03-04", "date", "date_of_birth"),
        employment_type=attr("Employment type", "internal"),
    )
    respx.post(AUTH_URL).mock(return_value=auth_ok())
    respx.get(EMPLOYEES_URL).mock(return_value=one_page([record]))

    (employee,) = connector().list_employees(CREDENTIALS, None).employees

    assert employee.hris_id == "7"
    assert (employee.first_name, employee.last_name, employee.email) == (
        "Alexander",
        "Bergmann",
        "alexander@demo.test",
    )
    assert employee.job_title == "CTO"
    assert employee.manager_hris_id == "2"
    assert employee.start_date == date(2014, 11, 9)
    assert employee.termination_date is None
    assert employee.company == "CS Demo GmbH"
    assert employee.office_location == "Munich"
    assert employee.department == "Customer Support"
    assert employee.groups == ("Customer Support", "T_X")
    assert employee.avatar_url == "https://api.personio.de/v1/company/employees/7/profile-picture"
    assert employee.birthday == date(1988, 3, 4)
    assert employee.hris_role == "internal"
    assert employee.status is EmployeeStatus.ACTIVE and employee.warnings == ()


@respx.mock
def test_statuses_are_mapped_and_unknown_values_reported() -> None:
    records = [
        person(1, "onboarding"),
        person(2, "active"),
        person(3, "leave"),
        person(4, "inactive"),
        person(5, "paused"),
    ]
    respx.post(AUTH_URL).mock(return_value=auth_ok())
    respx.get(EMPLOYEES_URL).mock(return_value=one_page(records))

    employees = {e.hris_id: e for e in connector().list_employees(CREDENTIALS, None).employees}

    assert [employees[k].status for k in "1234"] == [
        EmployeeStatus.PENDING,
        EmployeeStatus.ACTIVE,
        EmployeeStatus.ON_LEAVE,
        EmployeeStatus.TERMINATED,
    ]
    assert employees["5"].raw_status == "paused"
    assert employees["5"].warnings == ("personio: unknown status 'paused' treated as active",)


@respx.mock
def test_r04_null_and_unknown_statuses_stay_active_and_are_marked_for_the_run_report() -> None:
    records = [person(1, "active"), person(2, "paused"), person(3, None)]
    respx.post(AUTH_URL).mock(return_value=auth_ok())
    respx.get(EMPLOYEES_URL).mock(return_value=one_page(records))

    employees = {e.hris_id: e for e in connector().list_employees(CREDENTIALS, None).employees}

    assert {k: (e.status, e.status_unknown, e.raw_status) for k, e in employees.items()} == {
        "1": (EmployeeStatus.ACTIVE, False, "active"),
        "2": (EmployeeStatus.ACTIVE, True, "paused"),
        "3": (EmployeeStatus.ACTIVE, True, None),
    }


@respx.mock
def test_429_then_success_and_5xx_until_give_up() -> None:
    clock = FakeTime()
    respx.post(AUTH_URL).mock(return_value=auth_ok())
    respx.get(EMPLOYEES_URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "2"}), paged(total=1)]
    )
    assert len(connector(clock).list_employees(CREDENTIALS, None).employees) == 1
    assert clock.sleeps == [2.0]

    respx.get(EMPLOYEES_URL).mock(return_value=httpx.Response(502))
    with pytest.raises(ProviderUnavailable):
        connector(FakeTime()).list_employees(CREDENTIALS, None)


@respx.mock
def test_get_employees_fetches_each_person_and_skips_deleted_ones() -> None:
    respx.post(AUTH_URL).mock(return_value=auth_ok())
    respx.get(f"{EMPLOYEES_URL}/4").mock(return_value=json_response({"success": True, "data": person(4)}))
    respx.get(f"{EMPLOYEES_URL}/5").mock(
        return_value=httpx.Response(
            404, json={"success": False, "error": {"code": 0, "message": "not found"}}
        )
    )

    page = connector().get_employees(CREDENTIALS, ["4", "5", "x/../y"])

    assert [e.hris_id for e in page.employees] == ["4"]


@respx.mock
def test_directory_from_the_employees() -> None:
    records = [
        person(
            1,
            department=attr("Department", relation("Department", 1, "Ops")),
            subcompany=attr("Subcompany", relation("Subcompany", 2, "Acme GmbH")),
        ),
        person(2, team=attr("Team", relation("Team", 3, "Blue"))),
    ]
    respx.post(AUTH_URL).mock(return_value=auth_ok())
    respx.get(EMPLOYEES_URL).mock(return_value=one_page(records))

    directory = connector().directory(CREDENTIALS)

    assert [c.name for c in directory.companies] == ["Acme GmbH"]
    assert [g.name for g in directory.groups] == ["Blue", "Ops"]
    assert [p.id for p in directory.people] == ["1", "2"]


@respx.mock
def test_raw_keeps_the_attributes_read_never_salaries_or_bank_details() -> None:
    record = person(
        3,
        fix_salary=attr("Fix salary", 3000, "decimal", "fix_salary"),
        dynamic_21827=attr("IBAN", "DE98 8989 9898 0000 8989 00", "standard", "iban"),
        dynamic_99=attr("Birthday", "1988-03-04", "date", "date_of_birth"),
    )
    respx.post(AUTH_URL).mock(return_value=auth_ok())
    respx.get(EMPLOYEES_URL).mock(return_value=one_page([record]))

    (employee,) = connector().list_employees(CREDENTIALS, None).employees

    assert set(employee.raw["attributes"]) == {
        "id",
        "first_name",
        "last_name",
        "email",
        "status",
        "dynamic_99",
    }
    assert "DE98" not in repr(employee.raw) and "3000" not in repr(employee.raw)


@respx.mock
def test_r25_a_name_with_a_lone_surrogate_never_fails_the_page() -> None:
    page = json.dumps(
        {
            "success": True,
            "metadata": {"total_elements": 2, "current_page": 0, "total_pages": 1},
            "offset": 0,
            "limit": PAGE_LIMIT,
            "data": [person(1, first_name=attr("First name", "Ada\ud800")), person(2)],
        }
    ).encode()  # ensure_ascii: the lone surrogate travels as the escape ``\ud800``
    respx.post(AUTH_URL).mock(return_value=auth_ok())
    respx.get(EMPLOYEES_URL).mock(
        return_value=httpx.Response(200, content=page, headers={"content-type": "application/json"})
    )

    employees = {e.hris_id: e for e in connector().list_employees(CREDENTIALS, None).employees}

    assert employees["1"].first_name == "Ada\ufffd"
    assert employees["2"].first_name == "F2"
