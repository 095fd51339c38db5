"""OAuth token refreshes against Employment Hero's fake, whose refresh tokens are single use (a
reused one is refused, as the vendor does): every path that refreshes saves the new tokens, and
two refreshes of one connection at once spend the refresh token exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from infra.local.company import generate_company
from infra.local.fake_hris import FakeHRServer, fake_hris
from infra.local.fake_hris.employment_hero import EmploymentHero as FakeEmploymentHero
from infra.local.fake_hris.oauth import OAuthServer
from shared.domain.records import RunStatus
from shared.errors import LockHeld
from shared.ports import Lease
from shared.providers.base import Credentials, Secret
from shared.services import connections, members
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from tests.support.memory import FixedClock, MemoryLock, MemorySecrets
from tests.support.world import T, World

WAIT = 10.0  # seconds a test thread waits for the other before giving up (never reached when right)


@pytest.fixture
def hero() -> Iterator[FakeHRServer]:
    company = generate_company(12, 5, date(2026, 1, 15))
    with fake_hris("employment_hero", employees=company, rate_limit=None) as fake:
        yield fake


def _oauth(fake: FakeHRServer) -> OAuthServer:
    vendor = fake.vendor
    assert isinstance(vendor, FakeEmploymentHero)
    return vendor.oauth


def _credentials(fake: FakeHRServer) -> Credentials:
    values = fake.credentials
    return Credentials(
        secrets={
            k: Secret(values[k]) for k in ("client_id", "client_secret", "access_token", "refresh_token")
        },
        settings={"base_url": fake.base_url, "oauth_base_url": fake.oauth_base_url},
    )


def _world(**kwargs: object) -> World:
    # The connector dates tokens by the wall clock: the services' clock reads the same time.
    return World(
        clock=FixedClock(datetime.now(UTC)),
        settings=ServiceSettings(chunk_size=25),
        lookup=registry_lookup(),
        **kwargs,  # type: ignore[arg-type]
    )


def _connected(world: World, fake: FakeHRServer) -> str:
    result = connections.connect(
        world.ports, T, provider="employment_hero", label="EH", credentials=_credentials(fake)
    )
    assert world.drive(result.run).status is RunStatus.COMPLETED
    return result.connection.connection_id


def test_the_directory_and_a_member_resync_save_the_tokens_they_refresh(hero: FakeHRServer) -> None:
    world = _world()
    cid = _connected(world, hero)
    oauth = _oauth(hero)

    _oauth(hero).expire_access_tokens()
    connections.directory(world.ports, T, cid)
    _oauth(hero).expire_access_tokens()
    member = next(iter(world.members.iter_all(T)))
    members.resync_member(world.ports, T, member.member_id, "admin-1")
    _oauth(hero).expire_access_tokens()
    # Each refresh was saved: the next one exchanges the newest refresh token, never a spent one.
    assert world.sync_now(T, cid).status is RunStatus.COMPLETED
    assert (oauth.refreshes, oauth.refused_refreshes) == (3, 0)
    stored = world.secrets.get(T, cid)
    assert oauth.valid(stored.secrets["access_token"].reveal())


class _ObservedLease(MemoryLock):
    """The token lease, noting which thread holds it and telling when a refresher had to wait."""

    def __init__(self) -> None:
        super().__init__()
        self.holder_thread: int | None = None
        self.someone_waited = threading.Event()

    def acquire(
        self, tenant_id: str, connection_id: str, holder: str, now: datetime, ttl: timedelta
    ) -> Lease:
        try:
            lease = super().acquire(tenant_id, connection_id, holder, now, ttl)
        except LockHeld:
            self.someone_waited.set()
            raise
        self.holder_thread = threading.get_ident()
        return lease


class _SecretsHeldOpen(MemorySecrets):
    """The first refresher, once it holds the lease, reads the stored tokens only after the second
    refresher found the lease taken: the two refreshes overlap, deterministically."""

    def __init__(self, lease: _ObservedLease) -> None:
        super().__init__()
        self._lease = lease
        self._held_once = False

    def get(self, tenant_id: str, connection_id: str) -> Credentials:
        if not self._held_once and self._lease.holder_thread == threading.get_ident():
            self._held_once = True
            assert self._lease.someone_waited.wait(WAIT), "the second refresher never met the lease"
        return super().get(tenant_id, connection_id)


def test_two_concurrent_refreshes_spend_the_single_use_refresh_token_once(hero: FakeHRServer) -> None:
    lease = _ObservedLease()
    world = _world(token_lock=lease, secrets=_SecretsHeldOpen(lease))
    cid = _connected(world, hero)
    oauth = _oauth(hero)
    spent_before = oauth.refreshes
    _oauth(hero).expire_access_tokens()
    member = next(iter(world.members.iter_all(T)))

    results: dict[str, object] = {}
    start = threading.Barrier(2)

    def run(name: str, call: Callable[[], object]) -> None:
        start.wait(WAIT)
        try:
            results[name] = call()
        except Exception as error:  # either caller's failure is the finding: asserted below
            results[name] = error

    threads = [
        threading.Thread(target=run, args=("directory", lambda: connections.directory(world.ports, T, cid))),
        threading.Thread(
            target=run,
            args=("resync", lambda: members.resync_member(world.ports, T, member.member_id, "admin-1")),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 3)

    assert not [r for r in results.values() if isinstance(r, Exception)], results
    assert set(results) == {"directory", "resync"}
    assert lease.someone_waited.is_set()
    # One exchange of the refresh token, none refused; the waiter used the token it saved.
    assert (oauth.refreshes - spent_before, oauth.refused_refreshes) == (1, 0)
    stored = world.secrets.get(T, cid)
    assert oauth.valid(stored.secrets["access_token"].reveal())
    assert lease.current(T, cid, world.clock.now()) is None  # released
