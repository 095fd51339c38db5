"""Local dev tokens: HS256 JWTs the local gateway verifies, as API Gateway's authorizer would.

A token names its tenant (``tenant_id``), its subject (``sub``) and its groups (``cognito:groups``,
``admins`` may change things; reads need only a tenant) plus a ``scope``. The gateway turns a valid
token into the authorizer claims the admin API reads; a missing, forged or expired token is a 401
before any handler runs, exactly as in the deployed stack. The signing key lives under ``.local/``
and never leaves the machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ISSUER = "hris-sync-local"
ADMIN_GROUP = "admins"
DEFAULT_TTL = timedelta(days=30)


class InvalidToken(ValueError):
    """The token is missing, malformed, forged or expired (HTTP 401)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class DevTokens:
    """Issues and verifies tokens with one HMAC key."""

    key: bytes

    @classmethod
    def from_dir(cls, folder: Path) -> DevTokens:
        """The key kept in ``folder`` (created on first use, readable by the owner only)."""
        path = folder / "dev-token.key"
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return cls(bytes.fromhex(path.read_text().strip()))

    def issue(
        self,
        tenant_id: str,
        now: datetime,
        *,
        subject: str = "local-admin",
        admin: bool = True,
        ttl: timedelta = DEFAULT_TTL,
        email: str | None = None,
    ) -> str:
        if not tenant_id:
            raise ValueError("a token needs a tenant")
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": subject,
            "tenant_id": tenant_id,
            "cognito:groups": [ADMIN_GROUP] if admin else [],
            "scope": "hris-sync/admin" if admin else "hris-sync/read",
            # A subject that is an address is its own email (a dev token for "ann@acme.example").
            "email": email or (subject if "@" in subject else f"{subject}@{tenant_id}.example"),
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self.key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"

    def verify(self, token: str, now: datetime) -> dict[str, Any]:
        """The token's claims; ``InvalidToken`` unless it is ours, intact and unexpired."""
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token")
        header, body, signature = parts
        expected = hmac.new(self.key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        try:
            given = _unb64(signature)
            head = json.loads(_unb64(header))
            claims: dict[str, Any] = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            raise InvalidToken("malformed token") from None
        if not hmac.compare_digest(expected, given) or head.get("alg") != "HS256":
            raise InvalidToken("bad signature")
        if claims.get("iss") != ISSUER or not claims.get("tenant_id") or not claims.get("sub"):
            raise InvalidToken("not a local token")
        if int(claims.get("exp", 0)) <= int(now.timestamp()):
            raise InvalidToken("token expired")
        return claims


def authorizer_context(claims: Mapping[str, Any]) -> dict[str, Any]:
    """What API Gateway puts in ``requestContext.authorizer`` for these claims.

    The deployed stack's default authorizer is a Cognito user pool: its claims arrive as strings
    under ``claims`` (``custom:tenant_id``; groups comma-joined). A token authorizer (own OIDC
    issuer) passes a flat context instead; both are given, so either reading works locally.
    """
    groups = ",".join(claims.get("cognito:groups") or [])
    flat = {
        "sub": str(claims["sub"]),
        "tenant_id": str(claims["tenant_id"]),
        "custom:tenant_id": str(claims["tenant_id"]),
        "cognito:groups": groups,
        "scope": str(claims.get("scope", "")),
        "email": str(claims.get("email", "")),
        "iss": str(claims.get("iss", "")),
        "exp": str(claims.get("exp", "")),
    }
    return {"claims": flat, "principalId": flat["sub"], **{k: v for k, v in flat.items() if ":" not in k}}
