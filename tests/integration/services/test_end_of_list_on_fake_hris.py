"""R31 through a full sync: a fake HR server that lies about its list (200 OK every time) never
costs anyone their membership.

Each connector meets its fake over HTTP on 127.0.0.1; the first import completes, then the fake
starts misbehaving (a short page whose totals still say more, a next cursor handed out again, the
first page answered whatever page was asked for) and the next full sync must end ``partial``,
say why, and deactivate nobody (R09).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from infra.local.company import generate_company
from infra.local.fake_hris import FakeHRServer, Fault, fake_hris
from shared.domain.models import MemberStatus
from shared.domain.records import RunStatus
from shared.providers.base import Credentials
from shared.providers.catalogue import AuthMethod
from shared.services import connections
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from tests.support.lambda_stack import fake_credentials
from tests.support.memory import FixedClock
from tests.support.world import T, World

TODAY = date(2026, 1, 15)
HEADCOUNT = 130
PAGE = 40
# What the fakes' credentials() hold that is a setting, not a secret.


@dataclass(frozen=True)
class Lie:
    provider: str
    fault: Fault
    reason: str
    drop: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        mode = "-oauth" if "api_key" in self.drop else "-api-key" if self.drop else ""
        return f"{self.provider}{mode}-{self.fault.kind}"


LIES = [
    # The incident: 200 OK with fewer records than asked for while the total says more.
    Lie("personio", Fault(kind="short_page", page=2, times=None), "page 2 held 35 of the 40 employees"),
    # The other incident: a next cursor that never changes.
    Lie("merge", Fault(kind="repeat_cursor", page=2, times=None), "next cursor it had given before"),
    Lie(
        "bamboohr",
        Fault(kind="short_page", page=2, times=None),
        "page 2 held 35 of the 40 employees",
        ("access_token", "refresh_token"),
    ),
    Lie(
        "bamboohr",
        Fault(kind="repeat_cursor", page=2, times=None),
        "next cursor it had given before",
        ("api_key",),
    ),
    Lie(
        "employment_hero",
        Fault(kind="repeat_cursor", page=2, times=None),
        "asked for page_index 2, the HR system answered page_index 1",
    ),
    # Finch: a short directory page while paging.count says more; an offset answered as another.
    Lie("finch", Fault(kind="short_page", page=2, times=None), "page 2 held 35 of the 40 individuals"),
    Lie(
        "finch",
        Fault(kind="repeat_cursor", page=2, times=None),
        "asked for offset 40, the directory answered 0",
    ),
]


@pytest.fixture(params=LIES, ids=[lie.label for lie in LIES])
def lie(request: pytest.FixtureRequest) -> Lie:
    chosen: Lie = request.param
    return chosen


@pytest.fixture
def served(lie: Lie) -> Iterator[tuple[FakeHRServer, Credentials]]:
    with fake_hris(lie.provider, employees=generate_company(HEADCOUNT, 11, TODAY), rate_limit=None) as fake:
        yield fake, fake_credentials(fake, AuthMethod.OAUTH if "api_key" in lie.drop else None)


def test_r31_a_list_that_lies_about_its_end_makes_the_run_partial_and_deactivates_nobody(
    lie: Lie, served: tuple[FakeHRServer, Credentials]
) -> None:
    fake, credentials = served
    world = World(
        clock=FixedClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC)),
        # A low page cap, so a connector that followed a looping list would stop soon (not R31's).
        settings=ServiceSettings(max_pages=50),
        lookup=registry_lookup(page_size=PAGE),
    )
    result = connections.connect(
        world.ports, T, provider=lie.provider, label=f"{lie.provider} HR", credentials=credentials
    )
    cid = result.connection.connection_id
    first = world.drive(result.run)
    assert first.status is RunStatus.COMPLETED, (first.error, first.incomplete_reasons)
    statuses_before = {m.member_id: m.status for m in world.members.iter_all(T)}
    assert len(statuses_before) == first.applied.created > HEADCOUNT // 2

    # Given the HR system starts answering 200 OK with a list that breaks its own paging
    fake.add_fault(lie.fault)

    # When the next full sync runs
    second = world.sync_now(T, cid)

    # Then the snapshot is incomplete, the run says why, and nobody is deactivated (R09)
    assert second.status is RunStatus.PARTIAL, (second.status, second.error, second.incomplete_reasons)
    assert not second.snapshot_complete
    assert any("IncompleteListing" in r and lie.reason in r for r in second.incomplete_reasons), (
        second.incomplete_reasons
    )
    assert second.applied.deactivated == 0
    assert {m.member_id: m.status for m in world.members.iter_all(T)} == statuses_before
    assert MemberStatus.DEACTIVATED not in statuses_before.values()
    assert fake.faults.list()[0].hits >= 1, "the fake really misbehaved"
