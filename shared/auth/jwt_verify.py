"""Verify an OIDC issuer's JWTs (RS256/ES256) against its published keys.

- The issuer's keys come from its JWKS, found through discovery
  (``<issuer>/.well-known/openid-configuration`` -> ``jwks_uri``), cached for a TTL and refetched
  once when a token names an unknown ``kid`` (key rotation), at most once per cool-down so random
  ``kid``s cannot turn the authorizer into a load generator against the issuer.
- The algorithm is taken from our allow-list and must agree with the key's type: a token header
  saying ``none`` or ``HS256`` (the "public key as HMAC secret" confusion) is refused before any
  signature check.
- Claims: ``iss`` equal to the configured issuer, ``aud`` containing the configured audience,
  ``exp`` required, ``nbf``/``iat`` honoured, all against a ``now`` passed in (with a small leeway);
  ``sub`` and a tenant (``tenant_id`` or ``custom:tenant_id``) required.

Every refusal is a ``TokenRejected`` whose ``reason`` is a short code for logs; nothing here ever
puts the token (or any part of it) in a message.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from shared.errors import HrisSyncError

ALGORITHMS: Mapping[str, tuple[str, str | None]] = {"RS256": ("RSA", None), "ES256": ("EC", "P-256")}
DISCOVERY_PATH = "/.well-known/openid-configuration"
DEFAULT_LEEWAY_SECONDS = 60
DEFAULT_JWKS_TTL_SECONDS = 600.0
DEFAULT_REFRESH_COOLDOWN_SECONDS = 30.0
TENANT_CLAIMS = ("tenant_id", "custom:tenant_id")
GROUP_CLAIMS = ("cognito:groups", "groups")
SCOPE_CLAIMS = ("scope", "scp")  # OAuth's space-separated scopes (Entra ID calls them ``scp``)
# Same shape as the admin API accepts (functions/admin_api/identity.py): opaque, printable, short.
_IDENTIFIER = re.compile(r"^[\w.:@|+=/-]{1,128}$")
_CONTEXT_VALUE_MAX = 1024


class TokenRejected(HrisSyncError):
    """The token is not acceptable; ``reason`` says why in a word (safe to log)."""

    code = "token_rejected"
    http_status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(f"token rejected: {reason}", reason=reason)
        self.reason = reason


class KeysUnavailable(HrisSyncError):
    """The issuer's discovery document or JWKS could not be fetched or is not valid."""

    code = "keys_unavailable"
    http_status = 503

    def __init__(self, what: str) -> None:
        super().__init__(f"the issuer's signing keys are unavailable: {what}", what=what)


class JsonFetcher(Protocol):
    """GET a URL and answer its JSON object (``KeysUnavailable`` on any failure)."""

    def fetch_json(self, url: str) -> Mapping[str, Any]: ...


class HttpJsonFetcher:
    """``JsonFetcher`` over httpx: short timeouts (the authorizer has seconds), no redirects."""

    def __init__(self, client: Any | None = None, *, timeout_seconds: float = 3.0) -> None:
        self._client = client
        self._timeout = timeout_seconds

    def _http(self) -> Any:
        if self._client is None:
            import httpx  # noqa: PLC0415 - lazy: only when keys are first needed

            self._client = httpx.Client(timeout=self._timeout, follow_redirects=False)
        return self._client

    def fetch_json(self, url: str) -> Mapping[str, Any]:
        import httpx  # noqa: PLC0415

        try:
            response = self._http().get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            raise KeysUnavailable(f"GET {url} failed ({type(error).__name__})") from None
        if response.status_code != 200:
            raise KeysUnavailable(f"GET {url} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise KeysUnavailable(f"GET {url} did not answer JSON") from None
        if not isinstance(body, dict):
            raise KeysUnavailable(f"GET {url} did not answer a JSON object")
        return body


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _require_secure(url: str, what: str) -> str:
    """Keys only over HTTPS (plain HTTP is accepted for a loopback issuer: local runs and tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
        return url
    raise KeysUnavailable(f"{what} must be an https URL")


def same_issuer(a: str, b: str) -> bool:
    """Issuers compare as strings, except for one trailing slash (``https://x`` is ``https://x/``)."""
    return a.rstrip("/") == b.rstrip("/")


class JwksCache:
    """The issuer's signing keys by ``kid``: discovered once, cached for ``ttl_seconds``, refetched
    once on an unknown ``kid`` (no more often than every ``refresh_cooldown_seconds``)."""

    def __init__(
        self,
        issuer: str,
        fetcher: JsonFetcher,
        *,
        ttl_seconds: float = DEFAULT_JWKS_TTL_SECONDS,
        refresh_cooldown_seconds: float = DEFAULT_REFRESH_COOLDOWN_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._fetcher = fetcher
        self._ttl = ttl_seconds
        self._cooldown = refresh_cooldown_seconds
        self._monotonic = monotonic
        self._jwks_uri: str | None = None
        self._keys: dict[str | None, Mapping[str, Any]] = {}
        self._fetched_at: float | None = None
        self._mutex = threading.Lock()

    def _discover(self) -> str:
        if self._jwks_uri is None:
            base = _require_secure(self._issuer, "the issuer")
            document = self._fetcher.fetch_json(base.rstrip("/") + DISCOVERY_PATH)
            issuer = document.get("issuer")
            if not isinstance(issuer, str) or not same_issuer(issuer, self._issuer):
                raise KeysUnavailable("the discovery document names another issuer")
            uri = document.get("jwks_uri")
            if not isinstance(uri, str) or not uri:
                raise KeysUnavailable("the discovery document has no jwks_uri")
            self._jwks_uri = _require_secure(uri, "jwks_uri")
        return self._jwks_uri

    def _refresh(self) -> None:
        document = self._fetcher.fetch_json(self._discover())
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise KeysUnavailable("the JWKS has no keys list")
        keys: dict[str | None, Mapping[str, Any]] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            kid = entry.get("kid")
            keys[kid if isinstance(kid, str) else None] = entry
        self._keys = keys
        self._fetched_at = self._monotonic()

    def _age(self) -> float | None:
        return None if self._fetched_at is None else self._monotonic() - self._fetched_at

    def key(self, kid: str | None) -> Mapping[str, Any]:
        """The JWK for ``kid`` (``None``: the issuer's only key), or ``TokenRejected("unknown_kid")``."""
        with self._mutex:
            age = self._age()
            if age is None:
                self._refresh()  # nothing cached yet: a failure here is a real outage
            elif age >= self._ttl:
                try:
                    self._refresh()
                except KeysUnavailable:
                    if not self._keys:
                        raise
                    self._fetched_at = self._monotonic() - self._ttl + self._cooldown  # retry soon
            found = self._find(kid)
            age = self._age()
            if found is None and age is not None and age >= self._cooldown:
                self._refresh()  # the issuer may have rotated its keys: look once more
                found = self._find(kid)
        if found is None:
            raise TokenRejected("unknown_kid")
        return found

    def _find(self, kid: str | None) -> Mapping[str, Any] | None:
        if kid is not None:
            return self._keys.get(kid)
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified token says about its bearer."""

    subject: str
    tenant_id: str
    claims: Mapping[str, Any]

    def context(self) -> dict[str, str]:
        """The authorizer ``context`` map the admin API reads (functions/admin_api/identity.py):
        ``tenant_id``, ``sub`` and, when the token has them, ``groups``/``scope``/``role``/
        ``email``/``email_verified`` as strings (API Gateway only passes strings, numbers and booleans)."""
        context = {"tenant_id": self.tenant_id, "sub": self.subject}
        groups = [g for name in GROUP_CLAIMS for g in _strings(self.claims.get(name))]
        if groups:
            context["groups"] = ",".join(dict.fromkeys(groups))
        scopes = [s for name in SCOPE_CLAIMS for s in _strings(self.claims.get(name))]
        if scopes:
            context["scope"] = " ".join(dict.fromkeys(scopes))
        role = self.claims.get("role")
        if isinstance(role, str) and role:
            context["role"] = role
        # The admin's address, for the emails of a connection they make (R32).
        email = self.claims.get("email")
        if isinstance(email, str) and email:
            context["email"] = email
            verified = self.claims.get("email_verified")
            if isinstance(verified, bool | str):
                context["email_verified"] = str(verified).lower()
        return {k: v for k, v in context.items() if len(v) <= _CONTEXT_VALUE_MAX}


def _strings(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [v for v in raw.split() if v]
    if isinstance(raw, list):
        return [v for v in raw if isinstance(v, str) and v and "," not in v]
    return []


def _identifier(claims: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and _IDENTIFIER.match(value):
            return value
    return None


def _timestamp(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected(f"bad_{name}")
    return float(value)


class TokenVerifier:
    """Verifies bearer tokens of one issuer for one audience."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: JwksCache,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._keys = keys
        self._leeway = leeway_seconds

    def verify(self, token: str, now: datetime) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError:
            raise TokenRejected("malformed") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise TokenRejected("algorithm_not_allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("malformed")
        jwk = self._keys.key(kid)
        key_type, curve = ALGORITHMS[algorithm]
        if jwk.get("kty") != key_type or (curve is not None and jwk.get("crv") != curve):
            raise TokenRejected("algorithm_key_mismatch")
        if jwk.get("alg") not in (None, algorithm):
            raise TokenRejected("algorithm_key_mismatch")
        try:
            public_key = jwt.PyJWK(dict(jwk), algorithm=algorithm).key
        except PyJWKError:
            raise TokenRejected("unusable_key") from None
        claims = self._decode(token, public_key, algorithm)
        self._check_times(claims, now)
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not same_issuer(issuer, self._issuer):
            raise TokenRejected("wrong_issuer")
        subject = _identifier(claims, ("sub",))
        if subject is None:
            raise TokenRejected("missing_sub")
        tenant_id = _identifier(claims, TENANT_CLAIMS)
        if tenant_id is None:
            raise TokenRejected("missing_tenant")
        return VerifiedToken(subject=subject, tenant_id=tenant_id, claims=claims)

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self._audience,
                # Times are checked against the ``now`` passed in (below); the issuer with one
                # trailing slash of tolerance.
                options={
                    "require": ["exp", "aud", "iss", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise TokenRejected("bad_signature") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("wrong_audience") from None
        except jwt.MissingRequiredClaimError as missing:
            raise TokenRejected(f"missing_{missing.claim}") from None
        except InvalidTokenError:
            raise TokenRejected("malformed") from None
        return claims

    def _check_times(self, claims: Mapping[str, Any], now: datetime) -> None:
        at = now.timestamp()
        expires = _timestamp(claims, "exp")
        if expires is None or at > expires + self._leeway:
            raise TokenRejected("expired")
        not_before = _timestamp(claims, "nbf")
        if not_before is not None and at < not_before - self._leeway:
            raise TokenRejected("not_yet_valid")
        issued = _timestamp(claims, "iat")
        if issued is not None and at < issued - self._leeway:
            raise TokenRejected("issued_in_the_future")
