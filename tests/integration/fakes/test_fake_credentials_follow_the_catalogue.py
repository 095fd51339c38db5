"""What the demo, the e2e tests, the benchmark and the Lambda tests connect the fakes with follows
each provider's catalogue entry (``GET /v1/providers``), and works against the fake."""

from __future__ import annotations

from datetime import date

import pytest

from infra.local.client import fake_credentials
from infra.local.company import generate_company
from infra.local.fake_hris import fake_hris
from shared.providers.base import Credentials, ProviderAuthError, Secret
from shared.providers.catalogue import credential_problems
from shared.providers.http import RetryPolicy
from shared.providers.registry import PROVIDER_NAMES, get_provider, provider_info


def _credentials(given: dict[str, dict[str, str]]) -> Credentials:
    return Credentials(
        secrets={k: Secret(v) for k, v in given["secrets"].items()}, settings=dict(given["settings"])
    )


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
def test_every_fakes_credentials_fit_its_entry_and_pass_the_check(provider: str) -> None:
    with fake_hris(provider, employees=generate_company(3, 1, date(2026, 1, 15)), rate_limit=None) as fake:
        credentials = _credentials(fake_credentials(fake, "whsec-test"))
        problems = credential_problems(provider_info(provider), credentials)
        assert not problems, problems.summary()
        with get_provider(provider, policy=RetryPolicy(max_attempts=1)) as connector:
            connector.check_credentials(credentials)


@pytest.mark.parametrize("provider", ["bamboohr", "personio", "hibob", "merge"])
def test_a_wrong_secret_is_refused_by_the_fake_with_its_own_words(provider: str) -> None:
    with fake_hris(provider, employees=generate_company(3, 1, date(2026, 1, 15)), rate_limit=None) as fake:
        given = fake_credentials(fake)
        wrong = "wrong-value-DO-NOT-ECHO"
        given["secrets"] = {name: wrong for name in given["secrets"]}
        with (
            get_provider(provider, policy=RetryPolicy(max_attempts=1)) as connector,
            pytest.raises(ProviderAuthError) as caught,
        ):
            connector.check_credentials(_credentials(given))
    assert caught.value.vendor_message, "the fake's reason is carried"
    assert wrong not in str(caught.value)
