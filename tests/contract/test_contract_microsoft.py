"""Microsoft 365: the connector's requests and the fake's answers against Microsoft Graph's own
users spec (``vendor-specs/msgraph-users-subset-openapi.yaml``, OpenAPI 3.0), over real loopback
HTTP: the users list paged by ``@odata.nextLink``, users by id, delta, and the subscription's
create, renew and delete.

Aliased: the connector calls ``GET /users/delta`` (Graph accepts the short form); the spec names
the function ``/users/microsoft.graph.delta()``: the call is checked as that operation.

Graph's continuation tokens (``$skiptoken`` in an ``@odata.nextLink``, ``$deltatoken`` in a
``@odata.deltaLink``) are not parameters in the spec: the links are opaque URLs Graph hands out and
the connector follows as given; a followed link is checked without its token (``LINK_TOKENS``).

Not covered by the spec, so not checked against it (``NOT_IN_SPEC``, each with its reason):
- ``/groups`` and ``/groups/{id}/members/microsoft.graph.user`` (the directory's groups for scope,
  R33): the subset describes users and subscriptions only;
- ``/{tenant}/oauth2/v2.0/token`` (client credentials): Entra's identity platform, not Graph.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from vendor_openapi import OpenAPI, graph_errata, load_spec
from vendor_requests import Call

from infra.local.fake_hris import FakeHRServer, fake_hris
from infra.local.fake_hris.server import Exchange
from shared.providers.base import Credentials, Secret
from shared.providers.common import collect_all
from shared.providers.http import RetryPolicy, Runtime
from shared.providers.microsoft import Microsoft365

TODAY = datetime.now(UTC).date()
PREFIX = "/v1.0"
ALIASES = {f"{PREFIX}/users/delta": f"{PREFIX}/users/microsoft.graph.delta()"}
LINK_TOKENS = ("$skiptoken", "$deltatoken")
NOT_IN_SPEC = {
    "groups": "the directory's groups (R33): the subset describes users and subscriptions only",
    "oauth2": "Entra's token endpoint (client credentials): the identity platform, not Graph",
}


@pytest.fixture(scope="module")
def graph_spec() -> OpenAPI:
    return OpenAPI("msgraph-users-subset-openapi.yaml", prefix=PREFIX, errata=graph_errata)


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeHRServer]:
    with fake_hris("microsoft365", employees=40, seed=3, today=TODAY, rate_limit=None) as server:
        server.terminate(server.company.people()[3].id)
        yield server


class _Validation(BaseHTTPRequestHandler):
    """Our webhook endpoint's part of Graph's handshake: the validationToken echoed, text/plain."""

    def do_POST(self) -> None:
        token = parse_qs(urlsplit(self.path).query).get("validationToken", [""])[0]
        body = token.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webhook_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Validation)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/c1"
    finally:
        server.shutdown()


def credentials(fake: FakeHRServer) -> Credentials:
    values = fake.credentials
    return Credentials(
        secrets={"client_id": Secret(values["client_id"]), "client_secret": Secret(values["client_secret"])},
        settings={
            "tenant_id": values["tenant_id"],
            "base_url": fake.base_url,
            "oauth_base_url": fake.base_url,
        },
    )


def as_call(exchange: Exchange) -> Call:
    call = Call.heard(exchange)
    return call.replace(
        path=ALIASES.get(call.path, call.path),
        query=tuple((name, value) for name, value in call.query if name not in LINK_TOKENS),
    )


def _outside_the_spec(path: str) -> str | None:
    if path.startswith(f"{PREFIX}/groups"):
        return "groups"
    if "/oauth2/" in path:
        return "oauth2"
    return None


def test_the_spec_is_strict_where_it_matters(graph_spec: OpenAPI) -> None:
    raw = load_spec("msgraph-users-subset-openapi.yaml")
    assert raw["openapi"].startswith("3.0")
    assert "/users/microsoft.graph.delta()" in raw["paths"] and "/users/delta" not in raw["paths"]
    assert not any(p.startswith("/groups") for p in raw["paths"]), "groups are outside the subset"
    bad_top = Call.of("GET", f"{PREFIX}/users", {"$top": ["many"]}, {"Authorization": "Bearer x"})
    assert graph_spec.request_errors(bad_top), "$top is an integer"
    unknown = Call.of("GET", f"{PREFIX}/users", {"$nonsense": ["1"]}, {"Authorization": "Bearer x"})
    assert graph_spec.request_errors(unknown), "an undeclared query parameter is refused"
    no_body = Call.of("POST", f"{PREFIX}/subscriptions", {}, {"Authorization": "Bearer x"})
    assert graph_spec.request_errors(no_body), "a subscription needs its body"
    # The erratum is needed: as written, an entity's open base refuses every derived property.
    entity = raw["components"]["schemas"]["microsoft.graph.entity"]
    assert entity["additionalProperties"] == {"type": "object"}
    as_written = OpenAPI("msgraph-users-subset-openapi.yaml", prefix=PREFIX)
    user = as_written.component("microsoft.graph.user")
    assert as_written.errors(user, {"id": "1", "displayName": "Ada"}), "the quirk refuses a plain user"
    assert not graph_spec.errors(user, {"id": "1", "displayName": "Ada"})
    assert graph_spec.errors(user, {"id": "1", "accountEnabled": "yes"}), "types are still enforced"


def test_the_connectors_requests_match_the_spec(
    graph: FakeHRServer, graph_spec: OpenAPI, webhook_url: str
) -> None:
    connector = Microsoft365(
        runtime=Runtime(sleep=lambda _s: None), page_size=15, policy=RetryPolicy(max_attempts=1)
    )
    creds = credentials(graph)
    with graph.recording() as exchanges, connector:
        employees, _ = collect_all(connector, creds)
        connector.get_employees(creds, [employees[0].hris_id, employees[-1].hris_id])
        connector.users_delta(creds)
        connector.directory(creds)
        subscription, stored = connector.subscribe(creds, webhook_url)
        renewed = connector.renew(stored, subscription)
        connector.unsubscribe(stored, renewed)
    calls = [as_call(e) for e in exchanges]
    outside = {_outside_the_spec(c.path) for c in calls} - {None}
    assert outside == set(NOT_IN_SPEC), "every call outside the spec is listed with its reason"
    checked = [c for c in calls if _outside_the_spec(c.path) is None]
    templates = {(c.method, graph_spec.operation(c).template) for c in checked if graph_spec.operation(c)}
    assert templates >= {
        ("GET", "/users"),
        ("GET", "/users/{user-id}"),
        ("GET", "/users/microsoft.graph.delta()"),
        ("POST", "/subscriptions"),
        ("PATCH", "/subscriptions/{subscription-id}"),
        ("DELETE", "/subscriptions/{subscription-id}"),
    }
    assert sum(c.path == f"{PREFIX}/users" for c in checked) > 2, "several pages were read"
    assert any("$skiptoken" in e.request.query for e in exchanges), "next links were followed"
    for call in checked:
        graph_spec.assert_request_valid(call)
    assert all(e.status < 300 for e in exchanges)


def test_the_fakes_answers_match_the_spec(graph: FakeHRServer, graph_spec: OpenAPI, webhook_url: str) -> None:
    token = _app_token(graph)
    with httpx.Client(base_url=graph.base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        page = client.get(f"{PREFIX}/users", params={"$top": 10})
        graph_spec.validate("/users", "get", 200, page.json())
        first = page.json()["value"][0]["id"]
        graph_spec.validate("/users/{user-id}", "get", 200, client.get(f"{PREFIX}/users/{first}").json())
        delta = client.get(f"{PREFIX}/users/delta")
        graph_spec.validate("/users/microsoft.graph.delta()", "get", 200, delta.json())
        body = {
            "changeType": "updated,deleted",
            "notificationUrl": webhook_url,
            "lifecycleNotificationUrl": webhook_url,
            "resource": "users",
            "expirationDateTime": _graph_time(datetime.now(UTC) + timedelta(days=2)),
            "clientState": "s3cret",
        }
        too_far = client.post(
            f"{PREFIX}/subscriptions", json={**body, "expirationDateTime": "2099-01-01T00:00:00Z"}
        )
        assert too_far.status_code == 400
        graph_spec.validate("/subscriptions", "post", 400, too_far.json())
        made = client.post(f"{PREFIX}/subscriptions", json=body)
        assert made.status_code == 201, made.text
        graph_spec.validate("/subscriptions", "post", 201, made.json())
        path = f"{PREFIX}/subscriptions/{made.json()['id']}"
        renewed = client.patch(
            path, json={"expirationDateTime": _graph_time(datetime.now(UTC) + timedelta(days=1))}
        )
        graph_spec.validate("/subscriptions/{subscription-id}", "patch", 200, renewed.json())
        assert client.delete(path).status_code == 204
        missing = client.get(f"{PREFIX}/users/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404
        graph_spec.validate("/users/{user-id}", "get", 404, missing.json())


def _app_token(fake: FakeHRServer) -> str:
    values = fake.credentials
    answer = httpx.post(
        f"{fake.base_url}/{values['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": values["client_id"],
            "client_secret": values["client_secret"],
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _graph_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
