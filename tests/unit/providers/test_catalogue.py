"""The provider catalogue: each connector's entry (declared once, from its own attributes), the
check of a credentials body against it, and each connector's light credentials check (R32)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from shared.providers.bamboohr import BambooHR
from shared.providers.base import Credentials, ProviderAuthError, ProviderUnavailable, Secret, Tier
from shared.providers.catalogue import (
    AuthMethod,
    ProviderKind,
    credential_problems,
)
from shared.providers.common import Connector
from shared.providers.employment_hero import EmploymentHero
from shared.providers.hibob import HiBob
from shared.providers.merge import Merge
from shared.providers.oauth import OAuthConnector
from shared.providers.personio import Personio
from shared.providers.registry import PROVIDER_NAMES, catalogue, get_provider, provider_info
from shared.providers.slack import Slack
from tests.unit.providers.provider_helpers import FAST_POLICY, FakeTime, json_response, sent_json

CONNECTORS: list[type[Connector]] = [BambooHR, Personio, HiBob, EmploymentHero, Merge, Slack]
KEY = "sk-live-DO-NOT-ECHO-4f9a8b7c"


def build(cls: type[Connector]) -> Connector:
    return cls(runtime=FakeTime().runtime(), policy=FAST_POLICY)


def creds(secrets: dict[str, str], settings: dict[str, str] | None = None) -> Credentials:
    return Credentials(secrets={k: Secret(v) for k, v in secrets.items()}, settings=settings or {})


# --- the entries -------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CONNECTORS, ids=lambda c: c.name)
def test_each_entry_is_derived_from_its_connectors_own_attributes(cls: type[Connector]) -> None:
    info = cls.info
    provider = get_provider(cls.name)
    assert info.id == cls.name == provider.name
    assert info.tier is provider.tier and info.capabilities == provider.capabilities
    assert info.supports_webhooks is provider.supports_webhooks
    assert info.default_schedule == Tier(info.tier).default_schedule
    # R28: HR systems every 6 hours, directories every 24.
    expected = "rate(24 hours)" if info.kind is ProviderKind.DIRECTORY else "rate(6 hours)"
    assert info.default_schedule == expected
    names = [f.name for f in info.api_key_fields]
    assert len(names) == len(set(names))
    assert ("webhook_secret" in names) is (info.supports_webhooks and AuthMethod.API_KEY in info.methods)
    assert all(f.label and f.help for f in (*info.api_key_fields, *info.oauth_fields))
    assert "oauth_base_url" not in names, "a setting for the local fakes is not for admins"


def test_the_catalogue_lists_every_connector_with_its_kind_and_methods() -> None:
    entries = {info.id: info for info in catalogue()}
    assert tuple(entries) == PROVIDER_NAMES
    assert {i: (e.kind, e.methods) for i, e in entries.items()} == {
        "adp_workforce_now": (ProviderKind.HRIS, (AuthMethod.API_KEY,)),
        "bamboohr": (ProviderKind.HRIS, (AuthMethod.API_KEY, AuthMethod.OAUTH)),
        "employment_hero": (ProviderKind.HRIS, (AuthMethod.OAUTH,)),
        "finch": (ProviderKind.UNIFIED, (AuthMethod.OAUTH,)),
        "google_workspace": (ProviderKind.DIRECTORY, (AuthMethod.API_KEY,)),
        "hibob": (ProviderKind.HRIS, (AuthMethod.API_KEY,)),
        "merge": (ProviderKind.UNIFIED, (AuthMethod.API_KEY,)),
        "microsoft365": (ProviderKind.DIRECTORY, (AuthMethod.OAUTH,)),
        "personio": (ProviderKind.HRIS, (AuthMethod.API_KEY,)),
        "slack": (ProviderKind.DIRECTORY, (AuthMethod.OAUTH,)),
    }
    secrets = {i: {f.name for f in e.api_key_fields if f.secret and f.required} for i, e in entries.items()}
    assert secrets == {
        "adp_workforce_now": {"client_id", "client_secret", "client_certificate", "client_key"},
        "bamboohr": {"api_key"},
        "employment_hero": set(),
        "finch": set(),
        "google_workspace": {"service_account_key"},
        "hibob": {"service_user_id", "service_user_token"},
        "merge": {"api_key", "account_token"},
        "microsoft365": set(),
        "personio": {"client_id", "client_secret"},
        "slack": set(),
    }
    assert [f.name for f in entries["bamboohr"].oauth_fields] == ["company_domain"]
    assert provider_info("employmenthero") is entries["employment_hero"], "other spellings resolve"


# --- a credentials body against an entry -------------------------------------------------------


def test_every_missing_misplaced_and_unknown_field_is_named() -> None:
    body = creds({"company_domain": "acme", "colour": "blue"}, {"api_key": KEY, "base_url": "https://x.test"})
    problems = credential_problems(BambooHR.info, body)
    assert problems.method is AuthMethod.API_KEY
    assert problems.missing == ()
    assert [(m.name, m.given_in, m.belongs_in) for m in problems.misplaced] == [
        ("company_domain", "secrets", "settings"),
        ("api_key", "settings", "secrets"),
    ]
    assert problems.unknown == ("secrets.colour",)
    assert KEY not in problems.summary()
    empty = credential_problems(Merge.info, creds({}))
    assert empty.missing == ("secrets.api_key", "secrets.account_token")


def test_internal_settings_are_accepted_but_only_as_settings() -> None:
    fits = creds(
        {"api_key": "k", "account_token": "t"}, {"base_url": "http://127.0.0.1:9", "oauth_base_url": "x"}
    )
    assert not credential_problems(Merge.info, fits)
    wrong = creds({"api_key": "k", "account_token": "t", "oauth_base_url": "http://127.0.0.1:9"})
    assert [m.name for m in credential_problems(Merge.info, wrong).misplaced] == ["oauth_base_url"]


def test_oauth_tokens_fit_an_oauth_provider_and_an_api_key_does_not() -> None:
    tokens = creds(
        {"access_token": "a", "refresh_token": "r"}, {"token_expires_at": "2026-01-01T00:00:00+00:00"}
    )
    assert not credential_problems(EmploymentHero.info, tokens)
    pasted = credential_problems(EmploymentHero.info, creds({"api_key": KEY}))
    assert pasted.method is AuthMethod.OAUTH
    assert pasted.missing == ("secrets.access_token",) and pasted.unknown == ("secrets.api_key",)
    assert pasted.hint is not None and "oauth/start" in pasted.hint
    bamboo_oauth = credential_problems(BambooHR.info, tokens)
    assert bamboo_oauth.method is AuthMethod.OAUTH and bamboo_oauth.missing == ("settings.company_domain",)
    signed = creds({"access_token": "a", "webhook_secret": "whsec"}, {"company_domain": "acme"})
    assert not credential_problems(BambooHR.info, signed), "webhooks are signed whichever way it connects"


# --- each connector's credentials check ------------------------------------------------------


@respx.mock
def test_bamboohr_api_key_check_reads_one_dataset_row() -> None:
    route = respx.post("https://acme.bamboohr.com/api/v2/datasets/employee/data").mock(
        return_value=json_response({"data": [], "meta": {"page": 1, "totalPages": 1}})
    )
    build(BambooHR).check_credentials(creds({"api_key": KEY}, {"company_domain": "acme"}))
    body = sent_json(route.calls.last.request)
    assert (body["fields"], body["page"], body["pageSize"]) == (["id"], 1, 1)
    assert "Inactive" in body["filter"]
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")


@respx.mock
def test_bamboohr_refusal_carries_its_own_words_never_the_key() -> None:
    respx.post("https://acme.bamboohr.com/api/v2/datasets/employee/data").mock(
        return_value=httpx.Response(
            401, headers={"x-bamboohr-error-message": f"Invalid API key {KEY}\r\nX-Injected: 1"}
        )
    )
    with pytest.raises(ProviderAuthError) as caught:
        build(BambooHR).check_credentials(creds({"api_key": KEY}, {"company_domain": "acme"}))
    assert caught.value.vendor_message == "Invalid API key [redacted] X-Injected: 1"
    assert KEY not in str(caught.value) and "\n" not in str(caught.value)


@respx.mock
def test_bamboohr_oauth_check_reads_one_active_employee() -> None:
    route = respx.get("https://acme.bamboohr.com/api/v1/employees").mock(
        return_value=json_response(
            {"data": [], "meta": {"total": 0, "page": {"limit": 1, "nextCursor": None}}}
        )
    )
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    build(BambooHR).check_credentials(
        creds(
            {"access_token": "tok-1", "refresh_token": "r"},
            {"company_domain": "acme", "token_expires_at": later},
        )
    )
    params = route.calls.last.request.url.params
    assert (params["filter[status]"], params["page[limit]"]) == ("active", "1")
    assert route.calls.last.request.headers["authorization"] == "Bearer tok-1"


@respx.mock
def test_personio_check_authenticates_then_reads_one_employee() -> None:
    respx.post("https://api.personio.de/v1/auth").mock(
        return_value=json_response({"success": True, "data": {"token": "t-1", "expires_in": 86400}})
    )
    listing = respx.get("https://api.personio.de/v1/company/employees").mock(
        return_value=json_response(
            {"success": True, "metadata": {"total_elements": 0}, "offset": 0, "limit": 1, "data": []}
        )
    )
    build(Personio).check_credentials(creds({"client_id": "id", "client_secret": KEY}))
    assert dict(listing.calls.last.request.url.params) == {"limit": "1", "offset": "0"}


@respx.mock
def test_personio_refusal_says_what_personio_said() -> None:
    respx.post("https://api.personio.de/v1/auth").mock(
        return_value=json_response(
            {"success": False, "error": {"code": 401, "message": "Wrong credentials"}}, 401
        )
    )
    with pytest.raises(ProviderAuthError) as caught:
        build(Personio).check_credentials(creds({"client_id": "id", "client_secret": KEY}))
    assert caught.value.vendor_message == "Wrong credentials"


@respx.mock
def test_hibob_check_searches_current_ids_only() -> None:
    route = respx.post("https://api.hibob.com/v1/people/search").mock(
        return_value=json_response({"employees": [{"id": "1"}]})
    )
    build(HiBob).check_credentials(creds({"service_user_id": "svc", "service_user_token": KEY}))
    assert json.loads(route.calls.last.request.content) == {
        "fields": ["root.id"],
        "filters": [],
        "showInactive": False,
    }


@respx.mock
def test_hibob_refusal_says_what_bob_said() -> None:
    respx.post("https://api.hibob.com/v1/people/search").mock(
        return_value=json_response(
            {"error": "unauthorized", "message": "Invalid service user credentials"}, 401
        )
    )
    with pytest.raises(ProviderAuthError) as caught:
        build(HiBob).check_credentials(creds({"service_user_id": "svc", "service_user_token": KEY}))
    assert caught.value.vendor_message == "Invalid service user credentials"


@respx.mock
def test_employment_hero_check_reads_one_organisation() -> None:
    route = respx.get("https://api.employmenthero.com/api/v1/organisations").mock(
        return_value=json_response({"data": {"items": [], "page_index": 1, "total_pages": 1}})
    )
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    build(EmploymentHero).check_credentials(
        creds({"access_token": "tok", "refresh_token": "r"}, {"token_expires_at": later})
    )
    assert dict(route.calls.last.request.url.params) == {"page_index": "1", "items_per_page": "1"}


@respx.mock
def test_merge_check_reads_the_linked_accounts_details_and_reports_an_outage() -> None:
    route = respx.get("https://api.merge.dev/api/hris/v1/account-details").mock(
        return_value=json_response({"id": "a", "integration": "BambooHR"})
    )
    build(Merge).check_credentials(creds({"api_key": KEY, "account_token": "acct"}))
    assert route.calls.last.request.headers["x-account-token"] == "acct"
    route.mock(return_value=json_response({"detail": "Invalid account token."}, 403))
    with pytest.raises(ProviderAuthError) as caught:
        build(Merge).check_credentials(creds({"api_key": KEY, "account_token": "acct"}))
    assert caught.value.vendor_message == "Invalid account token."
    route.mock(return_value=httpx.Response(503))
    with pytest.raises(ProviderUnavailable):
        build(Merge).check_credentials(creds({"api_key": KEY, "account_token": "acct"}))


def test_every_provider_the_catalogue_says_connects_by_oauth_can_start_and_finish_it() -> None:
    """The catalogue and OAuth connect read one declaration: a provider offered with OAuth is an
    ``OAuthConnector`` whose pre-redirect settings are exactly its entry's OAuth fields."""
    for info in catalogue():
        connector = get_provider(info.id)
        offers_oauth = AuthMethod.OAUTH in info.methods
        assert isinstance(connector, OAuthConnector) is offers_oauth, info.id
        if offers_oauth:
            assert connector.oauth_settings == {f.name for f in info.oauth_fields}, info.id
