"""Local dev tokens: what the gateway accepts is exactly what it issued, for one tenant, unexpired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.local.tokens import DevTokens, InvalidToken, authorizer_context

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def test_issued_token_verifies_and_carries_its_tenant(tmp_path: Path) -> None:
    tokens = DevTokens.from_dir(tmp_path)
    claims = tokens.verify(tokens.issue("tenant-a", NOW, subject="ada"), NOW)
    assert claims["tenant_id"] == "tenant-a"
    assert claims["sub"] == "ada"
    assert claims["cognito:groups"] == ["admins"]
    assert (tmp_path / "dev-token.key").stat().st_mode & 0o777 == 0o600
    # The key is kept: a second instance verifies the first one's tokens.
    assert DevTokens.from_dir(tmp_path).verify(tokens.issue("tenant-a", NOW), NOW)["tenant_id"] == "tenant-a"


def test_tampered_foreign_and_expired_tokens_are_refused(tmp_path: Path) -> None:
    tokens = DevTokens.from_dir(tmp_path)
    token = tokens.issue("tenant-a", NOW, ttl=timedelta(minutes=5))
    header, _, signature = token.split(".")
    other = DevTokens(b"another key").issue("tenant-b", NOW)
    forged_body = other.split(".")[1]
    for bad in (f"{header}.{forged_body}.{signature}", other, "not-a-token", token + "x"):
        with pytest.raises(InvalidToken):
            tokens.verify(bad, NOW)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(token, NOW + timedelta(minutes=6))


def test_authorizer_context_has_cognito_claims_and_a_flat_form(tmp_path: Path) -> None:
    tokens = DevTokens.from_dir(tmp_path)
    context = authorizer_context(tokens.verify(tokens.issue("t1", NOW, subject="ada"), NOW))
    assert context["claims"]["custom:tenant_id"] == "t1"
    assert context["claims"]["cognito:groups"] == "admins"
    assert context["tenant_id"] == "t1"
    assert context["principalId"] == "ada"


def test_a_dev_tokens_email_claim_is_an_address_whatever_the_subject(tmp_path: Path) -> None:
    # The connecting admin's emails go to this claim (R32): a subject that is itself an address
    # must not become "ann@acme.example@tenant-a.example".
    tokens = DevTokens.from_dir(tmp_path)
    assert tokens.verify(tokens.issue("tenant-a", NOW, subject="ada"), NOW)["email"] == "ada@tenant-a.example"
    by_address = tokens.verify(tokens.issue("tenant-a", NOW, subject="ann@acme.example"), NOW)
    assert by_address["email"] == "ann@acme.example"
