"""The fake HR servers behave like the vendors: paging to the end, auth, 429, faults, OAuth."""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.local.fake_hris import FakeHRServer, Fault, RateLimit, fake_hris
from infra.local.fake_hris.oauth import s256
from shared.domain.models import Employee, EmployeeStatus


@pytest.fixture
def serve(people: list[Employee]) -> Iterator[Any]:
    started: list[FakeHRServer] = []

    def start(provider: str, **options: Any) -> FakeHRServer:
        options.setdefault("rate_limit", None)
        server = fake_hris(provider, employees=people, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _bamboo(server: FakeHRServer, *, oauth: bool = True) -> httpx.Client:
    creds = server.credentials
    if oauth:
        return httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {creds['access_token']}"}
        )
    return httpx.Client(base_url=server.base_url, auth=(creds["api_key"], "x"))


def _bamboo_pages(client: httpx.Client, limit: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"page[limit]": str(limit), "fields": "workEmail,reportsToId,employmentStatusName"}
        if cursor:
            params["page[after]"] = cursor
        response = client.get("/api/v1/employees", params=params)
        response.raise_for_status()
        records += response.json()["data"]
        cursor = response.json()["meta"]["page"]["nextCursor"]
        if cursor is None:
            return records


# --------------------------------------------------------------------------------------------
# Paging to the end, every employee once
# --------------------------------------------------------------------------------------------


def test_bamboohr_cursor_paging_returns_everyone_once_including_leavers(serve: Any) -> None:
    server = serve("bamboohr")
    with _bamboo(server) as client:
        records = _bamboo_pages(client, 37)
    ids = [r["employeeId"] for r in records]
    assert ids == [p.key for p in server.company.people()]
    terminated = {p.key for p in server.company.people() if p.employee.status is EmployeeStatus.TERMINATED}
    assert terminated
    assert {r["employeeId"] for r in records if r["status"] == "Inactive"} >= terminated
    by_id = {r["employeeId"]: r for r in records}
    for person in server.company.people():
        assert by_id[person.key]["workEmail"] == person.employee.email
        assert by_id[person.key]["reportsToId"] == person.employee.manager_hris_id


def test_bamboohr_prev_cursor_pages_backwards_and_directions_are_checked(serve: Any) -> None:
    server = serve("bamboohr")
    with _bamboo(server) as client:
        first = client.get("/api/v1/employees", params={"page[limit]": "40"}).json()
        second = client.get(
            "/api/v1/employees",
            params={"page[limit]": "40", "page[after]": first["meta"]["page"]["nextCursor"]},
        ).json()
        back = client.get(
            "/api/v1/employees",
            params={"page[limit]": "40", "page[before]": second["meta"]["page"]["prevCursor"]},
        ).json()
        wrong_way = client.get(
            "/api/v1/employees", params={"page[before]": first["meta"]["page"]["nextCursor"]}
        )
    assert first["meta"]["page"]["prevCursor"] is None
    assert [e["employeeId"] for e in back["data"]] == [e["employeeId"] for e in first["data"]]
    assert wrong_way.status_code == 400
    assert wrong_way.json()["error"]["code"] == "BadPage"


def test_bamboohr_page_limit_is_bounded_by_the_spec(serve: Any) -> None:
    server = serve("bamboohr")
    with _bamboo(server) as client:
        assert client.get("/api/v1/employees", params={"page[limit]": "2501"}).status_code == 400
        page = client.get("/api/v1/employees").json()
    assert page["meta"]["page"]["limit"] == 250


def test_bamboohr_directory_holds_active_employees_only(serve: Any) -> None:
    server = serve("bamboohr")
    with _bamboo(server, oauth=False) as client:
        directory = client.get("/api/v1/employees/directory", headers={"Accept": "application/json"}).json()
    listed = {e["id"] for e in directory["employees"]}
    for person in server.company.people():
        current = person.employee.status in (EmployeeStatus.ACTIVE, EmployeeStatus.ON_LEAVE)
        assert (person.key in listed) == current


def test_bamboohr_datasets_page_and_include_leavers_only_when_asked(serve: Any) -> None:
    server = serve("bamboohr")
    everyone = len(server.company.people())
    status_filter = {"field": "status", "operator": "includes", "value": ["Active", "Inactive"]}
    with _bamboo(server, oauth=False) as client:
        active = client.post("/api/v1/datasets/employee", json={"fields": ["firstName", "status"]}).json()
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = client.post(
                "/api/v1/datasets/employee",
                params={"page": str(page), "page_size": "100"},
                json={
                    "fields": ["firstName", "status"],
                    "filters": {"match": "all", "filters": [status_filter]},
                },
            ).json()
            rows += answer["data"]
            if answer["pagination"]["next_page"] is None:
                break
            page += 1
    assert {r["status"] for r in active["data"]} == {"Active"}
    assert len(rows) == everyone
    assert page == -(-everyone // 100)


def test_bamboohr_custom_report_includes_every_status(serve: Any) -> None:
    server = serve("bamboohr")
    with _bamboo(server, oauth=False) as client:
        report = client.post(
            "/api/v1/reports/custom?format=json", json={"fields": ["status", "terminationDate", "nonsense"]}
        ).json()
    assert len(report["employees"]) == len(server.company.people())
    assert {f["id"] for f in report["fields"]} == {"status", "terminationDate"}
    assert {e["status"] for e in report["employees"]} == {"Active", "Inactive"}


def test_personio_offset_paging_clamps_the_limit_to_100(serve: Any) -> None:
    server = serve("personio")
    with httpx.Client(base_url=server.base_url) as client:
        token = client.post("/v1/auth", json=server.credentials).json()["data"]["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        first = client.get("/v1/company/employees", params={"limit": 500}).json()
        assert first["limit"] == 100
        assert len(first["data"]) == 100
        seen: list[int] = []
        offset = 0
        while offset < first["metadata"]["total_elements"]:
            page = client.get("/v1/company/employees", params={"limit": 100, "offset": offset}).json()
            seen += [e["attributes"]["id"]["value"] for e in page["data"]]
            offset += 100
    assert seen == [p.id for p in server.company.people()]
    statuses = {"onboarding", "active", "leave", "inactive"}
    assert {e["attributes"]["status"]["value"] for e in first["data"]} <= statuses


def test_merge_cursor_paging_hides_deleted_records_unless_asked(serve: Any) -> None:
    server = serve("merge")
    gone = server.company.people()[4]
    server.delete(gone.id)
    creds = server.credentials
    headers = {"Authorization": f"Bearer {creds['api_key']}", "X-Account-Token": creds["account_token"]}

    def pull(**params: str) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        cursor = None
        with httpx.Client(base_url=server.base_url, headers=headers) as client:
            while True:
                query = {"page_size": "50", **params, **({"cursor": cursor} if cursor else {})}
                page = client.get("/api/hris/v1/employees", params=query).json()
                results += page["results"]
                cursor = page["next"]
                if cursor is None:
                    return results

    visible = pull()
    everything = pull(include_deleted_data="true")
    assert gone.key not in {e["remote_id"] for e in visible}
    assert [e["remote_id"] for e in everything if e["remote_was_deleted"]] == [gone.key]
    assert {e["employment_status"] for e in visible} <= {"ACTIVE", "PENDING", "INACTIVE"}
    expected = {e.hris_id for e in server.expected_employees()}
    assert {e["id"] for e in visible} == expected


def test_hibob_search_is_unpaged_and_hides_leavers_without_show_inactive(serve: Any) -> None:
    server = serve("hibob")
    creds = server.credentials
    auth = (creds["service_user_id"], creds["service_user_token"])
    with httpx.Client(base_url=server.base_url, auth=auth) as client:
        active = client.post("/v1/people/search", json={"fields": ["root.id", "work.department"]}).json()
        everyone = client.post("/v1/people/search", json={"showInactive": True}).json()
    assert len(everyone["employees"]) == len(server.company.people())
    assert set(active["employees"][0]) == {"id", "work"}
    terminated = {p.key for p in server.company.people() if p.employee.status is EmployeeStatus.TERMINATED}
    assert terminated.isdisjoint({e["id"] for e in active["employees"]})


# --------------------------------------------------------------------------------------------
# Auth
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "method", "path", "kwargs"),
    [
        ("bamboohr", "GET", "/api/v1/employees", {"headers": {"Authorization": "Bearer nope"}}),
        ("bamboohr", "GET", "/api/v1/employees/directory", {"auth": ("wrong-key", "x")}),
        ("personio", "GET", "/v1/company/employees", {"headers": {"Authorization": "Bearer nope"}}),
        ("personio", "POST", "/v1/auth", {"json": {"client_id": "x", "client_secret": "y"}}),
        ("hibob", "POST", "/v1/people/search", {"auth": ("svc", "wrong"), "json": {}}),
        ("merge", "GET", "/api/hris/v1/employees", {"headers": {"Authorization": "Bearer nope"}}),
        ("employment_hero", "GET", "/api/v1/organisations", {"headers": {"Authorization": "Bearer nope"}}),
    ],
)
def test_bad_credentials_get_401(
    serve: Any, provider: str, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    server = serve(provider)
    response = httpx.request(method, server.base_url + path, **kwargs)
    assert response.status_code == 401
    for secret in server.credentials.values():
        if "fake" in secret or len(secret) > 20:
            assert secret not in response.text


def test_bamboohr_api_key_is_refused_on_the_oauth_only_list(serve: Any) -> None:
    server = serve("bamboohr")
    with _bamboo(server, oauth=False) as client:
        response = client.get("/api/v1/employees")
    assert response.status_code == 401
    assert response.headers["x-bamboohr-error-message"] == "This endpoint requires OAuth"


def test_merge_requires_the_account_token(serve: Any) -> None:
    server = serve("merge")
    headers = {"Authorization": f"Bearer {server.credentials['api_key']}"}
    assert httpx.get(f"{server.base_url}/api/hris/v1/employees", headers=headers).status_code == 401


def test_bamboohr_oauth_refresh_rotates_and_expired_tokens_are_refused(serve: Any) -> None:
    server = serve("bamboohr")
    creds = server.credentials
    server.vendor.oauth.expire_access_tokens()  # type: ignore[attr-defined]
    with _bamboo(server) as client:
        assert client.get("/api/v1/employees").status_code == 401
    form = {
        "grant_type": "refresh_token",
        "refresh_token": creds["refresh_token"],
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
    }
    fresh = httpx.post(f"{server.base_url}/token.php?request=token", data=form)
    assert fresh.status_code == 200
    tokens = fresh.json()
    assert tokens["refresh_token"] != creds["refresh_token"]
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{server.base_url}/api/v1/employees", headers=headers).status_code == 200
    replay = httpx.post(f"{server.base_url}/token.php?request=token", data=form)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def _eh_authorize(server: FakeHRServer, challenge: str | None, method: str = "S256") -> httpx.Response:
    params = {
        "client_id": server.credentials["client_id"],
        "redirect_uri": "http://127.0.0.1:9/callback",
        "response_type": "code",
        "state": "xyz",
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": method}
    return httpx.get(f"{server.base_url}/oauth2/authorize", params=params)


def test_employment_hero_pkce_is_verified_and_tokens_refresh(serve: Any) -> None:
    server = serve("employment_hero")
    creds = server.credentials
    verifier = secrets.token_urlsafe(48)
    assert _eh_authorize(server, None).status_code == 400, "PKCE is mandatory"
    assert _eh_authorize(server, s256(verifier), method="plain").status_code == 400
    redirect = _eh_authorize(server, s256(verifier))
    assert redirect.status_code == 302
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(redirect.headers["Location"]).query)
    assert query["state"] == ["xyz"]
    exchange = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": "http://127.0.0.1:9/callback",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
    }
    wrong = httpx.post(
        f"{server.base_url}/oauth2/token", data={**exchange, "code_verifier": "not-the-verifier"}
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    # A failed exchange burns the code, as authorization servers do.
    second = _eh_authorize(server, s256(verifier))
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(second.headers["Location"]).query)["code"][0]
    good = httpx.post(
        f"{server.base_url}/oauth2/token", data={**exchange, "code": code, "code_verifier": verifier}
    )
    assert good.status_code == 200
    assert good.json()["expires_in"] == 900
    headers = {"Authorization": f"Bearer {good.json()['access_token']}"}
    orgs = httpx.get(f"{server.base_url}/api/v1/organisations", headers=headers).json()["data"]["items"]
    org = orgs[0]["id"]
    items: list[dict[str, Any]] = []
    index = 1
    while True:
        page = httpx.get(
            f"{server.base_url}/api/v1/organisations/{org}/employees",
            params={"page_index": index, "items_per_page": 100},
            headers=headers,
        ).json()["data"]
        items += page["items"]
        if index >= page["total_pages"]:
            break
        index += 1
    assert [i["id"] for i in items] == [e.hris_id for e in server.expected_employees()]
    server.vendor.oauth.expire_access_tokens()  # type: ignore[attr-defined]
    assert httpx.get(f"{server.base_url}/api/v1/organisations", headers=headers).status_code == 401
    refreshed = httpx.post(
        f"{server.base_url}/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": good.json()["refresh_token"],
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
        },
    )
    assert refreshed.status_code == 200
    again = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert httpx.get(f"{server.base_url}/api/v1/organisations", headers=again).status_code == 200


# --------------------------------------------------------------------------------------------
# Rate limits and faults
# --------------------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(serve: Any) -> None:
    server = serve("bamboohr", rate_limit=RateLimit(3, 60))
    with _bamboo(server) as client:
        statuses = [client.get("/api/v1/employees").status_code for _ in range(4)]
        limited = client.get("/api/v1/employees")
    assert statuses == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["x-bamboohr-error-message"]


def test_hibob_limits_to_50_requests_a_minute_by_default(people: list[Employee]) -> None:
    with fake_hris("hibob", employees=people[:5]) as server:
        creds = server.credentials
        with httpx.Client(
            base_url=server.base_url, auth=(creds["service_user_id"], creds["service_user_token"])
        ) as c:
            statuses = [c.post("/v1/people/search", json={}).status_code for _ in range(51)]
    assert statuses.count(200) == 50
    assert statuses[-1] == 429


def test_5xx_fault_on_page_k_then_recovery(serve: Any) -> None:
    server = serve("bamboohr")
    fault = server.add_fault(Fault(kind="error", page=2, status=503, times=2))
    with _bamboo(server) as client:
        first = client.get("/api/v1/employees", params={"page[limit]": "100"}).json()
        cursor = first["meta"]["page"]["nextCursor"]
        attempts = [
            client.get("/api/v1/employees", params={"page[limit]": "100", "page[after]": cursor}).status_code
            for _ in range(3)
        ]
    assert attempts == [503, 503, 200]
    assert fault.hits == 2


def test_persistent_fault_never_recovers_until_cleared(serve: Any) -> None:
    server = serve("merge")
    server.add_fault(Fault(kind="error", page=None, status=500, times=None))
    creds = server.credentials
    headers = {"Authorization": f"Bearer {creds['api_key']}", "X-Account-Token": creds["account_token"]}
    url = f"{server.base_url}/api/hris/v1/employees"
    assert {httpx.get(url, headers=headers).status_code for _ in range(3)} == {500}
    server.clear_faults()
    assert httpx.get(url, headers=headers).status_code == 200


def test_slow_page_is_served_after_the_delay(serve: Any) -> None:
    server = serve("personio")
    fault = server.add_fault(Fault(kind="slow", page=1, delay=0.05))
    with httpx.Client(base_url=server.base_url) as client:
        token = client.post("/v1/auth", json=server.credentials).json()["data"]["token"]
        page = client.get("/v1/company/employees", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    assert fault.hits == 1


def test_bad_cursor_fault_makes_the_next_page_fail_with_the_vendor_error(serve: Any) -> None:
    server = serve("bamboohr")
    server.add_fault(Fault(kind="bad_cursor", page=1))
    with _bamboo(server) as client:
        first = client.get("/api/v1/employees", params={"page[limit]": "100"}).json()
        broken = client.get(
            "/api/v1/employees",
            params={"page[limit]": "100", "page[after]": first["meta"]["page"]["nextCursor"]},
        )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "BadPage"


def test_r31_short_page_fault_leaves_records_out_while_the_totals_still_say_more(serve: Any) -> None:
    server = serve("personio")
    admin = httpx.Client(base_url=f"{server.base_url}/_admin")
    made = admin.post("/faults", json={"kind": "short_page", "page": 1, "missing": 3})
    assert made.status_code == 201 and made.json()["missing"] == 3
    with httpx.Client(base_url=server.base_url) as client:
        token = client.post("/v1/auth", json=server.credentials).json()["data"]["token"]
        page = client.get(
            "/v1/company/employees",
            params={"limit": 10, "offset": 0},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    assert len(page["data"]) == 7
    assert page["metadata"]["total_elements"] == len(server.company.people()) > 10
    assert page["limit"] == 10


def test_r31_repeat_cursor_fault_hands_out_the_cursor_it_was_asked_with(serve: Any) -> None:
    server = serve("merge")
    server.add_fault(Fault(kind="repeat_cursor", page=2))
    creds = server.credentials
    headers = {"Authorization": f"Bearer {creds['api_key']}", "X-Account-Token": creds["account_token"]}
    url = f"{server.base_url}/api/hris/v1/employees"
    first = httpx.get(url, params={"page_size": 5}, headers=headers).json()
    second = httpx.get(url, params={"page_size": 5, "cursor": first["next"]}, headers=headers).json()
    assert second["next"] == first["next"]
    assert len(second["results"]) == 5


def test_r31_repeat_cursor_fault_answers_the_first_page_to_a_paged_vendor(serve: Any) -> None:
    server = serve("employment_hero")
    server.add_fault(Fault(kind="repeat_cursor", page=2))
    creds = server.credentials
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {creds['access_token']}"}
    ) as c:
        org = c.get("/api/v1/organisations").json()["data"]["items"][0]["id"]
        pages = [
            c.get(
                f"/api/v1/organisations/{org}/employees", params={"page_index": i, "items_per_page": 5}
            ).json()
            for i in (1, 2)
        ]
    assert pages[1]["data"]["page_index"] == 1
    assert pages[1]["data"]["items"] == pages[0]["data"]["items"]


def test_faults_and_rate_limits_are_set_through_the_admin_endpoint(serve: Any) -> None:
    server = serve("merge")
    admin = httpx.Client(base_url=f"{server.base_url}/_admin")
    assert admin.post("/faults", json={"kind": "error", "page": 1, "status": 502}).status_code == 201
    creds = server.credentials
    headers = {"Authorization": f"Bearer {creds['api_key']}", "X-Account-Token": creds["account_token"]}
    assert httpx.get(f"{server.base_url}/api/hris/v1/employees", headers=headers).status_code == 502
    assert admin.post("/rate-limit", json={"requests": 1, "per_seconds": 60}).status_code == 200
    httpx.get(f"{server.base_url}/api/hris/v1/companies", headers=headers)
    limited = httpx.get(f"{server.base_url}/api/hris/v1/companies", headers=headers)
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers
    assert admin.post("/faults", json={"kind": "explode"}).status_code == 400


def test_merge_expand_inlines_related_objects(serve: Any) -> None:
    server = serve("merge")
    creds = server.credentials
    headers = {"Authorization": f"Bearer {creds['api_key']}", "X-Account-Token": creds["account_token"]}
    person = next(p for p in server.company.people() if p.employee.manager_hris_id)
    merge_id = next(e.hris_id for e in server.expected_employees() if e.email == person.employee.email)
    answer = httpx.get(
        f"{server.base_url}/api/hris/v1/employees/{merge_id}",
        params={"expand": "manager,company,groups,work_location,employments"},
        headers=headers,
    ).json()
    assert answer["manager"]["remote_id"] == person.employee.manager_hris_id
    assert answer["company"]["display_name"] == person.employee.company
    assert [g["name"] for g in answer["groups"]] == list(person.employee.groups)
    assert answer["work_location"]["name"] == person.employee.office_location
    assert answer["employments"][0]["job_title"] == person.employee.job_title
    missing = httpx.get(
        f"{server.base_url}/api/hris/v1/employees/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=headers
    )
    assert missing.status_code == 404
