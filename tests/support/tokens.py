"""An OIDC issuer for tests: RSA and EC signing keys generated per session, their JWKS, and tokens.

``Issuer.fetcher()`` serves the discovery document and JWKS in process (no sockets), counting
requests; the integration test serves the same documents over loopback HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.auth.jwt_verify import KeysUnavailable

ISSUER = "https://login.example.com/tenant-a/v2.0"
AUDIENCE = "api://hris-sync"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/dev/GET/v1/members"


@cache
def rsa_key(name: str = "rsa-1") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_key(name: str = "ec-1") -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(kid: str) -> dict[str, Any]:
    if kid.startswith("rsa"):
        jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key(kid).public_key()))
        jwk["alg"] = "RS256"
    else:
        jwk = json.loads(ECAlgorithm.to_jwk(ec_key(kid).public_key()))
        jwk["alg"] = "ES256"
    return {**jwk, "kid": kid, "use": "sig"}


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "admin-7",
        "tenant_id": "tenant-acme",
        "iat": int(NOW.timestamp()) - 60,
        "nbf": int(NOW.timestamp()) - 60,
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
        "groups": ["admins", "people-ops"],
        "scope": "openid hris-sync/admin",
        "email": "admin-7@acme.test",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(kid: str = "rsa-1", *, header_kid: str | None = None, **overrides: Any) -> str:
    """A token signed with the key ``kid`` (``header_kid`` names another key in the header)."""
    key: Any = rsa_key(kid) if kid.startswith("rsa") else ec_key(kid)
    algorithm = "RS256" if kid.startswith("rsa") else "ES256"
    return jwt.encode(claims(**overrides), key, algorithm=algorithm, headers={"kid": header_kid or kid})


def event(bearer: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": f"Bearer {bearer}", "methodArn": METHOD_ARN}


@dataclass
class Issuer:
    """Discovery document and JWKS of one issuer; ``kids`` are the keys it publishes."""

    issuer: str = ISSUER
    kids: list[str] = field(default_factory=lambda: ["rsa-1", "ec-1"])
    jwks_uri: str = "https://login.example.com/tenant-a/discovery/v2.0/keys"
    requests: list[str] = field(default_factory=list)
    down: bool = False

    def documents(self) -> dict[str, Mapping[str, Any]]:
        return {
            self.issuer.rstrip("/") + "/.well-known/openid-configuration": {
                "issuer": self.issuer,
                "jwks_uri": self.jwks_uri,
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            },
            self.jwks_uri: {"keys": [public_jwk(kid) for kid in self.kids]},
        }

    def fetch_json(self, url: str) -> Mapping[str, Any]:
        self.requests.append(url)
        if self.down:
            raise KeysUnavailable(f"GET {url} failed (ConnectError)")
        found = self.documents().get(url)
        if found is None:
            raise KeysUnavailable(f"GET {url} answered 404")
        return found

    def jwks_requests(self) -> int:
        return self.requests.count(self.jwks_uri)
