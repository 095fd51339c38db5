"""OAuth2 for the fakes: authorization codes (with PKCE when the vendor demands it), access tokens
that expire, refresh tokens that rotate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass


class OAuthError(Exception):
    """An OAuth request the authorization server refuses (RFC 6749 error codes)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str | None
    expires: float


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def as_json(self, scope: str = "") -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": scope,
        }


def s256(verifier: str) -> str:
    """The PKCE S256 challenge for a verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthServer:
    """One client's authorization server state. ``pkce`` makes S256 mandatory."""

    def __init__(
        self, client_id: str, client_secret: str, *, access_ttl: int, pkce: bool, prefix: str
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_ttl = access_ttl
        self.pkce = pkce
        self._prefix = prefix
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()
        # Refresh grants answered and refused (a reused or unknown refresh token), for tests.
        self.refreshes = 0
        self.refused_refreshes = 0
        # The consenting admin declines (the authorize endpoint redirects with access_denied).
        self.deny_consent = False

    def _check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if not (
            client_id
            and client_secret
            and hmac.compare_digest(client_id, self.client_id)
            and hmac.compare_digest(client_secret, self.client_secret)
        ):
            raise OAuthError("invalid_client", "Client authentication failed")

    def check_authorization_request(self, client_id: str | None, redirect_uri: str | None) -> None:
        """What must hold before anything is redirected: a known client and a redirect URI."""
        if client_id != self.client_id:
            raise OAuthError("unauthorized_client", "Unknown client_id")
        if not redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri is required")

    def authorize(
        self,
        client_id: str | None,
        redirect_uri: str | None,
        code_challenge: str | None,
        code_challenge_method: str | None,
    ) -> str:
        self.check_authorization_request(client_id, redirect_uri)
        assert client_id is not None and redirect_uri is not None  # noqa: S101 - checked
        if self.pkce and not code_challenge:
            raise OAuthError("invalid_request", "code_challenge is required (PKCE)")
        if code_challenge and (code_challenge_method or "plain") != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(client_id, redirect_uri, code_challenge, time.monotonic() + 600)
        return code

    def exchange_code(
        self,
        code: str | None,
        *,
        client_id: str | None,
        client_secret: str | None,
        redirect_uri: str | None,
        code_verifier: str | None,
    ) -> TokenPair:
        self._check_client(client_id, client_secret)
        with self._lock:
            grant = self._codes.pop(code or "", None)
        if grant is None or grant.expires < time.monotonic():
            raise OAuthError("invalid_grant", "The authorization code is invalid or expired")
        if redirect_uri != grant.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        if grant.challenge is not None:
            if not code_verifier:
                raise OAuthError("invalid_grant", "code_verifier is required")
            if not hmac.compare_digest(s256(code_verifier), grant.challenge):
                raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        return self.issue()

    def refresh(
        self, refresh_token: str | None, *, client_id: str | None, client_secret: str | None
    ) -> TokenPair:
        self._check_client(client_id, client_secret)
        with self._lock:
            if not refresh_token or refresh_token not in self._refresh:
                self.refused_refreshes += 1
                raise OAuthError("invalid_grant", "The refresh token is invalid or was already used")
            self._refresh.discard(refresh_token)  # single use: a second exchange is refused
            self.refreshes += 1
        return self.issue()

    def client_credentials(self, client_id: str | None, client_secret: str | None) -> TokenPair:
        """The client credentials grant: an access token for the client itself."""
        self._check_client(client_id, client_secret)
        return self.issue()

    def issue(self) -> TokenPair:
        """A fresh access and refresh token (for tests that skip the browser step)."""
        pair = TokenPair(
            access_token=f"{self._prefix}-at-{secrets.token_urlsafe(24)}",
            refresh_token=f"{self._prefix}-rt-{secrets.token_urlsafe(24)}",
            expires_in=self.access_ttl,
        )
        with self._lock:
            self._access[pair.access_token] = time.monotonic() + self.access_ttl
            self._refresh.add(pair.refresh_token)
        return pair

    def valid(self, access_token: str) -> bool:
        with self._lock:
            expires = self._access.get(access_token)
        return expires is not None and expires > time.monotonic()

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired (to test refresh without waiting)."""
        with self._lock:
            for token in self._access:
                self._access[token] = 0.0


def bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
