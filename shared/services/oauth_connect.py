"""OAuth connect: the admin consents at the vendor, the callback creates the draft connection.

One path for every connector that implements ``shared.providers.oauth.OAuthConnector``:

1. ``start`` (an admin, authenticated): checks the return URL against the deployment's allow-list,
   reads the SaaS team's OAuth app for the provider (``OAuthApps``: deploy-time configuration, the
   admin types no client id or secret), makes a random state (256 bits) and asks the connector for
   the authorize URL (with PKCE where the vendor has it). The state's digest, the PKCE verifier,
   the tenant, the admin, the return URL and the callback URL are kept server-side for a few
   minutes (``OAuthStateStore``); the admin's browser is sent to the vendor.
2. ``finish`` (the public callback, no authorizer): takes the pending authorization by its state
   (single use: a replay finds nothing), exchanges the code (with the verifier), stores the tokens
   with the app's client id and secret (what a refresh needs) as the new connection's secret and
   creates the draft (``connections.create_draft(..., check=False)``: the exchange was the check).
   The answer is where to send the browser: the validated return URL with ``connection_id`` or
   ``error``; or, when no pending authorization vouches for a return URL, an error page.

Nothing of the code, the state, the verifier or the tokens reaches a log, an error or a page.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared import observability
from shared.errors import HrisSyncError, InvalidInput, ProviderNotFound
from shared.ports import PendingAuthorization
from shared.providers.base import Credentials, ProviderError
from shared.providers.oauth import NamesTheConnection, OAuthConnector
from shared.services import connections
from shared.services.context import (
    WithClock,
    WithOAuthApps,
    WithOAuthStates,
    WithProviders,
    WithSettings,
)

# 32 random bytes: 256 bits, URL-safe (43 characters).
STATE_BYTES = 32
MAX_STATE_LENGTH = 512
MAX_RETURN_URL_LENGTH = 2048
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
_SETTING_VALUE = re.compile(r"^[\w.:@+-]{1,200}$")
# Settings that name a host: only the deployment's OAuth app may set them (an admin's value would
# send the app's client secret, and the admin's consent, to a host of their choosing).
_HOST_SETTINGS = frozenset({"base_url", "oauth_base_url", "authorize_url", "token_url"})


class OAuthStartPorts(WithOAuthStates, WithOAuthApps, WithProviders, WithClock, WithSettings, Protocol):
    """An OAuth connect started: the app read, the pending authorization stored."""


class OAuthFinishPorts(WithOAuthStates, WithOAuthApps, connections.ConnectPorts, Protocol):
    """The vendor's callback: the pending authorization taken, the code exchanged, the draft created."""


class CallbackError(StrEnum):
    """What the return URL's ``error`` says (never the vendor's own words)."""

    ACCESS_DENIED = "access_denied"  # the admin declined at the vendor
    AUTHORIZATION_FAILED = "authorization_failed"  # the vendor answered another error
    INVALID_REQUEST = "invalid_request"  # neither a code nor an error came back
    INVALID_STATE = "invalid_state"  # unknown or already used
    EXPIRED_STATE = "expired_state"
    EXCHANGE_FAILED = "exchange_failed"  # the vendor refused the code, or could not be reached
    CONNECT_FAILED = "connect_failed"  # the draft could not be created (limit reached ...)


@dataclass(frozen=True, slots=True)
class Started:
    authorize_url: str
    state_expires_at: datetime


@dataclass(frozen=True, slots=True)
class Finished:
    """Where the browser goes: ``redirect`` (a validated return URL) or, without one, an error
    page with ``error``."""

    redirect: str | None
    error: CallbackError | None = None
    connection_id: str | None = None


# ---------------------------------------------------------------------------------------------
# The return URL: only to the deployment's own admin UI origins
# ---------------------------------------------------------------------------------------------


def _origin_allowed(scheme: str, host: str, port: int | None, allowed: tuple[str, ...]) -> bool:
    default = {"https": 443, "http": 80}[scheme]
    candidates = {f"{scheme}://{host}:{port or default}"}
    for given in allowed:
        entry = given.strip().lower().rstrip("/")
        if entry.endswith(":*"):
            if f"{scheme}://{host}" == entry[:-2]:
                return True
            continue
        parsed = urlsplit(entry)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            continue
        try:
            entry_port = parsed.port or {"https": 443, "http": 80}[parsed.scheme]
        except ValueError:
            continue
        if f"{parsed.scheme}://{parsed.hostname}:{entry_port}" in candidates:
            return True
    return False


def validate_return_url(url: str, allowed_origins: tuple[str, ...]) -> str:
    """The return URL as given, when it is an absolute https URL (http only on loopback) of an
    allowed origin, without user info or fragment; else ``InvalidInput``."""

    def refuse(why: str) -> InvalidInput:
        return InvalidInput(f"return_url {why}", field="return_url")

    if not url or len(url) > MAX_RETURN_URL_LENGTH:
        raise refuse(f"must be 1 to {MAX_RETURN_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or c in "\\\x7f" for c in url) or not url.isascii():
        raise refuse("must be a plain ASCII URL (no spaces, control characters or backslashes)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refuse("is not a URL") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("https", "http") or not parts.netloc or not host:
        raise refuse("must be an absolute https URL")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise refuse("must not carry user info")
    if parts.fragment or url.endswith("#"):
        raise refuse("must not carry a fragment")
    if scheme == "http" and (f"[{host}]" if ":" in host else host) not in _LOOPBACK_HOSTS:
        raise refuse("must be https (http only for 127.0.0.1 or localhost)")
    if not _origin_allowed(scheme, host if ":" not in host else f"[{host}]", port, allowed_origins):
        raise refuse("is not on an origin this deployment allows (oauth_return_origins)")
    return url


def with_query(url: str, **values: str) -> str:
    """``url`` with ``values`` added to its query (replacing parameters of the same names)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in values]
    return urlunsplit(parts._replace(query=urlencode([*kept, *values.items()])))


# ---------------------------------------------------------------------------------------------
# Start
# ---------------------------------------------------------------------------------------------


def state_key(state: str) -> str:
    """What is stored for a state: its SHA-256 (hex). A table reader cannot replay a callback."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def oauth_connector(ports: WithProviders, provider: str) -> OAuthConnector:
    try:
        connector = ports.providers(provider)
    except ProviderNotFound as exc:
        raise InvalidInput(f"unknown provider {provider[:64]!r}", field="provider") from exc
    if not isinstance(connector, OAuthConnector):
        raise InvalidInput(f"{provider[:64]} is not connected with OAuth", field="provider")
    return connector


def _settings(connector: OAuthConnector, given: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(given) - connector.oauth_settings)
    if unknown:
        allowed = ", ".join(sorted(connector.oauth_settings)) or "none"
        raise InvalidInput(
            f"{connector.name} takes no setting(s) {', '.join(unknown)} before the redirect "
            f"(allowed: {allowed})",
            field=f"settings.{unknown[0]}",
        )
    for name, value in given.items():
        if not isinstance(value, str) or not _SETTING_VALUE.match(value):
            raise InvalidInput(f"settings.{name} is not a valid value", field=f"settings.{name}")
    return dict(given)


def start(
    ports: OAuthStartPorts,
    tenant_id: str,
    *,
    provider: str,
    label: str,
    return_url: str,
    redirect_uri: str,
    subject: str,
    email: str | None = None,
    settings: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Started:
    """The vendor's authorize URL for the admin; the pending authorization kept server-side."""
    connector = oauth_connector(ports, provider)
    validate_return_url(return_url, ports.settings.oauth_return_origins)
    given = _settings(connector, settings or {})
    # The draft's settings are checked now, not after the admin's trip to the vendor.
    connections.check_options(provider, label, options or {})
    app = ports.oauth_apps.get(provider)
    if app is None:
        raise InvalidInput(f"this deployment has no OAuth app for {provider}", field="provider")
    state = secrets.token_urlsafe(STATE_BYTES)
    credentials = _app_credentials(app, given)
    try:
        url, pkce = connector.start_authorization(credentials, redirect_uri=redirect_uri, state=state)
    except ProviderError as exc:
        # A setting the connector refuses (BambooHR: not a company subdomain ...).
        raise InvalidInput(str(exc), field="settings") from exc
    expires_at = ports.clock.now() + ports.settings.oauth_state_ttl
    ports.oauth_states.put(
        PendingAuthorization(
            key=state_key(state),
            tenant_id=tenant_id,
            provider=provider,
            label=label,
            subject=subject,
            email=email,
            return_url=return_url,
            redirect_uri=redirect_uri,
            verifier=pkce.verifier if pkce is not None else None,
            expires_at=expires_at,
            settings=given,
            options=dict(options or {}),
        )
    )
    observability.logger.info("oauth connect started", extra={"provider": provider})
    return Started(authorize_url=url, state_expires_at=expires_at)


def _app_credentials(app: Credentials, settings: Mapping[str, str]) -> Credentials:
    """The app's client id and secret and its settings (hosts included), then the admin's
    non-host settings."""
    return Credentials(
        secrets=dict(app.secrets),
        settings={**{k: v for k, v in settings.items() if k not in _HOST_SETTINGS}, **app.settings},
    )


# ---------------------------------------------------------------------------------------------
# Finish: the vendor's callback
# ---------------------------------------------------------------------------------------------


def finish(
    ports: OAuthFinishPorts,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
) -> Finished:
    """Consume the state, exchange the code, create the draft; where the browser goes next."""
    if not state or len(state) > MAX_STATE_LENGTH:
        return Finished(redirect=None, error=CallbackError.INVALID_STATE)
    pending = ports.oauth_states.take(state_key(state))
    if pending is None:
        return Finished(redirect=None, error=CallbackError.INVALID_STATE)
    try:
        # The allow-list may have changed since the start: the URL is checked again.
        return_url = validate_return_url(pending.return_url, ports.settings.oauth_return_origins)
    except InvalidInput:
        return Finished(redirect=None, error=CallbackError.INVALID_STATE)
    outcome = _complete(ports, pending, code=code, error=error)
    if isinstance(outcome, CallbackError):
        observability.logger.info(
            "oauth connect refused", extra={"provider": pending.provider, "reason": outcome.value}
        )
        return Finished(redirect=with_query(return_url, error=outcome.value), error=outcome)
    observability.logger.info(
        "oauth connect finished", extra={"provider": pending.provider, "connection_id": outcome}
    )
    return Finished(redirect=with_query(return_url, connection_id=outcome), connection_id=outcome)


def _refusal(
    ports: OAuthFinishPorts, pending: PendingAuthorization, *, code: str | None, error: str | None
) -> CallbackError | None:
    """Why the callback cannot go on before any exchange: expired, the vendor's error, no code."""
    if ports.clock.now() >= pending.expires_at:
        return CallbackError.EXPIRED_STATE
    if error:
        return CallbackError.ACCESS_DENIED if error == "access_denied" else CallbackError.AUTHORIZATION_FAILED
    if not code:
        return CallbackError.INVALID_REQUEST
    return None


def _exchange(ports: OAuthFinishPorts, pending: PendingAuthorization, code: str) -> Credentials | None:
    """The connection's credentials: the app's, the settings given, the tokens (None: refused)."""
    app = ports.oauth_apps.get(pending.provider)
    if app is None:
        return None
    connector = oauth_connector(ports, pending.provider)
    try:
        return connector.finish_authorization(
            _app_credentials(app, pending.settings),
            code=code,
            redirect_uri=pending.redirect_uri,
            verifier=pending.verifier,
        )
    except ProviderError as exc:
        observability.logger.warning(
            "oauth code exchange failed",
            extra={"provider": pending.provider, "error_type": type(exc).__name__},
        )
        return None


def _complete(
    ports: OAuthFinishPorts, pending: PendingAuthorization, *, code: str | None, error: str | None
) -> str | CallbackError:
    """The new draft's id, or why there is none."""
    refused = _refusal(ports, pending, code=code, error=error)
    if refused is not None:
        return refused
    credentials = _exchange(ports, pending, code or "")
    if credentials is None:
        return CallbackError.EXCHANGE_FAILED
    connector = oauth_connector(ports, pending.provider)
    label = pending.label
    if isinstance(connector, NamesTheConnection):
        label = connector.connection_label(pending.label, credentials)
    try:
        connection = connections.create_draft(
            ports,
            pending.tenant_id,
            provider=pending.provider,
            label=label,
            credentials=credentials,
            options=pending.options,
            connected_by=pending.subject,
            connected_by_email=pending.email,
            check=False,
        )
    except HrisSyncError as exc:
        observability.logger.warning(
            "oauth connect could not create the draft",
            extra={"provider": pending.provider, "error_code": exc.code},
        )
        return CallbackError.CONNECT_FAILED
    return connection.connection_id
