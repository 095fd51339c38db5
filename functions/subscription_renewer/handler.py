"""The vendors' change subscriptions kept alive: the target of one fixed EventBridge Scheduler
schedule (every few hours, whatever each connection's own sync schedule: a weekly sync must not let
a Graph subscription, under three days, lapse).

For every connection holding or wanting a subscription (the store's cross-tenant list) it renews one
expiring within ``subscription_renew_margin`` and makes one that is missing or that the vendor
forgot, at the notification URL kept on the connection (``subscriptions.renew_all``); a vendor
failure is logged and left for the next run. Answers ``{"checked", "changed", "failed"}``.

Importing this module reads no settings and builds no client: the first invocation does (``ports``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from shared import observability
from shared.adapters.factory import AwsAdapters
from shared.observability import instrumented
from shared.ports import Clock, ConnectionStore, ProviderLookup, SecretStore
from shared.services import subscriptions
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from shared.settings import SubscriptionRenewerSettings, load


@dataclass(frozen=True, slots=True)
class SubscriptionRenewerPorts:
    """What ``subscriptions.renew_all`` touches, and so what the function's role allows: the table
    (the connections), their secrets (read; a new subscription's clientState written), the vendors."""

    connections: ConnectionStore
    secrets: SecretStore
    providers: ProviderLookup
    clock: Clock
    settings: ServiceSettings


@functools.lru_cache(maxsize=1)
def ports() -> SubscriptionRenewerPorts:
    """The composition root: settings read on the first invocation, DynamoDB and Secrets Manager."""
    settings = load(SubscriptionRenewerSettings)
    aws = AwsAdapters(settings.resources())
    return SubscriptionRenewerPorts(
        connections=aws.connections,
        secrets=aws.secrets,
        providers=registry_lookup(),
        clock=aws.clock,
        settings=settings.services(),
    )


@instrumented()
def handler(_event: dict[str, Any], _context: object) -> dict[str, Any]:
    swept = subscriptions.renew_all(ports())
    observability.logger.info(
        "subscriptions swept",
        extra={"checked": swept.checked, "changed": swept.changed, "failed": swept.failed},
    )
    return {"checked": swept.checked, "changed": swept.changed, "failed": swept.failed}
