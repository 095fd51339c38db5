"""OAuth2 for the connectors that use it: refresh before expiry, rotate refresh tokens, PKCE.

Tokens live in a connection's ``Credentials``: secrets ``access_token`` / ``refresh_token`` /
``client_id`` / ``client_secret`` and the setting ``token_expires_at`` (ISO-8601). After a
refresh the connector hands back new ``Credentials`` (``EmployeePage.refreshed_credentials``)
holding the new access token, the new refresh token when the server rotated it, and the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode

from shared.providers.base import Credentials, ProviderAuthError, ProviderResponseError, Secret
from shared.providers.http import HttpClient
from shared.providers.webhooks import parse_iso_datetime

# Refresh this long before the expiry the server announced.
DEFAULT_SKEW = timedelta(seconds=120)


@dataclass(frozen=True, slots=True)
class OAuthToken:
    access_token: Secret
    refresh_token: Secret | None
    expires_at: datetime | None

    def needs_refresh(self, now: datetime, skew: timedelta = DEFAULT_SKEW) -> bool:
        if not self.access_token.reveal():
            return True
        return self.expires_at is not None and now + skew >= self.expires_at


def token_from(credentials: Credentials) -> OAuthToken | None:
    access = credentials.secrets.get("access_token")
    refresh = credentials.secrets.get("refresh_token")
    expires_at = parse_iso_datetime(credentials.settings.get("token_expires_at"))
    if access is None:
        if refresh is None:
            return None
        # Only a refresh token: an empty access token, refreshed before first use.
        return OAuthToken(Secret(""), refresh, None)
    return OAuthToken(access, refresh, expires_at)


def with_token(credentials: Credentials, token: OAuthToken) -> Credentials:
    """The connection's credentials with ``token`` in place of the old one."""
    new_secrets = dict(credentials.secrets)
    new_secrets["access_token"] = token.access_token
    if token.refresh_token is not None:
        new_secrets["refresh_token"] = token.refresh_token
    new_settings = dict(credentials.settings)
    if token.expires_at is not None:
        new_settings["token_expires_at"] = token.expires_at.isoformat()
    else:
        new_settings.pop("token_expires_at", None)
    return Credentials(secrets=new_secrets, settings=new_settings)


# ---------------------------------------------------------------------------------------------
# Who refreshes: one caller at a time per connection, and everyone keeps the result
# ---------------------------------------------------------------------------------------------


class TokenKeeper(Protocol):
    """Where a connector's token refreshes go through.

    ``refresh`` is called with the credentials in hand, the access token found unusable (expired
    or refused; ``None`` when there was none) and ``exchange``, which asks the vendor for a new
    token with the credentials it is given and returns them with the new token. A keeper returns
    credentials holding a usable token: the services' keeper serializes refreshes of one
    connection (a lease), re-reads the stored credentials, reuses a token another caller already
    refreshed and saves what ``exchange`` returned, so a single-use refresh token is spent once.
    """

    def refresh(
        self, credentials: Credentials, stale: Secret | None, exchange: Callable[[Credentials], Credentials]
    ) -> Credentials: ...


class UnkeptTokens:
    """No coordination and nothing stored: exchange the credentials in hand (one caller alone)."""

    def refresh(
        self, credentials: Credentials, stale: Secret | None, exchange: Callable[[Credentials], Credentials]
    ) -> Credentials:
        return exchange(credentials)


@runtime_checkable
class KeepsTokens(Protocol):
    """A connector whose token refreshes go through a ``TokenKeeper``."""

    def keep_tokens_with(self, keeper: TokenKeeper) -> None: ...


def _secret(credentials: Credentials, name: str, vendor: str) -> Secret:
    value = credentials.secrets.get(name)
    if value is None or not value.reveal():
        raise ProviderAuthError(f"{vendor}: the connection has no {name}")
    return value


def _token_response(body: Any, previous_refresh: Secret | None, now: datetime, vendor: str) -> OAuthToken:
    if isinstance(body, dict) and body.get("ok") is False:
        # Slack answers a refused grant as HTTP 200 ``{"ok": false, "error": ...}``.
        raise ProviderAuthError(f"{vendor}: the authorization server refused the grant")
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise ProviderResponseError(f"{vendor}: token endpoint answered without an access_token")
    refresh = body.get("refresh_token")
    expires_in = body.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        expires_at = now + timedelta(seconds=float(expires_in))
    return OAuthToken(
        access_token=Secret(body["access_token"]),
        refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else previous_refresh,
        expires_at=expires_at,
    )


def _post_token(http: HttpClient, token_url: str, form: dict[str, str], vendor: str) -> Any:
    # A 400 from a token endpoint is OAuth's "invalid_grant" (revoked or reused refresh token).
    response = http.request("POST", token_url, form=form, ok_statuses=frozenset({400}), idempotent=False)
    if response.status_code == 400:
        raise ProviderAuthError(f"{vendor}: the authorization server refused the grant (HTTP 400)")
    try:
        return response.json()
    except ValueError as error:
        raise ProviderResponseError(f"{vendor}: token endpoint answered a body that is not JSON") from error


def refresh(
    http: HttpClient, token_url: str, credentials: Credentials, token: OAuthToken, now: datetime
) -> OAuthToken:
    """Exchange the refresh token for a new access (and possibly refresh) token."""
    vendor = http.vendor
    if token.refresh_token is None or not token.refresh_token.reveal():
        raise ProviderAuthError(f"{vendor}: the access token expired and there is no refresh token")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": token.refresh_token.reveal(),
        "client_id": _secret(credentials, "client_id", vendor).reveal(),
        "client_secret": _secret(credentials, "client_secret", vendor).reveal(),
    }
    body = _post_token(http, token_url, form, vendor)
    return _token_response(body, token.refresh_token, now, vendor)


# ---------------------------------------------------------------------------------------------
# Connecting: the authorization code grant, one path for every OAuth connector
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class OAuthConnector(Protocol):
    """A connector an admin connects by consenting at the vendor (authorization code grant).

    ``credentials`` hold the SaaS team's OAuth app for the vendor (secrets ``client_id`` and
    ``client_secret``, read from the deployment's configuration, never typed by the admin) and the
    non-secret settings the vendor needs before the redirect (``oauth_settings``, e.g. BambooHR's
    ``company_domain``). ``finish_authorization`` returns the connection's credentials: those,
    plus the tokens (what a refresh needs later).
    """

    name: str
    # The settings an admin may give before the redirect; never a host (hosts come from the app).
    oauth_settings: frozenset[str]

    def start_authorization(
        self, credentials: Credentials, *, redirect_uri: str, state: str, scope: str | None = None
    ) -> tuple[str, Pkce | None]:
        """The URL to send the admin to, and the PKCE pair to keep (None: the vendor has no PKCE)."""
        ...

    def finish_authorization(
        self, credentials: Credentials, *, code: str, redirect_uri: str, verifier: Secret | None
    ) -> Credentials:
        """Exchange the authorization code for the connection's credentials (raises
        ``ProviderAuthError`` when the vendor refuses the grant)."""
        ...


@runtime_checkable
class NamesTheConnection(Protocol):
    """An OAuth connector whose grant says what the connection reaches beyond the vendor (Finch:
    the employer's payroll system): the draft's label says it too, so admins see "Finch (Gusto)"."""

    def connection_label(self, label: str, credentials: Credentials) -> str:
        """The admin's ``label``, completed from the credentials the grant stored."""
        ...


# ---------------------------------------------------------------------------------------------
# PKCE (RFC 7636), S256 only
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: Secret
    challenge: str
    method: str = "S256"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def challenge_for(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_pkce() -> Pkce:
    # 64 random bytes -> an 86-character verifier (RFC 7636: 43..128 unreserved characters).
    verifier = _b64url(secrets.token_bytes(64))
    return Pkce(Secret(verifier), challenge_for(verifier))


def authorization_url(
    authorize_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    pkce: Pkce | None,
    scope: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The vendor's authorize URL; ``pkce`` None for a vendor without PKCE (state only)."""
    query = {**(extra or {}), "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri}
    query["state"] = state
    if pkce is not None:
        query["code_challenge"] = pkce.challenge
        query["code_challenge_method"] = pkce.method
    if scope:
        query["scope"] = scope
    separator = "&" if "?" in authorize_url else "?"
    return f"{authorize_url}{separator}{urlencode(query)}"


def exchange_code(
    http: HttpClient,
    token_url: str,
    *,
    client_id: str,
    client_secret: Secret,
    code: str,
    redirect_uri: str,
    verifier: Secret | None,
    now: datetime,
) -> OAuthToken:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret.reveal(),
    }
    if verifier is not None:
        form["code_verifier"] = verifier.reveal()
    return _token_response(_post_token(http, token_url, form, http.vendor), None, now, http.vendor)
