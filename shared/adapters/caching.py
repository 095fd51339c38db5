"""Short-lived caches in front of the connection store and the secret store, for the webhook ingest.

A warm ingest container answers a burst of deliveries for one connection with one read of the
route (connection -> tenant) and one Secrets Manager call per ``ttl`` (60 s by default). The route
never changes, so caching it is exact; unknown connection ids are cached too, so a flood of made-up
ids costs one read each per ``ttl``. The connection itself is not cached: it is read on every
delivery (one strongly consistent item read), because it changes where another process writes it
(the admin API's disconnect, an edited ``require_signature``) and a delivery must meet the change
at once (R20: a disconnected connection's webhooks are refused, never queued for a minute). Writes
go through and forget what they change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

from shared.domain.models import Connection
from shared.errors import NotFound
from shared.ports import ConnectionStore, SecretStore
from shared.providers.base import Credentials

V = TypeVar("V")


class TtlCache:
    """Values (or the ``NotFound`` raised while loading them) kept for ``ttl`` seconds."""

    def __init__(
        self, ttl: float, *, max_entries: int = 1_000, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._now = now
        self._entries: dict[Hashable, tuple[float, object]] = {}
        self._mutex = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        now = self._now()
        with self._mutex:
            hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            value = hit[1]
        else:
            try:
                value = load()
            except NotFound as missing:
                value = missing
            with self._mutex:
                if len(self._entries) >= self._max:
                    self._entries.clear()
                if self._ttl > 0:
                    self._entries[key] = (now + self._ttl, value)
        if isinstance(value, NotFound):
            raise value
        return value  # type: ignore[return-value]

    def forget(self, key: Hashable) -> None:
        with self._mutex:
            self._entries.pop(key, None)


class CachingConnectionStore:
    """``ConnectionStore`` with ``tenant_of`` cached; ``get`` always reads the store."""

    def __init__(self, inner: ConnectionStore, cache: TtlCache) -> None:
        self._inner = inner
        self._cache = cache

    def create(self, connection: Connection, *, max_active: int) -> None:
        self._inner.create(connection, max_active=max_active)
        self._cache.forget(("tenant", connection.connection_id))

    def get(self, tenant_id: str, connection_id: str) -> Connection:
        return self._inner.get(tenant_id, connection_id)

    def tenant_of(self, connection_id: str) -> str:
        return self._cache.get(("tenant", connection_id), lambda: self._inner.tenant_of(connection_id))

    def list_for_tenant(self, tenant_id: str) -> list[Connection]:
        return self._inner.list_for_tenant(tenant_id)

    def list_subscribed(self) -> list[tuple[str, str]]:
        return self._inner.list_subscribed()

    def save(self, connection: Connection, *, expected_version: int, max_active: int | None = None) -> None:
        self._inner.save(connection, expected_version=expected_version, max_active=max_active)


class CachingSecretStore:
    """``SecretStore`` with ``get`` cached (values stay ``Secret``s: never logged)."""

    def __init__(self, inner: SecretStore, cache: TtlCache) -> None:
        self._inner = inner
        self._cache = cache

    def put(self, tenant_id: str, connection_id: str, credentials: Credentials) -> None:
        self._cache.forget(("secret", tenant_id, connection_id))
        self._inner.put(tenant_id, connection_id, credentials)

    def get(self, tenant_id: str, connection_id: str) -> Credentials:
        return self._cache.get(
            ("secret", tenant_id, connection_id), lambda: self._inner.get(tenant_id, connection_id)
        )

    def delete(self, tenant_id: str, connection_id: str) -> None:
        self._cache.forget(("secret", tenant_id, connection_id))
        self._inner.delete(tenant_id, connection_id)
