"""Each connector against its fake HR server over real HTTP on 127.0.0.1.

Paging to the end, every field the connector declares mapped as the fake says it should be,
statuses, 429 then success (the real ``Retry-After``), 5xx until give-up (the page fails typed, the
snapshot cannot complete), token refresh, and the vendor's own signed webhooks verified and
followed up.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from infra.local.company import generate_company
from infra.local.fake_hris import FakeHRServer, Fault, RateLimit, fake_hris
from shared.domain.models import Employee, EmployeeStatus
from shared.providers.base import (
    Credentials,
    EmployeePage,
    ProviderAuthError,
    ProviderUnavailable,
    Secret,
    WebhookKind,
)
from shared.providers.common import Connector
from shared.providers.http import RetryPolicy, Runtime
from shared.providers.registry import get_provider

TODAY = date(2026, 1, 15)
NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
HEADCOUNT = 130
PAGE = 40
# What the fakes' credentials() hold that is a setting, not a secret.
_SETTINGS = {"subdomain", "token_url", "authorize_url"}
# Vendors whose model cannot say "on leave": Merge's employment_status is ACTIVE for them.
_NO_LEAVE = {"merge"}
# A route of each fake (any answer will do) to spend the rate limit with.
PROBES = {
    "bamboohr": ("GET", "/api/v1/employees/directory"),
    "personio": ("POST", "/v1/auth"),
    "hibob": ("POST", "/v1/people/search"),
    "employment_hero": ("GET", "/api/v1/organisations"),
    "merge": ("GET", "/api/hris/v1/companies"),
    "finch": ("GET", "/introspect"),
}


@dataclass
class Setup:
    provider: str
    drop: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.provider}{'-' + '-'.join(self.drop) if self.drop else ''}"


SETUPS = [
    Setup("bamboohr", ("access_token", "refresh_token")),  # API key: the Datasets API
    Setup("bamboohr", ("api_key",)),  # OAuth: GET /api/v1/employees
    Setup("personio"),
    Setup("hibob"),
    Setup("employment_hero"),
    Setup("merge"),
    Setup("finch"),
]
IDS = [s.label for s in SETUPS]


def serve(provider: str, headcount: int = HEADCOUNT) -> FakeHRServer:
    return fake_hris(provider, employees=generate_company(headcount, 11, TODAY), rate_limit=None)


def credentials(fake: FakeHRServer, drop: tuple[str, ...] = (), **settings: str) -> Credentials:
    values = fake.credentials
    return Credentials(
        secrets={k: Secret(v) for k, v in values.items() if k not in _SETTINGS and k not in drop},
        settings={"base_url": fake.base_url, "oauth_base_url": fake.oauth_base_url, **settings},
    )


@dataclass
class Waits:
    """A runtime that really waits (the fake's rate limiter runs on the real clock) and records it."""

    sleeps: list[float]

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)


def real_runtime(waits: Waits | None = None) -> Runtime:
    return Runtime(sleep=waits.sleep if waits else time.sleep, now=lambda: NOON)


def no_wait_runtime(sleeps: list[float]) -> Runtime:
    return Runtime(sleep=sleeps.append, monotonic=lambda: sum(sleeps), now=lambda: NOON)


def connector(provider: str, runtime: Runtime, **options: Any) -> Connector:
    built = get_provider(provider, runtime=runtime, page_size=PAGE, **options)
    assert isinstance(built, Connector)
    return built


def pull(provider: Connector, creds: Credentials) -> tuple[list[Employee], list[EmployeePage]]:
    employees: list[Employee] = []
    pages: list[EmployeePage] = []
    cursor: str | None = None
    while True:
        page = provider.list_employees(creds, cursor)
        pages.append(page)
        employees.extend(page.employees)
        creds = page.refreshed_credentials or creds
        cursor = page.next_cursor
        if cursor is None:
            return employees, pages


@pytest.fixture(scope="module", params=SETUPS, ids=IDS)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Setup, FakeHRServer]]:
    """One fake per setup for the whole module: starting and stopping servers is the slow part."""
    param = request.param
    assert isinstance(param, Setup)
    with serve(param.provider) as server:
        yield param, server


@pytest.fixture
def setup(served: tuple[Setup, FakeHRServer]) -> Setup:
    return served[0]


@pytest.fixture
def fake(served: tuple[Setup, FakeHRServer]) -> Iterator[FakeHRServer]:
    """The module's fake, with no faults, no rate limit and fresh counters for each test."""
    server = served[1]
    server.clear_faults()
    server.set_rate_limit(None)
    server.stats.clear()
    yield server
    server.clear_faults()
    server.set_rate_limit(None)


def test_r09_pages_to_the_end_and_maps_every_declared_field(setup: Setup, fake: FakeHRServer) -> None:
    provider = connector(setup.provider, real_runtime())
    creds = credentials(fake, setup.drop)

    employees, pages = pull(provider, creds)

    expected = {e.hris_id: e for e in fake.expected_employees(include_deleted=True)}
    got = {e.hris_id: e for e in employees}
    assert len(employees) == len(got), "no employee twice"
    assert set(got) == set(expected)
    if setup.provider != "hibob":  # HiBob answers everyone in one page
        assert len(pages) >= 3
    fields = (
        provider.capabilities_for(creds) if hasattr(provider, "capabilities_for") else provider.capabilities
    )
    for hris_id, employee in got.items():
        want = expected[hris_id]
        for name in sorted(fields - {"groups"}):
            assert getattr(employee, name) == getattr(want, name), (hris_id, name)
        # A vendor shows the groups it has (department, division, team ...), all of them real.
        assert set(employee.groups) <= set(want.groups), hris_id
        assert employee.warnings == (), hris_id


def test_statuses_are_mapped_like_the_hr_system_says(setup: Setup, fake: FakeHRServer) -> None:
    employees, _ = pull(connector(setup.provider, real_runtime()), credentials(fake, setup.drop))

    def expected_status(employee: Employee) -> EmployeeStatus:
        if setup.provider in _NO_LEAVE and employee.status is EmployeeStatus.ON_LEAVE:
            return EmployeeStatus.ACTIVE
        return employee.status

    want = {e.hris_id: expected_status(e) for e in fake.expected_employees(include_deleted=True)}
    assert {e.hris_id: e.status for e in employees} == want
    counts = Counter(want.values())
    # The generated company has every kind of person, so each mapping was exercised.
    assert counts[EmployeeStatus.TERMINATED] > 0 and counts[EmployeeStatus.PENDING] > 0
    if setup.provider not in _NO_LEAVE:
        assert counts[EmployeeStatus.ON_LEAVE] > 0


def test_429_then_success_honours_the_real_retry_after(setup: Setup, fake: FakeHRServer) -> None:
    waits = Waits([])
    provider = connector(setup.provider, real_runtime(waits))
    creds = credentials(fake, setup.drop)
    expected = provider.list_employees(creds, None)
    fake.set_rate_limit(RateLimit(1, 1.0))
    # Someone else just used this second's only request: the connector's first call gets a 429.
    method, path = PROBES[setup.provider]
    assert httpx.request(method, f"{fake.base_url}{path}").status_code != 429

    page = provider.list_employees(expected.refreshed_credentials or creds, None)

    assert [e.hris_id for e in page.employees] == [e.hris_id for e in expected.employees]
    assert waits.sleeps, "the connector waited"
    assert all(wait == 1.0 for wait in waits.sleeps), "it waited what Retry-After said"
    assert fake.stats["status 429"] == len(waits.sleeps)


def test_r09_5xx_until_give_up_fails_the_page_typed_so_the_snapshot_is_incomplete(
    setup: Setup, fake: FakeHRServer
) -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=2.0, max_total=30.0)
    provider = connector(setup.provider, no_wait_runtime(sleeps), policy=policy)
    creds = credentials(fake, setup.drop)
    failing_page = 1 if setup.provider == "hibob" else 2
    fake.add_fault(Fault(kind="error", page=failing_page, status=503, times=None))

    cursor: str | None = None
    fetched: list[Employee] = []
    with pytest.raises(ProviderUnavailable, match="gave up after 3 attempts"):
        while True:
            page = provider.list_employees(creds, cursor)
            fetched.extend(page.employees)
            creds = page.refreshed_credentials or creds
            cursor = page.next_cursor
            assert cursor is not None, "the snapshot must never complete while a page fails"

    assert len(fetched) < len(fake.expected_employees(include_deleted=True))
    assert len(sleeps) == policy.max_attempts - 1
    assert fake.stats["status 503"] == policy.max_attempts


def test_a_transient_5xx_is_retried_and_the_snapshot_completes(setup: Setup, fake: FakeHRServer) -> None:
    sleeps: list[float] = []
    provider = connector(setup.provider, no_wait_runtime(sleeps))
    fake.add_fault(Fault(kind="error", page=1, status=502, times=2))

    employees, _ = pull(provider, credentials(fake, setup.drop))

    assert len(employees) == len(fake.expected_employees(include_deleted=True))
    assert len(sleeps) == 2


def test_bad_credentials_are_a_typed_auth_error(setup: Setup, fake: FakeHRServer) -> None:
    good = credentials(fake, setup.drop)
    bad_secrets = {k: Secret("wrong-" + v.reveal()) for k, v in good.secrets.items()}
    bad = Credentials(secrets=bad_secrets, settings=good.settings)

    with pytest.raises(ProviderAuthError) as caught:
        connector(setup.provider, real_runtime()).list_employees(bad, None)
    for secret in bad_secrets.values():
        assert secret.reveal() not in str(caught.value)


# -- OAuth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider_name", ["bamboohr", "employment_hero"])
def test_an_expiring_token_is_refreshed_and_the_new_refresh_token_handed_back(provider_name: str) -> None:
    with serve(provider_name) as fake:
        soon = (NOON + timedelta(seconds=30)).isoformat()
        creds = credentials(fake, ("api_key",), token_expires_at=soon)
        old_refresh = creds.secrets["refresh_token"]
        provider = connector(provider_name, real_runtime())

        page = provider.list_employees(creds, None)

        stored = page.refreshed_credentials
        assert stored is not None
        assert stored.secrets["access_token"] != creds.secrets["access_token"]
        assert stored.secrets["refresh_token"] != old_refresh
        assert stored.settings["token_expires_at"] > soon
        # The stored credentials carry the sync on; no further refresh is needed.
        following = provider.list_employees(stored, page.next_cursor)
        assert following.refreshed_credentials is None
        assert fake.stats["POST /token.php" if provider_name == "bamboohr" else "POST /oauth2/token"] == 1


def test_employment_hero_rotated_refresh_tokens_are_good_once() -> None:
    with serve("employment_hero") as fake:
        expired = credentials(fake, token_expires_at=(NOON - timedelta(minutes=1)).isoformat())
        provider = connector("employment_hero", real_runtime())

        assert provider.list_employees(expired, None).refreshed_credentials is not None
        # Reusing the old refresh token after rotation is refused: typed, so the caller asks again.
        with pytest.raises(ProviderAuthError):
            connector("employment_hero", real_runtime()).list_employees(expired, None)


def test_a_revoked_access_token_is_refreshed_once_on_401() -> None:
    with serve("bamboohr") as fake:
        good = credentials(fake, ("api_key",))
        revoked = Credentials(
            secrets={**good.secrets, "access_token": Secret("revoked")}, settings=good.settings
        )

        page = connector("bamboohr", real_runtime()).list_employees(revoked, None)

        assert page.employees
        assert page.refreshed_credentials is not None


def test_personio_authenticates_once_for_the_whole_snapshot() -> None:
    with serve("personio") as fake:
        employees, pages = pull(connector("personio", real_runtime()), credentials(fake))
        assert len(pages) >= 3
        assert len(employees) == HEADCOUNT
        assert fake.stats["POST /v1/auth"] == 1


def test_employment_hero_pkce_authorization_code_flow_against_the_fake() -> None:
    with serve("employment_hero") as fake:
        provider = connector("employment_hero", real_runtime())
        bare = credentials(fake, ("access_token", "refresh_token"))
        url, pkce = provider.start_authorization(bare, redirect_uri="http://127.0.0.1/cb", state="st")
        answer = httpx.get(url, follow_redirects=False)
        assert answer.status_code == 302
        location = httpx.URL(answer.headers["location"])
        assert location.params["state"] == "st"

        connected = provider.finish_authorization(
            bare, code=location.params["code"], redirect_uri="http://127.0.0.1/cb", verifier=pkce.verifier
        )

        assert connector("employment_hero", real_runtime()).list_employees(connected, None).employees


# -- webhooks and follow-ups ------------------------------------------------------------------------


@pytest.mark.parametrize("provider_name", ["bamboohr", "personio", "hibob", "merge", "finch"])
def test_the_vendors_signed_webhook_verifies_and_its_follow_up_fetches_the_change(provider_name: str) -> None:
    with serve(provider_name) as fake:
        person = next(p for p in fake.company.people() if p.employee.status is EmployeeStatus.ACTIVE)
        change = fake.move(person.id, office_location="Reykjavik")
        # Finch keys its HMAC with the base64-decoded secret: its secrets are base64.
        secret = "d2hzZWMtaW50ZWdyYXRpb24=" if provider_name == "finch" else "whsec-integration"
        deliveries = fake.vendor.webhook_requests(change, secret)
        provider = connector(
            provider_name, real_runtime(), **({"require_signature": True} if provider_name == "hibob" else {})
        )
        creds = credentials(fake, ("access_token", "refresh_token") if provider_name == "bamboohr" else ())
        expected = next(e for e in fake.expected_employees() if e.office_location == "Reykjavik")

        assert deliveries
        for delivery in deliveries:
            provider.verify_webhook(delivery.headers, delivery.body, Secret(secret), datetime.now(UTC))
            event = provider.parse_webhook(delivery.headers, delivery.body)
            assert event.kind in (WebhookKind.UPDATED, WebhookKind.CREATED)
            assert event.employee_ids == (expected.hris_id,)
            (fetched,) = provider.get_employees(creds, event.employee_ids).employees
            assert fetched.office_location == "Reykjavik"


def test_bamboohr_changed_since_names_the_moved_employee() -> None:
    with serve("bamboohr") as fake:
        before = fake.company.now() - timedelta(seconds=1)
        person = next(p for p in fake.company.people() if p.employee.status is EmployeeStatus.ACTIVE)
        fake.move(person.id, department="Finance")
        provider = connector("bamboohr", real_runtime())

        changed = provider.changed_since(credentials(fake, ("access_token", "refresh_token")), before)

        assert changed.changes.get(person.key) in ("Inserted", "Updated")


def test_employment_hero_directory_hands_back_a_refreshed_token() -> None:
    with serve("employment_hero", headcount=20) as fake:
        expired = credentials(fake, token_expires_at=(NOON - timedelta(minutes=1)).isoformat())

        directory = connector("employment_hero", real_runtime()).directory(expired)

        assert directory.refreshed_credentials is not None
        # The rotated refresh token it hands back is the one that works next time.
        again = connector("employment_hero", real_runtime()).directory(directory.refreshed_credentials)
        assert [p.id for p in again.people] == [p.id for p in directory.people]


@pytest.mark.parametrize(
    "provider_name", ["bamboohr", "personio", "hibob", "employment_hero", "merge", "finch"]
)
def test_directory_lists_groups_and_people(provider_name: str) -> None:
    with serve(provider_name, headcount=40) as fake:
        drop = ("access_token", "refresh_token") if provider_name == "bamboohr" else ()
        directory = connector(provider_name, real_runtime()).directory(credentials(fake, drop))

        assert directory.groups
        assert len(directory.people) >= 30
        assert all(p.id and p.name for p in directory.people)
