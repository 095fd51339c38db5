"""Calls the admin API's real Lambda handler in-process with API Gateway REST proxy events built
from the sample events in ``events/admin_api/``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from functions.admin_api import handler as admin_handler
from tests.support.events import load_event

BASE_EVENT = "admin_api/list_members"
TENANT_A = "tenant-a"
TENANT_B = "tenant-b"


@dataclass(frozen=True)
class LambdaContext:
    function_name: str = "hris-sync-test-admin_api"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:hris-sync-test-admin_api"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "5b5e8f3a-2c1d-4e6f-9a0b-1c2d3e4f5a6b"
    log_group_name: str = "/aws/lambda/hris-sync-test-admin_api"
    log_stream_name: str = "2026/11/21/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def claims(
    tenant: str = TENANT_A, sub: str = "admin-1", *, admin: bool = True, email: str | None = None
) -> dict[str, Any]:
    """A Cognito user pool authorizer's claims (as API Gateway passes them: strings)."""
    found: dict[str, Any] = {"sub": sub, "custom:tenant_id": tenant, "token_use": "id"}
    if admin:
        found["cognito:groups"] = "admins"
    if email is not None:
        found["email"] = email
        found["email_verified"] = "true"
    return found


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def error_code(self) -> str:
        code: str = self.json["error"]["code"]
        return code


def build_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    query: Mapping[str, str | list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    authorizer: Mapping[str, Any] | None = None,
    base: str = BASE_EVENT,
) -> dict[str, Any]:
    """An API Gateway REST proxy event for ``/v1/{proxy+}`` (``authorizer`` None: no identity)."""
    event = load_event(base)
    event["httpMethod"] = method
    event["path"] = path
    event["requestContext"]["httpMethod"] = method
    event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{quote(path)}"
    event["pathParameters"] = {"proxy": path.removeprefix("/v1/")}
    if query:
        multi = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
        event["multiValueQueryStringParameters"] = multi
        event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()}
    else:
        event["multiValueQueryStringParameters"] = None
        event["queryStringParameters"] = None
    all_headers = dict(event["headers"])
    if body is not None or raw_body is not None:
        event["body"] = raw_body if raw_body is not None else json.dumps(body)
        all_headers["Content-Type"] = "application/json"
    else:
        event["body"] = None
    all_headers.update(headers or {})
    event["headers"] = all_headers
    event["multiValueHeaders"] = {k: [v] for k, v in all_headers.items()}
    if authorizer is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"] = dict(authorizer)
    return event


def invoke(event: dict[str, Any]) -> Answer:
    result = admin_handler.handler(event, LambdaContext())
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers.setdefault(key.lower(), values[-1])
    return Answer(status=int(result["statusCode"]), headers=headers, text=result.get("body") or "")


@dataclass
class Client:
    """One caller: a tenant, a subject and a role."""

    tenant: str = TENANT_A
    sub: str = "admin-1"
    admin: bool = True
    email: str | None = None
    calls: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def authorizer(self) -> dict[str, Any]:
        return {"claims": claims(self.tenant, self.sub, admin=self.admin, email=self.email)}

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        kwargs.setdefault("authorizer", self.authorizer)
        answer = invoke(build_event(method, path, **kwargs))
        self.calls.append((method, path, answer.status))
        return answer

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.request("POST", path, body=body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.request("PATCH", path, body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Answer:
        return self.request("DELETE", path, **kwargs)
