"""The one error shape for every failure: 401 without identity, 403 without the admin role, 404 for
unknown routes and resources, 415 for a body that is not JSON, 422 for invalid input."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from admin_api_client import Answer, Client, build_event, invoke
from admin_api_scenarios import connected

from functions.admin_api.identity import ADMIN_GROUP
from infra.constants import ADMIN_GROUP as STACK_ADMIN_GROUP
from shared.errors import CorruptItem, Throttled
from tests.support.events import event_names, load_event
from tests.support.world import World


def assert_error_shape(answer: Answer, status: int, code: str | None = None) -> None:
    assert answer.status == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert "Traceback" not in answer.text
    if code is not None:
        assert body["error"]["code"] == code


@pytest.mark.parametrize(
    "authorizer",
    [
        None,
        {},
        {"claims": {}},
        {"claims": {"sub": "admin-1"}},  # no tenant
        {"claims": {"custom:tenant_id": "tenant-a"}},  # no subject
        {"claims": {"sub": "admin-1", "tenant_id": ""}},
        {"claims": {"sub": "admin-1", "tenant_id": "tenant a\n"}},
        {"claims": {"sub": "admin-1", "tenant_id": ["tenant-a"]}},
    ],
    ids=[
        "no-authorizer",
        "empty",
        "no-claims",
        "no-tenant",
        "no-subject",
        "empty-tenant",
        "bad-tenant",
        "list",
    ],
)
def test_a_request_without_a_verified_tenant_and_subject_is_401(
    world: World, authorizer: dict[str, Any] | None
) -> None:
    answer = invoke(build_event("GET", "/v1/members", authorizer=authorizer))
    assert_error_shape(answer, 401, "unauthenticated")


def test_the_sample_unauthenticated_event_is_401(world: World) -> None:
    assert_error_shape(invoke(load_event("admin_api/unauthenticated")), 401, "unauthenticated")


def test_identity_from_a_lambda_authorizer_context(world: World, api: Client) -> None:
    tenant = connected(world, api)
    event = load_event("admin_api/lambda_authorizer_get_member")
    member_id = tenant.member_id(world, "ann")
    event["path"] = f"/v1/members/{member_id}"
    answer = invoke(event)
    assert answer.status == 200, answer.text
    assert answer.json["id"] == member_id
    event["httpMethod"] = "POST"
    event["path"] += "/deactivate"
    assert_error_shape(invoke(event), 403, "forbidden")  # its role is "viewer"
    event["requestContext"]["authorizer"]["role"] = "admin"
    assert invoke(event).status == 200


@pytest.mark.parametrize(
    "grant",
    [
        {"cognito:groups": "admins"},
        {"cognito:groups": "[readers admins]"},
        {"scope": "openid hris-sync/admin"},
        {"role": "admin"},
        {"groups": ["admins"]},
    ],
    ids=["cognito-group", "cognito-groups-list", "oauth-scope", "role", "json-list"],
)
def test_each_documented_admin_grant_allows_writes(world: World, grant: dict[str, Any]) -> None:
    authorizer = {"claims": {"sub": "admin-1", "tenant_id": "tenant-a", **grant}}
    answer = invoke(build_event("POST", "/v1/invites/send", body={"all": True}, authorizer=authorizer))
    assert answer.status == 200, answer.text


def test_a_non_admin_may_read_but_not_write(world: World, api: Client, viewer: Client) -> None:
    tenant = connected(world, api)
    assert viewer.get("/v1/members").status == 200
    assert viewer.get(f"/v1/connections/{tenant.connection_id}").status == 200
    member_id = tenant.member_id(world, "ann")
    for answer in (
        viewer.post(f"/v1/members/{member_id}/deactivate"),
        viewer.patch(f"/v1/members/{member_id}", {"first_name": "X"}),
        viewer.delete(f"/v1/connections/{tenant.connection_id}"),
        viewer.post("/v1/connections", {"provider": "fakehr", "label": "x", "credentials": {}}),
    ):
        assert_error_shape(answer, 403, "forbidden")
    assert world.members.get("tenant-a", member_id).profile.first_name == "Ann"


def test_the_admin_group_is_the_one_the_stack_creates() -> None:
    assert ADMIN_GROUP == STACK_ADMIN_GROUP


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nothing"), ("GET", "/v2/members")])
def test_an_unknown_route_is_404_in_the_error_shape(
    world: World, api: Client, method: str, path: str
) -> None:
    assert_error_shape(api.request(method, path), 404, "route_not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/members", "GET, POST"),
        ("DELETE", "/v1/members/m_1", "GET, PATCH"),
        ("TRACE", "/v1/connections/conn_1", "DELETE, GET, PATCH"),
        ("HEAD", "/v1/runs/run_1/confirm", "POST"),
        ("OPTIONS", "/v1/openapi.json", "GET"),
        ("PROPFIND", "/v1/tasks", "GET"),
    ],
)
def test_a_method_the_path_does_not_have_is_405_naming_the_allowed_ones(
    world: World, api: Client, method: str, path: str, allowed: str
) -> None:
    answer = api.request(method, path)
    assert_error_shape(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == allowed
    assert answer.json["error"]["details"]["allowed"] == allowed.split(", ")


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        # API Gateway (REST) passes the path as sent, percent-encoded
        ("GET", "/v1/members/a%23b", None, None),
        ("GET", "/v1/connections/conn%20%231", None, None),
        ("POST", "/v1/runs/" + "r" * 513 + "/confirm", None, None),
        ("POST", "/v1/tasks/t%23x/complete", None, None),
        ("GET", "/v1/audit", {"member_id": "m#1"}, None),
        ("POST", "/v1/invites/send", None, {"member_ids": ["m_1", "T#x#M#y"]}),
    ],
    ids=[
        "member-hash",
        "connection-space",
        "run-over-512",
        "task-encoded-hash",
        "audit-query",
        "invite-body",
    ],
)
def test_an_id_of_a_shape_the_service_never_issues_is_422_before_any_store(  # noqa: PLR0917
    world: World, api: Client, method: str, path: str, query: dict[str, str] | None, body: Any
) -> None:
    answer = api.request(method, path, body=body, query=query)
    assert_error_shape(answer, 422, "validation_failed")


def test_a_path_with_characters_no_route_takes_is_404_not_405(world: World, api: Client) -> None:
    for path in ("/v1/members/a#b", "/v1/connections/conn#1/runs"):
        assert_error_shape(api.get(path), 404, "route_not_found")


def _deep(levels: int) -> str:
    return '{"member_ids": ' + "[" * levels + '"m_1"' + "]" * levels + "}"


@pytest.mark.parametrize(
    "raw_body",
    [
        _deep(1000),  # past the interpreter's recursion limit: RecursionError
        _deep(200),  # parses, then costs every recursive reader after it
        '{"all": true, "x": ' + "9" * 5000 + "}",  # past Python's int-from-string limit: ValueError
        '{"member_ids": ["m_1"], "n": -' + "1" * 65 + "}",
    ],
    ids=["nested-1000", "nested-200", "int-5000-digits", "int-65-digits"],
)
def test_json_too_deep_or_with_too_long_a_number_is_422_json_invalid(
    world: World, api: Client, raw_body: str
) -> None:
    answer = api.request("POST", "/v1/invites/send", raw_body=raw_body)
    assert_error_shape(answer, 422, "validation_failed")
    assert answer.json["error"]["details"]["errors"][0]["type"] == "json_invalid"


def test_an_edit_with_an_integer_of_thousands_of_digits_is_422(world: World, api: Client) -> None:
    tenant = connected(world, api)
    raw = '{"invite_ttl_days": ' + "7" * 4301 + "}"
    answer = api.request("PATCH", f"/v1/connections/{tenant.connection_id}", raw_body=raw)
    assert_error_shape(answer, 422, "validation_failed")


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",  # no boundary: Powertools fails on it with a bare ValueError
        "multipart/form-data; boundary=x",
        "Multipart/Mixed",
        "application/x-www-form-urlencoded",
    ],
)
def test_a_form_or_multipart_body_is_415_the_api_takes_only_json(
    world: World, api: Client, content_type: str
) -> None:
    answer = api.request(
        "POST",
        "/v1/invites/send",
        raw_body="--x\r\nall=true\r\n--x--",
        headers={"Content-Type": content_type},
    )
    assert_error_shape(answer, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ({"limit": "0"}, ["query", "limit"]),
        ({"limit": "201"}, ["query", "limit"]),
        ({"limit": "ten"}, ["query", "limit"]),
        ({"status": "sleeping"}, ["query", "status"]),
        ({"cursor": ""}, ["query", "cursor"]),
    ],
)
def test_bad_query_parameters_are_422_naming_the_parameter(
    world: World, api: Client, query: dict[str, str], location: list[str]
) -> None:
    answer = api.get("/v1/members", query=query)
    assert_error_shape(answer, 422, "validation_failed")
    assert answer.json["error"]["details"]["errors"][0]["location"] == location


def test_a_cursor_the_api_did_not_issue_is_422(world: World, api: Client) -> None:
    assert_error_shape(api.get("/v1/members", query={"cursor": "bm90LWEtY3Vyc29y"}), 422, "invalid_input")
    assert_error_shape(api.get("/v1/connections", query={"cursor": "%%%"}), 422, "invalid_input")


def test_a_body_that_is_not_json_is_refused_in_the_error_shape(world: World, api: Client) -> None:
    answer = api.request("POST", "/v1/connections", raw_body="{not json")
    assert_error_shape(answer, 422, "validation_failed")
    assert answer.json["error"]["details"]["errors"][0]["type"] == "json_invalid"


def test_a_missing_body_is_422(world: World, api: Client) -> None:
    assert_error_shape(api.post("/v1/connections"), 422, "validation_failed")


def test_a_wrongly_typed_body_names_every_bad_field(world: World, api: Client) -> None:
    answer = api.post(
        "/v1/connections", {"provider": "Bad Name", "label": "", "credentials": {"secrets": {"k": 5}}, "x": 1}
    )
    assert_error_shape(answer, 422, "validation_failed")
    locations = {tuple(e["location"]) for e in answer.json["error"]["details"]["errors"]}
    assert {("body", "provider"), ("body", "label"), ("body", "x")} <= locations


def test_every_sample_event_is_answered(world: World, api: Client) -> None:
    connected(world, api)
    for name in event_names("admin_api"):
        answer = invoke(load_event(name))
        assert answer.status < 500, (name, answer.text)
        assert answer.headers["content-type"] == "application/json"


def test_a_body_that_is_not_utf8_is_400(world: World, api: Client) -> None:
    event = build_event("POST", "/v1/invites/send", body={"all": True}, authorizer=api.authorizer)
    event["body"], event["isBase64Encoded"] = base64.b64encode(b"\x80\xff{").decode(), True
    assert_error_shape(invoke(event), 400, "invalid_body")


def test_a_body_sent_as_another_content_type_is_refused(world: World, api: Client) -> None:
    answer = api.post("/v1/invites/send", {"all": True}, headers={"Content-Type": "text/plain"})
    assert_error_shape(answer, 415, "unsupported_media_type")


def test_a_corrupt_item_is_500_shown_only_by_its_code(
    world: World, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def corrupt(tenant_id: str, member_id: str) -> None:
        raise CorruptItem(f"TENANT#{tenant_id}|MEMBER#{member_id}", "status 'sleeping' is not a status")

    monkeypatch.setattr(world.members, "get", corrupt)
    answer = api.get("/v1/members/mem_1")
    assert_error_shape(answer, 500, "corrupt_item")
    assert "TENANT#" not in answer.text and "sleeping" not in answer.text


def test_throttling_that_outlasts_the_retries_is_503(
    world: World, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def throttled(tenant_id: str, member_id: str) -> None:
        raise Throttled("GetItem")

    monkeypatch.setattr(world.members, "get", throttled)
    answer = api.get("/v1/members/mem_1")
    assert_error_shape(answer, 503, "throttled")
    assert answer.json["error"]["details"] == {"operation": "GetItem"}


# --- unknown query parameters (R34: as an unknown body field already is) ------------------------


def _every_route() -> list[tuple[str, str, frozenset[str]]]:
    """(method, concrete path, declared query parameters) of every route of the resolver."""
    from aws_lambda_powertools.event_handler.openapi.params import get_flat_dependant

    from functions.admin_api import handler as admin_handler

    found = []
    for route in admin_handler.app._static_routes + admin_handler.app._dynamic_routes:
        path = route.openapi_path.replace("{", "").replace("}", "")
        declared = frozenset(f.alias for f in get_flat_dependant(route.dependant).query_params)
        found.append((route.method, path, declared))
    return found


def test_an_unknown_query_parameter_is_422_on_every_route(world: World, api: Client) -> None:
    routes = _every_route()
    assert len(routes) > 20  # every route of the API, the documents included
    for method, path, declared in routes:
        answer = api.request(method, path, query={"stauts": "active", "limit": "5"})
        assert answer.status == 422, (method, path, answer.text)
        assert answer.error_code == "unknown_query_parameter", (method, path, answer.text)
        details = answer.json["error"]["details"]
        assert "stauts" in details["parameters"], (method, path)
        assert ("limit" in details["parameters"]) == ("limit" not in declared), (method, path)
        assert details["allowed"] == sorted(declared)


def test_declared_query_parameters_still_work(world: World, api: Client) -> None:
    assert api.get("/v1/members", query={"status": "active", "limit": "5"}).status == 200
    assert api.get("/v1/tasks", query={"limit": "5"}).status == 200
    assert api.get("/v1/openapi.json").status == 200
