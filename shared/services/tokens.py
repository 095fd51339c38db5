"""OAuth token refreshes of a connection: one at a time, saved, and shared with whoever waits.

Employment Hero's refresh tokens are single use (Personio's tokens come from client credentials):
two functions refreshing one connection at once (a full sync page and a webhook, a resync) would
spend the same refresh token twice, and the vendor refuses the second exchange for good. So every
connector a service builds for a connection (``provider_for``) refreshes through ``LeasedTokens``:

1. take the connection's token lease (``Ports.token_lock``: the sync lock's mechanism, its own key),
   waiting while another refresher holds it;
2. re-read the stored credentials: when they hold a usable token other than the one found stale,
   another caller refreshed meanwhile, and that token is used (no exchange);
3. otherwise exchange the stored (latest) refresh token and save the result (``SecretStore.put``,
   a ``PutSecretValue``) before giving the lease up.

The save happens under the lease, so the services never store ``refreshed_credentials`` after the
fact (a late save could put back a refresh token that was spent meanwhile).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from shared.domain.models import Connection
from shared.errors import LockHeld
from shared.ports import Lease
from shared.providers.base import Credentials, Provider, ProviderUnavailable, Secret
from shared.providers.oauth import KeepsTokens, token_from
from shared.services.context import (
    WithClock,
    WithIds,
    WithProviders,
    WithSecrets,
    WithSettings,
    WithTokenLock,
)


class TokenPorts(WithTokenLock, WithSecrets, WithClock, WithIds, WithProviders, WithSettings, Protocol):
    """A connector whose OAuth tokens are refreshed under the connection's token lease and saved."""


# How often a waiting refresher looks at the lease again.
_POLL_SECONDS = 0.05


class LeasedTokens:
    """The ``TokenKeeper`` of one connection, on the ports."""

    def __init__(
        self,
        ports: TokenPorts,
        tenant_id: str,
        connection_id: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = _POLL_SECONDS,
    ) -> None:
        self._ports = ports
        self._tenant_id = tenant_id
        self._connection_id = connection_id
        self._sleep = sleep
        self._poll = poll_seconds

    def refresh(
        self,
        credentials: Credentials,  # noqa: ARG002 - the caller's copy: the stored ones are the latest
        stale: Secret | None,
        exchange: Callable[[Credentials], Credentials],
    ) -> Credentials:
        ports = self._ports
        holder = ports.ids.new_id("refresh")
        lease = self._take(holder)
        try:
            stored = ports.secrets.get(self._tenant_id, self._connection_id)
            token = token_from(stored)
            if (
                token is not None
                and token.access_token.reveal()
                and token.access_token != stale
                and not token.needs_refresh(ports.clock.now())
            ):
                return stored  # refreshed by another caller while this one waited
            fresh = exchange(stored)
            ports.secrets.put(self._tenant_id, self._connection_id, fresh)
            return fresh
        finally:
            ports.token_lock.release(lease)

    def _take(self, holder: str) -> Lease:
        ports = self._ports
        settings = ports.settings
        attempts = max(1, int(settings.token_lease_wait.total_seconds() / self._poll))
        for attempt in range(attempts):
            try:
                return ports.token_lock.acquire(
                    self._tenant_id, self._connection_id, holder, ports.clock.now(), settings.token_lease_ttl
                )
            except LockHeld:
                if attempt + 1 < attempts:
                    self._sleep(self._poll)
        # A provider error: the caller's snapshot becomes incomplete (R09), a webhook is retried.
        raise ProviderUnavailable("another refresh of the connection's token did not finish in time")


def provider_for(ports: TokenPorts, connection: Connection) -> Provider:
    """The connection's connector, its token refreshes coordinated and saved (``LeasedTokens``)."""
    provider = ports.providers(connection.provider)
    if isinstance(provider, KeepsTokens):
        provider.keep_tokens_with(LeasedTokens(ports, connection.tenant_id, connection.connection_id))
    return provider
