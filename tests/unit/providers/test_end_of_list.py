"""R31, the end of the list: only the HR system's own end signal completes a snapshot.

For each connector that pages, each way a vendor can break its own paging contract: a page
shorter than asked for while it still reports more, a list ending short of the total it reports,
an answer for another page than the one asked for, a next cursor handed out again, and more pages
than the company can fill. Each makes the list raise ``IncompleteListing`` (a
``ProviderUnavailable``), which the sync turns into an incomplete snapshot (R09).

HiBob is absent on purpose: its people search has no paging (one answer holds everyone, the
vendor's "people read API contract"), so it has no end signal to misread.

Servers that misbehave forever stop after ``GUARD`` requests, so the code before R31 (which
followed them) ends instead of hanging and the test fails on "did not raise".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from shared.providers.bamboohr import BambooHR
from shared.providers.base import Credentials, IncompleteListing, ProviderUnavailable, Secret
from shared.providers.common import Connector, ListPage, end_of_list
from shared.providers.employment_hero import EmploymentHero
from shared.providers.merge import PAGE_SIZE as MERGE_LOOKUP_PAGE
from shared.providers.merge import Merge
from shared.providers.personio import Personio
from tests.unit.providers.provider_helpers import FAST_POLICY, START, FakeTime, json_response, sent_json

GUARD = 50


def query(request: httpx.Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}


def drain(provider: Connector, credentials: Credentials) -> list[str]:
    """Every employee id of a full list, page by page, as the sync's fetch steps do."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = provider.list_employees(credentials, cursor)
        ids.extend(e.hris_id for e in page.employees)
        credentials = page.refreshed_credentials or credentials
        cursor = page.next_cursor
        if cursor is None:
            return ids


def build[C: Connector](kind: type[C], **options: Any) -> C:
    return kind(runtime=FakeTime().runtime(), policy=FAST_POLICY, **options)


# -- the rule itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "ends"),
    [
        (ListPage(number=1, asked=10, got=10, more=True, seen=10, total=25), False),
        (ListPage(number=3, asked=10, got=5, more=False, seen=25, total=25), True),
        (ListPage(number=2, asked=10, got=3, more=False), True),  # no total: the signal alone
        (ListPage(number=3, asked=10, got=0, more=False, seen=20), True),  # an empty last page
    ],
)
def test_r31_the_vendors_own_end_signal_ends_the_list(page: ListPage, ends: bool) -> None:
    assert end_of_list("v", page) is ends


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        (ListPage(number=1, asked=100, got=95, more=True, seen=95, total=120), "held 95 of the 100"),
        (ListPage(number=2, asked=10, got=0, more=True, seen=10, total=30), "held 0 of the 10"),
        (ListPage(number=2, asked=10, got=5, more=False, seen=15, total=30), "ended after 15"),
        (ListPage(number=3, asked=10, got=10, more=True, seen=30, total=30), "past the 3 pages"),
        (ListPage(number=1, asked=10, got=10, more=True, seen=10, total=0), "past the 0 pages"),
    ],
)
def test_r31_a_short_page_an_early_end_or_too_many_pages_is_incomplete(page: ListPage, reason: str) -> None:
    with pytest.raises(IncompleteListing, match=reason) as caught:
        end_of_list("v", page)
    assert isinstance(caught.value, ProviderUnavailable), "the path a 5xx mid-list already takes"


def test_r31_without_a_total_a_list_stops_past_what_the_largest_company_fills() -> None:
    # 10 records at most, pages of 3: 4 pages can hold them, a fifth (empty) may close the list.
    assert end_of_list("v", ListPage(number=4, asked=3, got=3, more=True), most=10) is False
    with pytest.raises(IncompleteListing, match="past the 4 pages of 3 that 10 records"):
        end_of_list("v", ListPage(number=5, asked=3, got=3, more=True), most=10)


# -- Personio: limit/offset and metadata.total_elements --------------------------------------------

PERSONIO = "https://api.personio.de"
PERSONIO_CREDENTIALS = Credentials(secrets={"client_id": Secret("pid"), "client_secret": Secret("psecret")})


def personio_person(employee_id: int) -> dict[str, Any]:
    value = {"label": "ID", "value": employee_id, "type": "integer", "universal_id": "id"}
    return {"type": "Employee", "attributes": {"id": value}}


def personio_page(offset: int, limit: int, ids: range | list[int], total: int | None) -> httpx.Response:
    body: dict[str, Any] = {
        "success": True,
        "offset": offset,
        "limit": limit,
        "data": [personio_person(i) for i in ids],
    }
    if total is not None:
        body["metadata"] = {"total_elements": total, "current_page": 0, "total_pages": -(-total // limit)}
    return json_response(body)


def personio(answer: Callable[[int, int], httpx.Response]) -> respx.Route:
    respx.post(f"{PERSONIO}/v1/auth").mock(
        return_value=json_response({"success": True, "data": {"token": "tok", "expires_in": 86400}})
    )

    def employees(request: httpx.Request) -> httpx.Response:
        asked = query(request)
        return answer(int(asked["offset"]), int(asked["limit"]))

    return respx.get(f"{PERSONIO}/v1/company/employees").mock(side_effect=employees)


@respx.mock
def test_r31_personio_short_page_while_total_elements_says_more_is_incomplete() -> None:
    # The incident: 200 OK with 95 of the 100 asked for while total_elements said 120.
    def answer(offset: int, limit: int) -> httpx.Response:
        if offset == 0:
            return personio_page(0, limit, range(1, 96), total=120)
        return personio_page(offset, limit, range(offset + 1, 121), total=120)

    personio(answer)

    with pytest.raises(IncompleteListing, match="page 1 held 95 of the 100 employees"):
        drain(build(Personio), PERSONIO_CREDENTIALS)


@respx.mock
def test_r31_personio_answer_at_another_offset_is_incomplete() -> None:
    # A server that ignores offset hands the first page out again: duplicates, never the rest.
    route = personio(lambda _offset, limit: personio_page(0, limit, range(1, limit + 1), total=250))

    with pytest.raises(IncompleteListing, match="asked for offset 100, the HR system answered offset 0"):
        drain(build(Personio), PERSONIO_CREDENTIALS)
    assert route.call_count == 2


@respx.mock
def test_r31_personio_page_without_a_total_is_incomplete() -> None:
    personio(lambda offset, limit: personio_page(offset, limit, range(1, 6), total=None))

    with pytest.raises(IncompleteListing, match=r"no metadata\.total_elements"):
        drain(build(Personio), PERSONIO_CREDENTIALS)


@respx.mock
def test_r31_personio_total_that_grows_with_every_page_stops_at_the_largest_company() -> None:
    # Each page reports a few more than it has handed out: the list would never end.
    def answer(offset: int, limit: int) -> httpx.Response:
        total = offset + limit if offset >= GUARD * limit else offset + 2 * limit + 1
        return personio_page(offset, limit, range(offset + 1, offset + limit + 1), total=total)

    route = personio(answer)

    with pytest.raises(IncompleteListing, match="still reports more"):
        drain(build(Personio, page_size=2, max_records=10), PERSONIO_CREDENTIALS)
    assert route.call_count == 6


# -- BambooHR: the Datasets API (API key) and /api/v1/employees (OAuth) ---------------------------

BAMBOO = "https://acme.bamboohr.com"
DATASET = f"{BAMBOO}/api/v2/datasets/employee/data"
BAMBOO_EMPLOYEES = f"{BAMBOO}/api/v1/employees"
BAMBOO_API_KEY = Credentials(secrets={"api_key": Secret("bhr-key")}, settings={"company_domain": "acme"})
BAMBOO_OAUTH = Credentials(
    secrets={
        "access_token": Secret("at-1"),
        "refresh_token": Secret("rt-1"),
        "client_id": Secret("cid"),
        "client_secret": Secret("csecret"),
    },
    settings={"company_domain": "acme", "token_expires_at": (START + timedelta(hours=1)).isoformat()},
)


def dataset_page(
    page: int, size: int, ids: range, *, total_pages: int, total_items: int, answered: int | None = None
) -> httpx.Response:
    rows = [{"fields": {"id": str(i), "firstName": "F", "lastName": "L", "status": "Active"}} for i in ids]
    return json_response(
        {
            "data": rows,
            "links": {"next": f"{DATASET}?page={page + 1}" if page < total_pages else None, "prev": None},
            "meta": {
                "page": answered or page,
                "pageSize": size,
                "totalPages": total_pages,
                "totalItems": total_items,
            },
        }
    )


def dataset(answer: Callable[[int], httpx.Response]) -> respx.Route:
    return respx.post(DATASET).mock(side_effect=lambda request: answer(sent_json(request)["page"]))


@respx.mock
def test_r31_bamboohr_dataset_short_page_while_total_pages_says_more_is_incomplete() -> None:
    def answer(page: int) -> httpx.Response:
        first = (page - 1) * 50 + 1
        ids = range(first, first + (45 if page == 2 else 50))
        return dataset_page(page, 50, ids, total_pages=3, total_items=150)

    dataset(answer)

    with pytest.raises(IncompleteListing, match="page 2 held 45 of the 50 employees"):
        drain(build(BambooHR, page_size=50), BAMBOO_API_KEY)


@respx.mock
def test_r31_bamboohr_dataset_ending_short_of_total_items_is_incomplete() -> None:
    def answer(page: int) -> httpx.Response:
        ids = range(1, 51) if page == 1 else range(51, 71)
        return dataset_page(page, 50, ids, total_pages=2, total_items=100)

    dataset(answer)

    with pytest.raises(IncompleteListing, match="ended after 70 employees while the HR system reports 100"):
        drain(build(BambooHR, page_size=50), BAMBOO_API_KEY)


@respx.mock
def test_r31_bamboohr_dataset_answering_another_page_is_incomplete() -> None:
    # The first page again for every page asked: the same 50 people three times, nobody else.
    route = dataset(
        lambda page: dataset_page(page, 50, range(1, 51), total_pages=3, total_items=150, answered=1)
    )

    with pytest.raises(IncompleteListing, match="asked for page 2, the HR system answered page 1"):
        drain(build(BambooHR, page_size=50), BAMBOO_API_KEY)
    assert route.call_count == 2


@respx.mock
def test_r31_bamboohr_dataset_more_pages_than_total_items_can_fill_is_incomplete() -> None:
    def answer(page: int) -> httpx.Response:
        first = (page - 1) * 50 + 1
        return dataset_page(page, 50, range(first, first + 50), total_pages=GUARD, total_items=100)

    route = dataset(answer)

    with pytest.raises(IncompleteListing, match="page 2 still reports more, past the 2 pages of 50"):
        drain(build(BambooHR, page_size=50), BAMBOO_API_KEY)
    assert route.call_count == 2


def bamboo_employees(
    answer: Callable[[str, str | None, int], tuple[list[int], str | None, int]],
) -> respx.Route:
    """``answer(status, after, call) -> (ids, nextCursor, total)`` for /api/v1/employees."""
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        asked = query(request)
        ids, next_cursor, total = answer(asked["filter[status]"], asked.get("page[after]"), calls["n"])
        records = [{"employeeId": str(i), "firstName": "F", "lastName": "L", "status": "Active"} for i in ids]
        meta = {
            "total": total,
            "page": {"limit": int(asked["page[limit]"]), "nextCursor": next_cursor, "prevCursor": None},
        }
        return json_response({"data": records, "meta": meta})

    return respx.get(BAMBOO_EMPLOYEES).mock(side_effect=handler)


@respx.mock
def test_r31_bamboohr_oauth_next_cursor_that_repeats_is_incomplete() -> None:
    def answer(status: str, _after: str | None, call: int) -> tuple[list[int], str | None, int]:
        if status == "inactive" or call > GUARD:
            return [], None, 0
        return [call * 2, call * 2 + 1], "eyJjdXJzb3IiOiJhZnRlci0yIn0=", 10_000

    route = bamboo_employees(answer)

    with pytest.raises(IncompleteListing, match="next cursor it had given before"):
        drain(build(BambooHR, page_size=2), BAMBOO_OAUTH)
    assert route.call_count == 2


@respx.mock
def test_r31_bamboohr_oauth_short_page_while_a_next_cursor_is_set_is_incomplete() -> None:
    def answer(status: str, after: str | None, _call: int) -> tuple[list[int], str | None, int]:
        if status == "inactive":
            return [], None, 0
        if after is None:
            return [1], "c-1", 3
        return [2, 3], None, 3

    bamboo_employees(answer)

    with pytest.raises(IncompleteListing, match="page 1 held 1 of the 2 active employees"):
        drain(build(BambooHR, page_size=2), BAMBOO_OAUTH)


@respx.mock
def test_r31_bamboohr_oauth_status_list_ending_short_of_meta_total_is_incomplete() -> None:
    def answer(status: str, after: str | None, _call: int) -> tuple[list[int], str | None, int]:
        if status == "inactive":
            return [], None, 0
        return ([1, 2], "c-1", 7) if after is None else ([3], None, 7)

    bamboo_employees(answer)

    with pytest.raises(
        IncompleteListing, match="ended after 3 active employees while the HR system reports 7"
    ):
        drain(build(BambooHR, page_size=2), BAMBOO_OAUTH)


# -- Employment Hero: page_index of total_pages, total_items -------------------------------------

EH = "https://api.employmenthero.com/api/v1"
EH_CREDENTIALS = Credentials(
    secrets={
        "client_id": Secret("eh-client"),
        "client_secret": Secret("eh-secret"),
        "access_token": Secret("eh-at"),
        "refresh_token": Secret("eh-rt"),
    },
    settings={"token_expires_at": (START + timedelta(minutes=10)).isoformat()},
)


def eh_page(
    items: list[dict[str, Any]],
    index: int,
    per_page: int,
    *,
    total_pages: int,
    total_items: int,
    answered: int = 0,
) -> httpx.Response:
    data = {
        "items": items,
        "item_per_page": per_page,
        "page_index": answered or index,
        "total_pages": total_pages,
        "total_items": total_items,
    }
    return json_response({"data": data})


def eh(employees: Callable[[int, int], httpx.Response], organisations: int = 1) -> respx.Route:
    orgs = [{"id": "org-a", "name": "Acme AU"}, {"id": "org-b", "name": "Acme NZ"}]
    respx.get(f"{EH}/organisations").mock(
        return_value=eh_page(orgs[:1], 1, 100, total_pages=1, total_items=organisations)
    )

    def handler(request: httpx.Request) -> httpx.Response:
        asked = query(request)
        return employees(int(asked["page_index"]), int(asked["items_per_page"]))

    return respx.get(f"{EH}/organisations/org-a/employees").mock(side_effect=handler)


def eh_workers(first: int, count: int) -> list[dict[str, Any]]:
    return [{"id": f"w{i}", "first_name": "F", "status": "active"} for i in range(first, first + count)]


@respx.mock
def test_r31_employment_hero_short_page_while_total_pages_says_more_is_incomplete() -> None:
    def answer(index: int, per_page: int) -> httpx.Response:
        count = per_page - 1 if index == 1 else per_page
        return eh_page(
            eh_workers(index * 100, count), index, per_page, total_pages=3, total_items=3 * per_page
        )

    eh(answer)

    with pytest.raises(IncompleteListing, match="page 1 held 9 of the 10 employees of organisation 1"):
        drain(build(EmploymentHero, page_size=10), EH_CREDENTIALS)


@respx.mock
def test_r31_employment_hero_answer_for_another_page_index_is_incomplete() -> None:
    route = eh(
        lambda index, per_page: eh_page(
            eh_workers(0, per_page), index, per_page, total_pages=3, total_items=30, answered=1
        )
    )

    with pytest.raises(
        IncompleteListing, match="asked for page_index 2, the HR system answered page_index 1"
    ):
        drain(build(EmploymentHero, page_size=10), EH_CREDENTIALS)
    assert route.call_count == 2


@respx.mock
def test_r31_employment_hero_total_pages_past_what_total_items_can_fill_is_incomplete() -> None:
    route = eh(
        lambda index, per_page: eh_page(
            eh_workers(index * 100, per_page), index, per_page, total_pages=GUARD, total_items=20
        )
    )

    with pytest.raises(IncompleteListing, match="past the 2 pages of 10 that 20 employees"):
        drain(build(EmploymentHero, page_size=10), EH_CREDENTIALS)
    assert route.call_count == 2


@respx.mock
def test_r31_employment_hero_organisations_short_of_their_total_is_incomplete() -> None:
    # One organisation listed of the two reported: the other's people would all look gone.
    eh(
        lambda index, per_page: eh_page(eh_workers(0, 3), index, per_page, total_pages=1, total_items=3),
        organisations=2,
    )

    with pytest.raises(IncompleteListing, match="ended after 1 organisations while the HR system reports 2"):
        drain(build(EmploymentHero, page_size=10), EH_CREDENTIALS)


# -- Merge: next cursors, no count ------------------------------------------------------------------

MERGE = "https://api.merge.dev/api/hris/v1"
MERGE_CREDENTIALS = Credentials(secrets={"api_key": Secret("merge-key"), "account_token": Secret("acct")})


def merge_person(employee_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": employee_id, "first_name": "F", "employment_status": "ACTIVE", **fields}


def merge_employees(
    answer: Callable[[str | None, int], tuple[list[dict[str, Any]], str | None]],
) -> respx.Route:
    """``answer(cursor, call) -> (results, next)`` for /employees."""
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        results, following = answer(query(request).get("cursor"), calls["n"])
        return json_response({"next": following, "previous": None, "results": results})

    return respx.get(f"{MERGE}/employees").mock(side_effect=handler)


def full_page(call: int, size: int = 2) -> list[dict[str, Any]]:
    return [merge_person(f"e{call}-{i}") for i in range(size)]


@respx.mock
def test_r31_merge_next_that_never_changes_is_incomplete_after_two_requests() -> None:
    # The incident: 100,009 requests on a next that never changed.
    route = merge_employees(lambda _cursor, call: (full_page(call), "cD0yMDIx" if call < GUARD else None))

    with pytest.raises(IncompleteListing, match="next cursor it had given before"):
        drain(build(Merge, page_size=2), MERGE_CREDENTIALS)
    assert route.call_count == 2


@respx.mock
def test_r31_merge_cursors_that_cycle_are_incomplete() -> None:
    cycle = {None: "A", "A": "B", "B": "A"}
    route = merge_employees(lambda cursor, call: (full_page(call), cycle[cursor] if call < GUARD else None))

    with pytest.raises(IncompleteListing, match="next cursor it had given before"):
        drain(build(Merge, page_size=2), MERGE_CREDENTIALS)
    assert route.call_count == 3


@respx.mock
def test_r31_merge_short_page_while_next_is_set_is_incomplete() -> None:
    merge_employees(
        lambda cursor, call: (full_page(call, 1), "n2") if cursor is None else (full_page(call), None)
    )

    with pytest.raises(IncompleteListing, match="page 1 held 1 of the 2 employees"):
        drain(build(Merge, page_size=2), MERGE_CREDENTIALS)


@respx.mock
def test_r31_merge_more_pages_than_the_largest_company_can_fill_is_incomplete() -> None:
    route = merge_employees(lambda _cursor, call: (full_page(call), f"c{call}" if call < GUARD else None))

    with pytest.raises(IncompleteListing, match="past the 5 pages of 2 that 10 employees"):
        drain(build(Merge, page_size=2, max_records=10), MERGE_CREDENTIALS)
    assert route.call_count == 6


@respx.mock
def test_r31_merge_lookup_list_with_a_repeating_cursor_is_incomplete() -> None:
    # Ids instead of expanded objects: companies are looked up; that list must end too.
    merge_employees(lambda _cursor, _call: ([merge_person("e1", company="c1")], None))
    calls = {"n": 0}

    def companies(_request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        following = "c-next" if calls["n"] < GUARD else None
        results = [{"id": f"c{calls['n']}-{i}", "name": "Acme"} for i in range(MERGE_LOOKUP_PAGE)]
        return json_response({"next": following, "previous": None, "results": results})

    route = respx.get(f"{MERGE}/companies").mock(side_effect=companies)

    with pytest.raises(IncompleteListing, match="next cursor it had given before"):
        drain(build(Merge), MERGE_CREDENTIALS)
    assert route.call_count == 2
