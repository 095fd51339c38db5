"""R33 with every real connector against its fake HR server (HTTP on 127.0.0.1): the directory lists
the ids the employees carry, and a scope made of those ids selects the people it names.

The three failures this fixes: Merge groups by id created nobody; companies by id put every member
out of scope; Employment Hero's directory listed the organisation while scope matched employing
entities it never listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest

from infra.local.client import fake_credentials
from infra.local.company import generate_company
from infra.local.fake_hris import FakeHRServer, fake_hris
from shared.domain.models import DeactivationReason, EmployeeStatus, MemberStatus
from shared.domain.records import RunStatus
from shared.ports import MemberQuery
from shared.providers.base import Credentials, Secret
from shared.providers.catalogue import AuthMethod
from shared.providers.common import collect_all
from shared.providers.http import Runtime
from shared.providers.registry import get_provider
from shared.services import connections
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from tests.support.memory import FixedClock
from tests.support.world import T, World

TODAY = date(2026, 1, 15)
NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
HEADCOUNT = 60
PROVIDERS = [
    ("bamboohr", ("access_token", "refresh_token")),
    ("bamboohr", ("api_key",)),
    ("personio", ()),
    ("hibob", ()),
    ("employment_hero", ()),
    ("merge", ()),
    ("finch", ()),
]
# The kinds each vendor's directory gives its companies and groups.
KINDS = {
    "bamboohr": ({"company"}, {"department", "division"}),
    "personio": ({"company"}, {"department", "team"}),
    "hibob": ({"company"}, {"department"}),
    "employment_hero": ({"legal_entity", "organisation"}, {"team"}),
    "merge": ({"company"}, {"department", "team", "cost_center", "business_unit", "group"}),
    "finch": ({"company"}, {"department"}),
}


# The vendors whose employees belong to companies (BambooHR and HiBob records name none).
WITH_COMPANIES = ["personio", "employment_hero", "merge"]  # a Finch connection is one employer


@contextmanager
def _serve(provider: str, drop: tuple[str, ...] = ()) -> Iterator[tuple[str, FakeHRServer, Credentials]]:
    with fake_hris(provider, employees=generate_company(HEADCOUNT, 11, TODAY), rate_limit=None) as fake:
        # As an admin would connect it (the catalogue's fields): BambooHR by API key, or by
        # OAuth when the API key is what is dropped.
        method = AuthMethod.OAUTH if "api_key" in drop else None
        given = fake_credentials(fake, method=method)
        credentials = Credentials(
            secrets={k: Secret(v) for k, v in given["secrets"].items()}, settings=dict(given["settings"])
        )
        yield provider, fake, credentials


@pytest.fixture(params=PROVIDERS, ids=[f"{p}{'-oauth' if 'api_key' in d else ''}" for p, d in PROVIDERS])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeHRServer, Credentials]]:
    with _serve(*request.param) as serving:
        yield serving


@pytest.fixture(params=WITH_COMPANIES)
def with_companies(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeHRServer, Credentials]]:
    with _serve(request.param) as serving:
        yield serving


def _world() -> World:
    return World(clock=FixedClock(NOON), settings=ServiceSettings(chunk_size=25), lookup=registry_lookup())


def test_r33_the_directory_lists_the_ids_the_employees_carry_with_kinds_and_counts(
    served: tuple[str, FakeHRServer, Credentials],
) -> None:
    provider, _, credentials = served
    employees, _ = collect_all(get_provider(provider, runtime=Runtime(now=lambda: NOON)), credentials)
    found = get_provider(provider, runtime=Runtime(now=lambda: NOON)).directory(credentials)

    current = [e for e in employees if e.status is not EmployeeStatus.TERMINATED]
    company_counts = Counter(e.company_id for e in current if e.company_id is not None)
    group_counts = Counter(g for e in current for g in e.group_ids)
    companies = {c.id: c for c in found.companies}
    groups = {g.id: g for g in found.groups}
    assert {e.company_id for e in employees if e.company_id is not None} <= set(companies)
    assert {g for e in employees for g in e.group_ids} <= set(groups)
    assert group_counts, "every vendor's employees belong to groups"
    assert {g.id: g.count for g in found.groups if g.id in group_counts} == dict(group_counts)
    assert {c.id: c.count for c in found.companies if c.id in company_counts} == dict(company_counts)
    company_kinds, group_kinds = KINDS[provider]
    assert {c.kind for c in found.companies} <= company_kinds
    assert {g.kind for g in found.groups} <= group_kinds
    assert all(g.name and g.name != g.id for g in found.groups)


def test_r33_a_groups_scope_by_directory_id_creates_the_members_of_that_group(
    served: tuple[str, FakeHRServer, Credentials],
) -> None:
    provider, _, credentials = served
    world = _world()
    found = get_provider(provider, runtime=Runtime(now=lambda: NOON)).directory(credentials)
    chosen = max(found.groups, key=lambda g: g.count or 0)

    result = connections.connect(
        world.ports,
        T,
        provider=provider,
        label="HR",
        credentials=credentials,
        options={"scope": {"mode": "groups", "groups": [chosen.id]}},
    )
    run = world.drive(result.run)

    assert run.status is RunStatus.COMPLETED, (run.error, run.incomplete_reasons)
    assert result.connection.scope.labels[chosen.id].name == chosen.name
    members = world.members.query(T, MemberQuery(), limit=200).items
    assert 0 < len(members) <= (chosen.count or 0)
    assert all(chosen.name in m.profile.groups for m in members)


def test_r33_a_companies_scope_by_directory_id_keeps_its_members_in_scope(
    with_companies: tuple[str, FakeHRServer, Credentials],
) -> None:
    provider, _, credentials = with_companies
    world = _world()
    found = get_provider(provider, runtime=Runtime(now=lambda: NOON)).directory(credentials)
    assert len(found.companies) > 1
    everyone = connections.connect(world.ports, T, provider=provider, label="HR", credentials=credentials)
    world.drive(everyone.run)
    chosen = max(found.companies, key=lambda c: c.count or 0)

    edited = connections.edit_connection(
        world.ports,
        T,
        everyone.connection.connection_id,
        {"scope": {"mode": "companies", "companies": [chosen.id]}},
    )
    assert edited.run is not None
    world.drive(edited.run)

    members = world.members.query(T, MemberQuery(), limit=200).items
    kept = [m for m in members if m.status is not MemberStatus.DEACTIVATED]
    out = [m for m in members if m.deactivation_reason is DeactivationReason.OUT_OF_SCOPE]
    assert kept and all(m.profile.company == chosen.name for m in kept)
    assert all(m.profile.company != chosen.name for m in out)


def test_r33_employment_hero_scope_by_an_employing_entity_its_directory_lists() -> None:
    company = generate_company(HEADCOUNT, 11, TODAY)
    with _serve("employment_hero") as (_, _, credentials):
        found = get_provider("employment_hero", runtime=Runtime(now=lambda: NOON)).directory(credentials)
        entities = {e.company for e in company if e.company}
        assert {c.name for c in found.companies} == entities
        assert {c.kind for c in found.companies} == {"legal_entity"}
        chosen = max(found.companies, key=lambda c: c.count or 0)
        world = _world()

        result = connections.connect(
            world.ports,
            T,
            provider="employment_hero",
            label="EH",
            credentials=credentials,
            options={"scope": {"mode": "companies", "companies": [chosen.id]}},
        )
        run = world.drive(result.run)

    assert run.status is RunStatus.COMPLETED, (run.error, run.incomplete_reasons)
    members = world.members.query(T, MemberQuery(), limit=200).items
    assert members and {m.profile.company for m in members} == {chosen.name}
