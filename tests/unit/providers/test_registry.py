"""The registry: provider names -> fresh connectors that implement the Provider protocol."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.domain.models import SYNCED_FIELDS
from shared.providers.base import Credentials, Provider, Tier
from shared.providers.catalogue import ProviderKind
from shared.providers.common import Connector
from shared.providers.registry import PROVIDER_NAMES, UnknownProvider, get_provider


def test_the_connectors_of_issues_4_and_14_are_registered() -> None:
    assert set(PROVIDER_NAMES) >= {
        "bamboohr",
        "personio",
        "hibob",
        "employment_hero",
        "merge",
        "finch",
        "microsoft365",
        "slack",
        "google_workspace",
    }


@pytest.mark.parametrize("name", PROVIDER_NAMES)
def test_r15_each_connector_is_a_provider_of_its_tier_declaring_real_employee_fields(name: str) -> None:
    provider = get_provider(name)
    assert isinstance(provider, Provider)
    assert provider.name == name
    # HR systems sync every 6 hours, directory connectors every 24 (R28).
    directory = provider.info.kind is ProviderKind.DIRECTORY
    assert provider.tier is (Tier.BASIC if directory else Tier.FULL)
    assert provider.capabilities
    assert provider.capabilities <= set(SYNCED_FIELDS)
    assert isinstance(provider, Connector)
    assert provider.capabilities_for(Credentials()) >= provider.capabilities


def test_each_call_builds_a_fresh_connector_with_its_own_http_client() -> None:
    first, second = get_provider("merge"), get_provider("merge")
    assert first is not second
    assert isinstance(first, Connector) and isinstance(second, Connector)
    assert first.http is not second.http


def test_aliases_and_unknown_names() -> None:
    assert get_provider("employmenthero").name == "employment_hero"
    with pytest.raises(UnknownProvider, match="unknown provider 'workday'"):
        get_provider("workday")


def test_only_employment_hero_and_adp_lack_webhooks() -> None:
    """ADP pushes nothing: its changes are pulled from its event notification queue."""
    assert {n for n in PROVIDER_NAMES if not get_provider(n).supports_webhooks} == {
        "employment_hero",
        "adp_workforce_now",
    }


def test_page_size_is_capped_at_the_vendor_maximum() -> None:
    provider = get_provider("personio", page_size=5000)
    assert isinstance(provider, Connector)
    assert provider.page_size == 100
    small = get_provider("bamboohr", page_size=10)
    assert isinstance(small, Connector)
    assert small.page_size == 10


def test_a_connector_closes_its_http_client_and_can_be_closed_twice() -> None:
    provider = get_provider("hibob")
    assert isinstance(provider, Connector)
    with provider as same:
        assert same is provider
        client = provider.http._client()
    assert client.is_closed
    assert provider.http.client is None
    provider.close()


def test_a_connector_module_is_imported_only_when_its_connector_is_asked_for() -> None:
    """A function serving one connection never pays, at its cold start, for the other connectors'
    imports (Google's JWT signing pulls in cryptography)."""
    probe = (
        "import sys\n"
        "from shared.providers import registry\n"
        "assert not [m for m in sys.modules if m in {'shared.providers.google', 'shared.providers.slack',"
        " 'shared.providers.microsoft', 'shared.providers.finch', 'jwt'}], 'imported at once'\n"
        "registry.get_provider('slack')\n"
        "assert 'shared.providers.slack' in sys.modules and 'shared.providers.google' not in sys.modules\n"
        "print(registry.provider_info('microsoft_365').id)\n"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "microsoft365"
