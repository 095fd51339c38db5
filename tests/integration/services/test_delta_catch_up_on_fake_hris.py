"""A ``missed`` notification caught up from Microsoft Graph's delta against its fake over loopback
HTTP: the first read sets the delta link (and leaves the catch-up to the full sync), the next
names only what changed; an ``@removed`` user is an explicit leaver (R09), nobody else is touched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from infra.local.fake_hris import FakeHRServer, fake_hris
from shared.domain.models import MemberStatus
from shared.domain.records import RunStatus
from shared.providers.microsoft import DELTA_LINK
from shared.services import connections, subscriptions
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from tests.support.lambda_stack import fake_credentials
from tests.support.memory import FixedClock
from tests.support.world import T, World

TODAY = date(2026, 1, 15)


@pytest.fixture
def graph() -> Iterator[FakeHRServer]:
    with fake_hris("microsoft365", employees=30, seed=5, today=TODAY, rate_limit=None) as fake:
        yield fake


def test_missed_is_caught_up_from_graphs_delta_with_removed_users_as_leavers(graph: FakeHRServer) -> None:
    world = World(
        clock=FixedClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC)),
        settings=ServiceSettings(chunk_size=25),
        lookup=registry_lookup(),
    )
    result = connections.connect(
        world.ports, T, provider="microsoft365", label="Entra", credentials=fake_credentials(graph)
    )
    cid = result.connection.connection_id
    assert world.drive(result.run).status is RunStatus.COMPLETED

    # No delta link yet: the first read lists everyone, so it only sets the link.
    assert subscriptions.catch_up(world.ports, world.connections.get(T, cid)) is None
    first_link = world.secrets.get(T, cid).secrets[DELTA_LINK]

    people = graph.company.people()
    leaver, deleted, bystander = people[5], people[6], people[7]
    ids = {p.id: graph.vendor.expected_employee(p).hris_id for p in (leaver, deleted, bystander)}
    before = world.member_by_hris(T, cid, ids[bystander.id])
    graph.terminate(leaver.id)
    graph.delete(deleted.id)

    caught_up = subscriptions.catch_up(world.ports, world.connections.get(T, cid))

    assert caught_up is not None and caught_up.counts.deactivated == 2, caught_up
    assert world.member_by_hris(T, cid, ids[leaver.id]).status is MemberStatus.DEACTIVATED
    assert world.member_by_hris(T, cid, ids[deleted.id]).status is MemberStatus.DEACTIVATED
    assert world.member_by_hris(T, cid, ids[bystander.id]) == before
    assert world.secrets.get(T, cid).secrets[DELTA_LINK] != first_link

    # Nothing changed since: nothing to apply.
    again = subscriptions.catch_up(world.ports, world.connections.get(T, cid))
    assert again is not None and again.counts.deactivated == 0 and again.counts.updated == 0
