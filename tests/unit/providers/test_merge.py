"""Merge HRIS: Bearer + X-Account-Token, cursor paging, deleted data included, ids resolved."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from shared.codecs import to_plain
from shared.domain.models import EmployeeStatus
from shared.providers.base import (
    Credentials,
    InvalidCursor,
    ProviderAuthError,
    ProviderUnavailable,
    Secret,
    Tier,
)
from shared.providers.merge import PAGE_SIZE, Merge
from tests.unit.providers.provider_helpers import FAST_POLICY, FakeTime, json_response

API = "https://api.merge.dev/api/hris/v1"
CREDENTIALS = Credentials(secrets={"api_key": Secret("merge-key"), "account_token": Secret("acct-tok")})


def connector(clock: FakeTime | None = None, page_size: int | None = None) -> Merge:
    return Merge(runtime=(clock or FakeTime()).runtime(), policy=FAST_POLICY, page_size=page_size)


def person(employee_id: str, status: str | None = "ACTIVE", **fields: Any) -> dict[str, Any]:
    return {
        "id": employee_id,
        "remote_id": f"r-{employee_id}",
        "first_name": f"F{employee_id}",
        "last_name": f"L{employee_id}",
        "work_email": f"{employee_id}@acme.test",
        "employment_status": status,
        "remote_was_deleted": False,
        "groups": [],
        "employments": [],
        **fields,
    }


def cursor_pages(pages: list[list[dict[str, Any]]]) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        index = int(query.get("cursor", ["0"])[0])
        following = str(index + 1) if index + 1 < len(pages) else None
        return json_response({"next": following, "previous": None, "results": pages[index]})

    return answer


def test_declares_tier_and_capabilities() -> None:
    assert Merge.tier is Tier.FULL
    assert {"department", "company", "groups", "job_title"} <= Merge.capabilities


@respx.mock
def test_r09_pages_by_cursor_to_the_end_with_deleted_data_included() -> None:
    route = respx.get(f"{API}/employees").mock(
        side_effect=cursor_pages([[person("1"), person("2")], [person("3"), person("4", "INACTIVE")], []])
    )
    provider = connector(page_size=2)

    ids, cursor = [], None
    while True:
        page = provider.list_employees(CREDENTIALS, cursor)
        ids.extend(e.hris_id for e in page.employees)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert ids == ["1", "2", "3", "4"]
    first = route.calls[0].request
    assert first.headers["authorization"] == "Bearer merge-key"
    assert first.headers["x-account-token"] == "acct-tok"
    query = parse_qs(urlsplit(str(first.url)).query)
    assert query["include_deleted_data"] == ["true"]
    assert query["page_size"] == ["2"]
    assert "employments" in query["expand"][0]
    assert [parse_qs(urlsplit(str(c.request.url)).query).get("cursor") for c in route.calls] == [
        None,
        ["1"],
        ["2"],
    ]


@respx.mock
def test_every_field_is_mapped_from_expanded_objects() -> None:
    record = person(
        "e1",
        employee_number="7",
        avatar="https://merge.test/a.png",
        company={"id": "c1", "legal_name": "Acme Inc.", "display_name": "Acme"},
        groups=[
            {"id": "g1", "name": "Engineering", "type": "DEPARTMENT"},
            {"id": "g2", "name": "Platform", "type": "TEAM"},
        ],
        work_location={"id": "l1", "name": "NYC HQ", "country": "US"},
        home_location={"id": "l2", "name": None, "country": "CA"},
        employments=[
            {"id": "em1", "job_title": "Engineer", "effective_date": "2019-01-01T00:00:00Z"},
            {"id": "em2", "job_title": "Staff Engineer", "effective_date": "2023-01-01T00:00:00Z"},
        ],
        manager={"id": "boss-1"},
        date_of_birth="1990-11-10T00:00:00Z",
        start_date="2020-10-11T00:00:00Z",
        termination_date=None,
    )
    respx.get(f"{API}/employees").mock(return_value=json_response({"next": None, "results": [record]}))

    (employee,) = connector().list_employees(CREDENTIALS, None).employees

    assert to_plain(employee, mode="python", exclude={"raw"}) == {
        "hris_id": "e1",
        "first_name": "Fe1",
        "last_name": "Le1",
        "email": "e1@acme.test",
        "employee_number": "7",
        "avatar_url": "https://merge.test/a.png",
        "job_title": "Staff Engineer",
        "department": "Engineering",
        "company": "Acme",
        "groups": ("Engineering", "Platform"),
        "office_location": "NYC HQ",
        "home_country": "CA",
        "birthday": date(1990, 11, 10),
        "start_date": date(2020, 10, 11),
        "termination_date": None,
        "manager_hris_id": "boss-1",
        "hris_role": None,
        "status": EmployeeStatus.ACTIVE,
        "raw_status": "ACTIVE",
        "status_unknown": False,
        "warnings": (),
        "company_id": "c1",
        "group_ids": ("g1", "g2"),
    }


@respx.mock
def test_ids_instead_of_expanded_objects_are_resolved_once_through_the_list_endpoints() -> None:
    records = [
        person(
            "e1",
            company="c1",
            groups=["g1"],
            work_location="l1",
            home_location="l2",
            employments=["em1"],
            manager="m1",
        ),
        person("e2", company="c1", groups=["g1"], work_location="l1", employments=["em2"]),
    ]
    respx.get(f"{API}/employees").mock(return_value=json_response({"next": None, "results": records}))
    companies = respx.get(f"{API}/companies").mock(
        return_value=json_response({"next": None, "results": [{"id": "c1", "display_name": "Acme"}]})
    )
    respx.get(f"{API}/groups").mock(
        return_value=json_response(
            {"next": None, "results": [{"id": "g1", "name": "Sales", "type": "DEPARTMENT"}]}
        )
    )
    respx.get(f"{API}/locations").mock(
        return_value=json_response(
            {"next": None, "results": [{"id": "l1", "name": "Paris"}, {"id": "l2", "country": "FR"}]}
        )
    )
    employments = respx.get(f"{API}/employments").mock(
        side_effect=cursor_pages(
            [
                [
                    {
                        "id": "em1",
                        "employee": "e1",
                        "job_title": "Rep",
                        "effective_date": "2020-01-01T00:00:00Z",
                    },
                    # A full page (every page but the last is, R31): other people's employments.
                    *(
                        {"id": f"x{i}", "employee": f"x{i}", "job_title": "Other"}
                        for i in range(PAGE_SIZE - 1)
                    ),
                ],
                [
                    {
                        "id": "em2",
                        "employee": "e2",
                        "job_title": "Lead",
                        "effective_date": "2021-01-01T00:00:00Z",
                    }
                ],
            ]
        )
    )

    e1, e2 = connector().list_employees(CREDENTIALS, None).employees

    assert (e1.company, e1.department, e1.office_location, e1.home_country, e1.job_title) == (
        "Acme",
        "Sales",
        "Paris",
        "FR",
        "Rep",
    )
    assert e1.manager_hris_id == "m1"
    assert (e2.job_title, e2.company) == ("Lead", "Acme")
    assert companies.call_count == 1
    assert employments.call_count == 2


@respx.mock
def test_the_department_is_the_most_specific_department_group() -> None:
    parent = {"id": "g1", "name": "Engineering", "type": "DEPARTMENT", "parent_group": None}
    child = {"id": "g2", "name": "Platform", "type": "DEPARTMENT", "parent_group": "g1"}
    team = {"id": "g3", "name": "Iris", "type": "TEAM", "parent_group": "g2"}
    records = [person("1", groups=[child, parent, team]), person("2", groups=[parent])]
    respx.get(f"{API}/employees").mock(return_value=json_response({"next": None, "results": records}))

    first, second = connector().list_employees(CREDENTIALS, None).employees

    assert first.department == "Platform"
    assert first.groups == ("Platform", "Engineering", "Iris")
    assert second.department == "Engineering"


@respx.mock
def test_statuses_remote_was_deleted_and_unknown_values() -> None:
    records = [
        person("1", "ACTIVE"),
        person("2", "PENDING"),
        person("3", "INACTIVE", termination_date="2025-05-01T00:00:00Z"),
        person("4", "ACTIVE", remote_was_deleted=True),
        person("5", "ON_SABBATICAL"),
        person("6", None, remote_was_deleted=True),
    ]
    respx.get(f"{API}/employees").mock(return_value=json_response({"next": None, "results": records}))

    employees = {e.hris_id: e for e in connector().list_employees(CREDENTIALS, None).employees}

    assert [employees[k].status for k in "12346"] == [
        EmployeeStatus.ACTIVE,
        EmployeeStatus.PENDING,
        EmployeeStatus.TERMINATED,
        EmployeeStatus.TERMINATED,
        EmployeeStatus.TERMINATED,
    ]
    assert employees["3"].termination_date == date(2025, 5, 1)
    assert employees["4"].raw_status == "ACTIVE"
    assert employees["6"].raw_status == "remote_was_deleted"
    assert employees["5"].warnings == ("merge: unknown status 'ON_SABBATICAL' treated as active",)


@respx.mock
def test_r04_null_and_unknown_statuses_stay_active_and_are_marked_for_the_run_report() -> None:
    records = [person("1", "ACTIVE"), person("2", "ON_SABBATICAL"), person("3", None)]
    respx.get(f"{API}/employees").mock(return_value=json_response({"next": None, "results": records}))

    employees = {e.hris_id: e for e in connector().list_employees(CREDENTIALS, None).employees}

    assert {k: (e.status, e.status_unknown, e.raw_status) for k, e in employees.items()} == {
        "1": (EmployeeStatus.ACTIVE, False, "ACTIVE"),
        "2": (EmployeeStatus.ACTIVE, True, "ON_SABBATICAL"),
        "3": (EmployeeStatus.ACTIVE, True, None),
    }


@respx.mock
def test_429_then_success_5xx_until_give_up_and_auth_errors() -> None:
    clock = FakeTime()
    respx.get(f"{API}/employees").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "6"}),
            json_response({"next": None, "results": []}),
        ]
    )
    assert connector(clock).list_employees(CREDENTIALS, None).employees == []
    assert clock.sleeps == [6.0]

    respx.get(f"{API}/employees").mock(return_value=httpx.Response(503))
    with pytest.raises(ProviderUnavailable):
        connector().list_employees(CREDENTIALS, None)

    respx.get(f"{API}/employees").mock(return_value=httpx.Response(401, json={"detail": "bad token"}))
    with pytest.raises(ProviderAuthError) as caught:
        connector().list_employees(CREDENTIALS, None)
    assert "merge-key" not in str(caught.value) and "acct-tok" not in str(caught.value)


def test_a_cursor_of_another_shape_is_rejected() -> None:
    from shared.providers.common import encode_cursor

    with pytest.raises(InvalidCursor):
        connector().list_employees(CREDENTIALS, encode_cursor("merge", {"cursor": 5}))


@respx.mock
def test_get_employees_fetches_each_and_skips_unknown_ids() -> None:
    respx.get(f"{API}/employees/a-1").mock(return_value=json_response(person("a-1")))
    respx.get(f"{API}/employees/b-2").mock(return_value=httpx.Response(404, json={"detail": "Not found."}))

    page = connector().get_employees(CREDENTIALS, ["a-1", "b-2", "../../x"])

    assert [e.hris_id for e in page.employees] == ["a-1"]


@respx.mock
def test_directory_lists_companies_groups_and_current_people() -> None:
    respx.get(f"{API}/companies").mock(
        return_value=json_response(
            {
                "next": None,
                "results": [
                    {"id": "c1", "display_name": "Acme"},
                    {"id": "c2", "display_name": "Old", "remote_was_deleted": True},
                ],
            }
        )
    )
    respx.get(f"{API}/groups").mock(
        return_value=json_response({"next": None, "results": [{"id": "g1", "name": "Ops"}]})
    )
    respx.get(f"{API}/employees").mock(
        return_value=json_response({"next": None, "results": [person("1"), person("2", "INACTIVE")]})
    )

    directory = connector().directory(CREDENTIALS)

    assert [(c.id, c.name) for c in directory.companies] == [("c1", "Acme")]
    assert [(g.id, g.name) for g in directory.groups] == [("g1", "Ops")]
    assert [p.id for p in directory.people] == ["1"]


@respx.mock
def test_raw_keeps_the_fields_read_never_ssn_or_remote_data() -> None:
    record = person(
        "1", ssn="123-45-6789", remote_data=[{"path": "/x", "data": {"salary": 1}}], custom_fields={"a": 1}
    )
    respx.get(f"{API}/employees").mock(return_value=json_response({"next": None, "results": [record]}))

    (employee,) = connector().list_employees(CREDENTIALS, None).employees

    assert (
        "ssn" not in employee.raw
        and "remote_data" not in employee.raw
        and "custom_fields" not in employee.raw
    )
    assert employee.raw["id"] == "1"
