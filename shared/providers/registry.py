"""Provider names -> connectors. Build one per sync (it owns that sync's HTTP client)."""

from __future__ import annotations

from typing import Any

from shared.providers.bamboohr import BambooHR
from shared.providers.base import Provider, ProviderError
from shared.providers.catalogue import ProviderInfo
from shared.providers.common import Connector
from shared.providers.employment_hero import EmploymentHero
from shared.providers.finch import Finch
from shared.providers.google import GoogleWorkspace
from shared.providers.hibob import HiBob
from shared.providers.merge import Merge
from shared.providers.microsoft import Microsoft365
from shared.providers.personio import Personio
from shared.providers.slack import Slack

_FACTORIES: dict[str, type[Connector]] = {
    BambooHR.name: BambooHR,
    Personio.name: Personio,
    HiBob.name: HiBob,
    EmploymentHero.name: EmploymentHero,
    Merge.name: Merge,
    Finch.name: Finch,
    Slack.name: Slack,
    Microsoft365.name: Microsoft365,
    GoogleWorkspace.name: GoogleWorkspace,
}
PROVIDER_NAMES: tuple[str, ...] = tuple(sorted(_FACTORIES))
# Other spellings people type; they build the same connector.
_ALIASES = {
    "employmenthero": EmploymentHero.name,
    "merge_hris": Merge.name,
    "microsoft_365": Microsoft365.name,
    "msgraph": Microsoft365.name,
}


class UnknownProvider(ProviderError):
    """No connector has this name."""


def canonical_name(name: str) -> str:
    """The connector's own name for ``name`` or one of its other spellings (``microsoft_365``)."""
    return _ALIASES.get(name, name)


def catalogue() -> tuple[ProviderInfo, ...]:
    """Every connector's catalogue entry (``GET /v1/providers``), by id."""
    return tuple(_FACTORIES[name].info for name in PROVIDER_NAMES)


def provider_info(name: str) -> ProviderInfo:
    """The catalogue entry of ``name`` (or one of its other spellings)."""
    factory = _FACTORIES.get(_ALIASES.get(name, name))
    if factory is None:
        raise UnknownProvider(f"unknown provider {name[:40]!r}; known: {', '.join(PROVIDER_NAMES)}")
    return factory.info


def display_name(name: str) -> str:
    """The HR system's name as admins know it (the catalogue's, e.g. "BambooHR"); the id itself
    when the catalogue no longer lists it (a connection made with a retired connector)."""
    try:
        return provider_info(name).name
    except UnknownProvider:
        return name


def get_provider(name: str, **options: Any) -> Provider:
    """A fresh connector for ``name``; ``options`` go to its constructor (runtime, policy ...)."""
    factory = _FACTORIES.get(_ALIASES.get(name, name))
    if factory is None:
        raise UnknownProvider(f"unknown provider {name[:40]!r}; known: {', '.join(PROVIDER_NAMES)}")
    provider = factory(**options)
    if not isinstance(provider, Provider):  # pragma: no cover - a connector missing a method
        raise TypeError(f"{name} does not implement the Provider protocol")
    return provider
