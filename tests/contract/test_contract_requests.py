"""Requests, both ways: what the connectors send is what the vendors' specs accept, and what the
specs refuse the fakes refuse too (over real loopback HTTP).

Each connector runs against its fake (every page, a webhook follow-up, BambooHR's changes since,
the directory, an OAuth refresh) while the fake records every request as it came over the wire;
each recorded request is then checked against the vendor's spec in ``../shared/vendor-specs/``.
From each operation's first accepted request, requests the spec refuses are derived (a required
parameter dropped, a parameter or a body value of the wrong type or outside its enum, the wrong
kind of credentials, another media type) and sent to the fake, which must refuse each with a 4xx
in the vendor's error shape: a fake that accepts what the vendor refuses would let a broken
connector pass.

HiBob and Employment Hero publish no machine-readable spec (none is in ``../shared/vendor-specs``):
their requests are not checked here, and the tests say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from vendor_openapi import OpenAPI
from vendor_requests import Call

from infra.local.company import generate_company
from infra.local.fake_hris import Exchange, FakeHRServer, fake_hris
from shared.providers.bamboohr import BambooHR
from shared.providers.base import Credentials, Secret
from shared.providers.common import Connector
from shared.providers.http import RetryPolicy, Runtime
from shared.providers.registry import get_provider

TODAY = date(2026, 1, 15)
NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
PAGE = 50
# What the fakes' credentials() hold that is a setting, not a secret.
_SETTINGS = {"subdomain", "token_url", "authorize_url"}
NO_SPEC = "publishes no machine-readable API spec (none in ../shared/vendor-specs, see its README)"


@dataclass(frozen=True)
class Setup:
    label: str
    provider: str
    drop: tuple[str, ...] = ()
    # An access token already expired: the connector refreshes it first (OAuth connections).
    expired_token: bool = False


SETUPS = [
    Setup("bamboohr-api-key", "bamboohr", ("access_token", "refresh_token")),
    Setup("bamboohr-oauth", "bamboohr", ("api_key",), expired_token=True),
    Setup("personio", "personio"),
    Setup("merge", "merge"),
    pytest.param(Setup("hibob", "hibob"), marks=pytest.mark.skip(reason=f"HiBob {NO_SPEC}")),
    pytest.param(
        Setup("employment_hero", "employment_hero"),
        marks=pytest.mark.skip(reason=f"Employment Hero {NO_SPEC}"),
    ),
]
IDS = ["bamboohr-api-key", "bamboohr-oauth", "personio", "merge", "hibob", "employment_hero"]
# What each operation a connector uses must be, per setup: proof the run exercised them all.
EXPECTED_OPERATIONS = {
    "bamboohr-api-key": {
        ("post", "/api/v2/datasets/{datasetName}/data"),
        ("post", "/api/v1/reports/custom"),
        ("get", "/api/v1/employees/changed"),
    },
    "bamboohr-oauth": {("get", "/api/v1/employees"), ("get", "/api/v1/employees/changed")},
    "personio": {
        ("post", "/auth"),
        ("get", "/company/employees"),
        ("get", "/company/employees/{employee_id}"),
    },
    "merge": {
        ("get", "/hris/v1/account-details"),
        ("get", "/hris/v1/employees"),
        ("get", "/hris/v1/employees/{id}"),
    },
}


def specs_for(provider: str, request: pytest.FixtureRequest) -> list[OpenAPI]:
    names = {
        "bamboohr": ["bamboohr_spec"],
        "personio": ["personio_spec", "personio_auth_spec"],
        "merge": ["merge_v3_spec"],
    }[provider]
    return [request.getfixturevalue(name) for name in names]


def credentials(fake: FakeHRServer, setup: Setup) -> Credentials:
    values = fake.credentials
    settings = {"base_url": fake.base_url, "oauth_base_url": fake.oauth_base_url}
    if setup.expired_token:
        settings["token_expires_at"] = "2026-01-15T11:00:00+00:00"
    return Credentials(
        secrets={k: Secret(v) for k, v in values.items() if k not in _SETTINGS and k not in setup.drop},
        settings=settings,
    )


def exercise(connector: Connector, creds: Credentials) -> None:
    """What a connection does: every page, a webhook follow-up, changes since, the directory,
    and a credentials check (R32; last, with the token the run left valid)."""
    cursor: str | None = None
    ids: list[str] = []
    while True:
        page = connector.list_employees(creds, cursor)
        creds = page.refreshed_credentials or creds
        ids.extend(e.hris_id for e in page.employees)
        cursor = page.next_cursor
        if cursor is None:
            break
    followed = connector.get_employees(creds, [*ids[:3], ids[-1]])
    creds = followed.refreshed_credentials or creds
    if isinstance(connector, BambooHR):
        creds = connector.changed_since(creds, NOON.replace(year=2020)).refreshed_credentials or creds
    creds = connector.directory(creds).refreshed_credentials or creds
    connector.check_credentials(creds)


@dataclass
class Recorded:
    setup: Setup
    fake: FakeHRServer
    specs: list[OpenAPI]
    exchanges: list[Exchange]

    def spec_of(self, call: Call) -> OpenAPI | None:
        return next((s for s in self.specs if s.operation(call) is not None), None)


@pytest.fixture(scope="module", params=SETUPS, ids=IDS)
def recorded(request: pytest.FixtureRequest) -> Iterator[Recorded]:
    setup = request.param
    assert isinstance(setup, Setup)
    specs = specs_for(setup.provider, request)
    people = generate_company(130, 11, TODAY)
    with fake_hris(setup.provider, employees=people, rate_limit=None) as fake:
        runtime = Runtime(sleep=lambda _s: None, now=lambda: NOON)
        built = get_provider(
            setup.provider, runtime=runtime, page_size=PAGE, policy=RetryPolicy(max_attempts=1)
        )
        assert isinstance(built, Connector)
        with fake.recording() as exchanges, built:
            exercise(built, credentials(fake, setup))
        yield Recorded(setup, fake, specs, list(exchanges))


def token_endpoint(spec: OpenAPI, call: Call) -> bool:
    """The OAuth token URL a spec names only in its security scheme (RFC 6749 governs it)."""
    for scheme in spec.spec.get("components", {}).get("securitySchemes", {}).values():
        for flow in (scheme.get("flows") or {}).values():
            if call.path == flow.get("tokenUrl"):
                return True
    return False


# --------------------------------------------------------------------------------------------
# The checker itself refuses what the specs refuse (so a green test means something)
# --------------------------------------------------------------------------------------------


def test_request_checker_refuses_what_the_spec_refuses(
    bamboohr_spec: OpenAPI, merge_v3_spec: OpenAPI
) -> None:
    report = Call.of(
        "POST",
        "/api/v1/reports/custom",
        {"format": ["json"], "onlyCurrent": ["true"]},
        {"Authorization": "Basic a2V5Ong=", "Content-Type": "application/json"},
        json.dumps({"fields": ["firstName"], "filters": {"employeeIds": [1, 2]}}).encode(),
    )
    assert bamboohr_spec.request_errors(report) == []
    as_strings = report.replace(body=b'{"fields": ["firstName"], "filters": {"employeeIds": ["1", "2"]}}')
    assert any("employeeIds/0" in p for p in bamboohr_spec.request_errors(as_strings))
    assert bamboohr_spec.request_errors(report.replace(query=(("format", "JSON"),))), "enum is case-sensitive"
    assert bamboohr_spec.request_errors(report.replace(query=(("format", "json"), ("pageSize", "5")))), (
        "an undeclared query parameter is refused"
    )
    charset = {**report.headers, "content-type": "application/json; charset=UTF-8"}
    assert bamboohr_spec.request_errors(report.replace(headers=charset)), "BambooHR's exact Content-Type"
    listing = Call.of("GET", "/api/v1/employees", {"page[limit]": ["3000"]}, {"Authorization": "Bearer t"})
    assert any("maximum" in p for p in bamboohr_spec.request_errors(listing)), "deepObject values are checked"
    basic = listing.replace(query=(), headers={"authorization": "Basic a2V5Ong="})
    assert any("security" in p for p in bamboohr_spec.request_errors(basic)), "OAuth-only refuses Basic"
    assert bamboohr_spec.request_errors(Call.of("GET", "/api/v1/nowhere")), "an unknown path is refused"
    employees = Call.of(
        "GET",
        "/api/hris/v1/employees",
        {"expand": ["manager,employments"], "page_size": ["50"]},
        {"Authorization": "Bearer k", "X-Account-Token": "t"},
    )
    assert merge_v3_spec.request_errors(employees) == []
    assert merge_v3_spec.request_errors(employees.replace(headers={"authorization": "Bearer k"})), (
        "a required header is enforced"
    )
    bogus = employees.replace(query=(("expand", "manager,salary"),))
    assert any("salary" in p for p in merge_v3_spec.request_errors(bogus)), "comma lists are split (explode)"


def test_bamboohr_errata_are_still_needed(bamboohr_spec: OpenAPI) -> None:
    """The spec's own next link and ``fields`` example fail its unpatched parameter schemas."""
    raw = OpenAPI("bamboohr-openapi.yaml", exact_content_type=True)
    example = raw.spec["paths"]["/api/v1/employees"]["get"]["responses"]["200"]["content"]["application/json"]
    cursor = example["examples"]["basic"]["value"]["meta"]["page"]["nextCursor"]
    fields = next(
        p for p in raw.spec["paths"]["/api/v1/employees"]["get"]["parameters"] if p["name"] == "fields"
    )
    call = Call.of(
        "GET",
        "/api/v1/employees",
        {"page[after]": [cursor], "fields": [fields["example"]]},
        {"Authorization": "Bearer t"},
    )
    assert len(raw.request_errors(call)) == 2, raw.request_errors(call)
    assert bamboohr_spec.request_errors(call) == []


# --------------------------------------------------------------------------------------------
# The connectors send what the vendors accept
# --------------------------------------------------------------------------------------------


def test_connectors_send_requests_the_vendor_spec_accepts(recorded: Recorded) -> None:
    assert recorded.exchanges, "the connector made no request"
    problems: list[str] = []
    operations: set[tuple[str, str]] = set()
    for exchange in recorded.exchanges:
        call = Call.heard(exchange)
        spec = recorded.spec_of(call)
        if spec is None:
            if any(token_endpoint(s, call) for s in recorded.specs):
                continue
            problems.append(f"{call}: no operation of the vendor's spec")
            continue
        operation = spec.operation(call)
        assert operation is not None
        operations.add((operation.method, operation.template))
        problems.extend(spec.request_errors(call))
        if not 200 <= exchange.status < 300:
            problems.append(f"{call}: the fake answered {exchange.status}")
    assert not problems, "\n".join(dict.fromkeys(problems))
    assert operations >= EXPECTED_OPERATIONS[recorded.setup.label]


# --------------------------------------------------------------------------------------------
# The fakes refuse what the vendors refuse
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    what: str
    call: Call


def _query_mutations(spec: OpenAPI, call: Call) -> Iterator[Mutation]:
    operation = spec.operation(call)
    assert operation is not None
    for name, value in call.query:
        dropped = tuple(pair for pair in call.query if pair[0] != name)
        yield Mutation(f"without {name}", call.replace(query=dropped))
        for wrong in ("not-a-valid-value", "-1", "0"):
            if wrong != value:
                changed = tuple((k, wrong if k == name else v) for k, v in call.query)
                yield Mutation(f"{name}={wrong}", call.replace(query=changed))
    for parameter in operation.parameters:
        if parameter["in"] == "header" and parameter.get("required") and call.header(parameter["name"]):
            headers = {k: v for k, v in call.headers.items() if k != parameter["name"].lower()}
            yield Mutation(f"without the {parameter['name']} header", call.replace(headers=headers))


def _wrong(value: Any) -> list[Any]:
    """Values of another JSON type than ``value`` (what a careless client sends)."""
    if isinstance(value, bool):
        return ["true"]
    if isinstance(value, int):
        return [str(value), -1]
    if isinstance(value, str):
        return [12345, "not-a-valid-value"]
    if isinstance(value, list):
        return ["not-a-list"]
    if isinstance(value, dict):
        return ["not-an-object"]
    return []


def _leaves(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, document
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(document, list) and document:
        yield from _leaves(document[0], (*path, 0))


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy: Any = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replaced(document[path[0]], path[1:], value)
    if isinstance(copy, list):  # every item the same: the checked one is not alone
        copy = [copy[path[0]]] * len(copy)
    return copy


def _body_mutations(call: Call) -> Iterator[Mutation]:
    if not call.body:
        return
    try:
        document = json.loads(call.body)
    except ValueError:
        return
    for path, value in _leaves(document):
        if not path:
            continue
        where = "/".join(map(str, path))
        for wrong in _wrong(value):
            body = json.dumps(_replaced(document, path, wrong)).encode()
            yield Mutation(f"body {where} = {wrong!r}", call.replace(body=body))
    headers = {**call.headers, "content-type": "text/plain"}
    yield Mutation("a text/plain body", call.replace(headers=headers))


def _auth_mutations(call: Call) -> Iterator[Mutation]:
    authorization = call.header("Authorization") or ""
    if authorization.lower().startswith("bearer "):
        swapped = "Basic bm90LWEtdmFsaWQta2V5Ong="
    elif authorization.lower().startswith("basic "):
        swapped = "Bearer not-a-valid-token"
    else:
        return
    yield Mutation(
        "the other kind of credentials", call.replace(headers={**call.headers, "authorization": swapped})
    )


def refused_mutations(spec: OpenAPI, call: Call) -> Iterator[Mutation]:
    """Requests derived from ``call`` that the spec refuses (derivations it accepts are dropped)."""
    seen: set[tuple[str, bytes, tuple[tuple[str, str], ...]]] = set()
    for mutation in (*_query_mutations(spec, call), *_body_mutations(call), *_auth_mutations(call)):
        key = (str(mutation.call), mutation.call.body, tuple(sorted(mutation.call.headers.items())))
        if key not in seen and spec.request_errors(mutation.call):
            seen.add(key)
            yield mutation


def send(fake: FakeHRServer, call: Call) -> httpx.Response:
    headers = {k: v for k, v in call.headers.items() if k not in ("host", "content-length", "connection")}
    with httpx.Client(base_url=fake.base_url) as client:
        return client.request(
            call.method, call.path, params=list(call.query), headers=headers, content=call.body or None
        )


def error_schema(spec: OpenAPI, call: Call, status: int) -> Any | None:
    operation = spec.operation(call)
    assert operation is not None
    responses = spec.spec["paths"][operation.template][operation.method]["responses"]
    response = spec.resolve(responses.get(str(status)) or responses.get("default") or {})
    return ((response.get("content") or {}).get("application/json") or {}).get("schema")


def _shape(document: Any) -> Any:
    """The keys of an error body, two levels deep (the values differ from error to error)."""
    if isinstance(document, dict):
        return {k: _shape(v) if isinstance(v, dict) else type(v).__name__ for k, v in document.items()}
    return type(document).__name__


def test_fakes_refuse_what_the_vendor_spec_refuses(recorded: Recorded) -> None:
    firsts: dict[tuple[str, str], Call] = {}
    for exchange in recorded.exchanges:
        call = Call.heard(exchange)
        spec = recorded.spec_of(call)
        operation = spec.operation(call) if spec is not None else None
        if operation is not None and 200 <= exchange.status < 300:
            firsts.setdefault((operation.method, operation.template), call)
    assert firsts
    accepted: list[str] = []
    tried = 0
    for call in firsts.values():
        spec = recorded.spec_of(call)
        assert spec is not None
        for mutation in refused_mutations(spec, call):
            tried += 1
            response = send(recorded.fake, mutation.call)
            if not 400 <= response.status_code < 500:
                accepted.append(f"{call} with {mutation.what}: {response.status_code} {response.text[:120]}")
                continue
            schema = error_schema(spec, mutation.call, response.status_code)
            if schema is not None:
                spec.assert_valid(schema, response.json())
            shape = _shape(json.loads(recorded.fake.vendor.error(response.status_code, "x", "y").body))
            assert _shape(response.json()) == shape, (
                f"{call} with {mutation.what}: not the vendor's error shape: {response.text[:120]}"
            )
    assert tried > len(firsts)
    assert not accepted, "the fake accepts what the vendor refuses:\n" + "\n".join(accepted)
