"""OAuth2: refresh before expiry, rotated refresh tokens handed back, PKCE (RFC 7636)."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from shared.providers.base import Credentials, ProviderAuthError, Secret
from shared.providers.http import HttpClient
from shared.providers.oauth import (
    OAuthToken,
    authorization_url,
    challenge_for,
    exchange_code,
    new_pkce,
    refresh,
    token_from,
    with_token,
)
from tests.unit.providers.provider_helpers import FAST_POLICY, START, FakeTime, json_response

TOKEN_URL = "https://auth.example.test/oauth2/token"


def credentials(expires_in: timedelta = timedelta(hours=1)) -> Credentials:
    return Credentials(
        secrets={
            "access_token": Secret("old-access"),
            "refresh_token": Secret("old-refresh"),
            "client_id": Secret("client"),
            "client_secret": Secret("client-secret"),
        },
        settings={"token_expires_at": (START + expires_in).isoformat()},
    )


def test_a_token_is_refreshed_before_it_expires_not_after() -> None:
    token = token_from(credentials(timedelta(seconds=90)))
    assert token is not None
    assert token.needs_refresh(START)  # within the 120 s skew
    assert not token.needs_refresh(START, skew=timedelta(seconds=30))
    fresh = token_from(credentials(timedelta(hours=1)))
    assert fresh is not None and not fresh.needs_refresh(START)


def test_only_a_refresh_token_means_refresh_first() -> None:
    token = token_from(Credentials(secrets={"refresh_token": Secret("r")}))
    assert token is not None and token.needs_refresh(START)
    assert token_from(Credentials()) is None


@respx.mock
def test_refresh_hands_back_the_rotated_refresh_token_and_the_new_expiry() -> None:
    route = respx.post(TOKEN_URL).mock(
        return_value=json_response(
            {"access_token": "new-access", "refresh_token": "new-refresh", "expires_in": 900}
        )
    )
    http = HttpClient(vendor="t", runtime=FakeTime().runtime(), policy=FAST_POLICY)
    old = token_from(credentials())
    assert old is not None

    token = refresh(http, TOKEN_URL, credentials(), old, START)
    stored = with_token(credentials(), token)

    form = parse_qs(route.calls.last.request.content.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["old-refresh"],
        "client_id": ["client"],
        "client_secret": ["client-secret"],
    }
    assert stored.secrets["access_token"] == Secret("new-access")
    assert stored.secrets["refresh_token"] == Secret("new-refresh")
    assert stored.settings["token_expires_at"] == (START + timedelta(seconds=900)).isoformat()
    assert stored.secrets["client_secret"] == Secret("client-secret")


@respx.mock
def test_a_refresh_without_rotation_keeps_the_old_refresh_token() -> None:
    respx.post(TOKEN_URL).mock(return_value=json_response({"access_token": "new-access"}))
    http = HttpClient(vendor="t", runtime=FakeTime().runtime(), policy=FAST_POLICY)
    old = OAuthToken(Secret("a"), Secret("keep-me"), START)

    token = refresh(http, TOKEN_URL, credentials(), old, START)

    assert token.refresh_token == Secret("keep-me")
    assert token.expires_at is None


@respx.mock
@pytest.mark.parametrize("status", [400, 401])
def test_a_refused_refresh_is_an_auth_error_without_secrets(status: int) -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(status, json={"error": "invalid_grant"}))
    http = HttpClient(vendor="t", runtime=FakeTime().runtime(), policy=FAST_POLICY)
    old = token_from(credentials())
    assert old is not None

    with pytest.raises(ProviderAuthError) as caught:
        refresh(http, TOKEN_URL, credentials(), old, START)
    assert "old-refresh" not in str(caught.value)
    assert "client-secret" not in str(caught.value)


def test_refresh_without_a_refresh_token_is_an_auth_error() -> None:
    http = HttpClient(vendor="t", runtime=FakeTime().runtime(), policy=FAST_POLICY)
    with pytest.raises(ProviderAuthError, match="no refresh token"):
        refresh(http, TOKEN_URL, credentials(), OAuthToken(Secret("a"), None, START), START)


def test_pkce_s256_matches_the_rfc_7636_example() -> None:
    # RFC 7636, appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge_for(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_new_pkce_pairs_are_random_valid_and_secret() -> None:
    first, second = new_pkce(), new_pkce()
    verifier = first.verifier.reveal()
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert first.challenge == digest
    assert first.verifier != second.verifier
    assert verifier not in repr(first)


def test_authorization_url_carries_the_challenge_never_the_verifier() -> None:
    pkce = new_pkce()
    url = authorization_url(
        "https://oauth.example.test/oauth2/authorize",
        client_id="client",
        redirect_uri="https://app.example.test/cb",
        state="st4te",
        pkce=pkce,
        scope="employees:read",
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == "/oauth2/authorize"
    assert query == {
        "response_type": ["code"],
        "client_id": ["client"],
        "redirect_uri": ["https://app.example.test/cb"],
        "state": ["st4te"],
        "code_challenge": [pkce.challenge],
        "code_challenge_method": ["S256"],
        "scope": ["employees:read"],
    }
    assert pkce.verifier.reveal() not in url


@respx.mock
def test_code_exchange_sends_the_verifier_and_returns_both_tokens() -> None:
    route = respx.post(TOKEN_URL).mock(
        return_value=json_response({"access_token": "a1", "refresh_token": "r1", "expires_in": 900})
    )
    http = HttpClient(vendor="t", runtime=FakeTime().runtime(), policy=FAST_POLICY)
    pkce = new_pkce()

    token = exchange_code(
        http,
        TOKEN_URL,
        client_id="client",
        client_secret=Secret("cs"),
        code="the-code",
        redirect_uri="https://app.example.test/cb",
        verifier=pkce.verifier,
        now=START,
    )

    form = parse_qs(route.calls.last.request.content.decode())
    assert form["grant_type"] == ["authorization_code"]
    assert form["code"] == ["the-code"]
    assert form["code_verifier"] == [pkce.verifier.reveal()]
    assert token.access_token == Secret("a1")
    assert token.refresh_token == Secret("r1")
    assert token.expires_at == START + timedelta(seconds=900)
