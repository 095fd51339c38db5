"""The admin API's token authorizer when the stack uses an OIDC issuer instead of Cognito.

API Gateway (REST, ``TOKEN`` authorizer) sends ``{"type": "TOKEN", "authorizationToken":
"Bearer <jwt>", "methodArn"}``. A JWT signed by the configured issuer (RS256/ES256, keys from its
JWKS), for the configured audience, unexpired, with ``sub`` and a tenant gets an Allow on the API's
``/v1/*`` and the context the admin API reads (``shared/auth``). Anything else raises
``Unauthorized``, whose message API Gateway turns into a 401. The token is never logged.

Importing this module reads no environment and makes no network call: the first invocation does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.bootstrap import Lazy
from shared.observability import instrumented

if TYPE_CHECKING:
    from shared.auth.jwt_verify import TokenVerifier


class Unauthorized(Exception):
    """API Gateway answers 401 when a token authorizer fails with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def _build() -> TokenVerifier:
    from shared.auth.jwt_verify import HttpJsonFetcher, JwksCache, TokenVerifier  # noqa: PLC0415
    from shared.settings import ApiAuthorizerSettings, load  # noqa: PLC0415

    settings = load(ApiAuthorizerSettings)
    keys = JwksCache(settings.oidc_issuer, HttpJsonFetcher(), ttl_seconds=settings.jwks_cache_seconds)
    return TokenVerifier(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        keys=keys,
        leeway_seconds=settings.token_leeway_seconds,
    )


_verifier = Lazy(_build)


@instrumented()
def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    from shared import observability  # noqa: PLC0415
    from shared.auth.jwt_verify import KeysUnavailable, TokenRejected  # noqa: PLC0415
    from shared.auth.token_authorizer import authorize  # noqa: PLC0415

    log = observability.logger()
    try:
        verified, policy = authorize(_verifier.get(), event, datetime.now(UTC))
    except TokenRejected as rejected:
        log.info("token rejected", extra={"reason": rejected.reason})
        raise Unauthorized from None
    except KeysUnavailable as outage:
        log.error("token not verifiable: issuer keys unavailable", extra={"detail": outage.message})
        raise Unauthorized from None
    observability.bind(tenant_id=verified.tenant_id)
    log.info("token accepted", extra={"sub": verified.subject})
    return policy
