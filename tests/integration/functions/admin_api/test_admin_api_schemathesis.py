"""Schemathesis against the generated OpenAPI document, in-process: each generated case becomes an
API Gateway proxy event for the real handler, and schemathesis's own checks judge the answer (no
5xx, status code, content type, headers and body conforming to the document).

Positive cases (valid by the document) and negative ones (invalid) for every operation, with a
bounded number of examples each so the suite stays fast; derandomized, so a run is repeatable.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
import schemathesis
from admin_api_client import Client, build_event, invoke
from admin_api_scenarios import connected
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions.admin_api.openapi import document
from tests.support.world import World

EXAMPLES_PER_MODE = 8
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SCHEMA = schemathesis.openapi.from_dict(json.loads(document()))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def _event_for(prepared: requests.PreparedRequest, client: Client) -> dict[str, Any]:
    """The API Gateway REST proxy event for what schemathesis would send on the wire."""
    url = urlsplit(prepared.url or "")
    query = {k: v for k, v in parse_qs(url.query, keep_blank_values=True).items()}
    raw = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    headers = {
        k: v for k, v in prepared.headers.items() if k.lower() not in ("content-length", "authorization")
    }
    event = build_event(
        prepared.method or "GET",
        unquote(url.path),
        query=query or None,
        headers=headers,
        authorizer=client.authorizer,
    )
    if raw is not None:
        # API Gateway passes a body that is not UTF-8 text base64-encoded, and says so.
        try:
            event["body"] = raw.decode()
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    return event


def _call(case: Any, client: Client) -> tuple[Response, requests.PreparedRequest]:
    kwargs = case.as_transport_kwargs(base_url="http://127.0.0.1")
    prepared = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        data=kwargs.get("data"),
    ).prepare()
    answer = invoke(_event_for(prepared, client))
    response = Response(
        status_code=answer.status,
        headers={k: [v] for k, v in answer.headers.items()},
        content=answer.text.encode(),
        request=prepared,
        elapsed=0.0,
        verify=True,
    )
    return response, prepared


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_schemathesis_finds_no_5xx_and_no_answer_breaking_the_document(
    world: World, api: Client, operation: Any
) -> None:
    connected(world, api)
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    statuses: list[int] = []

    @settings(
        max_examples=2 * EXAMPLES_PER_MODE,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: Any) -> None:
        response, _ = _call(case, api)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    check()
    assert statuses and max(statuses) < 500
