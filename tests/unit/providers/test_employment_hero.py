"""Employment Hero: OAuth2 + PKCE, organisations then employees by page_index, no webhooks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from shared.codecs import to_plain
from shared.domain.models import EmployeeStatus
from shared.providers.base import Credentials, ProviderAuthError, ProviderUnavailable, Secret, Tier
from shared.providers.employment_hero import EmploymentHero
from shared.providers.oauth import challenge_for
from tests.unit.providers.provider_helpers import FAST_POLICY, START, FakeTime, json_response

API = "https://api.employmenthero.com/api/v1"
TOKEN_URL = "https://oauth.employmenthero.com/oauth2/token"


def credentials(expires_in: timedelta = timedelta(minutes=10)) -> Credentials:
    return Credentials(
        secrets={
            "client_id": Secret("eh-client"),
            "client_secret": Secret("eh-secret"),
            "access_token": Secret("eh-at-1"),
            "refresh_token": Secret("eh-rt-1"),
        },
        settings={"token_expires_at": (START + expires_in).isoformat()},
    )


def connector(clock: FakeTime | None = None) -> EmploymentHero:
    return EmploymentHero(runtime=(clock or FakeTime()).runtime(), policy=FAST_POLICY)


def paged(items: list[dict[str, Any]]) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        index, per_page = int(query["page_index"][0]), int(query["items_per_page"][0])
        total_pages = max(1, -(-len(items) // per_page))
        chunk = items[(index - 1) * per_page : index * per_page]
        return json_response(
            {
                "data": {
                    "items": chunk,
                    "item_per_page": per_page,
                    "page_index": index,
                    "total_pages": total_pages,
                    "total_items": len(items),
                }
            }
        )

    return answer


def worker(employee_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": employee_id,
        "first_name": f"F{employee_id}",
        "last_name": f"L{employee_id}",
        "company_email": f"{employee_id}@acme.test",
        "status": "active",
        **fields,
    }


def test_declares_tier_no_webhooks_and_capabilities() -> None:
    provider = connector()
    assert provider.tier is Tier.FULL
    assert provider.supports_webhooks is False
    assert {"manager_hris_id", "company", "groups"} <= provider.capabilities


@respx.mock
def test_r09_pages_every_organisation_to_the_end() -> None:
    respx.get(f"{API}/organisations").mock(
        side_effect=paged([{"id": "org-a", "name": "Acme AU"}, {"id": "org-b", "name": "Acme NZ"}])
    )
    route_a = respx.get(f"{API}/organisations/org-a/employees").mock(
        side_effect=paged([worker(f"a{i}") for i in range(250)])
    )
    respx.get(f"{API}/organisations/org-b/employees").mock(side_effect=paged([worker("b1")]))
    provider = connector()

    ids, cursor = [], None
    while True:
        page = provider.list_employees(credentials(), cursor)
        ids.extend(e.hris_id for e in page.employees)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert ids == [f"a{i}" for i in range(250)] + ["b1"]
    pages = [parse_qs(urlsplit(str(c.request.url)).query)["page_index"][0] for c in route_a.calls]
    assert pages == ["1", "2", "3"]
    assert route_a.calls[0].request.headers["authorization"] == "Bearer eh-at-1"


@respx.mock
def test_every_field_is_mapped() -> None:
    record = worker(
        "e1",
        known_as=None,
        employee_number="EMP-1",
        job_title="Chef",
        location="Sydney",
        country="AU",
        date_of_birth="1985-01-02",
        start_date="2020-03-04",
        termination_date=None,
        avatar_url="https://eh.test/a.png",
        primary_manager={"id": "m1", "name": "Boss"},
        employing_entity={"id": "ent", "name": "Acme Pty Ltd"},
        teams=[{"id": "t1", "name": "Kitchen"}, {"id": "t2", "name": "Ops"}],
        role="employee",
    )
    respx.get(f"{API}/organisations").mock(side_effect=paged([{"id": "org-a", "name": "Acme"}]))
    respx.get(f"{API}/organisations/org-a/employees").mock(side_effect=paged([record]))

    (employee,) = connector().list_employees(credentials(), None).employees

    assert to_plain(employee, mode="python", exclude={"raw"}) == {
        "hris_id": "e1",
        "first_name": "Fe1",
        "last_name": "Le1",
        "email": "e1@acme.test",
        "employee_number": "EMP-1",
        "avatar_url": "https://eh.test/a.png",
        "job_title": "Chef",
        "department": None,
        "company": "Acme Pty Ltd",
        "groups": ("Kitchen", "Ops"),
        "office_location": "Sydney",
        "home_country": "AU",
        "birthday": date(1985, 1, 2),
        "start_date": date(2020, 3, 4),
        "termination_date": None,
        "manager_hris_id": "m1",
        "hris_role": "employee",
        "status": EmployeeStatus.ACTIVE,
        "raw_status": "active",
        "status_unknown": False,
        "warnings": (),
        "company_id": "ent",
        "group_ids": ("t1", "t2"),
    }


@respx.mock
def test_statuses_mapped_from_status_or_from_dates_and_unknown_reported() -> None:
    future = (START + timedelta(days=9)).date().isoformat()
    records = [
        worker("1", status="active"),
        worker("2", status="pending"),
        worker("3", status="on_leave"),
        worker("4", status="terminated"),
        worker("5", status="frozen"),
        worker("6", status=None, termination_date="2025-01-31"),
        worker("7", status=None, start_date=future),
        worker("8", status=None),
    ]
    respx.get(f"{API}/organisations").mock(side_effect=paged([{"id": "o", "name": "O"}]))
    respx.get(f"{API}/organisations/o/employees").mock(side_effect=paged(records))

    employees = {e.hris_id: e for e in connector().list_employees(credentials(), None).employees}

    expected = ["active", "pending", "on_leave", "terminated", "active", "terminated", "pending", "active"]
    assert [employees[str(i)].status.value for i in range(1, 9)] == expected
    assert employees["5"].warnings == ("employment_hero: unknown status 'frozen' treated as active",)
    assert employees["8"].warnings == ("employment_hero: no status; treated as active",)
    assert all(not employees[str(i)].warnings for i in (1, 2, 3, 4, 6, 7))


@respx.mock
def test_r04_null_and_unknown_statuses_stay_active_and_are_marked_for_the_run_report() -> None:
    records = [
        worker("known", status="employed"),
        worker("unknown", status="frozen"),
        worker("null", status=None),
        worker("dated", status=None, start_date="2020-01-06"),  # the dates say it: not unknown
    ]
    respx.get(f"{API}/organisations").mock(side_effect=paged([{"id": "o", "name": "O"}]))
    respx.get(f"{API}/organisations/o/employees").mock(side_effect=paged(records))

    employees = {e.hris_id: e for e in connector().list_employees(credentials(), None).employees}

    assert {k: (e.status, e.status_unknown, e.raw_status) for k, e in employees.items()} == {
        "known": (EmployeeStatus.ACTIVE, False, "employed"),
        "unknown": (EmployeeStatus.ACTIVE, True, "frozen"),
        "null": (EmployeeStatus.ACTIVE, True, None),
        "dated": (EmployeeStatus.ACTIVE, False, None),
    }


@respx.mock
def test_the_15_minute_token_is_refreshed_before_expiry_and_the_rotated_refresh_token_handed_back() -> None:
    token = respx.post(TOKEN_URL).mock(
        return_value=json_response({"access_token": "eh-at-2", "refresh_token": "eh-rt-2", "expires_in": 900})
    )
    orgs = respx.get(f"{API}/organisations").mock(side_effect=paged([{"id": "o", "name": "O"}]))
    respx.get(f"{API}/organisations/o/employees").mock(side_effect=paged([worker("1")]))

    page = connector().list_employees(credentials(expires_in=timedelta(seconds=60)), None)

    assert token.call_count == 1
    assert orgs.calls[0].request.headers["authorization"] == "Bearer eh-at-2"
    assert page.refreshed_credentials is not None
    assert page.refreshed_credentials.secrets["refresh_token"] == Secret("eh-rt-2")
    assert (
        page.refreshed_credentials.settings["token_expires_at"] == (START + timedelta(minutes=15)).isoformat()
    )
    form = parse_qs(token.calls[0].request.content.decode())
    assert form["refresh_token"] == ["eh-rt-1"]


@respx.mock
def test_an_expired_refresh_token_is_an_auth_error() -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={"error": "invalid_grant"}))
    with pytest.raises(ProviderAuthError):
        connector().list_employees(credentials(expires_in=timedelta(0)), None)


@respx.mock
def test_429_then_success_and_5xx_until_give_up() -> None:
    clock = FakeTime()
    respx.get(f"{API}/organisations").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "4"}), paged([{"id": "o", "name": "O"}])]
    )
    respx.get(f"{API}/organisations/o/employees").mock(side_effect=paged([worker("1")]))
    assert len(connector(clock).list_employees(credentials(), None).employees) == 1
    assert clock.sleeps == [4.0]

    respx.get(f"{API}/organisations").mock(side_effect=paged([{"id": "o", "name": "O"}]))
    respx.get(f"{API}/organisations/o/employees").mock(return_value=httpx.Response(500))
    with pytest.raises(ProviderUnavailable):
        connector().list_employees(credentials(), None)


def test_pkce_authorization_round_trip() -> None:
    provider = connector()
    url, pkce = provider.start_authorization(
        credentials(), redirect_uri="https://app.test/cb", state="s1", scope="urn:mainapp:employees:read"
    )
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://oauth.employmenthero.com/oauth2/authorize?")
    assert query["code_challenge"] == [challenge_for(pkce.verifier.reveal())]
    assert query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == ["eh-client"]

    with respx.mock:
        route = respx.post(TOKEN_URL).mock(
            return_value=json_response({"access_token": "at", "refresh_token": "rt", "expires_in": 900})
        )
        stored = provider.finish_authorization(
            credentials(), code="c0de", redirect_uri="https://app.test/cb", verifier=pkce.verifier
        )
    form = parse_qs(route.calls[0].request.content.decode())
    assert form["code_verifier"] == [pkce.verifier.reveal()]
    assert form["grant_type"] == ["authorization_code"]
    assert stored.secrets["access_token"] == Secret("at")
    assert stored.secrets["refresh_token"] == Secret("rt")


@respx.mock
def test_get_employees_looks_each_id_up_in_the_organisations() -> None:
    respx.get(f"{API}/organisations").mock(
        side_effect=paged([{"id": "o1", "name": "A"}, {"id": "o2", "name": "B"}])
    )
    respx.get(f"{API}/organisations/o1/employees/x1").mock(
        return_value=httpx.Response(404, json={"error": {}})
    )
    respx.get(f"{API}/organisations/o2/employees/x1").mock(return_value=json_response({"data": worker("x1")}))
    respx.get(f"{API}/organisations/o1/employees/x2").mock(return_value=json_response({"data": worker("x2")}))

    page = connector().get_employees(credentials(), ["x1", "x2", "../x"])

    assert [(e.hris_id, e.company) for e in page.employees] == [("x1", "B"), ("x2", "A")]


@respx.mock
def test_directory_has_organisations_teams_and_people() -> None:
    respx.get(f"{API}/organisations").mock(side_effect=paged([{"id": "o", "name": "Acme"}]))
    respx.get(f"{API}/organisations/o/teams").mock(
        return_value=json_response({"data": {"items": [{"id": "t1", "name": "Ops"}], "total_pages": 1}})
    )
    respx.get(f"{API}/organisations/o/employees").mock(side_effect=paged([worker("1"), worker("2")]))

    directory = connector().directory(credentials())

    assert [(c.id, c.name) for c in directory.companies] == [("o", "Acme")]
    assert [g.name for g in directory.groups] == ["Ops"]
    assert [p.id for p in directory.people] == ["1", "2"]
