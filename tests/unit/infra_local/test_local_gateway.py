"""The local gateway: routes from the template, proxy events for the handlers, the authorizer's 401."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.local.gateway import Gateway, routes_from_template
from infra.local.lambdas import LocalFunctions
from infra.local.resources import physical_ids
from infra.local.template import Resolver
from infra.local.tokens import DevTokens

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

ECHO = """
import json
import threading
def handler(event, context):
    if event.get("body") == "crash":
        raise RuntimeError("boom")
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"event": event, "function": context.function_name})}
"""


def _function(logical: str, name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "FunctionName": f"hris-sync-local-{name}",
            "Handler": f"functions.{name}.handler.handler",
            "MemorySize": 256,
            "Timeout": 10,
            "Environment": {"Variables": {"TABLE_NAME": {"Ref": "Table"}}},
        },
    }


def _uri(logical: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Fn::GetAtt": [logical, "Arn"]}, "/invocations"]]}


def _resource(parent: Any, part: str) -> dict[str, Any]:
    return {"Type": "AWS::ApiGateway::Resource", "Properties": {"ParentId": parent, "PathPart": part}}


def _method(verb: str, resource: str, auth: str, function: str) -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "HttpMethod": verb,
            "ResourceId": {"Ref": resource},
            "AuthorizationType": auth,
            "Integration": {"Type": "AWS_PROXY", "Uri": _uri(function)},
        },
    }


ROOT = {"Fn::GetAtt": ["Api", "RootResourceId"]}
TEMPLATE: dict[str, Any] = {
    "Resources": {
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "hris-sync-local"}},
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
        "AdminFn": _function("AdminFn", "admin_api"),
        "IngestFn": _function("IngestFn", "webhook_ingest"),
        "V1": _resource(ROOT, "v1"),
        "Proxy": _resource({"Ref": "V1"}, "{proxy+}"),
        "Hooks": _resource(ROOT, "webhooks"),
        "Hook": _resource({"Ref": "Hooks"}, "{connection_id}"),
        "ProxyAny": _method("ANY", "Proxy", "COGNITO_USER_POOLS", "AdminFn"),
        "HookPost": _method("POST", "Hook", "NONE", "IngestFn"),
    }
}


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    root = tmp_path / "functions"
    for name in ("admin_api", "webhook_ingest"):
        (root / name).mkdir(parents=True)
        (root / name / "handler.py").write_text(ECHO)
    resolve = Resolver(physical_ids(TEMPLATE, queue_endpoint="http://127.0.0.1:1"))
    functions = LocalFunctions.from_template(TEMPLATE, resolve, functions_root=root, base_env={})
    names = {k: v.ref for k, v in resolve.physical.items()}
    return Gateway(
        routes_from_template(TEMPLATE),
        functions,
        DevTokens(b"k" * 32),
        function_names=names,
        clock=lambda: NOW,
    )


def _call(gateway: Gateway, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, Any]:
    status, _, data = gateway.handle(method, path, headers, body)
    return status, json.loads(data)


def test_routes_come_from_the_template() -> None:
    routes = {(r.method, r.resource, r.authorized) for r in routes_from_template(TEMPLATE)}
    assert routes == {("ANY", "/v1/{proxy+}", True), ("POST", "/webhooks/{connection_id}", False)}


def test_admin_route_without_a_valid_token_is_401_before_any_handler(gateway: Gateway) -> None:
    assert _call(gateway, "GET", "/v1/members")[0] == 401
    status, body = _call(gateway, "GET", "/v1/members", Authorization="Bearer forged.token.here")
    assert status == 401
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert gateway.functions.get("admin_api").invocations == 0


def test_admin_route_gets_a_proxy_event_with_the_tokens_tenant(gateway: Gateway) -> None:
    token = gateway.tokens.issue("tenant-a", NOW, subject="ada")
    status, body = _call(
        gateway, "GET", "/v1/members?status=active&status=invited&cursor=x", Authorization=f"Bearer {token}"
    )
    assert status == 200
    event = body["event"]
    assert body["function"] == "hris-sync-local-admin_api"
    assert event["resource"] == "/v1/{proxy+}"
    assert event["pathParameters"] == {"proxy": "members"}
    assert event["multiValueQueryStringParameters"]["status"] == ["active", "invited"]
    assert event["requestContext"]["authorizer"]["claims"]["custom:tenant_id"] == "tenant-a"
    assert event["requestContext"]["authorizer"]["claims"]["sub"] == "ada"


def test_webhook_route_is_public_and_passes_the_raw_body(gateway: Gateway) -> None:
    status, body = _call(
        gateway, "POST", "/webhooks/conn-1", b'{"a": 1}', **{"Content-Type": "application/json", "X-Sig": "s"}
    )
    assert status == 200
    event = body["event"]
    assert event["pathParameters"] == {"connection_id": "conn-1"}
    assert event["body"] == '{"a": 1}'
    assert event["headers"]["X-Sig"] == "s"
    assert "authorizer" not in event["requestContext"]


def test_unknown_path_wrong_method_and_a_crashing_handler(gateway: Gateway) -> None:
    assert _call(gateway, "GET", "/nope")[0] == 404
    assert _call(gateway, "GET", "/webhooks/conn-1")[0] == 405
    status, body = _call(gateway, "POST", "/webhooks/conn-1", b"crash", **{"Content-Type": "text/plain"})
    assert status == 502
    assert "boom" not in json.dumps(body)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/v1/members", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
        ("CONNECT", "/v1/connections/conn-1", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
        ("TRACE", "/webhooks/conn-1", "POST"),
        ("GET", "/webhooks/conn-1", "POST"),
        ("PROPFIND", "/webhooks/conn-1", "POST"),
    ],
)
def test_a_method_api_gateway_does_not_route_is_405_with_allow_and_runs_no_function(
    gateway: Gateway, method: str, path: str, allowed: str
) -> None:
    token = gateway.tokens.issue("tenant-a", NOW, subject="ada")
    status, headers, data = gateway.handle(method, path, {"Authorization": f"Bearer {token}"}, b"")
    assert status == 405
    assert headers["Allow"] == allowed
    assert json.loads(data)["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "event" not in json.loads(data)  # the echo function did not run


class _Held:
    """Wraps the functions: each invocation waits inside until released, counting who is in."""

    def __init__(self, functions: LocalFunctions) -> None:
        self.functions = functions
        self.lock = threading.Lock()
        self.inside: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        with self.lock:
            self.inside[name] = self.inside.get(name, 0) + 1
            self.peak[name] = max(self.peak.get(name, 0), self.inside[name])
        self.entered.release()
        try:
            assert self.release.wait(10)
            return self.functions.invoke(name, event)
        finally:
            with self.lock:
                self.inside[name] -= 1


def test_one_request_at_a_time_per_function_as_lambda_gives_an_environment(gateway: Gateway) -> None:
    """Powertools keeps the current event on the resolver's class: two requests at once in one
    process would read each other's. Like one Lambda execution environment, the gateway lets one
    request at a time into a function; another function still answers meanwhile."""
    held = _Held(gateway.functions)
    gateway.functions = held  # type: ignore[assignment]
    answers: list[int] = []

    def hook(n: int) -> None:
        answers.append(_call(gateway, "POST", f"/webhooks/conn_{n}", b"{}")[0])

    first = threading.Thread(target=hook, args=(1,))
    first.start()
    assert held.entered.acquire(timeout=10)  # the first request is inside the function
    second = threading.Thread(target=hook, args=(2,))
    second.start()
    # Meanwhile another function (the admin API) is not held up by the webhook function's request.
    token = gateway.tokens.issue("t-1", NOW, subject="admin")
    other = threading.Thread(
        target=lambda: answers.append(_call(gateway, "GET", "/v1/x", Authorization=f"Bearer {token}")[0])
    )
    other.start()
    assert held.entered.acquire(timeout=10)  # the admin API's request got in
    second.join(0.3)  # given the time to get in, the second webhook request waits at the gateway
    assert second.is_alive()
    assert held.inside == {"hris-sync-local-webhook_ingest": 1, "hris-sync-local-admin_api": 1}
    held.release.set()
    for thread in (first, second, other):
        thread.join(10)
    assert sorted(answers) == [200, 200, 200]
    assert held.peak == {"hris-sync-local-webhook_ingest": 1, "hris-sync-local-admin_api": 1}
