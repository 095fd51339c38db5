"""Provider names -> connectors. Build one per sync (it owns that sync's HTTP client)."""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import Any

from shared.providers.base import Provider, ProviderError
from shared.providers.catalogue import ProviderInfo
from shared.providers.common import Connector

# name -> (module, class). A connector's module is imported the first time it is asked for, so a
# function that serves one connection never pays for the others' imports (Google's JWT signing
# pulls in cryptography) at its cold start. Each class's ``name`` is its key (a test checks).
_CONNECTORS: dict[str, tuple[str, str]] = {
    "bamboohr": ("shared.providers.bamboohr", "BambooHR"),
    "personio": ("shared.providers.personio", "Personio"),
    "hibob": ("shared.providers.hibob", "HiBob"),
    "employment_hero": ("shared.providers.employment_hero", "EmploymentHero"),
    "merge": ("shared.providers.merge", "Merge"),
    "finch": ("shared.providers.finch", "Finch"),
    "adp_workforce_now": ("shared.providers.adp", "AdpWorkforceNow"),
    "slack": ("shared.providers.slack", "Slack"),
    "microsoft365": ("shared.providers.microsoft", "Microsoft365"),
    "google_workspace": ("shared.providers.google", "GoogleWorkspace"),
}
PROVIDER_NAMES: tuple[str, ...] = tuple(sorted(_CONNECTORS))
# Other spellings people type; they build the same connector.
_ALIASES = {
    "adp": "adp_workforce_now",
    "adp-workforce-now": "adp_workforce_now",
    "employmenthero": "employment_hero",
    "merge_hris": "merge",
    "microsoft_365": "microsoft365",
    "msgraph": "microsoft365",
}


class UnknownProvider(ProviderError):
    """No connector has this name."""


def canonical_name(name: str) -> str:
    """The connector's own name for ``name`` or one of its other spellings (``microsoft_365``)."""
    return _ALIASES.get(name, name)


@cache
def _factory(name: str) -> type[Connector]:
    """The connector class of ``name`` or one of its other spellings, imported on first use."""
    found = _CONNECTORS.get(canonical_name(name))
    if found is None:
        raise UnknownProvider(f"unknown provider {name[:40]!r}; known: {', '.join(PROVIDER_NAMES)}")
    module, attribute = found
    factory: type[Connector] = getattr(import_module(module), attribute)
    return factory


def catalogue() -> tuple[ProviderInfo, ...]:
    """Every connector's catalogue entry (``GET /v1/providers``), by id."""
    return tuple(_factory(name).info for name in PROVIDER_NAMES)


def provider_info(name: str) -> ProviderInfo:
    """The catalogue entry of ``name`` (or one of its other spellings)."""
    return _factory(name).info


def display_name(name: str) -> str:
    """The HR system's name as admins know it (the catalogue's, e.g. "BambooHR"); the id itself
    when the catalogue no longer lists it (a connection made with a retired connector)."""
    try:
        return provider_info(name).name
    except UnknownProvider:
        return name


def get_provider(name: str, **options: Any) -> Provider:
    """A fresh connector for ``name``; ``options`` go to its constructor (runtime, policy ...)."""
    provider = _factory(name)(**options)
    if not isinstance(provider, Provider):  # pragma: no cover - a connector missing a method
        raise TypeError(f"{name} does not implement the Provider protocol")
    return provider
