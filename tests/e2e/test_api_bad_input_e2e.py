"""Bad input is a 4xx, never a 5xx, over HTTP against the live local stack (the local gateway, the
real handlers, DynamoDB on moto): schemathesis generates valid and invalid requests for every
operation of the committed OpenAPI document, with the ids of a real tenant's connection, members,
runs and tasks mixed in, and judges each answer (no 5xx; status, content type, headers and body as
the document says); then each bad input found by hand gets its own named test.

Bounded: a fixed number of examples per operation, derandomized, so a run is repeatable and takes
about a minute."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions.admin_api.openapi import document
from infra.local.fake_hris import FakeHRServer
from infra.local.stack import LocalStack
from tests.support.local_stack import Tenant

EXAMPLES_PER_OPERATION = 12  # valid and invalid mixed: ~350 requests in all, about 40 s
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The document the code generates (a test checks it is the committed docs/openapi.json).
SCHEMA = schemathesis.openapi.from_dict(json.loads(document()))
# Disconnecting last, so the operations before it meet a live connection.
OPERATIONS = sorted(
    (result.ok() for result in SCHEMA.get_all_operations()),
    key=lambda op: (op.method.upper() == "DELETE" and "connection_id" in op.path, op.label),
)


@dataclass
class Seeded:
    """A tenant with a connection, members, runs and a task: the real ids to feed the generator."""

    tenant: Tenant
    fake: FakeHRServer
    headers: dict[str, str]
    ids: dict[str, list[str]]


@pytest.fixture(scope="module")
def seeded(stack: LocalStack) -> Iterator[Seeded]:
    tenant = Tenant(stack)
    fake = tenant.fake(employees=12)
    connection_id, run = tenant.connect(fake)
    members = [m["id"] for m in tenant.api.members()]
    assert members, "the import created no member"
    offboarded = tenant.api.call("POST", f"/v1/members/{members[-1]}/offboard")
    assert offboarded["status"] == "deactivated"
    tasks = [t["id"] for t in tenant.api.tasks()]
    assert tasks, "offboarding opened no task"
    token = stack.token(tenant.tenant_id, subject=f"admin-{tenant.tenant_id}")
    yield Seeded(
        tenant=tenant,
        fake=fake,
        headers={"Authorization": f"Bearer {token}"},
        ids={
            "connection_id": [connection_id],
            "member_id": members[:5],
            "run_id": [run["id"]],
            "task_id": tasks,
        },
    )
    tenant.close()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_schemathesis_over_http_finds_no_5xx_and_no_answer_breaking_the_document(
    stack: LocalStack, seeded: Seeded, operation: Any
) -> None:
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, data=st.data())
    def check(case: Any, data: st.DataObject) -> None:
        # A valid case names a real resource most of the time (what is generated names none).
        if case.meta.generation.mode is GenerationMode.POSITIVE and case.path_parameters:
            for name in list(case.path_parameters):
                real = seeded.ids.get(name)
                if real and data.draw(st.booleans(), label=f"real {name}"):
                    case.path_parameters[name] = data.draw(st.sampled_from(real), label=name)
        response = case.call(base_url=stack.url, headers=seeded.headers, timeout=60)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    check()
    assert statuses and max(statuses) < 500, statuses


# --- each bad input by name, over HTTP -----------------------------------------------------------


@pytest.fixture
def http(stack: LocalStack, seeded: Seeded) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers=seeded.headers, timeout=60) as client:
        yield client


def _error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body: dict[str, Any] = answer.json()
    assert body["error"]["code"] == code, body
    return body


@pytest.mark.parametrize("path", ["/v1/members/a%23b", "/v1/runs/" + "r" * 600, "/v1/audit?member_id=T%23x"])
def test_an_admin_api_id_with_a_hash_or_over_512_characters_is_422(http: httpx.Client, path: str) -> None:
    _error(http.get(path), 422, "validation_failed")


@pytest.mark.parametrize("connection_id", ["conn%23x", "T%23t%23CONN%23c", "c" * 600])
def test_a_webhook_path_id_with_a_hash_or_over_512_characters_is_404(
    http: httpx.Client, connection_id: str
) -> None:
    _error(http.post(f"/webhooks/{connection_id}", content=b"{}"), 404, "connection_not_found")


@pytest.mark.parametrize(
    "body",
    [
        '{"member_ids": ' + "[" * 1000 + '"m_1"' + "]" * 1000 + "}",
        '{"all": true, "n": ' + "9" * 5000 + "}",
    ],
    ids=["nested-1000", "int-5000-digits"],
)
def test_json_nested_1000_deep_or_an_integer_of_thousands_of_digits_is_422(
    http: httpx.Client, body: str
) -> None:
    answer = http.post("/v1/invites/send", content=body, headers={"Content-Type": "application/json"})
    assert _error(answer, 422, "validation_failed")["error"]["details"]["errors"][0]["type"] == "json_invalid"


def test_multipart_without_a_boundary_is_415(http: httpx.Client) -> None:
    body = b"--x\r\n\r\nall\r\n--x--"
    answer = http.post("/v1/invites/send", content=body, headers={"Content-Type": "multipart/form-data"})
    _error(answer, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/v1/members", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),  # API Gateway's own
        ("TRACE", "/webhooks/conn_x", "POST"),
        ("PUT", "/v1/members", "GET, POST"),  # reaches the admin API (ANY /v1/{proxy+}): its own 405
        ("DELETE", "/v1/runs/run_x", "GET"),
    ],
)
def test_an_unsupported_method_is_405_with_allow(
    http: httpx.Client, method: str, path: str, allowed: str
) -> None:
    answer = http.request(method, path)
    assert answer.status_code == 405, answer.text
    assert answer.headers["allow"] == allowed


def test_r20_a_webhook_for_a_connection_disconnected_a_moment_ago_is_410(stack: LocalStack) -> None:
    tenant = Tenant(stack)
    try:
        fake = tenant.fake(employees=8)
        connection_id, _ = tenant.connect(fake)
        fake.hire("Ada", "Lovelace", email=f"ada@{tenant.tenant_id}.example")
        assert fake.deliveries[-1].status == 202  # the ingest container is warm for the connection
        tenant.api.disconnect(connection_id)
        fake.hire("Alan", "Turing", email=f"alan@{tenant.tenant_id}.example")
        assert fake.deliveries[-1].status == 410
        unknown = httpx.post(stack.webhook_url("conn_nobody"), content=b"{}", timeout=60)
        assert unknown.status_code == 404
        assert json.loads(unknown.text)["error"]["code"] == "connection_not_found"
    finally:
        tenant.close()
