"""The token authorizer's verification: only the configured issuer's properly signed, current
tokens for our audience, naming a subject and a tenant, get an Allow; everything else is refused
(and the handler turns the refusal into API Gateway's 401)."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from functions.admin_api.identity import principal_from
from shared.auth.jwt_verify import JwksCache, KeysUnavailable, TokenRejected, TokenVerifier
from shared.auth.token_authorizer import authorize
from tests.support.tokens import (
    AUDIENCE,
    ISSUER,
    METHOD_ARN,
    NOW,
    Issuer,
    event,
    rsa_key,
    token,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(issuer: Issuer, clock: Clock) -> TokenVerifier:
    keys = JwksCache(ISSUER, issuer, ttl_seconds=600, refresh_cooldown_seconds=30, monotonic=clock)
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, keys=keys, leeway_seconds=60)


def _rejected(verifier: TokenVerifier, bearer: str) -> str:
    with pytest.raises(TokenRejected) as refused:
        authorize(verifier, event(bearer), NOW)
    return refused.value.reason


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_a_valid_token_gets_an_allow_on_the_whole_v1_api_with_the_admin_api_context(
    verifier: TokenVerifier, kid: str
) -> None:
    verified, policy = authorize(verifier, event(token(kid)), NOW)

    assert verified.tenant_id == "tenant-acme"
    assert policy["principalId"] == "admin-7"
    (statement,) = policy["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/dev/*/v1/*",
    }
    assert policy["context"] == {
        "tenant_id": "tenant-acme",
        "sub": "admin-7",
        "groups": "admins,people-ops",
        "scope": "openid hris-sync/admin",
        "email": "admin-7@acme.test",
    }
    assert all(isinstance(v, str) for v in policy["context"].values())


def test_the_context_reads_back_as_the_same_principal_in_the_admin_api(verifier: TokenVerifier) -> None:
    """API Gateway puts the context flat under ``requestContext.authorizer`` (plus principalId)."""
    _, admin = authorize(verifier, event(token(groups=None, scope=None, role="admin")), NOW)
    _, reader = authorize(verifier, event(token(groups=None, scope="openid")), NOW)
    _, cognito_style = authorize(
        verifier, event(token(tenant_id=None, **{"custom:tenant_id": "tenant-b"}, groups=None)), NOW
    )

    def principal(policy: dict[str, Any]) -> Any:
        return principal_from({"authorizer": {**policy["context"], "principalId": policy["principalId"]}})

    assert (principal(admin).tenant_id, principal(admin).subject, principal(admin).is_admin) == (
        "tenant-acme",
        "admin-7",
        True,
    )
    assert principal(reader).is_admin is False
    assert principal(cognito_style).tenant_id == "tenant-b"
    assert principal(admin).email == "admin-7@acme.test"


@pytest.mark.parametrize(
    ("claims", "email"),
    [
        ({"email": "Ada@Acme.test"}, "Ada@Acme.test"),
        ({"email": "ada@acme.test", "email_verified": True}, "ada@acme.test"),
        ({"email": "ada@acme.test", "email_verified": False}, None),
        ({"email": "not an address"}, None),
        ({"email": "a" * 250 + "@x.io"}, None),
        ({"email": ["ada@acme.test"]}, None),
        ({"email": None}, None),
    ],
)
def test_r32_the_connecting_admins_email_is_the_tokens_verified_email_claim(
    verifier: TokenVerifier, claims: dict[str, Any], email: str | None
) -> None:
    _, policy = authorize(verifier, event(token(**claims)), NOW)
    context = {**policy["context"], "principalId": policy["principalId"]}
    assert principal_from({"authorizer": context}).email == email
    # A Cognito user pool authorizer passes the ID token's claims as strings.
    cognito = {
        "sub": "u1",
        "custom:tenant_id": "t1",
        **{k: str(v).lower() if isinstance(v, bool) else v for k, v in claims.items()},
    }
    assert principal_from({"authorizer": {"claims": cognito}}).email == email


def test_a_token_with_an_issuer_trailing_slash_difference_is_the_same_issuer(issuer: Issuer) -> None:
    keys = JwksCache(ISSUER + "/", issuer)
    verifier = TokenVerifier(issuer=ISSUER + "/", audience=AUDIENCE, keys=keys)
    verified, _ = authorize(verifier, event(token()), NOW)
    assert verified.subject == "admin-7"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int((NOW - timedelta(minutes=5)).timestamp())}, "expired"),
        ({"exp": None}, "missing_exp"),
        ({"nbf": int((NOW + timedelta(minutes=5)).timestamp())}, "not_yet_valid"),
        ({"iat": int((NOW + timedelta(minutes=5)).timestamp())}, "issued_in_the_future"),
        ({"iss": "https://evil.example.com/"}, "wrong_issuer"),
        ({"aud": "api://someone-else"}, "wrong_audience"),
        ({"aud": None}, "missing_aud"),
        ({"tenant_id": None}, "missing_tenant"),
        ({"tenant_id": "has spaces and ;"}, "missing_tenant"),
        ({"sub": None}, "missing_sub"),
        ({"exp": "tomorrow"}, "bad_exp"),
    ],
)
def test_tokens_with_bad_claims_are_unauthorized(
    verifier: TokenVerifier, overrides: dict[str, Any], reason: str
) -> None:
    assert _rejected(verifier, token(**overrides)) == reason


def test_the_leeway_tolerates_small_clock_skew(verifier: TokenVerifier) -> None:
    just_expired = int((NOW - timedelta(seconds=30)).timestamp())
    verified, _ = authorize(verifier, event(token(exp=just_expired)), NOW)
    assert verified.subject == "admin-7"


def test_a_token_signed_by_another_key_is_unauthorized(verifier: TokenVerifier) -> None:
    forged = token("rsa-forger", header_kid="rsa-1")
    assert _rejected(verifier, forged) == "bad_signature"


def test_a_tampered_payload_is_unauthorized(verifier: TokenVerifier) -> None:
    header, _, signature = token().split(".")
    payload = _b64({"iss": ISSUER, "aud": AUDIENCE, "sub": "root", "tenant_id": "tenant-other", "exp": 2**40})
    assert _rejected(verifier, f"{header}.{payload}.{signature}") == "bad_signature"


def test_an_unknown_kid_refreshes_the_keys_once_then_is_unauthorized(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    authorize(verifier, event(token()), NOW)
    assert issuer.jwks_requests() == 1
    clock.t += 120  # past the refresh cool-down, well within the TTL

    assert _rejected(verifier, token("rsa-unpublished")) == "unknown_kid"
    assert issuer.jwks_requests() == 2
    # A burst of unknown kids right after does not hammer the issuer.
    assert _rejected(verifier, token("rsa-unpublished-2")) == "unknown_kid"
    assert issuer.jwks_requests() == 2


def test_a_rotated_key_is_picked_up_by_the_refresh(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    authorize(verifier, event(token()), NOW)
    issuer.kids.append("rsa-2")
    clock.t += 120

    verified, _ = authorize(verifier, event(token("rsa-2")), NOW)
    assert verified.subject == "admin-7"
    assert issuer.jwks_requests() == 2


def test_keys_are_cached_for_the_ttl_then_fetched_again(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    for _ in range(3):
        authorize(verifier, event(token()), NOW)
    assert issuer.jwks_requests() == 1
    assert len(issuer.requests) == 2  # discovery once, JWKS once
    clock.t += 601
    authorize(verifier, event(token()), NOW)
    assert issuer.jwks_requests() == 2
    assert len(issuer.requests) == 3  # the jwks_uri stays discovered


def test_an_issuer_outage_after_the_ttl_keeps_the_known_keys(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    authorize(verifier, event(token()), NOW)
    issuer.down = True
    clock.t += 601
    verified, _ = authorize(verifier, event(token()), NOW)
    assert verified.subject == "admin-7"


def test_an_issuer_outage_on_a_cold_start_is_keys_unavailable(
    verifier: TokenVerifier, issuer: Issuer
) -> None:
    issuer.down = True
    with pytest.raises(KeysUnavailable):
        authorize(verifier, event(token()), NOW)


def test_a_discovery_document_naming_another_issuer_is_refused(issuer: Issuer) -> None:
    keys = JwksCache("https://login.example.com/other", issuer)
    issuer.issuer = "https://login.example.com/other"
    documents = issuer.documents()
    url = "https://login.example.com/other/.well-known/openid-configuration"
    issuer.documents = lambda: {**documents, url: {**documents[url], "issuer": ISSUER}}  # type: ignore[method-assign]
    with pytest.raises(KeysUnavailable, match="another issuer"):
        keys.key("rsa-1")


def test_keys_are_never_fetched_over_plain_http_from_a_remote_host(issuer: Issuer) -> None:
    with pytest.raises(KeysUnavailable, match="https"):
        JwksCache("http://login.example.com/tenant-a/v2.0", issuer).key("rsa-1")
    assert issuer.requests == []


def test_alg_none_is_unauthorized(verifier: TokenVerifier) -> None:
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "admin-7", "tenant_id": "tenant-acme", "exp": 2**40},
        key=None,
        algorithm="none",
        headers={"kid": "rsa-1"},
    )
    assert _rejected(verifier, unsigned) == "algorithm_not_allowed"
    assert _rejected(verifier, unsigned + "c2ln") == "algorithm_not_allowed"


def test_hs256_signed_with_the_public_key_is_unauthorized(verifier: TokenVerifier) -> None:
    """The classic confusion: HMAC keyed with the RSA public key a verifier would hold."""
    public_pem = (
        rsa_key("rsa-1")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"})
    payload = _b64(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "admin-7", "tenant_id": "tenant-acme", "exp": 2**40}
    )
    import hashlib
    import hmac

    signature = (
        base64.urlsafe_b64encode(
            hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        )
        .rstrip(b"=")
        .decode()
    )
    assert _rejected(verifier, f"{header}.{payload}.{signature}") == "algorithm_not_allowed"


def test_an_algorithm_that_does_not_match_the_key_type_is_unauthorized(verifier: TokenVerifier) -> None:
    """An ES256 header naming the RSA key's kid never reaches a signature check with it."""
    mixed = token("ec-1", header_kid="rsa-1")
    assert _rejected(verifier, mixed) == "algorithm_key_mismatch"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Bearer a.b",
        "Bearer a.b.c",
        "Bearer one two",
    ],
)
def test_a_malformed_authorization_header_is_unauthorized(verifier: TokenVerifier, header: str) -> None:
    with pytest.raises(TokenRejected):
        authorize(verifier, {"type": "TOKEN", "authorizationToken": header, "methodArn": METHOD_ARN}, NOW)


@pytest.mark.parametrize(
    "bad_event",
    [
        {"type": "REQUEST", "methodArn": METHOD_ARN},
        {"type": "TOKEN", "methodArn": METHOD_ARN},
        {"type": "TOKEN", "authorizationToken": "Bearer x.y.z"},
        {"type": "TOKEN", "authorizationToken": "Bearer x.y.z", "methodArn": "arn:aws:s3:::bucket"},
    ],
)
def test_a_malformed_event_is_unauthorized(verifier: TokenVerifier, bad_event: dict[str, Any]) -> None:
    with pytest.raises(TokenRejected):
        authorize(verifier, bad_event, NOW)


def test_the_bearer_scheme_is_case_insensitive(verifier: TokenVerifier) -> None:
    bearer = {"type": "TOKEN", "authorizationToken": f"bearer {token()}", "methodArn": METHOD_ARN}
    verified, _ = authorize(verifier, bearer, NOW)
    assert verified.subject == "admin-7"


def test_a_rejection_never_carries_the_token(
    verifier: TokenVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expired = token(exp=int((NOW - timedelta(hours=2)).timestamp()))
    with pytest.raises(TokenRejected) as refused:
        authorize(verifier, event(expired), NOW)
    for part in expired.split("."):
        assert part not in str(refused.value)
        assert part not in repr(refused.value.details)
        assert part not in caplog.text
