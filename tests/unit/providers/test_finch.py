"""Finch: Finch Connect, Finch-API-Version, directory paging (R31), batches, statuses, webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from shared.domain.models import EmployeeStatus
from shared.providers.base import (
    Credentials,
    IncompleteListing,
    ProviderAuthError,
    Secret,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import ProviderKind, credential_problems
from shared.providers.finch import API_VERSION, CAPABILITIES, Finch, finch_status, provider_display_name
from shared.providers.registry import get_provider, provider_info
from tests.unit.providers.provider_helpers import (
    FAST_POLICY,
    START,
    TODAY,
    FakeTime,
    json_response,
    sent_json,
)

API = "https://api.tryfinch.com"
TOKEN = "finch-access-token"
CREDENTIALS = Credentials(
    secrets={"access_token": Secret(TOKEN)},
    settings={"provider_name": "Gusto", "provider_id": "gusto", "company_id": "co-1"},
)
APP = Credentials(secrets={"client_id": Secret("finch-client"), "client_secret": Secret("finch-secret")})
WEBHOOK_SECRET = base64.b64encode(b"finch-webhook-signing-key-0123456").decode()


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def connector(clock: FakeTime | None = None, page_size: int | None = None) -> Finch:
    return Finch(runtime=(clock or FakeTime()).runtime(), policy=FAST_POLICY, page_size=page_size)


def individual(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": uid(n),
        "first_name": f"F{n}",
        "middle_name": None,
        "last_name": f"L{n}",
        "preferred_name": None,
        "emails": [
            {"data": f"p{n}@home.test", "type": "personal"},
            {"data": f"w{n}@acme.test", "type": "work"},
        ],
        "dob": "1990-01-01",
        "ssn": None,
        **fields,
    }


def employment(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": uid(n),
        "first_name": f"F{n}",
        "last_name": f"L{n}",
        "title": "Engineer",
        "manager": {"id": uid(1)} if n != 1 else None,
        "department": {"name": "Engineering"},
        "employment": {"type": "employee", "subtype": "full_time"},
        "start_date": "2020-01-06",
        "end_date": None,
        "is_active": True,
        "location": {"line1": "1 Way", "city": "Palo Alto", "state": "CA", "country": "US"},
        "income": {"unit": "yearly", "amount": 10_000_000, "currency": "usd"},
        "source_id": f"E{n:04d}",
        **fields,
    }


class FinchCompany:
    """A respx side: the directory pages by limit/offset; batches answer per individual."""

    def __init__(self, count: int, *, reported: int | None = None, short_at: int | None = None) -> None:
        self.ids = list(range(1, count + 1))
        self.reported = count if reported is None else reported
        self.short_at = short_at
        self.codes: dict[int, int] = {}
        self.employments: dict[int, dict[str, Any]] = {}

    def directory(self, request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        limit, offset = int(query["limit"][0]), int(query["offset"][0])
        page = self.ids[offset : offset + limit]
        if self.short_at is not None and offset == self.short_at:
            page = page[:-1]
        individuals = [
            {"id": uid(n), "first_name": f"F{n}", "last_name": f"L{n}", "is_active": True, "department": None}
            for n in page
        ]
        return json_response(
            {"paging": {"count": self.reported, "offset": offset}, "individuals": individuals}
        )

    def batch(self, make: Any) -> Any:
        def answer(request: httpx.Request) -> httpx.Response:
            responses = []
            for item in sent_json(request)["requests"]:
                n = int(item["individual_id"].rsplit("-", 1)[1])
                code = self.codes.get(n, 200)
                body = make(n) if code == 200 else {"code": code, "message": "Individual not found"}
                if make is employment and n in self.employments:
                    body = {**body, **self.employments[n]}
                responses.append({"individual_id": item["individual_id"], "code": code, "body": body})
            return json_response({"responses": responses})

        return answer

    def mock(self) -> dict[str, respx.Route]:
        return {
            "directory": respx.get(f"{API}/employer/directory").mock(side_effect=self.directory),
            "individual": respx.post(f"{API}/employer/individual").mock(side_effect=self.batch(individual)),
            "employment": respx.post(f"{API}/employer/employment").mock(side_effect=self.batch(employment)),
        }


def everyone(provider: Finch, credentials: Credentials = CREDENTIALS) -> list[Any]:
    people, cursor = [], None
    while True:
        page = provider.list_employees(credentials, cursor)
        people.extend(page.employees)
        cursor = page.next_cursor
        if cursor is None:
            return people


# -- catalogue -------------------------------------------------------------------------------------


def test_is_a_unified_oauth_provider_in_the_registry() -> None:
    info = provider_info("finch")
    assert info.kind is ProviderKind.UNIFIED
    assert [m.value for m in info.methods] == ["oauth"]
    assert isinstance(get_provider("finch"), Finch)
    stored = {"access_token": Secret(TOKEN), "client_id": Secret("c"), "client_secret": Secret("s")}
    settings = {"provider_id": "gusto", "provider_name": "Gusto", "company_id": "co"}
    assert not credential_problems(info, Credentials(secrets=stored, settings=settings))


def test_r15_capabilities_are_what_finch_supplies() -> None:
    assert {"email", "job_title", "department", "manager_hris_id", "termination_date"} <= CAPABILITIES
    # No avatar, birthday or home country: Finch's products read here do not supply them.
    assert not {"avatar_url", "birthday", "home_country"} & CAPABILITIES


# -- Finch Connect ---------------------------------------------------------------------------------


def test_authorize_url_is_finch_connect_with_products_and_state() -> None:
    url, pkce = connector().start_authorization(APP, redirect_uri="https://app.test/cb", state="st-1")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert pkce is None
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://connect.tryfinch.com/authorize"
    assert query["client_id"] == ["finch-client"]
    assert query["products"] == ["company directory individual employment"]
    assert query["redirect_uri"] == ["https://app.test/cb"]
    assert query["state"] == ["st-1"]


@respx.mock
def test_code_exchange_keeps_a_long_lived_token_and_names_the_payroll_system() -> None:
    token = respx.post(f"{API}/auth/token").mock(
        return_value=json_response(
            {"access_token": TOKEN, "token_type": "bearer", "company_id": "co-9", "connection_id": "cn-1"}
        )
    )
    introspect = respx.get(f"{API}/introspect").mock(
        return_value=json_response(
            {
                "client_id": "finch-client",
                "company_id": "co-9",
                "products": ["company", "directory", "individual", "employment"],
                "username": "admin@acme.test",
                "payroll_provider_id": "gusto",
                "manual": False,
            }
        )
    )
    app = Credentials(secrets={**APP.secrets, "webhook_secret": Secret(WEBHOOK_SECRET)})

    stored = connector().finish_authorization(
        app, code="c-1", redirect_uri="https://app.test/cb", verifier=None
    )

    assert sent_json(token.calls[0].request) == {
        "client_id": "finch-client",
        "client_secret": "finch-secret",
        "code": "c-1",
        "redirect_uri": "https://app.test/cb",
    }
    assert introspect.calls[0].request.headers["Finch-API-Version"] == API_VERSION
    assert introspect.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert stored.secrets["access_token"].reveal() == TOKEN
    assert "refresh_token" not in stored.secrets
    assert "client_secret" not in stored.secrets, "never needed again: tokens are not refreshed"
    assert "token_expires_at" not in stored.settings
    assert stored.secrets["webhook_secret"].reveal() == WEBHOOK_SECRET
    assert stored.settings["provider_id"] == "gusto"
    assert stored.settings["provider_name"] == "Gusto"
    assert stored.settings["company_id"] == "co-9"
    assert stored.settings["finch_connection_id"] == "cn-1"
    assert stored.settings["granted_products"] == "company,directory,individual,employment"


@respx.mock
def test_a_refused_code_is_an_auth_error() -> None:
    respx.post(f"{API}/auth/token").mock(
        return_value=json_response({"code": 400, "name": "invalid_grant"}, 400)
    )
    with pytest.raises(ProviderAuthError):
        connector().finish_authorization(APP, code="bad", redirect_uri="https://app.test/cb", verifier=None)


def test_provider_names_admins_know() -> None:
    assert provider_display_name("adp_run") == "ADP Run"
    assert provider_display_name("paychex_flex") == "Paychex Flex"
    assert provider_display_name("acme_pay") == "Acme Pay"


@respx.mock
def test_check_credentials_is_introspect_and_a_revoked_token_is_an_auth_error() -> None:
    route = respx.get(f"{API}/introspect").mock(
        side_effect=[json_response({"company_id": "co-1"}), json_response({"code": 401}, 401)]
    )
    connector().check_credentials(CREDENTIALS)
    assert route.calls[0].request.headers["Finch-API-Version"] == API_VERSION
    with pytest.raises(ProviderAuthError):
        connector().check_credentials(CREDENTIALS)


# -- the list (R31) --------------------------------------------------------------------------------


@respx.mock
def test_r31_pages_by_limit_and_offset_until_the_offset_reaches_the_count() -> None:
    company = FinchCompany(5)
    routes = company.mock()

    people = everyone(connector(page_size=2))

    assert [p.hris_id for p in people] == [uid(n) for n in range(1, 6)]
    offsets = [parse_qs(urlsplit(str(c.request.url)).query)["offset"][0] for c in routes["directory"].calls]
    assert offsets == ["0", "2", "4"]
    for route in routes.values():
        for call in route.calls:
            assert call.request.headers["Finch-API-Version"] == API_VERSION
            assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    # One batch of individuals and one of employments per directory page, the page's ids in it.
    assert [len(sent_json(c.request)["requests"]) for c in routes["individual"].calls] == [2, 2, 1]
    assert sent_json(routes["employment"].calls[0].request) == {
        "requests": [{"individual_id": uid(1)}, {"individual_id": uid(2)}]
    }


@respx.mock
def test_r31_short_page_while_vendor_reports_more_is_incomplete() -> None:
    FinchCompany(6, short_at=2).mock()
    with pytest.raises(IncompleteListing):
        everyone(connector(page_size=2))


@respx.mock
def test_r31_list_ending_before_the_reported_count_is_incomplete() -> None:
    # Finch reports 9 while only 5 are listed: the last page comes back empty before the count.
    FinchCompany(5, reported=9).mock()
    with pytest.raises(IncompleteListing):
        everyone(connector(page_size=2))


@respx.mock
def test_r31_directory_without_a_count_is_incomplete() -> None:
    respx.get(f"{API}/employer/directory").mock(return_value=json_response({"individuals": []}))
    with pytest.raises(IncompleteListing):
        connector().list_employees(CREDENTIALS, None)


@respx.mock
def test_r09_details_refused_for_someone_in_a_full_listing_make_the_snapshot_incomplete() -> None:
    company = FinchCompany(3)
    company.codes[2] = 500
    company.mock()
    with pytest.raises(IncompleteListing):
        everyone(connector(page_size=10))


@respx.mock
def test_429_on_a_batch_waits_for_retry_after() -> None:
    company = FinchCompany(1)
    routes = company.mock()
    routes["employment"].side_effect = [
        json_response({"code": 429, "name": "rate_limit_error"}, 429, {"Retry-After": "7"}),
        company.batch(employment),
    ]
    clock = FakeTime()
    people = everyone(connector(clock))
    assert [p.hris_id for p in people] == [uid(1)]
    assert 7 in clock.sleeps


@respx.mock
def test_targeted_fetch_skips_whom_finch_no_longer_knows_and_ids_that_are_not_finchs() -> None:
    company = FinchCompany(3)
    company.codes[3] = 404
    routes = company.mock()
    page = connector().get_employees(CREDENTIALS, [uid(2), uid(3), "not-a-uuid", uid(2)])
    assert [e.hris_id for e in page.employees] == [uid(2)]
    assert sent_json(routes["individual"].calls[0].request) == {
        "requests": [{"individual_id": uid(2)}, {"individual_id": uid(3)}]
    }


# -- mapping ---------------------------------------------------------------------------------------


def test_maps_names_work_email_job_department_manager_location_and_dates() -> None:
    e = connector().employee(
        {"id": uid(7), "is_active": True},
        individual(7),
        employment(7, end_date="2027-03-31"),
        provider="Gusto",
        company_id="co-1",
    )
    assert (e.first_name, e.last_name, e.email) == ("F7", "L7", "w7@acme.test")
    assert (e.job_title, e.department, e.employee_number) == ("Engineer", "Engineering", "E0007")
    assert e.groups == ("Engineering",)
    assert e.group_ids == ("department:Engineering",)
    assert e.company_id == "co-1"
    assert e.manager_hris_id == uid(1)
    assert e.office_location == "Palo Alto, CA, US"
    assert e.start_date == date(2020, 1, 6)
    assert e.termination_date == date(2027, 3, 31)
    # Pay, the date of birth and the SSN are never kept.
    assert "income" not in e.raw["employment"]
    assert "dob" not in e.raw["individual"] and "ssn" not in e.raw["individual"]


def test_email_falls_back_to_a_personal_one_when_there_is_no_work_email() -> None:
    e = connector().employee(
        {"id": uid(8)}, individual(8, emails=[{"data": "me@home.test", "type": "personal"}]), employment(8)
    )
    assert e.email == "me@home.test"


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({"is_active": True}, EmployeeStatus.ACTIVE, "active in Gusto"),
        (
            {"is_active": False, "end_date": "2026-10-31"},
            EmployeeStatus.TERMINATED,
            "inactive in Gusto (end date 2026-10-31)",
        ),
        ({"employment_status": "active"}, EmployeeStatus.ACTIVE, "active in Gusto"),
        ({"employment_status": "leave"}, EmployeeStatus.ON_LEAVE, "on leave in Gusto"),
        ({"employment_status": "prehire"}, EmployeeStatus.PENDING, "pre-hire in Gusto, not started yet"),
        (
            {"employment_status": "onboarding", "start_date": (TODAY + timedelta(days=9)).isoformat()},
            EmployeeStatus.PENDING,
            f"onboarding in Gusto, starts {TODAY + timedelta(days=9)}",
        ),
        (
            {"employment_status": "onboarding", "start_date": "2026-01-05"},
            EmployeeStatus.ACTIVE,
            "onboarding in Gusto",
        ),
        (
            {"employment_status": "terminated", "end_date": "2026-10-31", "is_active": False},
            EmployeeStatus.TERMINATED,
            "terminated in Gusto on 2026-10-31",
        ),
        ({"employment_status": "retired"}, EmployeeStatus.TERMINATED, "retired in Gusto"),
        ({"employment_status": "deceased"}, EmployeeStatus.TERMINATED, "deceased in Gusto"),
    ],
)
def test_statuses_map_with_reasons_an_admin_understands(
    fields: dict[str, Any], status: EmployeeStatus, reason: str
) -> None:
    mapped = finch_status(
        {"start_date": "2020-01-06", "end_date": None, **fields}, provider="Gusto", today=TODAY
    )
    assert (mapped.status, mapped.raw, mapped.known) == (status, reason, True)


def test_r04_an_unknown_status_is_active_and_reported() -> None:
    mapped = finch_status({"employment_status": "sabbatical"}, today=TODAY)
    assert (
        mapped.status is EmployeeStatus.ACTIVE and not mapped.known and "sabbatical" in (mapped.warning or "")
    )
    missing = finch_status({}, {"id": uid(1)}, today=TODAY)
    assert missing.status is EmployeeStatus.ACTIVE and not missing.known


def test_is_active_comes_from_the_directory_when_the_employment_lacks_it() -> None:
    mapped = finch_status({"is_active": None}, {"is_active": False}, provider="ADP Run", today=TODAY)
    assert mapped.status is EmployeeStatus.TERMINATED


@respx.mock
def test_directory_lists_the_company_and_departments_with_ids_and_counts() -> None:
    respx.get(f"{API}/employer/company").mock(
        return_value=json_response(
            {
                "id": "co-1",
                "legal_name": "Acme, Inc.",
                "departments": [{"name": "Engineering", "parent": None}, {"name": "Sales", "parent": None}],
                "accounts": [{"account_number": "98765432"}],
            }
        )
    )
    company = FinchCompany(3)
    company.employments[3] = {"is_active": False, "department": {"name": "Sales"}}
    company.mock()
    directory = connector().directory(CREDENTIALS)
    assert [(c.id, c.name, c.kind, c.count) for c in directory.companies] == [
        ("co-1", "Acme, Inc.", "company", 2)
    ]
    assert [(g.id, g.name, g.kind, g.count) for g in directory.groups] == [
        ("department:Engineering", "Engineering", "department", 2),
        ("department:Sales", "Sales", "department", 0),
    ]
    assert [p.id for p in directory.people] == [uid(1), uid(2)]


# -- webhooks --------------------------------------------------------------------------------------


def signed(
    body: dict[str, Any], *, secret: str = WEBHOOK_SECRET, at: int | None = None, event_id: str = "evt-1"
) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    timestamp = str(int(START.timestamp()) if at is None else at)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{event_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    headers = {
        "finch-event-id": event_id,
        "finch-timestamp": timestamp,
        "finch-signature": f"v1,{base64.b64encode(digest).decode()}",
    }
    return headers, raw


EVENT = {
    "account_id": "acct-1",
    "company_id": "co-1",
    "event_type": "directory.created",
    "data": {"individual_id": uid(4)},
}


def test_webhook_signature_good() -> None:
    headers, raw = signed(EVENT)
    connector().verify_webhook(headers, raw, Secret(WEBHOOK_SECRET), START)
    # whsec_-prefixed secrets (as Finch's dashboard shows them) and rotations (two signatures).
    connector().verify_webhook(headers, raw, Secret(f"whsec_{WEBHOOK_SECRET}"), START)
    rotated = {**headers, "finch-signature": f"v1,AAAA {headers['finch-signature']}"}
    connector().verify_webhook(rotated, raw, Secret(WEBHOOK_SECRET), START)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: ({**h, "finch-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, b),
        lambda h, b: (h, b.replace(b"directory.created", b"directory.deleted")),
        lambda h, b: ({**h, "finch-event-id": "evt-2"}, b),
        lambda h, b: ({**h, "finch-signature": h["finch-signature"].replace("v1,", "v2,")}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "finch-signature"}, b),
    ],
    ids=["bad-signature", "body-changed", "other-event-id", "unknown-version", "no-signature"],
)
def test_webhook_signature_bad(tamper: Any) -> None:
    headers, raw = tamper(*signed(EVENT))
    with pytest.raises(WebhookRejected):
        connector().verify_webhook(headers, raw, Secret(WEBHOOK_SECRET), START)


def test_webhook_signature_stale() -> None:
    headers, raw = signed(EVENT, at=int(START.timestamp()) - 301)
    with pytest.raises(WebhookRejected, match="stale"):
        connector().verify_webhook(headers, raw, Secret(WEBHOOK_SECRET), START)


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("directory.created", WebhookKind.CREATED),
        ("directory.updated", WebhookKind.UPDATED),
        ("directory.deleted", WebhookKind.DELETED),
        ("employment.updated", WebhookKind.UPDATED),
        ("individual.updated", WebhookKind.UPDATED),
    ],
)
def test_r09_person_events_become_targeted_plans_for_the_individual(
    event_type: str, kind: WebhookKind
) -> None:
    headers, raw = signed({**EVENT, "event_type": event_type})
    event = connector().parse_webhook(headers, raw)
    assert (event.kind, event.employee_ids, event.delivery_id) == (kind, (uid(4),), "evt-1")
    assert event.occurred_at == START


def test_job_and_account_events_are_authentic_with_nobody_to_fetch() -> None:
    for event_type in ("job.data_sync_all.completed", "account.updated"):
        headers, raw = signed({**EVENT, "event_type": event_type, "data": {"job_id": "j-1"}})
        event = connector().parse_webhook(headers, raw)
        assert (event.kind, event.employee_ids) == (WebhookKind.PING, ())


def test_a_person_event_without_an_individual_is_unparseable() -> None:
    headers, raw = signed({**EVENT, "data": {}})
    with pytest.raises(WebhookUnparseable):
        connector().parse_webhook(headers, raw)


def test_replayed_deliveries_share_finchs_event_id_and_without_it_a_body_digest() -> None:
    headers, raw = signed(EVENT, event_id="evt-9")
    assert connector().parse_webhook(headers, raw).delivery_id == "evt-9"
    again = connector().parse_webhook(dict(headers), raw)
    assert again.delivery_id == "evt-9"
    assert connector().parse_webhook({}, raw).delivery_id.startswith("sha256:")


def test_the_connection_label_names_the_payroll_system() -> None:
    finch = connector()
    assert finch.connection_label("Finch", CREDENTIALS) == "Finch (Gusto)"
    assert finch.connection_label("Gusto via Finch", CREDENTIALS) == "Gusto via Finch"
    assert finch.connection_label("Finch", Credentials(secrets={})) == "Finch"
    assert finch.connection_label("x" * 115, CREDENTIALS) == "x" * 115, "never past a label's 120"


@respx.mock
def test_directory_without_the_company_product_lists_departments_from_the_people() -> None:
    company_route = respx.get(f"{API}/employer/company").mock(return_value=json_response({}, 403))
    FinchCompany(2).mock()
    granted = Credentials(
        secrets=CREDENTIALS.secrets,
        settings={**CREDENTIALS.settings, "granted_products": "directory,individual,employment"},
    )
    directory = connector().directory(granted)
    assert not company_route.called
    assert [(c.id, c.name, c.count) for c in directory.companies] == [("co-1", "The company in Gusto", 2)]
    assert [g.id for g in directory.groups] == ["department:Engineering"]
