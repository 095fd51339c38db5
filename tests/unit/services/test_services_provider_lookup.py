"""The registry-backed provider lookup speaks our typed errors."""

from __future__ import annotations

import pytest

from shared.errors import ProviderNotFound
from shared.providers.base import Provider
from shared.providers.registry import PROVIDER_NAMES
from shared.services.provider_lookup import registry_lookup


def test_every_registered_provider_is_found() -> None:
    lookup = registry_lookup()
    for name in PROVIDER_NAMES:
        provider = lookup(name)
        assert isinstance(provider, Provider)
        assert provider.name == name


def test_an_unknown_provider_is_a_typed_not_found() -> None:
    with pytest.raises(ProviderNotFound) as caught:
        registry_lookup()("nohr")
    assert caught.value.resource_id == "nohr"
