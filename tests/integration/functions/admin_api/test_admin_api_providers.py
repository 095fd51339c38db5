"""``GET /v1/providers`` (the catalogue) and connect's check of a credentials body against it."""

from __future__ import annotations

from admin_api_client import Client
from admin_api_scenarios import SECRET_API_KEY, SECRET_WEBHOOK, connect_body, connected

from shared.providers.registry import PROVIDER_NAMES, display_name
from shared.services.context import ServiceSettings
from tests.support.world import World


def test_any_caller_reads_the_catalogue_with_each_providers_connect_form(
    world: World, viewer: Client
) -> None:
    answer = viewer.get("/v1/providers")
    assert answer.status == 200, answer.text
    items = {p["id"]: p for p in answer.json["items"]}
    assert tuple(items) == PROVIDER_NAMES
    bamboo = items["bamboohr"]
    assert (bamboo["name"], bamboo["kind"], bamboo["methods"]) == ("BambooHR", "hris", ["api_key", "oauth"])
    fields = {f["name"]: f for f in bamboo["api_key_fields"]}
    assert (fields["api_key"]["secret"], fields["api_key"]["required"]) == (True, True)
    assert (fields["company_domain"]["secret"], fields["company_domain"]["required"]) == (False, True)
    assert (fields["webhook_secret"]["secret"], fields["webhook_secret"]["required"]) == (True, False)
    assert "API Keys" in fields["api_key"]["help"]
    assert [f["name"] for f in bamboo["oauth_fields"]] == ["company_domain"]
    assert "email" in bamboo["capabilities"] and bamboo["capabilities"] == sorted(bamboo["capabilities"])
    assert (bamboo["tier"], bamboo["default_schedule"], bamboo["supports_webhooks"]) == (
        "full",
        "rate(6 hours)",
        True,
    )
    hero = items["employment_hero"]
    assert (hero["methods"], hero["api_key_fields"], hero["supports_webhooks"]) == (["oauth"], [], False)
    assert items["merge"]["kind"] == "unified"
    internal = [i for i, p in items.items() if "oauth_base_url" in {f["name"] for f in p["api_key_fields"]}]
    assert internal == [], "settings for the local fakes are not for admins"


def test_the_catalogue_shows_the_deployments_default_schedule(world: World, api: Client) -> None:
    world.settings = ServiceSettings(full_tier_schedule="rate(2 hours)")
    answer = api.get("/v1/providers/personio")
    assert answer.status == 200, answer.text
    assert answer.json["default_schedule"] == "rate(2 hours)"


def test_one_provider_and_an_unknown_one(world: World, viewer: Client) -> None:
    answer = viewer.get("/v1/providers/hibob")
    assert answer.status == 200, answer.text
    assert answer.json["id"] == "hibob"
    assert {f["name"] for f in answer.json["api_key_fields"] if f["secret"]} == {
        "service_user_id",
        "service_user_token",
        "webhook_secret",
    }
    missing = viewer.get("/v1/providers/workday")
    assert missing.status == 404
    assert missing.error_code == "provider_not_found"
    assert viewer.get("/v1/providers/Not%20An%20Id").status == 422


def test_the_catalogue_needs_an_identity(world: World, viewer: Client) -> None:
    assert viewer.get("/v1/providers", authorizer=None).status == 401


def test_connect_names_every_missing_misplaced_and_unknown_field_without_echoing_a_secret(
    world: World, api: Client
) -> None:
    body = connect_body(
        credentials={
            "secrets": {"company_domain": "acme", "colour": SECRET_WEBHOOK},
            "settings": {"api_key": SECRET_API_KEY, "base_url": "http://127.0.0.1:9"},
        }
    )
    answer = api.post("/v1/connections", body)
    assert answer.status == 422, answer.text
    error = answer.json["error"]
    assert error["code"] == "invalid_credentials"
    assert error["details"]["misplaced"] == [
        {"field": "api_key", "given_in": "settings", "belongs_in": "secrets"},
        {"field": "company_domain", "given_in": "secrets", "belongs_in": "settings"},
    ]
    assert error["details"]["unknown"] == ["secrets.colour"]
    assert error["details"]["missing"] == []
    assert "settings.api_key belongs in secrets" in error["message"]
    assert SECRET_API_KEY not in answer.text and SECRET_WEBHOOK not in answer.text
    assert world.connections.list_for_tenant("tenant-a") == []
    assert world.secrets.items == {}


def test_connect_names_a_missing_required_field(world: World, api: Client) -> None:
    answer = api.post(
        "/v1/connections", connect_body(credentials={"secrets": {"webhook_secret": SECRET_WEBHOOK}})
    )
    assert answer.status == 422, answer.text
    assert answer.json["error"]["details"]["missing"] == ["secrets.api_key"]
    assert world.connections.list_for_tenant("tenant-a") == []


def test_replacing_credentials_is_checked_against_the_catalogue_too(world: World, api: Client) -> None:
    tenant = connected(world, api)
    answer = api.patch(
        f"/v1/connections/{tenant.connection_id}",
        {"credentials": {"settings": {"api_key": "sk-rotated-but-misplaced"}}},
    )
    assert answer.status == 422, answer.text
    assert answer.json["error"]["details"]["misplaced"] == [
        {"field": "api_key", "given_in": "settings", "belongs_in": "secrets"}
    ]
    assert "sk-rotated-but-misplaced" not in answer.text
    stored = world.secrets.get("tenant-a", tenant.connection_id)
    assert stored.secrets["api_key"].reveal() == SECRET_API_KEY


def test_a_connection_shows_its_hr_systems_catalogue_name(world: World, api: Client) -> None:
    tenant = connected(world, api)
    shown = api.get(f"/v1/connections/{tenant.connection_id}").json
    # The test world's HR system is not in the catalogue: its id is shown as its name.
    assert (shown["provider"], shown["provider_name"]) == ("fakehr", "fakehr")
    assert display_name("bamboohr") == "BambooHR"
