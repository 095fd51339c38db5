"""OAuth connect end to end over HTTP: the admin starts, the fake vendor's authorize endpoint acts as
the consenting admin (a 302 back to our callback), the callback creates the draft and sends the
browser to the return URL with its id; the draft's directory lists the vendor's people. For
Employment Hero (PKCE) and BambooHR (its company's own authorize page)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.local_stack import Tenant

RETURN_URL = "http://127.0.0.1:9/admin/connections/oauth-done?step=2"


def _consent(tenant: Tenant, provider: str, **body: Any) -> tuple[httpx.Response, str]:
    """Start, follow the vendor's authorize redirect to our callback; the callback's answer and
    the callback URL the vendor sent the browser to."""
    started = tenant.api.call(
        "POST",
        "/v1/connections/oauth/start",
        json={"provider": provider, "label": f"{provider} (OAuth)", "return_url": RETURN_URL, **body},
    )
    assert started["state_expires_at"]
    with httpx.Client(timeout=30) as browser:
        at_vendor = browser.get(started["authorize_url"])
        assert at_vendor.status_code == 302, at_vendor.text
        callback = at_vendor.headers["Location"]
        assert callback.startswith(f"{tenant.stack.url}/")
        return browser.get(callback), callback


def _back_at(answer: httpx.Response) -> dict[str, list[str]]:
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith("http://127.0.0.1:9/admin/connections/oauth-done?")
    query = parse_qs(urlsplit(location).query)
    assert query.pop("step") == ["2"]
    return query


def test_employment_hero_oauth_connect_creates_a_draft_whose_directory_lists_the_people(
    tenant: Tenant,
) -> None:
    fake = tenant.fake("employment_hero", employees=30)
    tenant.register_oauth_app(fake)
    answer, callback = _consent(tenant, "employment_hero", invites="later")
    query = _back_at(answer)
    [connection_id] = query["connection_id"]
    connection = tenant.api.call("GET", f"/v1/connections/{connection_id}")
    assert (connection["provider"], connection["status"]) == ("employment_hero", "draft")
    assert connection["invites"] == "later"
    directory = tenant.api.call("GET", f"/v1/connections/{connection_id}/directory", params={"limit": 200})
    assert directory["people_total"] == len(fake.company)
    # A draft: nothing imported, no run started.
    assert tenant.api.members() == []
    assert tenant.api.runs(connection_id) == []

    # The state was single use: the same callback again is an error page, and no redirect.
    with httpx.Client(timeout=30) as browser:
        replay = browser.get(callback)
    assert replay.status_code == 400
    assert "Location" not in replay.headers
    assert replay.headers["Content-Type"].startswith("text/html")
    assert "invalid_state" in replay.text
    assert "code=" not in replay.text
    assert len(tenant.api.connections()) == 1


def test_declined_consent_comes_back_with_access_denied_and_creates_nothing(tenant: Tenant) -> None:
    fake = tenant.fake("employment_hero", employees=5)
    tenant.register_oauth_app(fake)
    fake.vendor.oauth.deny_consent = True  # type: ignore[attr-defined]
    answer, _ = _consent(tenant, "employment_hero")
    assert _back_at(answer) == {"error": ["access_denied"]}
    assert tenant.api.connections() == []


def test_bamboohr_oauth_connect_goes_through_the_company_authorize_page(tenant: Tenant) -> None:
    fake = tenant.fake("bamboohr", employees=25)
    tenant.register_oauth_app(fake)
    answer, _ = _consent(tenant, "bamboohr", settings={"company_domain": fake.credentials["subdomain"]})
    [connection_id] = _back_at(answer)["connection_id"]
    connection = tenant.api.call("GET", f"/v1/connections/{connection_id}")
    assert (connection["provider"], connection["status"]) == ("bamboohr", "draft")
    directory = tenant.api.call("GET", f"/v1/connections/{connection_id}/directory", params={"limit": 200})
    assert directory["people_total"] > 0


def test_start_refuses_a_return_url_off_the_allow_list_and_a_provider_without_oauth(tenant: Tenant) -> None:
    for body, field in (
        ({"provider": "employment_hero", "return_url": "https://evil.example/done"}, "return_url"),
        ({"provider": "hibob", "return_url": RETURN_URL}, "provider"),
    ):
        answer = tenant.api.http.post("/v1/connections/oauth/start", json={"label": "x", **body})
        assert answer.status_code == 422, answer.text
        assert field in answer.text
