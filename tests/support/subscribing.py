"""A scripted vendor with change subscriptions (``Subscribes``), Graph-like: each subscription
lives ``LIFETIME``, its clientState is kept in the returned credentials; ``fail`` names the calls
that fail (``subscribe``, ``renew``, ``unsubscribe``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.providers.base import Credentials, ProviderResponseError, Secret, Subscription
from tests.support.world import FakeHR

LIFETIME = timedelta(days=2, hours=20)


class SubscribingHR(FakeHR):
    """A scripted vendor with subscriptions (Graph-like: a clientState kept in the credentials)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = datetime(2026, 3, 2, 9, 0).astimezone()
        self.made: list[tuple[str, str]] = []  # (subscription id, notification url)
        self.renewed: list[str] = []
        self.removed: list[str] = []
        self.fail: set[str] = set()
        self.live: dict[str, datetime] = {}

    def subscribe(self, credentials: Credentials, notification_url: str) -> tuple[Subscription, Credentials]:
        if "subscribe" in self.fail:
            raise ProviderResponseError("vendor down")
        sid = f"sub-{len(self.made) + 1}"
        self.made.append((sid, notification_url))
        self.live[sid] = self.now + LIFETIME
        stored = Credentials(
            secrets={**credentials.secrets, "webhook_secret": Secret(f"state-{sid}")},
            settings=credentials.settings,
        )
        return Subscription(sid, self.live[sid], "users"), stored

    def renew(self, credentials: Credentials, subscription: Subscription) -> Subscription:
        if "renew" in self.fail or subscription.id not in self.live:
            raise ProviderResponseError("no such subscription")
        self.renewed.append(subscription.id)
        self.live[subscription.id] = self.now + LIFETIME
        return Subscription(subscription.id, self.live[subscription.id], "users")

    def unsubscribe(self, credentials: Credentials, subscription: Subscription) -> None:
        if "unsubscribe" in self.fail:
            raise ProviderResponseError("vendor down")
        self.removed.append(subscription.id)
        self.live.pop(subscription.id, None)
