"""BambooHR: API key through the Datasets API (leavers included), OAuth through /api/v1/employees."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from shared.codecs import to_plain
from shared.domain.models import EmployeeStatus
from shared.providers.bamboohr import CAPABILITIES, DATASET_EXTRAS, BambooHR
from shared.providers.base import (
    Credentials,
    EmployeePage,
    InvalidCursor,
    ProviderAuthError,
    ProviderSettingsError,
    ProviderUnavailable,
    Secret,
    Tier,
)
from shared.providers.common import encode_cursor
from tests.unit.providers.provider_helpers import (
    FAST_POLICY,
    START,
    FakeTime,
    basic_auth,
    json_response,
    sent_json,
)

BASE = "https://acme.bamboohr.com"
DATASET_URL = f"{BASE}/api/v2/datasets/employee/data"
EMPLOYEES_URL = f"{BASE}/api/v1/employees"
API_KEY = Credentials(secrets={"api_key": Secret("bhr-key-123")}, settings={"company_domain": "acme"})


def oauth(expires_in: timedelta = timedelta(hours=1)) -> Credentials:
    return Credentials(
        secrets={
            "access_token": Secret("at-1"),
            "refresh_token": Secret("rt-1"),
            "client_id": Secret("cid"),
            "client_secret": Secret("csecret"),
        },
        settings={"company_domain": "acme", "token_expires_at": (START + expires_in).isoformat()},
    )


def connector(clock: FakeTime | None = None, page_size: int | None = None) -> BambooHR:
    return BambooHR(runtime=(clock or FakeTime()).runtime(), policy=FAST_POLICY, page_size=page_size)


def row(employee_id: int, **fields: Any) -> dict[str, Any]:
    base = {
        "id": str(employee_id),
        "firstName": f"First{employee_id}",
        "lastName": f"Last{employee_id}",
        "status": "Active",
        "hireDate": "2020-01-01",
    }
    return {"fields": {**base, **fields}}


def dataset_pages(total: int, per_page: int) -> Any:
    rows = [row(i) for i in range(1, total + 1)]
    pages = max(1, -(-total // per_page))

    def answer(request: httpx.Request) -> httpx.Response:
        page = sent_json(request)["page"]
        chunk = rows[(page - 1) * per_page : page * per_page]
        return json_response(
            {
                "data": chunk,
                "links": {"next": f"{DATASET_URL}?page={page + 1}" if page < pages else None, "prev": None},
                "meta": {"page": page, "pageSize": per_page, "totalPages": pages, "totalItems": total},
            }
        )

    return answer


def all_pages(provider: BambooHR, credentials: Credentials) -> list[EmployeePage]:
    pages, cursor = [], None
    while True:
        page = provider.list_employees(credentials, cursor)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_declares_tier_full_and_its_capabilities() -> None:
    provider = connector()
    assert provider.tier is Tier.FULL
    assert provider.capabilities == CAPABILITIES
    assert provider.capabilities_for(API_KEY) == CAPABILITIES | DATASET_EXTRAS
    assert provider.capabilities_for(oauth()) == CAPABILITIES


@respx.mock
def test_r09_api_key_pages_the_dataset_to_the_end_with_inactive_employees_included() -> None:
    route = respx.post(DATASET_URL).mock(side_effect=dataset_pages(total=7, per_page=3))

    pages = all_pages(connector(), API_KEY)

    assert [len(p.employees) for p in pages] == [3, 3, 1]
    assert [e.hris_id for p in pages for e in p.employees] == [str(i) for i in range(1, 8)]
    request = route.calls[0].request
    assert basic_auth(request) == ("bhr-key-123", "x")
    body = sent_json(request)
    assert "'Inactive'" in body["filter"] and "'Active'" in body["filter"]
    assert body["pageSize"] == 1000
    assert {"id", "status", "terminationDate", "supervisorEId", "workEmail"} <= set(body["fields"])
    assert [sent_json(c.request)["page"] for c in route.calls] == [1, 2, 3]


@respx.mock
def test_the_dataset_without_meta_follows_links_next() -> None:
    respx.post(DATASET_URL).mock(
        side_effect=[
            json_response({"data": [row(1)], "links": {"next": "more"}}),
            json_response({"data": [row(2)], "links": {"next": None}}),
        ]
    )
    pages = all_pages(connector(page_size=1), API_KEY)
    assert [e.hris_id for p in pages for e in p.employees] == ["1", "2"]


@respx.mock
def test_every_dataset_field_is_mapped() -> None:
    full = row(
        9,
        firstName="Ava",
        preferredName="Avy",
        lastName="Nguyen",
        workEmail="ava@acme.test",
        employeeNumber="E-9",
        jobTitle="Engineering Manager",
        department="Engineering",
        division="Product",
        location="Berlin",
        country="Germany",
        dateOfBirth="1990-02-03",
        hireDate="2019-04-01",
        terminationDate="0000-00-00",
        supervisorEId="3",
        employmentHistoryStatus="Full-Time",
        photoUrl="https://cdn.test/9.jpg",
    )
    respx.post(DATASET_URL).mock(
        return_value=json_response({"data": [full], "meta": {"page": 1, "totalPages": 1}})
    )

    (employee,) = connector().list_employees(API_KEY, None).employees

    assert to_plain(employee, mode="python", exclude={"raw"}) == {
        "hris_id": "9",
        "first_name": "Avy",
        "last_name": "Nguyen",
        "email": "ava@acme.test",
        "employee_number": "E-9",
        "avatar_url": "https://cdn.test/9.jpg",
        "job_title": "Engineering Manager",
        "department": "Engineering",
        "company": None,
        "groups": ("Engineering", "Product"),
        "office_location": "Berlin",
        "home_country": "Germany",
        "birthday": START.date().replace(year=1990, month=2, day=3),
        "start_date": START.date().replace(year=2019, month=4, day=1),
        "termination_date": None,
        "manager_hris_id": "3",
        "hris_role": "Full-Time",
        "status": EmployeeStatus.ACTIVE,
        "raw_status": "Active",
        "status_unknown": False,
        "warnings": (),
        "company_id": None,
        "group_ids": ("department:Engineering", "division:Product"),
    }
    assert employee.raw["id"] == "9"


@respx.mock
def test_statuses_are_mapped_explicitly_and_unknown_values_reported() -> None:
    future = (START + timedelta(days=30)).date().isoformat()
    rows = [
        row(1, status="Active", employmentHistoryStatus="Full-Time"),
        row(2, status="Active", employmentHistoryStatus="Leave of Absence"),
        row(3, status="Inactive", terminationDate="2025-06-30", employmentHistoryStatus="Terminated"),
        row(4, status="Inactive", hireDate=future),
        row(5, status="Suspended"),
        row(6, status="Active", employmentHistoryStatus="Terminated"),
        row(7, status=None),
    ]
    respx.post(DATASET_URL).mock(
        return_value=json_response({"data": rows, "meta": {"page": 1, "totalPages": 1}})
    )

    employees = {e.hris_id: e for e in connector().list_employees(API_KEY, None).employees}

    assert employees["1"].status is EmployeeStatus.ACTIVE
    assert employees["2"].status is EmployeeStatus.ON_LEAVE
    assert employees["3"].status is EmployeeStatus.TERMINATED
    assert employees["3"].termination_date is not None
    assert employees["4"].status is EmployeeStatus.PENDING
    assert employees["5"].status is EmployeeStatus.ACTIVE
    assert employees["5"].raw_status == "Suspended"
    assert employees["5"].warnings == ("bamboohr: unknown status 'Suspended' treated as active",)
    assert employees["6"].status is EmployeeStatus.TERMINATED
    assert employees["7"].warnings == ("bamboohr: no status; treated as active",)
    assert all(not e.warnings for k, e in employees.items() if k not in {"5", "7"})


@respx.mock
def test_r04_null_and_unknown_statuses_stay_active_and_are_marked_for_the_run_report() -> None:
    rows = [row(1, status="Active"), row(2, status="Suspended"), row(3, status=None), row(4, status="")]
    respx.post(DATASET_URL).mock(
        return_value=json_response({"data": rows, "meta": {"page": 1, "totalPages": 1}})
    )

    employees = {e.hris_id: e for e in connector().list_employees(API_KEY, None).employees}

    assert {k: (e.status, e.status_unknown, e.raw_status) for k, e in employees.items()} == {
        "1": (EmployeeStatus.ACTIVE, False, "Active"),
        "2": (EmployeeStatus.ACTIVE, True, "Suspended"),
        "3": (EmployeeStatus.ACTIVE, True, None),
        "4": (EmployeeStatus.ACTIVE, True, None),
    }


@respx.mock
def test_429_then_success_honours_retry_after_through_the_injected_sleep() -> None:
    clock = FakeTime()
    respx.post(DATASET_URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "9", "x-bamboohr-error-message": "slow down"}),
            json_response({"data": [row(1)], "meta": {"page": 1, "totalPages": 1}}),
        ]
    )

    page = connector(clock).list_employees(API_KEY, None)

    assert [e.hris_id for e in page.employees] == ["1"]
    assert clock.sleeps == [9.0]


@respx.mock
def test_r09_5xx_until_give_up_is_provider_unavailable_never_an_empty_page() -> None:
    clock = FakeTime()
    route = respx.post(DATASET_URL).mock(return_value=httpx.Response(503))

    with pytest.raises(ProviderUnavailable):
        connector(clock).list_employees(API_KEY, None)
    assert route.call_count == FAST_POLICY.max_attempts


@respx.mock
def test_a_refused_api_key_is_a_typed_auth_error_without_the_key() -> None:
    respx.post(DATASET_URL).mock(return_value=httpx.Response(401))
    with pytest.raises(ProviderAuthError) as caught:
        connector().list_employees(API_KEY, None)
    assert "bhr-key-123" not in str(caught.value)


def test_a_connection_without_host_or_key_is_a_typed_error() -> None:
    with pytest.raises(ProviderSettingsError):
        connector().list_employees(Credentials(secrets={"api_key": Secret("k")}), None)
    with pytest.raises(ProviderAuthError):
        connector().list_employees(Credentials(settings={"company_domain": "acme"}), None)


@pytest.mark.parametrize("domain", ["evil.com#", "acme.evil.com", "-acme", "a/b", "acme?x=1", ""])
def test_a_company_domain_that_is_not_a_subdomain_is_refused(domain: str) -> None:
    credentials = Credentials(secrets={"api_key": Secret("k")}, settings={"company_domain": domain})
    with pytest.raises(ProviderSettingsError):
        connector().list_employees(credentials, None)


@pytest.mark.parametrize("cursor", ["garbage!!", encode_cursor("personio", {"offset": 100})])
def test_a_cursor_this_provider_never_issued_is_rejected(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        connector().list_employees(API_KEY, cursor)


@respx.mock
def test_base_url_setting_overrides_the_vendor_host() -> None:
    route = respx.post("http://127.0.0.1:8123/api/v2/datasets/employee/data").mock(
        return_value=json_response({"data": [], "meta": {"page": 1, "totalPages": 1}})
    )
    credentials = Credentials(secrets=API_KEY.secrets, settings={"base_url": "http://127.0.0.1:8123/"})
    assert connector().list_employees(credentials, None).employees == []
    assert route.called


# -- OAuth --------------------------------------------------------------------------------------


def api_record(employee_id: int, status: str = "Active", **fields: Any) -> dict[str, Any]:
    return {
        "employeeId": str(employee_id),
        "firstName": f"F{employee_id}",
        "lastName": f"L{employee_id}",
        "preferredName": None,
        "photoUrl": None,
        "jobTitleName": "Engineer",
        "status": status,
        "_restrictedFields": [],
        **fields,
    }


def employees_api(active: list[list[dict[str, Any]]], inactive: list[list[dict[str, Any]]]) -> Any:
    """Each status's pages as given; the vendor's page limit is the first page's size, and its
    total the records of every page (BambooHR echoes both in ``meta``)."""

    def answer(request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        pages = active if query["filter[status]"] == ["active"] else inactive
        index = int(query.get("page[after]", ["0"])[0])
        next_cursor = str(index + 1) if index + 1 < len(pages) else None
        limit = max(1, len(pages[0]))
        meta = {
            "total": sum(len(p) for p in pages),
            "page": {"limit": limit, "nextCursor": next_cursor, "prevCursor": None},
        }
        return json_response(
            {"data": pages[index], "meta": meta, "_links": {"self": {"href": str(request.url)}}}
        )

    return answer


@respx.mock
def test_r09_oauth_pages_active_then_inactive_employees_to_the_end() -> None:
    route = respx.get(EMPLOYEES_URL).mock(
        side_effect=employees_api(
            active=[[api_record(1), api_record(2)], [api_record(3)]],
            inactive=[[api_record(4, "Inactive")], [api_record(5, "Inactive")]],
        )
    )

    pages = all_pages(connector(), oauth())

    ids = [e.hris_id for p in pages for e in p.employees]
    assert ids == ["1", "2", "3", "4", "5"]
    statuses = {e.hris_id: e.status for p in pages for e in p.employees}
    assert statuses["5"] is EmployeeStatus.TERMINATED
    first = route.calls[0].request
    assert first.headers["authorization"] == "Bearer at-1"
    query = parse_qs(urlsplit(str(first.url)).query)
    assert query["page[limit]"] == ["1000"]
    assert "reportsToId" in query["fields"][0] and "workEmail" in query["fields"][0]
    assert [parse_qs(urlsplit(str(c.request.url)).query)["filter[status]"][0] for c in route.calls] == [
        "active",
        "active",
        "inactive",
        "inactive",
    ]


@respx.mock
def test_every_oauth_field_is_mapped() -> None:
    record = api_record(
        7,
        preferredName="Sam",
        photoUrl="https://cdn.test/7.jpg",
        workEmail="sam@acme.test",
        birthDate="1991-05-06",
        hireDate="2021-07-08",
        departmentName="Sales",
        divisionName="EMEA",
        locationName="Paris",
        employmentStatusName="Part-Time",
        reportsToId="2",
    )
    respx.get(EMPLOYEES_URL).mock(side_effect=employees_api(active=[[record]], inactive=[[]]))

    (employee,) = connector().list_employees(oauth(), None).employees

    assert (employee.first_name, employee.last_name, employee.email) == ("Sam", "L7", "sam@acme.test")
    assert (employee.avatar_url, employee.job_title) == ("https://cdn.test/7.jpg", "Engineer")
    assert (employee.department, employee.groups, employee.office_location) == (
        "Sales",
        ("Sales", "EMEA"),
        "Paris",
    )
    assert (str(employee.birthday), str(employee.start_date), employee.manager_hris_id) == (
        "1991-05-06",
        "2021-07-08",
        "2",
    )
    assert employee.hris_role == "Part-Time"


@respx.mock
def test_oauth_token_is_refreshed_before_expiry_and_the_new_refresh_token_handed_back() -> None:
    token = respx.post(f"{BASE}/token.php").mock(
        return_value=json_response({"access_token": "at-2", "refresh_token": "rt-2", "expires_in": 3600})
    )
    route = respx.get(EMPLOYEES_URL).mock(side_effect=employees_api(active=[[api_record(1)]], inactive=[[]]))

    page = connector().list_employees(oauth(expires_in=timedelta(seconds=30)), None)

    assert token.call_count == 1
    assert route.calls[0].request.headers["authorization"] == "Bearer at-2"
    assert page.refreshed_credentials is not None
    assert page.refreshed_credentials.secrets["refresh_token"] == Secret("rt-2")
    assert page.refreshed_credentials.secrets["access_token"] == Secret("at-2")
    assert page.refreshed_credentials.settings["token_expires_at"] == (START + timedelta(hours=1)).isoformat()


@respx.mock
def test_oauth_refresh_uses_oauth_base_url_when_set() -> None:
    token = respx.post("http://127.0.0.1:9000/token.php").mock(
        return_value=json_response({"access_token": "at-2", "expires_in": 3600})
    )
    respx.get(EMPLOYEES_URL).mock(side_effect=employees_api(active=[[]], inactive=[[]]))
    settings = {**oauth(timedelta(0)).settings, "oauth_base_url": "http://127.0.0.1:9000"}
    credentials = Credentials(secrets=oauth().secrets, settings=settings)

    page = connector().list_employees(credentials, None)

    assert token.called
    assert page.refreshed_credentials is not None
    assert page.refreshed_credentials.secrets["refresh_token"] == Secret("rt-1")


@respx.mock
def test_oauth_401_refreshes_once_and_retries() -> None:
    respx.post(f"{BASE}/token.php").mock(
        return_value=json_response({"access_token": "at-2", "expires_in": 3600})
    )
    route = respx.get(EMPLOYEES_URL).mock(
        side_effect=[httpx.Response(401), employees_api(active=[[api_record(1)]], inactive=[[]])]
    )

    page = connector().list_employees(oauth(), None)

    assert [e.hris_id for e in page.employees] == ["1"]
    assert [c.request.headers["authorization"] for c in route.calls] == ["Bearer at-1", "Bearer at-2"]
    assert page.refreshed_credentials is not None


@respx.mock
def test_oauth_revoked_refresh_token_is_an_auth_error() -> None:
    respx.post(f"{BASE}/token.php").mock(return_value=httpx.Response(400, json={"error": "invalid_grant"}))
    with pytest.raises(ProviderAuthError):
        connector().list_employees(oauth(timedelta(0)), None)


# -- follow-ups -----------------------------------------------------------------------------------


@respx.mock
def test_get_employees_with_an_api_key_asks_a_custom_report_restricted_to_the_ids() -> None:
    report = {
        "title": "hris-sync",
        "fields": [],
        "employees": [row(4)["fields"], {**row(5, status="Inactive")["fields"], "hireDate": "0000-00-00"}],
    }
    route = respx.post(f"{BASE}/api/v1/reports/custom").mock(return_value=json_response(report))

    page = connector().get_employees(API_KEY, ["4", "5", "4", "../etc", "\u00b2"])

    assert [(e.hris_id, e.status) for e in page.employees] == [
        ("4", EmployeeStatus.ACTIVE),
        ("5", EmployeeStatus.TERMINATED),
    ]
    request = route.calls[0].request
    assert basic_auth(request) == ("bhr-key-123", "x")
    assert request.headers["content-type"] == "application/json"
    # The spec: ``format`` from json|xml|csv|xls|pdf; ``filters.employeeIds`` integers.
    assert parse_qs(urlsplit(str(request.url)).query)["format"] == ["json"]
    body = sent_json(request)
    assert body["filters"] == {"employeeIds": [4, 5]}
    assert "id" in body["fields"]


@respx.mock
def test_get_employees_with_oauth_uses_filter_ids() -> None:
    route = respx.get(EMPLOYEES_URL).mock(
        return_value=json_response({"data": [api_record(4), api_record(5, "Inactive")], "meta": {}})
    )

    page = connector().get_employees(oauth(), ["4", "5"])

    assert [(e.hris_id, e.status) for e in page.employees] == [
        ("4", EmployeeStatus.ACTIVE),
        ("5", EmployeeStatus.TERMINATED),
    ]
    query = parse_qs(urlsplit(str(route.calls[0].request.url)).query)
    assert query["filter[ids]"] == ["4,5"]
    assert "filter[status]" not in query


@respx.mock
def test_changed_since_reads_employees_changed_for_webhook_follow_ups() -> None:
    route = respx.get(f"{BASE}/api/v1/employees/changed").mock(
        return_value=json_response(
            {
                "latest": "2026-11-21T11:59:00+00:00",
                "employees": {
                    "4": {"id": "4", "action": "Updated", "lastChanged": "2026-11-21T11:00:00+00:00"},
                    "9": {"id": "9", "action": "Deleted", "lastChanged": "2026-11-21T11:30:00+00:00"},
                },
            }
        )
    )

    changed = connector().changed_since(API_KEY, START - timedelta(hours=2))

    assert changed.changes == {"4": "Updated", "9": "Deleted"}
    assert changed.latest == START - timedelta(minutes=1)
    assert changed.refreshed_credentials is None
    request = route.calls[0].request
    assert basic_auth(request) == ("bhr-key-123", "x")
    assert parse_qs(urlsplit(str(request.url)).query)["since"] == ["2026-11-21T10:00:00+00:00"]


@respx.mock
def test_changed_since_with_oauth_hands_back_a_refreshed_token() -> None:
    respx.post(f"{BASE}/token.php").mock(
        return_value=json_response({"access_token": "at-2", "refresh_token": "rt-2", "expires_in": 3600})
    )
    respx.get(f"{BASE}/api/v1/employees/changed").mock(
        return_value=json_response({"latest": None, "employees": {"4": {"id": "4", "action": "Inserted"}}})
    )

    changed = connector().changed_since(oauth(timedelta(0)), START)

    assert changed.changes == {"4": "Inserted"}
    assert changed.refreshed_credentials is not None
    assert changed.refreshed_credentials.secrets["refresh_token"] == Secret("rt-2")


@respx.mock
def test_directory_lists_groups_and_people() -> None:
    rows = [
        row(1, department="Eng", division="Product"),
        row(2, department="Sales"),
        row(3, status="Inactive"),
    ]
    respx.post(DATASET_URL).mock(
        return_value=json_response({"data": rows, "meta": {"page": 1, "totalPages": 1}})
    )

    directory = connector().directory(API_KEY)

    assert [g.name for g in directory.groups] == ["Eng", "Product", "Sales"]
    assert [p.id for p in directory.people] == ["1", "2", "3"]
    assert directory.companies == []


def test_no_credential_shows_in_reprs() -> None:
    text = repr(connector()) + repr(API_KEY) + repr(oauth())
    assert "bhr-key-123" not in text and "at-1" not in text and "csecret" not in text
    assert json.dumps(str(API_KEY.secrets)).count("bhr-key") == 0


@respx.mock
def test_r25_a_malformed_date_is_reported_not_guessed() -> None:
    rows = [row(1, hireDate="31/01/2020", dateOfBirth="0000-00-00", terminationDate="")]
    respx.post(DATASET_URL).mock(
        return_value=json_response({"data": rows, "meta": {"page": 1, "totalPages": 1}})
    )

    (employee,) = connector().list_employees(API_KEY, None).employees

    assert (employee.start_date, employee.birthday, employee.termination_date) == (None, None, None)
    assert employee.warnings == ("malformed start_date '31/01/2020' ignored",)
