"""Vendor subscriptions (shared.services.subscriptions): made on activation and on new credentials,
renewed within the margin by the schedule's sweep (a lapsed one replaced, a missing one made),
removed on disconnect, lifecycle notifications acted on; a vendor failure never fails the connect."""

from __future__ import annotations

from datetime import timedelta

from shared.domain.models import ConnectionStatus
from shared.providers.base import Credentials, Subscription
from shared.services import connections, subscriptions
from shared.services.context import ServiceSettings
from tests.support.subscribing import LIFETIME, SubscribingHR
from tests.support.world import CREDENTIALS, FakeHR, T, World, connect

BASE = "https://api.acme.example/prod"


def world() -> tuple[World, SubscribingHR]:
    hr = SubscribingHR()
    w = World(hr=hr, settings=ServiceSettings(chunk_size=2, notification_base_url=BASE))
    hr.now = w.clock.now()
    return w, hr


def advance(w: World, hr: SubscribingHR, by: timedelta) -> None:
    w.clock.advance(by)
    hr.now = w.clock.now()


def test_activation_subscribes_at_the_connections_webhook_url_and_keeps_it_on_the_record() -> None:
    w, hr = world()
    cid = connect(w).connection.connection_id

    stored = w.connections.get(T, cid)
    assert hr.made == [("sub-1", f"{BASE}/webhooks/{cid}")]
    assert stored.subscription is not None and stored.subscription.id == "sub-1"
    assert stored.subscription.expires_at == w.clock.now() + LIFETIME
    assert w.secrets.get(T, cid).secrets["webhook_secret"].reveal() == "state-sub-1"


def test_without_a_notification_base_url_nothing_is_subscribed() -> None:
    hr = SubscribingHR()
    w = World(hr=hr)
    cid = connect(w).connection.connection_id
    assert hr.made == [] and w.connections.get(T, cid).subscription is None


def test_a_vendor_failure_never_fails_the_activation_and_the_sweep_subscribes_later() -> None:
    w, hr = world()
    hr.fail = {"subscribe"}
    result = connect(w)
    cid = result.connection.connection_id
    assert result.connection.status is ConnectionStatus.ACTIVE
    assert w.connections.get(T, cid).subscription is None

    hr.fail = set()
    swept = subscriptions.renew_due(w.ports, w.connections.get(T, cid))

    assert swept.subscription is not None and hr.made[0][0] == "sub-1"


def test_renewal_happens_only_within_the_margin_and_extends_the_expiry() -> None:
    w, hr = world()
    cid = connect(w).connection.connection_id
    advance(w, hr, timedelta(days=1))
    assert subscriptions.renew_due(w.ports, w.connections.get(T, cid)).subscription == (
        w.connections.get(T, cid).subscription
    )
    assert hr.renewed == []

    advance(w, hr, timedelta(days=1))  # 20 h left: within 24 h
    renewed = subscriptions.renew_due(w.ports, w.connections.get(T, cid))

    assert hr.renewed == ["sub-1"]
    assert renewed.subscription is not None
    assert renewed.subscription.expires_at == w.clock.now() + LIFETIME
    assert w.connections.get(T, cid).subscription == renewed.subscription


def test_a_lapsed_subscription_the_vendor_forgot_is_made_again() -> None:
    w, hr = world()
    cid = connect(w).connection.connection_id
    advance(w, hr, timedelta(days=3))
    hr.live.clear()  # Graph deleted it when it expired

    swept = subscriptions.renew_due(w.ports, w.connections.get(T, cid))

    assert swept.subscription is not None and swept.subscription.id == "sub-2"


def test_a_failed_renewal_of_a_live_subscription_keeps_it_for_the_next_run() -> None:
    w, hr = world()
    cid = connect(w).connection.connection_id
    advance(w, hr, timedelta(days=2))
    hr.fail = {"renew"}
    before = w.connections.get(T, cid)

    assert subscriptions.renew_due(w.ports, before) == before
    assert [m[0] for m in hr.made] == ["sub-1"]


def test_new_credentials_replace_the_subscription() -> None:
    w, hr = world()
    cid = connect(w).connection.connection_id

    connections.edit_connection(w.ports, T, cid, {}, credentials=CREDENTIALS)

    assert hr.removed == ["sub-1"]
    stored = w.connections.get(T, cid)
    assert stored.subscription is not None and stored.subscription.id == "sub-2"
    assert w.secrets.get(T, cid).secrets["webhook_secret"].reveal() == "state-sub-2"


def test_disconnect_removes_the_subscription_even_when_the_vendor_fails() -> None:
    w, hr = world()
    cid = connect(w).connection.connection_id
    gone = connections.disconnect(w.ports, T, cid)
    assert hr.removed == ["sub-1"] and gone.subscription is None

    w2, hr2 = world()
    cid2 = connect(w2).connection.connection_id
    hr2.fail = {"unsubscribe"}
    assert connections.disconnect(w2.ports, T, cid2).status is ConnectionStatus.DISCONNECTED


def test_lifecycle_reauthorization_required_renews() -> None:
    w, hr = world()
    cid = connect(w).connection.connection_id
    advance(w, hr, timedelta(hours=1))

    result = subscriptions.on_lifecycle(
        w.ports, w.connections.get(T, cid), [("reauthorizationRequired", "sub-1")]
    )

    assert hr.renewed == ["sub-1"] and not result.full_sync_needed


def test_lifecycle_subscription_removed_subscribes_again_and_asks_for_a_full_sync() -> None:
    w, hr = world()
    cid = connect(w).connection.connection_id
    hr.live.clear()

    result = subscriptions.on_lifecycle(
        w.ports, w.connections.get(T, cid), [("subscriptionRemoved", "sub-1")]
    )

    assert result.connection.subscription is not None and result.connection.subscription.id == "sub-2"
    assert result.full_sync_needed


def test_lifecycle_missed_asks_for_a_full_sync_and_other_subscriptions_are_ignored() -> None:
    w, _ = world()
    cid = connect(w).connection.connection_id
    connection = w.connections.get(T, cid)

    assert subscriptions.on_lifecycle(w.ports, connection, [("missed", "sub-1")]).full_sync_needed
    assert not subscriptions.on_lifecycle(w.ports, connection, [("missed", "sub-9")]).full_sync_needed


def test_a_provider_without_subscriptions_is_left_alone() -> None:
    w = World(hr=FakeHR(), settings=ServiceSettings(chunk_size=2, notification_base_url=BASE))
    cid = connect(w).connection.connection_id
    connection = w.connections.get(T, cid)
    assert subscriptions.renew_due(w.ports, connection) == connection
    assert connection.subscription is None


def test_the_sweep_renews_every_tenants_subscriptions_whatever_their_sync_schedule() -> None:
    w, hr = world()
    weekly = connect(w, schedule={"expression": "rate(7 days)"}).connection.connection_id
    other = connect(w, "tenant-b").connection.connection_id
    assert sorted(w.connections.list_subscribed()) == sorted([(T, weekly), ("tenant-b", other)])
    advance(w, hr, timedelta(days=2))  # 20 h left on both: within the margin

    swept = subscriptions.renew_all(w.ports)

    assert (swept.checked, swept.changed, swept.failed) == (2, 2, 0)
    assert sorted(hr.renewed) == ["sub-1", "sub-2"]
    for tenant, cid in ((T, weekly), ("tenant-b", other)):
        held = w.connections.get(tenant, cid).subscription
        assert held is not None and held.expires_at == w.clock.now() + LIFETIME


def test_the_sweep_makes_a_missing_subscription_and_leaves_a_disconnected_one_alone() -> None:
    w, hr = world()
    hr.fail = {"subscribe"}
    missing = connect(w).connection.connection_id
    gone = connect(w, "tenant-b").connection.connection_id
    connections.disconnect(w.ports, "tenant-b", gone)
    hr.fail = set()

    swept = subscriptions.renew_all(w.ports)

    assert (swept.checked, swept.changed) == (1, 1)
    assert hr.made == [("sub-1", f"{BASE}/webhooks/{missing}")]


def test_the_secret_that_verifies_notifications_is_stored_before_the_vendor_is_asked() -> None:
    # Google sends its `sync` message while `users.watch` is still answering: a connection that
    # had no webhook secret must already have it stored when the vendor is asked to subscribe.
    w, hr = world()
    seen: list[str | None] = []
    subscribe = hr.subscribe

    def watching(credentials: Credentials, url: str) -> tuple[Subscription, Credentials]:
        cid = url.rsplit("/", 1)[-1]
        stored = w.secrets.get(T, cid).secrets.get("webhook_secret")
        seen.append(stored.reveal() if stored else None)
        assert stored == credentials.secrets["webhook_secret"]
        return subscribe(credentials, url)

    hr.subscribe = watching  # type: ignore[method-assign]
    without_secret = Credentials(
        secrets={k: v for k, v in CREDENTIALS.secrets.items() if k != "webhook_secret"},
        settings=CREDENTIALS.settings,
    )
    connections.connect(w.ports, T, provider="fakehr", label="Acme HR", credentials=without_secret)
    assert len(seen) == 1 and seen[0]
