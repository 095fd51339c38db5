"""ADP's event queue drained against its fake over mutual TLS (loopback): the token a poll run is
granted is saved under the token lease, so the runs a minute apart reuse it until it expires instead
of asking ADP for a new one every minute (ADP's tokens last about an hour)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from infra.local.fake_hris import FakeHRServer, fake_hris
from shared.domain.records import RunStatus
from shared.providers.base import Credentials, Secret
from shared.services import connections, event_queue
from shared.services.event_queue import DrainLimits
from shared.services.provider_lookup import registry_lookup
from tests.support.lambda_stack import fake_credentials
from tests.support.world import T, World

TOKEN_PATH = "/auth/oauth/v2/token"
ONE_DRAIN = DrainLimits(window=timedelta(0), pause=timedelta(seconds=5), max_messages=50)


class Sent:
    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []

    def send(self, body: dict[str, object]) -> str:
        self.bodies.append(dict(body))
        return f"m-{len(self.bodies)}"


@pytest.fixture
def adp() -> Iterator[FakeHRServer]:
    with fake_hris("adp_workforce_now", employees=6, seed=4, rate_limit=None) as fake:
        yield fake


def test_a_token_granted_by_a_poll_run_is_saved_and_reused_by_the_next_runs(adp: FakeHRServer) -> None:
    world = World(lookup=registry_lookup())
    result = connections.connect(
        world.ports, T, provider="adp_workforce_now", label="ADP", credentials=fake_credentials(adp)
    )
    cid = result.connection.connection_id
    assert world.drive(result.run).status is RunStatus.COMPLETED
    # The first import's token has expired (an hour later).
    stored = world.secrets.get(T, cid)
    expired = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    world.secrets.put(
        T,
        cid,
        Credentials(
            secrets={**stored.secrets, "access_token": Secret("expired-token")},
            settings={**stored.settings, "token_expires_at": expired},
        ),
    )
    queue = Sent()
    ports = world.event_poller_ports(queue)

    adp.hire("Ines", "Early")
    with adp.recording() as first:
        drained = event_queue.drain(ports, T, cid, limits=ONE_DRAIN, sleep=lambda _s: None)
    assert drained.queued == 1 and drained.acknowledged == 1
    assert [e.request.path for e in first].count(TOKEN_PATH) == 1
    saved = world.secrets.get(T, cid)
    assert saved.secrets["access_token"].reveal() != "expired-token"
    assert saved.settings["token_expires_at"] > expired

    adp.hire("Olu", "Later")
    with adp.recording() as runs:
        for _ in range(3):  # the next minutes' runs, each with a connector of its own
            event_queue.drain(ports, T, cid, limits=ONE_DRAIN, sleep=lambda _s: None)
    assert [e.request.path for e in runs].count(TOKEN_PATH) == 0
    assert len(queue.bodies) == 2
