"""The provider catalogue as this deployment offers it (``GET /v1/providers``)."""

from __future__ import annotations

from dataclasses import replace

from shared.errors import ProviderNotFound
from shared.providers.catalogue import ProviderInfo
from shared.providers.registry import UnknownProvider, catalogue, provider_info
from shared.services.context import WithSettings


def _offered(ports: WithSettings, info: ProviderInfo) -> ProviderInfo:
    # R28: the default schedule this deployment gives the provider's tier.
    return replace(info, default_schedule=ports.settings.schedule_for(info.tier))


def list_providers(ports: WithSettings) -> list[ProviderInfo]:
    """Every HR system a connection can be made with, by id."""
    return [_offered(ports, info) for info in catalogue()]


def get_provider_info(ports: WithSettings, provider_id: str) -> ProviderInfo:
    """One entry; ``ProviderNotFound`` (404) for a name no connector has."""
    try:
        return _offered(ports, provider_info(provider_id))
    except UnknownProvider:
        raise ProviderNotFound(provider_id) from None
