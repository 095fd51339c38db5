"""The Google Workspace connector and fake against Google's Admin SDK Directory discovery document:
every request the connector sends (method, path, query parameters, body) and every answer the fake
gives (users, org units, groups, members, channels) fit the document's methods and schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from discovery import Discovery

from infra.local.client import fake_credentials
from infra.local.company import generate_company
from infra.local.fake_hris import FakeHRServer, fake_hris
from shared.providers.base import Credentials, Secret
from shared.providers.google import GoogleWorkspace
from shared.providers.http import HttpClient

TODAY = date(2026, 1, 15)


@pytest.fixture(scope="module")
def spec() -> Discovery:
    return Discovery("google-admin-directory-v1-discovery.json")


@pytest.fixture(scope="module")
def google() -> Iterator[FakeHRServer]:
    with fake_hris("google_workspace", employees=generate_company(240, 5, TODAY), rate_limit=None) as server:
        people = server.company.people()
        server.terminate(people[6].id)
        server.vendor.archive(people[8].id)  # type: ignore[attr-defined]
        yield server


def credentials(fake: FakeHRServer) -> Credentials:
    given = fake_credentials(fake)
    return Credentials({k: Secret(v) for k, v in given["secrets"].items()}, dict(given["settings"]))


def recorded(page_size: int = 100) -> tuple[GoogleWorkspace, list[tuple[httpx.Request, int, Any]]]:
    """A connector whose every exchange is kept: request, status and decoded answer."""
    seen: list[tuple[httpx.Request, int, Any]] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        body = json.loads(response.content) if response.content else None
        seen.append((response.request, response.status_code, body))

    client = httpx.Client(event_hooks={"response": [keep]})
    return GoogleWorkspace(
        http=HttpClient(vendor="google_workspace", client=client), page_size=page_size
    ), seen


def test_the_directory_reads_fit_the_discovery_document(spec: Discovery, google: FakeHRServer) -> None:
    connector, seen = recorded(page_size=50)
    creds = credentials(google)
    connector.check_credentials(creds)
    directory = connector.directory(creds)
    connector.get_employees(creds, [p.id for p in directory.people[:3]])
    checked = set()
    for request, status, body in seen:
        path = urlsplit(str(request.url)).path
        if path == "/token":
            continue
        assert status == 200, f"{request.method} {path} answered {status}"
        method = spec.check_request(request.method, path, parse_qs(urlsplit(str(request.url)).query))
        spec.check_response(request.method, path, body)
        checked.add(method.id)
    assert {
        "directory.users.list",
        "directory.users.get",
        "directory.orgunits.list",
        "directory.groups.list",
        "directory.members.list",
    } <= checked
    assert len([r for r, _, _ in seen if r.url.path.endswith("/users")]) >= 6  # 240 users in pages of 50


def test_watch_and_stop_fit_the_discovery_document(spec: Discovery, google: FakeHRServer) -> None:
    connector, seen = recorded()
    creds = credentials(google)
    subscription, stored = connector.subscribe(creds, "http://127.0.0.1:9/webhooks/c1")
    connector.unsubscribe(stored, connector.renew(stored, subscription))
    checked = []
    for request, status, body in seen:
        path = urlsplit(str(request.url)).path
        if path == "/token":
            continue
        assert status in (200, 204), f"{request.method} {path} answered {status}"
        sent = json.loads(request.content)
        method = spec.check_request(request.method, path, parse_qs(urlsplit(str(request.url)).query), sent)
        spec.check_response(request.method, path, body)
        checked.append(method.id)
    assert checked.count("directory.users.watch") == 8
    assert checked.count("admin.channels.stop") == 8
    assert google.vendor.channels == {}  # type: ignore[attr-defined]


def test_the_validator_refuses_what_the_document_does_not_allow(spec: Discovery) -> None:
    with pytest.raises(AssertionError, match="maxResults"):
        spec.check_request(
            "GET", "/admin/directory/v1/users", {"customer": ["my_customer"], "maxResults": ["501"]}
        )
    with pytest.raises(AssertionError, match="not declared"):
        spec.check_request("GET", "/admin/directory/v1/users", {"since": ["yesterday"]})
    with pytest.raises(AssertionError, match="is not one of"):
        spec.check_request("GET", "/admin/directory/v1/users", {"projection": ["everything"]})
    with pytest.raises(AssertionError, match="not in the schema"):
        spec.check_response("GET", "/admin/directory/v1/users", {"users": [{"id": "1", "salary": 10}]})
    with pytest.raises(AssertionError, match="expected a boolean"):
        spec.check_response("GET", "/admin/directory/v1/users/1", {"id": "1", "suspended": "yes"})
    with pytest.raises(AssertionError, match="no method"):
        spec.check_request("GET", "/admin/directory/v1/people", {})
