"""The provider lookup the services take (``Ports.providers``), backed by the connector registry."""

from __future__ import annotations

from typing import Any

from shared.errors import ProviderNotFound
from shared.ports import ProviderLookup
from shared.providers.base import Provider
from shared.providers.registry import UnknownProvider, get_provider


def registry_lookup(**options: Any) -> ProviderLookup:
    """``name -> Provider`` from the registry; an unknown name raises ``ProviderNotFound``.

    ``options`` go to every connector's constructor (runtime, retry policy ...). Each lookup builds
    a fresh connector, as the registry asks (a connector owns one sync's HTTP client).
    """

    def lookup(name: str) -> Provider:
        try:
            return get_provider(name, **options)
        except UnknownProvider:
            raise ProviderNotFound(name) from None

    return lookup
