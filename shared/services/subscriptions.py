"""Vendor-side change subscriptions (``Subscribes``: Microsoft Graph subscriptions, Google
``users.watch`` channels): made when a connection is activated or its credentials change, renewed
before they lapse, removed on disconnect, and kept on the connection record
(``Connection.subscription``); their secret pieces (Graph's clientState) in its credentials.

- ``ensure``: subscribe when there is none (or replace one when the credentials changed); the
  notification URL is the connection's webhook path under the API's public URL: the deployment's
  ``settings.notification_base_url`` when set, else the base the admin API derived from the
  request that activated or edited the connection. The full URL is kept on the connection
  (``Connection.notification_url``), so a renewal or a new subscription later needs no request.
- ``renew_due``: renew one expiring within ``settings.subscription_renew_margin``; one the vendor
  no longer knows, or a connection without one, is subscribed afresh (the sweep heals a failed
  subscribe).
- ``renew_all``: the scheduled sweep (``functions/subscription_renewer``, every few hours whatever
  each connection's own sync schedule): ``renew_due`` for every connection the store lists as
  holding or wanting a subscription; one connection's failure never stops the others.
- ``remove``: unsubscribe (best effort: a disconnect never fails on the vendor).
- ``on_lifecycle``: Graph's lifecycle notifications: ``reauthorizationRequired`` -> renew,
  ``subscriptionRemoved`` -> subscribe again, ``missed`` -> the caller requests a full sync.
- ``handle_lifecycle``: the webhook worker's use of it for a queued delivery: acts on the events
  and starts the full sync they call for (``NOTIFICATIONS_MISSED``; one already running suffices).
  A ``missed`` alone, for a connector that reads what changed (``IncrementalChanges``: Graph's
  delta), is caught up cheaply instead: the changed and removed ids get a targeted plan through the
  webhooks' own path (``webhook_apply.apply_webhook``: R29's deferral, R30's guard) and the new
  starting point is stored. The full sync stays the answer when there is no starting point yet
  (the first read lists everyone: it sets one), the read fails, the plan cannot be applied, or
  more changed than a targeted catch-up should carry (``MAX_CATCH_UP``).

A vendor failure is logged and leaves the connection as it was: notifications are an
accelerator, the scheduled full sync stays the source of truth (R09).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from secrets import token_urlsafe
from typing import Protocol

from shared import observability
from shared.domain.models import Connection, ConnectionStatus, PlanCounts, WatchSubscription
from shared.errors import HrisSyncError, VersionConflict
from shared.providers.base import (
    Credentials,
    IncrementalChanges,
    ProviderError,
    Secret,
    Subscribes,
    Subscription,
)
from shared.providers.catalogue import WEBHOOK_SECRET
from shared.services.context import (
    WithAudit,
    WithClock,
    WithConnections,
    WithMailer,
    WithMembers,
    WithPending,
    WithProviders,
    WithSecrets,
    WithSettings,
    WithTasks,
    WithTokenLock,
    WithWebhookGuard,
)
from shared.services.full_sync import TriggerPorts, request_missed_sync
from shared.services.webhook_apply import MAX_WEBHOOK_EMPLOYEES, WebhookResult, apply_webhook

WEBHOOK_PATH = "/webhooks/{connection_id}"
SAVE_ATTEMPTS = 3
RENEW = "reauthorizationRequired"
RESUBSCRIBE = "subscriptionRemoved"
MISSED = "missed"
# More changed ids than this: the full sync is the cheaper catch-up.
MAX_CATCH_UP = 10 * MAX_WEBHOOK_EMPLOYEES


class SubscriptionPorts(WithConnections, WithSecrets, WithProviders, WithClock, WithSettings, Protocol):
    """The connection and its credentials read and saved, the connector, the clock."""


class LifecyclePorts(
    SubscriptionPorts,
    TriggerPorts,
    WithMembers,
    WithTasks,
    WithAudit,
    WithPending,
    WithWebhookGuard,
    WithTokenLock,
    WithMailer,
    Protocol,
):
    """Lifecycle notifications acted on: the subscription's ports, a full sync requested, and a
    targeted plan applied (a ``missed`` caught up from what changed: ``webhook_apply.WebhookPorts``)."""


@dataclass(frozen=True, slots=True)
class LifecycleResult:
    connection: Connection
    full_sync_needed: bool
    # The full sync requested for it (or the one already running), when one was needed.
    run_id: str | None = None
    # Only changes were missed (no subscription lost): what changed may be read instead.
    catch_up: bool = False
    # The targeted plan that caught up with a ``missed`` instead of a full sync.
    caught_up: WebhookResult | None = None


def notification_url(ports: WithSettings, connection: Connection, base_url: str | None = None) -> str | None:
    """Where the vendor notifies this connection: under the deployment's base URL (an override,
    e.g. a custom domain), else under ``base_url`` (the API's own, from the request), else the URL
    kept on the connection; None: no public URL known, so no subscription is made."""
    base = ports.settings.notification_base_url or base_url
    if not base:
        return connection.notification_url
    return base.rstrip("/") + WEBHOOK_PATH.format(connection_id=connection.connection_id)


def _connector(ports: WithProviders, connection: Connection) -> Subscribes | None:
    connector = ports.providers(connection.provider)
    return connector if isinstance(connector, Subscribes) else None


def _stored(subscription: Subscription) -> WatchSubscription:
    return WatchSubscription(
        id=subscription.id, expires_at=subscription.expires_at, resource=subscription.resource[:512]
    )


def _vendor(stored: WatchSubscription) -> Subscription:
    return Subscription(id=stored.id, expires_at=stored.expires_at, resource=stored.resource)


def _save(
    ports: SubscriptionPorts, connection: Connection, held: WatchSubscription | None, url: str | None = None
) -> Connection:
    """The connection with ``held`` as its subscription (and ``url`` as its notification URL when
    given), re-read on a concurrent edit."""
    current = connection
    for _ in range(SAVE_ATTEMPTS):
        wanted = {"subscription": held} | ({"notification_url": url} if url is not None else {})
        if all(getattr(current, name) == value for name, value in wanted.items()):
            return current
        updated = current.model_copy(
            update=wanted | {"version": current.version + 1, "updated_at": ports.clock.now()}
        )
        try:
            ports.connections.save(updated, expected_version=current.version)
        except VersionConflict:
            current = ports.connections.get(current.tenant_id, current.connection_id)
            continue
        return updated
    raise VersionConflict("connection", connection.connection_id, connection.version)


def _log_failure(what: str, connection: Connection, error: ProviderError) -> None:
    observability.logger.warning(
        f"subscription {what} failed",
        extra={
            "connection_id": connection.connection_id,
            "provider": connection.provider,
            "error_type": type(error).__name__,
        },
    )


def _subscribe(
    ports: SubscriptionPorts,
    connection: Connection,
    connector: Subscribes,
    credentials: Credentials,
    base_url: str | None = None,
) -> Connection:
    url = notification_url(ports, connection, base_url)
    if url is None:
        return connection
    if WEBHOOK_SECRET not in credentials.secrets:
        # The vendor may notify while the subscription is being made (Google's `sync` message
        # arrives before `users.watch` answers): the secret that verifies its deliveries is
        # stored first.
        credentials = Credentials(
            secrets={**credentials.secrets, WEBHOOK_SECRET: Secret(token_urlsafe(32))},
            settings=credentials.settings,
        )
        ports.secrets.put(connection.tenant_id, connection.connection_id, credentials)
    try:
        made, stored_credentials = connector.subscribe(credentials, url)
    except ProviderError as error:
        _log_failure("subscribe", connection, error)
        # The URL is kept all the same: the scheduled sweep subscribes with it.
        return _save(ports, connection, connection.subscription, url)
    ports.secrets.put(connection.tenant_id, connection.connection_id, stored_credentials)
    observability.logger.info(
        "subscription made",
        extra={"connection_id": connection.connection_id, "expires_at": str(made.expires_at)},
    )
    return _save(ports, connection, _stored(made), url)


def ensure(
    ports: SubscriptionPorts, connection: Connection, *, replace: bool = False, base_url: str | None = None
) -> Connection:
    """Subscribe an active connection that has no subscription; ``replace`` (the credentials
    changed) removes the old one and makes a new one with the new credentials. ``base_url``: the
    API's public URL as the request that activated or edited the connection reached it."""
    connector = _connector(ports, connection)
    if connector is None or connection.status is not ConnectionStatus.ACTIVE:
        return connection
    if connection.subscription is not None and not replace:
        return connection
    if notification_url(ports, connection, base_url) is None:
        return connection
    credentials = ports.secrets.get(connection.tenant_id, connection.connection_id)
    if connection.subscription is not None:
        _unsubscribe(connection, connector, credentials, connection.subscription)
        connection = _save(ports, connection, None)
    return _subscribe(ports, connection, connector, credentials, base_url)


def renew_due(ports: SubscriptionPorts, connection: Connection) -> Connection:
    """Renew a subscription expiring within the margin; subscribe one that is missing or gone."""
    connector = _connector(ports, connection)
    if connector is None or connection.status is not ConnectionStatus.ACTIVE:
        return connection
    held = connection.subscription
    if held is None:
        return ensure(ports, connection)
    now = ports.clock.now()
    if held.expires_at - now > ports.settings.subscription_renew_margin:
        return connection
    credentials = ports.secrets.get(connection.tenant_id, connection.connection_id)
    return _renew(ports, connection, connector, credentials, held)


def _renew(
    ports: SubscriptionPorts,
    connection: Connection,
    connector: Subscribes,
    credentials: Credentials,
    held: WatchSubscription,
) -> Connection:
    try:
        renewed = connector.renew(credentials, _vendor(held))
    except ProviderError as error:
        _log_failure("renewal", connection, error)
        if held.expires_at > ports.clock.now():
            return connection  # still live: the next run tries again
        # Lapsed (or removed by the vendor): a new one.
        return _subscribe(ports, _save(ports, connection, None), connector, credentials)
    return _save(ports, connection, _stored(renewed))


def _unsubscribe(
    connection: Connection, connector: Subscribes, credentials: Credentials, held: WatchSubscription
) -> None:
    try:
        connector.unsubscribe(credentials, _vendor(held))
    except ProviderError as error:
        _log_failure("removal", connection, error)


def remove(ports: WithProviders, connection: Connection, credentials: Credentials | None) -> None:
    """Unsubscribe (before the credentials are deleted); never raises for the vendor."""
    connector = _connector(ports, connection)
    if connector is None or connection.subscription is None or credentials is None:
        return
    _unsubscribe(connection, connector, credentials, connection.subscription)


def on_lifecycle(
    ports: SubscriptionPorts, connection: Connection, events: Sequence[tuple[str, str]]
) -> LifecycleResult:
    """Act on the lifecycle notifications of the connection's own subscription (others ignored)."""
    connector = _connector(ports, connection)
    held = connection.subscription
    if connector is None or held is None or connection.status is not ConnectionStatus.ACTIVE:
        return LifecycleResult(connection, full_sync_needed=False)
    mine = {event for event, subscription_id in events if subscription_id == held.id}
    current = connection
    if RESUBSCRIBE in mine or RENEW in mine:
        # Read only to act: a ``missed`` alone is caught up with credentials read afresh.
        credentials = ports.secrets.get(connection.tenant_id, connection.connection_id)
        if RESUBSCRIBE in mine:
            current = _subscribe(ports, _save(ports, current, None), connector, credentials)
        else:
            current = _renew(ports, current, connector, credentials, held)
    return LifecycleResult(
        current,
        full_sync_needed=MISSED in mine or RESUBSCRIBE in mine,
        catch_up=MISSED in mine and RESUBSCRIBE not in mine,
    )


def _log_catch_up(message: str, connection: Connection, **extra: object) -> None:
    observability.logger.info(message, extra={"connection_id": connection.connection_id, **extra})


def catch_up(ports: LifecyclePorts, connection: Connection) -> WebhookResult | None:
    """What changed since the connection's starting point, applied as targeted plans (the webhooks'
    path, ``MAX_WEBHOOK_EMPLOYEES`` at a time); the new starting point stored. None: the full sync
    is needed (no incremental read, none kept yet, a failed read or apply, too many changes).
    A removed employee reads back as terminated: an explicit leaver; nobody is deactivated for
    being absent from the read (R09)."""
    connector = ports.providers(connection.provider)
    if not isinstance(connector, IncrementalChanges):
        return None
    tenant_id, connection_id = connection.tenant_id, connection.connection_id
    try:
        changes = connector.changes_since(ports.secrets.get(tenant_id, connection_id))
    except ProviderError as error:
        _log_failure("incremental read", connection, error)
        return None
    # Stored first: a token refreshed on the way is kept, and the targeted plans below read the
    # credentials afresh. Should they fail, the full sync (the caller's fallback) covers the span.
    ports.secrets.put(tenant_id, connection_id, changes.credentials)
    if changes.baseline:
        _log_catch_up("incremental starting point set", connection)
        return None
    if len(changes.employee_ids) > MAX_CATCH_UP:
        _log_catch_up("too many changes to catch up on", connection, changed=len(changes.employee_ids))
        return None
    # One delivery id per batch of this read: a repeated catch-up reads (and keys) afresh.
    read = ports.ids.new_id("delta")
    total: WebhookResult | None = None
    try:
        for start in range(0, len(changes.employee_ids), MAX_WEBHOOK_EMPLOYEES):
            batch = changes.employee_ids[start : start + MAX_WEBHOOK_EMPLOYEES]
            digest = hashlib.sha256("\x1f".join(batch).encode()).hexdigest()[:16]
            applied = apply_webhook(ports, tenant_id, connection_id, batch, f"{read}:{digest}")
            total = applied if total is None else total + applied
    except HrisSyncError as error:
        observability.logger.warning(
            "catch-up failed",
            extra={"connection_id": connection_id, "error_type": type(error).__name__},
        )
        return None
    if total is None:  # nothing changed
        total = WebhookResult(counts=PlanCounts(), skipped=())
    _log_catch_up("missed notifications caught up", connection, changed=len(changes.employee_ids))
    return total


def handle_lifecycle(
    ports: LifecyclePorts, tenant_id: str, connection_id: str, events: Sequence[tuple[str, str]]
) -> LifecycleResult:
    """A queued delivery's lifecycle notifications: acted on (``on_lifecycle``); a ``missed`` caught
    up from what changed where the connector can (``catch_up``), else the full sync they call for
    started (changes may have been lost: R09's complete snapshot is the remedy);
    while one runs already, that one is the answer."""
    result = on_lifecycle(ports, ports.connections.get(tenant_id, connection_id), events)
    if not result.full_sync_needed:
        return result
    if result.catch_up:
        caught_up = catch_up(ports, result.connection)
        if caught_up is not None:
            return LifecycleResult(result.connection, full_sync_needed=False, caught_up=caught_up)
    run_id = request_missed_sync(ports, tenant_id, connection_id)
    observability.logger.info(
        "full sync requested by the vendor's lifecycle notification", extra={"run_id": run_id}
    )
    return LifecycleResult(result.connection, full_sync_needed=True, run_id=run_id)


@dataclass(frozen=True, slots=True)
class SweepResult:
    checked: int  # connections looked at
    changed: int  # subscriptions renewed, made or made again
    failed: int  # connections left for the next sweep (a store error; vendor errors are logged)


def renew_all(ports: SubscriptionPorts) -> SweepResult:
    """``renew_due`` for every connection holding or wanting a vendor subscription, across tenants."""
    checked = changed = failed = 0
    for tenant_id, connection_id in ports.connections.list_subscribed():
        checked += 1
        try:
            connection = ports.connections.get(tenant_id, connection_id)
            after = renew_due(ports, connection)
        except (HrisSyncError, ProviderError) as error:
            failed += 1
            observability.logger.warning(
                "subscription sweep failed for a connection",
                extra={
                    "tenant_id": tenant_id,
                    "connection_id": connection_id,
                    "error_type": type(error).__name__,
                },
            )
            continue
        changed += after.subscription != connection.subscription
    return SweepResult(checked=checked, changed=changed, failed=failed)
