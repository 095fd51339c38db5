"""The token authorizer against a real issuer over HTTP (loopback): discovery, JWKS, verification
and the handler's composition from its environment, as in Lambda."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from functions.api_authorizer import handler as module
from shared import bootstrap, settings
from tests.support.lambda_stack import LambdaContext
from tests.support.tokens import AUDIENCE, Issuer, event, token


class _Documents(BaseHTTPRequestHandler):
    documents: ClassVar[dict[str, Any]] = {}
    served: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.served.append(self.path)
        body = self.documents.get(self.path)
        payload = json.dumps(body).encode() if body is not None else b"{}"
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def live_issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    issuer = Issuer(issuer=f"{base}/tenant-a/v2.0", jwks_uri=f"{base}/tenant-a/keys")
    _Documents.documents = {url.removeprefix(base): body for url, body in issuer.documents().items()}
    _Documents.served = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name, value in {
        "STAGE": "dev",
        "POWERTOOLS_SERVICE_NAME": "hris-sync-api_authorizer",
        "POWERTOOLS_METRICS_NAMESPACE": "hris-sync-test",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "OIDC_ISSUER": issuer.issuer,
        "OIDC_AUDIENCE": AUDIENCE,
    }.items():
        monkeypatch.setenv(name, value)
    settings.load.cache_clear()
    bootstrap.reset_all()
    module.verifier.cache_clear()  # this issuer's verifier is built on the first invocation
    try:
        yield issuer.issuer
    finally:
        server.shutdown()
        server.server_close()
        settings.load.cache_clear()
        bootstrap.reset_all()
        module.verifier.cache_clear()


def _current(issuer: str, kid: str = "rsa-1") -> str:
    """A token of ``issuer`` signed with ``kid``, valid around the real clock (the handler's)."""
    now = int(datetime.now(UTC).timestamp())
    return token(kid, iss=issuer, iat=now - 5, nbf=now - 5, exp=now + 1800)


def test_a_token_of_the_live_issuer_is_allowed_with_keys_discovered_over_http(live_issuer: str) -> None:
    for kid in ("rsa-1", "ec-1"):
        policy = module.handler(event(_current(live_issuer, kid)), LambdaContext())
        assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        assert policy["context"]["tenant_id"] == "tenant-acme"
    # Discovery once, the JWKS once: the second token used the cached keys.
    assert _Documents.served == ["/tenant-a/v2.0/.well-known/openid-configuration", "/tenant-a/keys"]


def test_a_token_of_another_issuer_is_unauthorized(live_issuer: str) -> None:
    with pytest.raises(module.Unauthorized, match=r"^Unauthorized$"):
        module.handler(event(_current("https://login.example.com/tenant-a/v2.0")), LambdaContext())


def test_an_unknown_kid_is_unauthorized_after_one_look_at_the_jwks(live_issuer: str) -> None:
    module.handler(event(_current(live_issuer)), LambdaContext())
    with pytest.raises(module.Unauthorized):
        module.handler(event(_current(live_issuer, "rsa-unpublished")), LambdaContext())
    # Fetched just now: within the cool-down an unknown kid does not refetch.
    assert _Documents.served.count("/tenant-a/keys") == 1


def test_an_unreachable_issuer_is_unauthorized(live_issuer: str) -> None:
    _Documents.documents = {}
    with pytest.raises(module.Unauthorized):
        module.handler(event(_current(live_issuer)), LambdaContext())
