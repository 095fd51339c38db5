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
from shared.domain.models import DeactivationReason, MemberStatus, TaskType
from shared.domain.records import RunStatus
from shared.ports import MemberQuery
from shared.providers.base import Credentials, Secret
from shared.services import connections, webhooks
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from tests.support.memory import FixedClock
from tests.support.world import T, World

TODAY = date(2026, 1, 15)
HEADCOUNT = 60
# What the fakes' credentials() hold that is a setting, not a secret.
_SETTINGS = {"subdomain", "token_url", "authorize_url"}
PROVIDERS = [
    ("bamboohr", ("access_token", "refresh_token")),
    ("personio", ()),
    ("hibob", ()),
    ("employment_hero", ()),
    ("merge", ()),
]


@pytest.fixture(params=PROVIDERS, ids=[p for p, _ in PROVIDERS])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeHRServer, Credentials]]:
    provider, drop = request.param
    with fake_hris(provider, employees=generate_company(HEADCOUNT, 11, TODAY), rate_limit=None) as fake:
        values = fake.credentials
        credentials = Credentials(
            secrets={k: Secret(v) for k, v in values.items() if k not in _SETTINGS and k not in drop},
            settings={"base_url": fake.base_url, "oauth_base_url": fake.oauth_base_url},
        )
        yield provider, fake, credentials


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
    applied = webhooks.apply_webhook(world.ports, T, cid, [hris_id], "delivery-1")
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
