"""The handler with an in-process issuer: a verified token is answered with the policy; any
refusal is API Gateway's exact ``Unauthorized`` (its 401 contract), and neither path logs the
token. (In-process, but the X-Ray SDK behind the Tracer opens a UDP socket: not a unit test.)"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from functions.api_authorizer import handler as module
from shared import bootstrap, observability
from shared.auth.jwt_verify import JwksCache, TokenVerifier
from tests.support.events import load_event
from tests.support.lambda_stack import LambdaContext
from tests.support.tokens import AUDIENCE, ISSUER, Issuer, event, token

# The handler reads the real clock: tokens here are valid around now.
NOW = datetime.now(UTC)


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Issuer]:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "hris-sync-test")
    fake = Issuer()
    verifier = TokenVerifier(
        issuer=ISSUER, audience=AUDIENCE, keys=JwksCache(ISSUER, fake), leeway_seconds=60
    )
    monkeypatch.setattr(module, "verifier", lambda: verifier)
    yield fake
    bootstrap.reset_all()


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Every line the function's logger writes, as Powertools formats it (plus caplog)."""
    caplog.set_level(logging.DEBUG)
    logger = observability.logger
    lines = io.StringIO()
    stream = logging.StreamHandler(lines)
    stream.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.addHandler(stream)
    logger.setLevel(logging.DEBUG)
    yield lines
    logger.removeHandler(stream)
    logger.setLevel(level)


def _current(kid: str = "rsa-1", **overrides: object) -> str:
    times = {
        "iat": int(NOW.timestamp()) - 10,
        "nbf": int(NOW.timestamp()) - 10,
        "exp": int((NOW + timedelta(minutes=30)).timestamp()),
    }
    return token(kid, **{**times, **overrides})


def test_a_valid_token_is_answered_with_the_allow_policy(
    issuer: Issuer, logged: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    bearer = _current()
    policy = module.handler(event(bearer), LambdaContext())

    assert policy["principalId"] == "admin-7"
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert policy["context"]["tenant_id"] == "tenant-acme"
    assert "token accepted" in logged.getvalue()
    for part in bearer.split("."):
        assert part not in logged.getvalue()
        assert part not in caplog.text


@pytest.mark.parametrize(
    ("kid", "overrides"),
    [
        ("rsa-1", {"exp": int((NOW - timedelta(hours=1)).timestamp())}),
        ("ec-1", {"aud": "api://other"}),
        ("rsa-1", {"tenant_id": None}),
        ("rsa-unpublished", {}),
        ("malformed", {}),
    ],
)
def test_any_refusal_is_exactly_unauthorized_and_never_logs_the_token(
    issuer: Issuer,
    logged: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    kid: str,
    overrides: dict[str, object],
) -> None:
    bearer = (
        "bm90LWEtandr.c29tZS1ib2R5.c2lnbmF0dXJlLXNhbXBsZQ"
        if kid == "malformed"
        else _current(kid, **overrides)
    )
    with pytest.raises(module.Unauthorized) as refused:
        module.handler(event(bearer), LambdaContext())

    assert str(refused.value) == "Unauthorized"
    assert refused.value.__cause__ is None
    assert "token rejected" in logged.getvalue()
    for part in bearer.split("."):
        assert part not in logged.getvalue()
        assert part not in caplog.text


def test_an_issuer_outage_is_unauthorized_and_logged_as_an_error(issuer: Issuer, logged: io.StringIO) -> None:
    issuer.down = True
    with pytest.raises(module.Unauthorized):
        module.handler(event(_current()), LambdaContext())
    assert "issuer keys unavailable" in logged.getvalue()


def test_the_sample_event_has_the_shape_api_gateway_sends(issuer: Issuer) -> None:
    sample = load_event("api_authorizer/token")
    assert set(sample) == {"type", "authorizationToken", "methodArn"}
    sample["authorizationToken"] = f"Bearer {_current()}"
    policy = module.handler(sample, LambdaContext())
    assert policy["policyDocument"]["Statement"][0]["Resource"].endswith("/dev/*/v1/*")
