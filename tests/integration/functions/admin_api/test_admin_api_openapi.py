"""The OpenAPI document: generated from the code, committed, served; Swagger UI served offline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from admin_api_client import Client
from openapi_spec_validator import validate

from functions.admin_api.openapi import document
from shared.ports import MAX_PAGE_LIMIT
from tests.support.world import World

REPO = Path(__file__).resolve().parents[4]
COMMITTED = REPO / "docs" / "openapi.json"

# DESIGN.md, "Interfaces other people rely on": every admin API route.
DESIGN_ROUTES = {
    ("GET", "/v1/providers"),
    ("GET", "/v1/providers/{provider_id}"),
    ("POST", "/v1/connections"),
    ("GET", "/v1/connections"),
    ("GET", "/v1/connections/{connection_id}"),
    ("PATCH", "/v1/connections/{connection_id}"),
    ("DELETE", "/v1/connections/{connection_id}"),
    ("GET", "/v1/connections/{connection_id}/directory"),
    ("GET", "/v1/connections/{connection_id}/directory/{kind}"),
    ("POST", "/v1/connections/{connection_id}/preview"),
    ("POST", "/v1/connections/{connection_id}/sync"),
    ("POST", "/v1/connections/{connection_id}/activate"),
    ("GET", "/v1/connections/{connection_id}/runs"),
    ("GET", "/v1/runs/{run_id}"),
    ("GET", "/v1/runs/{run_id}/actions"),
    ("POST", "/v1/runs/{run_id}/confirm"),
    ("POST", "/v1/runs/{run_id}/discard"),
    ("POST", "/v1/connections/{connection_id}/match"),
    ("GET", "/v1/members"),
    ("POST", "/v1/members"),
    ("POST", "/v1/members/import"),
    ("GET", "/v1/members/{member_id}"),
    ("PATCH", "/v1/members/{member_id}"),
    *(
        ("POST", f"/v1/members/{{member_id}}/{action}")
        for action in ("approve", "reject", "deactivate", "reactivate", "offboard", "resync", "archive")
    ),
    ("POST", "/v1/invites/send"),
    ("GET", "/v1/tasks"),
    ("POST", "/v1/tasks/{task_id}/complete"),
    ("GET", "/v1/audit"),
    ("POST", "/v1/connections/oauth/start"),
    # OAuth connect's callback: public (the vendor's redirect carries no token of ours).
    ("GET", "/oauth/callback"),
    # "The admin portal" (wave 2): the backend's one-time link.
    ("POST", "/v1/portal/links"),
}
PUBLIC = {"/oauth/callback"}


@pytest.fixture(scope="module")
def doc() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(document())
    return loaded


def test_the_committed_document_is_the_one_the_code_generates() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == document(), (
        "docs/openapi.json is stale: run `make openapi` and commit it"
    )


def test_the_document_is_valid_openapi_3_1(doc: dict[str, object]) -> None:
    validate(doc)
    assert doc["openapi"] == "3.1.0"


def test_every_design_route_is_documented_and_nothing_else(doc: dict[str, object]) -> None:
    paths = doc["paths"]
    assert isinstance(paths, dict)
    assert {(m.upper(), p) for p, item in paths.items() for m in item} == DESIGN_ROUTES


def test_every_operation_needs_the_bearer_token_and_answers_errors_in_the_one_shape(
    doc: dict[str, object],
) -> None:
    assert doc["security"] == [{"bearerAuth": []}]
    schemes = doc["components"]["securitySchemes"]  # type: ignore[index]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["bearerAuth"]["bearerFormat"] == "JWT"
    for path, item in doc["paths"].items():  # type: ignore[attr-defined]
        for method, operation in item.items():
            codes = operation["responses"]
            if path in PUBLIC:
                assert operation["security"] == [], path
                assert {"302", "400"} <= set(codes), path
                continue
            assert {"401", "422"} <= set(codes), (method, path)
            for code, response in codes.items():
                if int(code) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, code)
            writes = method != "get"
            assert ("403" in codes) == writes, (method, path)


def test_list_operations_take_a_cursor_and_a_bounded_limit(doc: dict[str, object]) -> None:
    lists = [
        "/v1/connections",
        "/v1/connections/{connection_id}/runs",
        "/v1/members",
        "/v1/tasks",
        "/v1/audit",
    ]
    for path in lists:
        params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}  # type: ignore[index]
        limit = params["limit"]["schema"]
        assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, MAX_PAGE_LIMIT, 50), path
        assert "cursor" in params, path
        response = doc["paths"][path]["get"]["responses"]["200"]  # type: ignore[index]
        ref = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert set(doc["components"]["schemas"][ref]["properties"]) == {"items", "next_cursor"}  # type: ignore[index]


def test_no_response_model_exposes_credentials_or_internal_fields(doc: dict[str, object]) -> None:
    schemas = doc["components"]["schemas"]  # type: ignore[index]
    forbidden = {
        "tenant_id",
        "credentials",
        "secrets",
        "plan_key",
        "chunks_done",
        "page_sizes",
        "action_key",
        "status_before_deactivation",
        "overrides",
    }
    for name, schema in schemas.items():
        if name.endswith(("Out", "List", "Response")):
            assert forbidden.isdisjoint(schema.get("properties", {})), name


def test_the_document_is_served_at_v1_openapi_json(world: World, api: Client) -> None:
    answer = api.get("/v1/openapi.json")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json == json.loads(document())


def test_swagger_ui_is_served_with_its_assets_inline_no_cdn(world: World, api: Client) -> None:
    answer = api.get("/v1/docs")
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/html"
    html = answer.text
    assert "SwaggerUIBundle" in html and "<style>" in html
    assert not re.search(r"<(script|link)[^>]+(src|href)=['\"]https?://", html)
    assert "/v1/connections/{connection_id}/directory" in html
    assert '"servers": [{"url": "/prod"}]' in html  # "Try it out" goes through the stage
