"""Credentials never show themselves."""

from __future__ import annotations

from shared.providers.base import Credentials, Secret


def test_secret_hides_its_value_everywhere() -> None:
    secret = Secret("hunter2-api-key")
    credentials = Credentials(secrets={"api_key": secret}, settings={"subdomain": "acme"})

    for text in (repr(secret), str(secret), repr(credentials), f"{credentials}"):
        assert "hunter2" not in text
    assert secret.reveal() == "hunter2-api-key"
    assert secret == Secret("hunter2-api-key")
