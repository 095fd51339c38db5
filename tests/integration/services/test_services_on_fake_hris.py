"""The services with every real connector against its fake HR server (HTTP on 127.0.0.1).

The ports are the in-memory fakes; the HR side is real HTTP: connect, the first import through
the sync steps, a no-change resync (R24), a webhook follow-up for one employee, and a
termination picked up by the next full sync (R03, R26).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from infra.local.company import generate_company
from infra.local.fake_hris import FakeHRServer, fake_hris
from shared.domain.models import DeactivationReason, EmployeeStatus, MemberStatus, TaskType, UpdateMember
from shared.domain.records import RunStatus
from shared.ports import MemberQuery
from shared.providers.base import Credentials
from shared.providers.catalogue import AuthMethod
from shared.services import connections, webhook_apply
from shared.services import members as members_service
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from tests.support.lambda_stack import fake_credentials
from tests.support.memory import FixedClock
from tests.support.world import T, World

TODAY = date(2026, 1, 15)
HEADCOUNT = 60
# What the fakes' credentials() hold that is a setting, not a secret.
PROVIDERS = [
    ("bamboohr", ("access_token", "refresh_token")),
    ("personio", ()),
    ("hibob", ()),
    ("employment_hero", ()),
    ("merge", ()),
    ("finch", ()),
]


@pytest.fixture(params=PROVIDERS, ids=[p for p, _ in PROVIDERS])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeHRServer, Credentials]]:
    provider, drop = request.param
    with fake_hris(provider, employees=generate_company(HEADCOUNT, 11, TODAY), rate_limit=None) as fake:
        yield provider, fake, fake_credentials(fake, AuthMethod.OAUTH if "api_key" in drop else None)


def test_connect_import_resync_webhook_and_leaver_through_a_real_connector(
    served: tuple[str, FakeHRServer, Credentials],
) -> None:
    provider, fake, credentials = served
    world = World(
        clock=FixedClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC)),
        settings=ServiceSettings(chunk_size=25),
        lookup=registry_lookup(),
    )
    result = connections.connect(
        world.ports, T, provider=provider, label=f"{provider} HR", credentials=credentials
    )
    cid = result.connection.connection_id

    first = world.drive(result.run)

    assert first.status is RunStatus.COMPLETED, (first.error, first.incomplete_reasons)
    assert first.applied.created > HEADCOUNT // 2
    assert first.progress.employees_fetched >= HEADCOUNT
    members = world.members.query(T, MemberQuery(), limit=200).items
    assert len(members) == first.applied.created
    expected = {e.hris_id: e for e in fake.expected_employees()}
    assert all(m.hris_id in expected for m in members)

    # R24: nothing changed in the HR system, nothing changes here.
    writes, events = world.members.write_calls, len(world.events.published)
    second = world.sync_now(T, cid)
    assert second.status is RunStatus.COMPLETED
    assert (world.members.write_calls, len(world.events.published)) == (writes, events)

    # A webhook names one employee: only that member is followed up and updated.
    person = next(
        p
        for p in fake.company.people()
        if fake.vendor.expected_employee(p).hris_id in {m.hris_id for m in members}
    )
    hris_id = fake.vendor.expected_employee(person).hris_id
    fake.update(person.id, last_name="Renamed")
    applied = webhook_apply.apply_webhook(world.ports, T, cid, [hris_id], "delivery-1")
    assert applied.counts.updated == 1
    assert world.member_by_hris(T, cid, hris_id).profile.last_name == "Renamed"

    # A leaver: the next full sync deactivates them and opens an offboarding task (R03, R26).
    fake.terminate(person.id, on=date(2026, 1, 10))
    third = world.sync_now(T, cid)
    assert third.status is RunStatus.COMPLETED
    leaver = world.member_by_hris(T, cid, hris_id)
    assert leaver.status is MemberStatus.DEACTIVATED
    assert leaver.deactivation_reason is DeactivationReason.TERMINATED
    assert any(
        t.member_id == leaver.member_id and t.type is TaskType.OFFBOARDING for t in world.tasks.items.values()
    )


def _bamboohr(fake: FakeHRServer, drop: tuple[str, ...]) -> Credentials:
    """The API-key flavour, or the OAuth one when the API key is dropped (as the catalogue asks)."""
    return fake_credentials(fake, AuthMethod.OAUTH if "api_key" in drop else AuthMethod.API_KEY)


def test_r15_bamboohr_api_key_fills_employee_number_home_country_and_termination_date() -> None:
    """An API-key connection reads the Datasets API and custom reports, which hold these fields:
    the full sync, a webhook, a member's resync and the preview all sync them (R15)."""
    with fake_hris("bamboohr", employees=generate_company(HEADCOUNT, 11, TODAY), rate_limit=None) as fake:
        world = World(
            clock=FixedClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC)),
            settings=ServiceSettings(chunk_size=25),
            lookup=registry_lookup(),
        )
        credentials = _bamboohr(fake, ("access_token", "refresh_token"))
        result = connections.connect(
            world.ports, T, provider="bamboohr", label="BambooHR", credentials=credentials
        )
        cid = result.connection.connection_id
        people = [p for p in fake.company.people() if p.employee.status is EmployeeStatus.ACTIVE]
        leaving, moving, renumbered, resynced = people[2], people[3], people[4], people[5]

        # Full syncs: the import, then a leaver announced for next month (active until then).
        first = world.drive(result.run)
        assert first.status is RunStatus.COMPLETED, (first.error, first.incomplete_reasons)
        members = world.members.query(T, MemberQuery(), limit=200).items
        expected = {e.hris_id: e for e in fake.expected_employees()}
        assert members
        for member in members:
            want = expected[member.hris_id or ""]
            assert member.profile.employee_number == want.employee_number, member.hris_id
            assert member.profile.home_country == want.home_country, member.hris_id
        assert any(m.profile.employee_number for m in members)
        assert any(m.profile.home_country for m in members)
        fake.terminate(leaving.id, on=date(2026, 2, 27))
        assert world.sync_now(T, cid).status is RunStatus.COMPLETED
        leaver = world.member_by_hris(T, cid, leaving.key)
        assert leaver.profile.termination_date == date(2026, 2, 27)

        # Webhook follow-up (a custom report restricted to the ids).
        fake.update(moving.id, home_country="PT")
        applied = webhook_apply.apply_webhook(world.ports, T, cid, [moving.key], "delivery-1")
        assert applied.counts.updated == 1
        assert world.member_by_hris(T, cid, moving.key).profile.home_country == "PT"

        # An admin's resync of one member.
        fake.update(resynced.id, employee_number="E-RESYNC")
        member = world.member_by_hris(T, cid, resynced.key)
        after = members_service.resync_member(world.ports, T, member.member_id, "admin-1")
        assert after.profile.employee_number == "E-RESYNC"

        # The preview of the next full sync.
        fake.update(renumbered.id, employee_number="E-NEW")
        plan = connections.preview(world.ports, T, cid).plan
        target = world.member_by_hris(T, cid, renumbered.key).member_id
        changes = [a.changes for a in plan.actions if isinstance(a, UpdateMember) and a.member_id == target]
        assert changes and changes[0]["employee_number"].after == "E-NEW"


def test_r15_bamboohr_oauth_never_blanks_what_only_the_api_key_reads() -> None:
    """OAuth reads ``GET /api/v1/employees``, which has no employee number, country or leaving
    date: a connection that switches to OAuth keeps the values the API key filled."""
    with fake_hris("bamboohr", employees=generate_company(HEADCOUNT, 11, TODAY), rate_limit=None) as fake:
        world = World(
            clock=FixedClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC)),
            settings=ServiceSettings(chunk_size=25),
            lookup=registry_lookup(),
        )
        api_key = _bamboohr(fake, ("access_token", "refresh_token"))
        result = connections.connect(
            world.ports, T, provider="bamboohr", label="BambooHR", credentials=api_key
        )
        cid = result.connection.connection_id
        assert world.drive(result.run).status is RunStatus.COMPLETED
        before = {m.member_id: m.profile for m in world.members.query(T, MemberQuery(), limit=200).items}

        world.secrets.put(T, cid, _bamboohr(fake, ("api_key",)))
        second = world.sync_now(T, cid)

        assert second.status is RunStatus.COMPLETED, (second.error, second.incomplete_reasons)
        for member in world.members.query(T, MemberQuery(), limit=200).items:
            kept = before[member.member_id]
            assert member.profile.employee_number == kept.employee_number
            assert member.profile.home_country == kept.home_country
