"""The fakes answer what the vendors' own specs say they answer (over real loopback HTTP)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from vendor_openapi import OpenAPI

from infra.local.fake_hris import FakeHRServer

ALL_OPTIONAL = (
    "workEmail,homeEmail,bestEmail,birthDate,hireDate,divisionName,divisionId,departmentName,departmentId,"
    "locationName,locationId,jobTitleId,employmentStatusName,employmentStatusId,reportsToName,reportsToId"
)
REPORT_FIELDS = [
    *("firstName", "lastName", "workEmail", "status", "employmentHistoryStatus", "hireDate"),
    *("terminationDate", "supervisorEId", "department", "division", "location", "country"),
]


def _bamboo_oauth(server: FakeHRServer) -> httpx.Client:
    token = server.credentials["access_token"]
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"})


def _bamboo_basic(server: FakeHRServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, auth=(server.credentials["api_key"], "x"))


# --------------------------------------------------------------------------------------------
# The validator itself is strict (so a green contract test means something)
# --------------------------------------------------------------------------------------------


def test_validator_rejects_what_the_spec_forbids(merge_spec: OpenAPI, bamboohr_spec: OpenAPI) -> None:
    employee = merge_spec.component("Employee")
    assert not merge_spec.errors(employee, {"employment_status": "ACTIVE", "manager": None})
    assert merge_spec.errors(employee, {"employment_status": "FIRED"}), "enum is enforced"
    assert not merge_spec.errors(employee, {"employment_status": None}), "3.0 nullable allOf accepts null"
    assert merge_spec.errors(employee, {"remote_was_deleted": None}), "a non-nullable field rejects null"
    assert merge_spec.errors(employee, {"id": "not-a-uuid"}), "formats are checked"
    assert merge_spec.errors(employee, {"start_date": "2020-01-01"}), "date-time needs a time"
    listing = bamboohr_spec.schema("/api/v1/employees", "get", 200)
    assert bamboohr_spec.errors(listing, {"data": [], "meta": {"total": 0}}), "required keys are enforced"
    page = {"limit": 1, "nextCursor": None, "prevCursor": None}
    only_id = {"data": [{"employeeId": "1"}], "meta": {"total": 1, "page": page}, "_links": {}}
    assert bamboohr_spec.errors(listing, only_id), "the base employee fields are required"


def test_personio_erratum_is_still_needed(personio_spec: OpenAPI) -> None:
    """Personio's raw list schema demands ``data`` be an object and an array: nothing passes it."""
    raw = OpenAPI("personio-personnel-openapi.yaml", prefix="/v1")
    schema = raw.schema("/v1/company/employees", "get", 200)
    example = raw.spec["paths"]["/company/employees"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["examples"]["response"]["value"]
    assert raw.errors(schema, example), "the vendor's own example fails the unpatched schema"
    personio_spec.validate("/v1/company/employees", "get", 200, example)


# --------------------------------------------------------------------------------------------
# BambooHR (OpenAPI 3.1)
# --------------------------------------------------------------------------------------------


def test_bamboohr_employees_pages_match_the_spec(bamboohr: FakeHRServer, bamboohr_spec: OpenAPI) -> None:
    with _bamboo_oauth(bamboohr) as client:
        cursor: str | None = None
        pages = 0
        while True:
            params = {"page[limit]": "50", "fields": ALL_OPTIONAL}
            if cursor:
                params["page[after]"] = cursor
            response = client.get("/api/v1/employees", params=params)
            assert response.status_code == 200
            bamboohr_spec.validate("/api/v1/employees", "get", 200, response.json())
            cursor = response.json()["meta"]["page"]["nextCursor"]
            pages += 1
            if cursor is None:
                break
        assert pages == 5
        inactive = client.get("/api/v1/employees", params={"filter[status]": "inactive"})
        bamboohr_spec.validate("/api/v1/employees", "get", 200, inactive.json())
        assert {e["status"] for e in inactive.json()["data"]} == {"Inactive"}


def test_bamboohr_bad_cursor_answers_the_spec_error(bamboohr: FakeHRServer, bamboohr_spec: OpenAPI) -> None:
    with _bamboo_oauth(bamboohr) as client:
        response = client.get("/api/v1/employees", params={"page[after]": "garbage!"})
    assert response.status_code == 400
    bamboohr_spec.validate("/api/v1/employees", "get", 400, response.json())
    assert response.json()["error"]["code"] == "BadPage"


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("get", "/api/v1/employees/directory", {"headers": {"Accept": "application/json"}}),
        ("get", "/api/v1/employees/changed", {"params": {"since": "2000-01-01T00:00:00+00:00"}}),
        ("post", "/api/v1/reports/custom", {"params": {"format": "json"}, "json": {"fields": REPORT_FIELDS}}),
        ("get", "/api/v1/meta/fields", {"headers": {"Accept": "application/json"}}),
        (
            "post",
            "/api/v1/datasets/{datasetName}",
            {
                "params": {"page_size": "100"},
                "json": {
                    "fields": ["firstName", "lastName", "status", "terminationDate"],
                    "filters": {
                        "match": "all",
                        "filters": [
                            {"field": "status", "operator": "includes", "value": ["Active", "Inactive"]}
                        ],
                    },
                },
            },
        ),
        (
            "post",
            "/api/v2/datasets/{datasetName}/data",
            {"json": {"fields": ["firstName", "status"], "pageSize": 100}},
        ),
    ],
)
def test_bamboohr_basic_endpoints_match_the_spec(
    bamboohr: FakeHRServer, bamboohr_spec: OpenAPI, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    with _bamboo_basic(bamboohr) as client:
        response = client.request(method, path.replace("{datasetName}", "employee"), **kwargs)
    assert response.status_code == 200, response.text
    bamboohr_spec.validate(path, method, 200, response.json())


def test_bamboohr_legacy_gateway_matches_the_current_spec(
    bamboohr: FakeHRServer, bamboohr_spec: OpenAPI
) -> None:
    subdomain = bamboohr.credentials["subdomain"]
    with _bamboo_basic(bamboohr) as client:
        report = client.post(
            f"/api/gateway.php/{subdomain}/v1/reports/custom",
            headers={"Accept": "application/json"},
            json={"title": "Airbyte", "fields": REPORT_FIELDS},
        )
        directory = client.get(
            f"/api/gateway.php/{subdomain}/v1/employees/directory", headers={"Accept": "application/json"}
        )
    bamboohr_spec.validate("/api/v1/reports/custom", "post", 200, report.json())
    bamboohr_spec.validate("/api/v1/employees/directory", "get", 200, directory.json())


# --------------------------------------------------------------------------------------------
# Personio (OpenAPI 3.0)
# --------------------------------------------------------------------------------------------


def test_personio_auth_and_employees_match_the_spec(
    personio: FakeHRServer, personio_spec: OpenAPI, personio_auth_spec: OpenAPI
) -> None:
    with httpx.Client(base_url=personio.base_url) as client:
        auth = client.post("/v1/auth", json=personio.credentials)
        assert auth.status_code == 200
        personio_auth_spec.validate("/v1/auth", "post", 200, auth.json())
        client.headers["Authorization"] = f"Bearer {auth.json()['data']['token']}"
        offset, seen = 0, 0
        while True:
            page = client.get("/v1/company/employees", params={"limit": 100, "offset": offset})
            assert page.status_code == 200
            personio_spec.validate("/v1/company/employees", "get", 200, page.json())
            seen += len(page.json()["data"])
            offset += 100
            if offset >= page.json()["metadata"]["total_elements"]:
                break
        assert seen == len(personio.company.people())
        one = client.get(f"/v1/company/employees/{personio.company.people()[3].id}")
        personio_spec.validate("/v1/company/employees/{employee_id}", "get", 200, one.json())


# --------------------------------------------------------------------------------------------
# Merge HRIS (OpenAPI 3.0)
# --------------------------------------------------------------------------------------------


def _merge_client(server: FakeHRServer) -> httpx.Client:
    creds = server.credentials
    return httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {creds['api_key']}", "X-Account-Token": creds["account_token"]},
    )


def test_merge_employee_pages_match_the_spec(merge: FakeHRServer, merge_spec: OpenAPI) -> None:
    with _merge_client(merge) as client:
        cursor: str | None = None
        deleted = 0
        while True:
            params = {"page_size": "100", "include_deleted_data": "true"}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/api/hris/v1/employees", params=params)
            assert page.status_code == 200
            merge_spec.validate("/api/hris/v1/employees", "get", 200, page.json())
            deleted += sum(1 for e in page.json()["results"] if e["remote_was_deleted"])
            cursor = page.json()["next"]
            if cursor is None:
                break
        assert deleted == 1
        first = page.json()["results"][0]["id"]
        one = client.get(f"/api/hris/v1/employees/{first}")
        merge_spec.validate("/api/hris/v1/employees/{id}", "get", 200, one.json())


@pytest.mark.parametrize("model", ["companies", "groups", "locations", "employments"])
def test_merge_related_models_match_the_spec(merge: FakeHRServer, merge_spec: OpenAPI, model: str) -> None:
    with _merge_client(merge) as client:
        page = client.get(f"/api/hris/v1/{model}")
    assert page.status_code == 200
    assert page.json()["results"]
    merge_spec.validate(f"/api/hris/v1/{model}", "get", 200, page.json())


EXPAND_ALL = "company,employments,groups,home_location,manager,pay_group,team,work_location"


def test_merge_expanded_employees_match_the_v3_spec(merge: FakeHRServer, merge_v3_spec: OpenAPI) -> None:
    """``expand`` is documented only by the newer spec (hris_v3): an expanded relation is the related
    object where the field otherwise holds its id (``oneOf`` uuid or the model)."""
    with _merge_client(merge) as client:
        page = client.get(
            "/api/hris/v1/employees",
            params={"expand": EXPAND_ALL, "include_deleted_data": "true", "page_size": "100"},
        )
        assert page.status_code == 200, page.text
        merge_v3_spec.validate("/api/hris/v1/employees", "get", 200, page.json())
        results = page.json()["results"]
        one = client.get(f"/api/hris/v1/employees/{results[1]['id']}", params={"expand": EXPAND_ALL})
        assert one.status_code == 200, one.text
        merge_v3_spec.validate("/api/hris/v1/employees/{id}", "get", 200, one.json())
    # Each relation the fake expands came back as an object, so the object branch was validated.
    for name in ("company", "manager", "work_location"):
        assert any(isinstance(e.get(name), dict) for e in results), name
    for name in ("employments", "groups"):
        assert any(e[name] and all(isinstance(x, dict) for x in e[name]) for e in results), name
    assert isinstance(one.json()["company"], dict)


def test_merge_v3_erratum_is_still_needed(merge_v3_spec: OpenAPI) -> None:
    """Unpatched, a documented enum value matches both ``oneOf`` branches and so fails."""
    raw = OpenAPI("merge-hris-openapi-v3.yaml", prefix="/api")
    assert raw.errors(raw.component("Employee"), {"employment_status": "ACTIVE"})
    assert not merge_v3_spec.errors(merge_v3_spec.component("Employee"), {"employment_status": "ACTIVE"})


def test_merge_account_details_match_both_specs(
    merge: FakeHRServer, merge_spec: OpenAPI, merge_v3_spec: OpenAPI
) -> None:
    """What a credentials check (R32) reads: the linked account the account token names; a wrong
    account token is refused with Merge's ``detail``."""
    with _merge_client(merge) as client:
        details = client.get("/api/hris/v1/account-details")
        assert details.status_code == 200, details.text
        merge_spec.validate("/api/hris/v1/account-details", "get", 200, details.json())
        merge_v3_spec.validate("/api/hris/v1/account-details", "get", 200, details.json())
        wrong = client.get("/api/hris/v1/account-details", headers={"X-Account-Token": "not-the-token"})
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Invalid account token."}
