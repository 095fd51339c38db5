"""The admin API's token authorizer when the stack uses an OIDC issuer instead of Cognito.

API Gateway (REST, ``TOKEN`` authorizer) sends ``{"type": "TOKEN", "authorizationToken":
"Bearer <jwt>", "methodArn"}``. A JWT signed by the configured issuer (RS256/ES256, keys from its
JWKS), for the configured audience, unexpired, with ``sub`` and a tenant gets an Allow on the API's
``/v1/*`` and the context the admin API reads (``shared/auth``). Anything else raises
``Unauthorized``, whose message API Gateway turns into a 401. The token is never logged.

Importing this module reads no settings and makes no network call: the first invocation does.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from shared import observability
from shared.auth.jwt_verify import (
    HttpJsonFetcher,
    JwksCache,
    KeysUnavailable,
    TokenRejected,
    TokenVerifier,
)
from shared.auth.token_authorizer import authorize
from shared.observability import instrumented
from shared.settings import ApiAuthorizerSettings, load


class Unauthorized(Exception):
    """API Gateway answers 401 when a token authorizer fails with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@functools.lru_cache(maxsize=1)
def verifier() -> TokenVerifier:
    """The composition root: settings read and the issuer's key cache built on the first invocation."""
    settings = load(ApiAuthorizerSettings)
    keys = JwksCache(settings.oidc_issuer, HttpJsonFetcher(), ttl_seconds=settings.jwks_cache_seconds)
    return TokenVerifier(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        keys=keys,
        leeway_seconds=settings.token_leeway_seconds,
    )


@instrumented()
def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    log = observability.logger
    try:
        verified, policy = authorize(verifier(), event, datetime.now(UTC))
    except TokenRejected as rejected:
        log.info("token rejected", extra={"reason": rejected.reason})
        raise Unauthorized from None
    except KeysUnavailable as outage:
        log.error("token not verifiable: issuer keys unavailable", extra={"detail": outage.message})
        raise Unauthorized from None
    observability.bind(tenant_id=verified.tenant_id)
    log.info("token accepted", extra={"sub": verified.subject})
    return policy
