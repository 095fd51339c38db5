"""The admin portal's links, sessions and CSRF through the admin API's real handler (the in-memory
world): what an attacker would try (a reused or expired link, a forged cookie, a missing or wrong
CSRF token, a request from another site, another tenant's data) is refused."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from admin_api_client import TENANT_B, Answer, Client, build_event, invoke
from admin_api_scenarios import connected

from functions.admin_api import portal_web
from tests.support.world import World

COOKIE = portal_web.COOKIE


def portal_event(
    method: str,
    sub: str,
    *,
    query: dict[str, str] | None = None,
    cookie: str | None = None,
    csrf: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A request to ``/portal/{proxy+}`` as API Gateway passes it (no authorizer on /portal)."""
    extra = dict(headers or {})
    if cookie is not None:
        extra["Cookie"] = f"other=1; {COOKIE}={cookie}"
    if csrf is not None:
        extra["X-CSRF-Token"] = csrf
    event = build_event(method, f"/portal/{sub}", body=body, query=query, headers=extra)
    event["resource"] = "/portal/{proxy+}"
    event["pathParameters"] = {"proxy": sub}
    event["requestContext"]["resourcePath"] = "/portal/{proxy+}"
    return event


def portal(method: str, sub: str, **kwargs: Any) -> Answer:
    return invoke(portal_event(method, sub, **kwargs))


def new_link(client: Client, **body: Any) -> str:
    answer = client.post("/v1/portal/links", {"intent": "manage", **body})
    assert answer.status == 201, answer.text
    return str(parse_qs(urlsplit(answer.json["url"]).query)["token"][0])


def cookie_of(answer: Answer) -> str:
    found = re.search(rf"{re.escape(COOKIE)}=([^;]*)", answer.headers["set-cookie"])
    assert found is not None
    return found.group(1)


def opened(client: Client, **body: Any) -> tuple[str, str]:
    """(session cookie, CSRF token) of a freshly opened link."""
    answer = portal("GET", "open", query={"token": new_link(client, **body)})
    assert answer.status == 303, answer.text
    cookie = cookie_of(answer)
    session = portal("GET", "api/session", cookie=cookie)
    assert session.status == 200, session.text
    return cookie, session.json["csrf_token"]


# --- links -------------------------------------------------------------------------------------


def test_a_link_is_a_one_time_url_on_the_callers_origin(world: World, api: Client) -> None:
    answer = api.post("/v1/portal/links", {"intent": "connect", "return_url": "https://app.example/hr"})
    assert answer.status == 201, answer.text
    url = urlsplit(answer.json["url"])
    assert (url.scheme, url.path) == ("https", "/prod/portal/open")
    token = parse_qs(url.query)["token"][0]
    assert len(token) >= 43  # 256 bits
    assert answer.json["intent"] == "connect"
    (stored,) = world.portal.links.values()
    assert token not in repr(stored)  # only its digest is kept
    assert stored.expires_at - world.clock.now() == timedelta(minutes=5)


def test_only_an_admin_gets_a_link(world: World, viewer: Client) -> None:
    answer = viewer.post("/v1/portal/links", {"intent": "manage"})
    assert (answer.status, answer.error_code) == (403, "forbidden")


@pytest.mark.parametrize(
    "return_url",
    [
        "http://app.example/hr",  # plain http off loopback
        "javascript:alert(1)",
        "/relative/path",
        "//evil.example/",
        "https://user:pass@app.example/",
        "https://app.example/\nSet-Cookie: x",
        "ftp://app.example/",
    ],
)
def test_a_return_url_must_be_https_or_loopback_without_credentials(api: Client, return_url: str) -> None:
    answer = api.post("/v1/portal/links", {"intent": "manage", "return_url": return_url})
    assert answer.status == 422, answer.text
    assert answer.json["error"]["details"]["field"] == "return_url"


def test_a_loopback_return_url_may_be_http(api: Client) -> None:
    answer = api.post("/v1/portal/links", {"intent": "manage", "return_url": "http://127.0.0.1:3000/done"})
    assert answer.status == 201, answer.text


def test_opening_a_link_starts_a_strict_http_only_session_and_redirects_to_the_page(api: Client) -> None:
    answer = portal("GET", "open", query={"token": new_link(api, return_url="https://app.example/hr")})
    assert answer.status == 303
    assert answer.headers["location"] == "app"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("Path=/", "Secure", "HttpOnly", "SameSite=Strict", f"Max-Age={4 * 3600}"):
        assert attribute in cookie.split("; ")
    assert "Domain" not in cookie
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    session = portal("GET", "api/session", cookie=cookie_of(answer))
    assert session.json["tenant_id"] == api.tenant
    assert session.json["return_url"] == "https://app.example/hr"
    assert session.headers["cache-control"] == "no-store"


def test_a_reused_link_shows_a_page_that_says_so(api: Client) -> None:
    token = new_link(api)
    assert portal("GET", "open", query={"token": token}).status == 303
    again = portal("GET", "open", query={"token": token})
    assert again.status == 410
    assert again.headers["content-type"].startswith("text/html")
    assert "This link has already been used" in again.text
    assert "set-cookie" not in again.headers


def test_an_expired_link_shows_a_page_that_says_so(world: World, api: Client) -> None:
    token = new_link(api)
    world.clock.advance(timedelta(minutes=5, seconds=1))
    answer = portal("GET", "open", query={"token": token})
    assert answer.status == 410
    assert "This link has expired" in answer.text
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("query", [{}, {"token": "x"}, {"token": "A" * 43}, {"token": "<script>" * 6}])
def test_a_missing_or_made_up_token_opens_nothing(world: World, query: dict[str, str]) -> None:
    answer = portal("GET", "open", query=query)
    assert answer.status == 410
    assert "<script>" not in answer.text
    assert not world.portal.sessions


# --- sessions ----------------------------------------------------------------------------------


def test_the_session_calls_the_admin_api_as_its_tenants_admin(world: World, api: Client) -> None:
    tenant = connected(world, api, "ann", "bob")
    cookie, _csrf = opened(api)
    answer = portal("GET", "api/v1/connections", cookie=cookie)
    assert answer.status == 200, answer.text
    assert [c["id"] for c in answer.json["items"]] == [tenant.connection_id]
    assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


@pytest.mark.parametrize("cookie", [None, "", "forged" * 8, "A" * 43])
def test_no_or_a_forged_cookie_is_401(world: World, api: Client, cookie: str | None) -> None:
    opened(api)
    answer = portal("GET", "api/v1/connections", cookie=cookie)
    assert (answer.status, answer.error_code) == (401, "portal_session_invalid")


def test_an_authorizer_context_sent_to_the_portal_is_ignored(world: World, api: Client) -> None:
    event = portal_event("GET", "api/v1/connections")
    event["requestContext"]["authorizer"] = api.authorizer  # what an attacker cannot set in AWS anyway
    answer = invoke(event)
    assert (answer.status, answer.error_code) == (401, "portal_session_invalid")


def test_a_session_expires_after_hours(world: World, api: Client) -> None:
    cookie, _ = opened(api)
    world.clock.advance(timedelta(hours=4))
    answer = portal("GET", "api/v1/connections", cookie=cookie)
    assert (answer.status, answer.error_code) == (401, "portal_session_invalid")


def test_a_session_sees_only_its_own_tenant(world: World, api: Client) -> None:
    other = connected(world, Client(tenant=TENANT_B, sub="admin-b"), "zed")
    theirs = other.member_id(world, "zed")
    before = world.members.get(TENANT_B, theirs)
    cookie, csrf = opened(api)
    assert portal("GET", "api/v1/connections", cookie=cookie).json["items"] == []
    assert portal("GET", f"api/v1/members/{theirs}", cookie=cookie).status == 404
    answer = portal("POST", f"api/v1/members/{theirs}/deactivate", cookie=cookie, csrf=csrf, body={})
    assert answer.status == 404
    assert world.members.get(TENANT_B, theirs) == before


def test_a_session_cannot_mint_links(world: World, api: Client) -> None:
    cookie, csrf = opened(api)
    answer = portal("POST", "api/v1/portal/links", cookie=cookie, csrf=csrf, body={"intent": "manage"})
    assert answer.status == 404
    assert len(world.portal.links) == 0


# --- CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize("csrf", [None, "", "wrong", "A" * 43])
def test_a_state_changing_call_without_the_sessions_csrf_token_is_403(
    world: World, api: Client, csrf: str | None
) -> None:
    connected(world, api, "ann")
    cookie, _ = opened(api)
    answer = portal("POST", "api/v1/invites/send", cookie=cookie, csrf=csrf, body={"all": True})
    assert (answer.status, answer.error_code) == (403, "csrf_rejected")


def test_another_sessions_csrf_token_is_refused(world: World, api: Client) -> None:
    cookie, _ = opened(api)
    _, other_csrf = opened(api)
    answer = portal("POST", "api/v1/invites/send", cookie=cookie, csrf=other_csrf, body={"all": True})
    assert (answer.status, answer.error_code) == (403, "csrf_rejected")


def test_a_request_from_another_site_is_refused_even_with_the_token(world: World, api: Client) -> None:
    cookie, csrf = opened(api)
    answer = portal(
        "POST",
        "api/v1/invites/send",
        cookie=cookie,
        csrf=csrf,
        body={"all": True},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert (answer.status, answer.error_code) == (403, "csrf_rejected")


def test_with_the_csrf_token_the_admin_acts_and_the_audit_names_the_portal(world: World, api: Client) -> None:
    tenant = connected(world, api, "ann", "bob", approval="admin")
    ann = tenant.member_id(world, "ann")
    cookie, csrf = opened(api)
    answer = portal(
        "POST",
        f"api/v1/members/{ann}/approve",
        cookie=cookie,
        csrf=csrf,
        body={},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert answer.status == 200, answer.text
    trail = portal("GET", "api/v1/audit", cookie=cookie, query={"member_id": ann}).json["items"]
    approvals = [entry for entry in trail if entry["action"] == "approve"]
    assert [entry["actor_id"] for entry in approvals] == ["portal:admin-a"]


def test_signing_out_ends_the_session(world: World, api: Client) -> None:
    cookie, csrf = opened(api)
    assert portal("POST", "api/logout", cookie=cookie).status == 403  # needs the token too
    answer = portal("POST", "api/logout", cookie=cookie, csrf=csrf)
    assert answer.status == 200
    assert "Max-Age=0" in answer.headers["set-cookie"]
    assert portal("GET", "api/session", cookie=cookie).status == 401


# --- the page ----------------------------------------------------------------------------------


def test_the_page_and_its_assets_come_with_a_strict_policy(tmp_path, monkeypatch, world: World) -> None:
    (tmp_path / "index.html").write_text(
        '<!doctype html><script type="module" src="assets/portal.js"></script>'
    )
    (tmp_path / "portal.js").write_text("console.log(1)")
    monkeypatch.setattr(portal_web, "ASSETS", tmp_path)
    portal_web.assets.cache_clear()
    try:
        page = portal("GET", "app")
        assert page.status == 200
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert page.headers["x-frame-options"] == "DENY"
        script = portal("GET", "assets/portal.js")
        assert (script.status, script.headers["content-type"]) == (200, "text/javascript; charset=utf-8")
        again = portal("GET", "assets/portal.js", headers={"If-None-Match": script.headers["etag"]})
        assert again.status == 304
        assert portal("GET", "assets/../handler.py").status == 404
        assert portal("POST", "app").status == 405
    finally:
        portal_web.assets.cache_clear()
