"""Finch: the connector's requests and the fake's answers against Finch's own spec
(``vendor-specs/finch-employer-openapi.yaml``), over real loopback HTTP. Finch Connect, ``/auth/token``
and ``/introspect`` are outside that spec (checked by the unit and e2e tests)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from vendor_openapi import OpenAPI, finch_errata
from vendor_requests import Call

from infra.local.fake_hris import FakeHRServer
from infra.local.fake_hris.finch import individual_id
from shared.providers.base import Credentials, Secret, WebhookKind
from shared.providers.common import collect_all
from shared.providers.finch import API_VERSION, Finch
from shared.providers.http import RetryPolicy, Runtime

PAGE = 25
IN_SPEC = ("/employer/directory", "/employer/individual", "/employer/employment", "/employer/company")


@pytest.fixture(scope="module")
def finch_spec() -> OpenAPI:
    return OpenAPI("finch-employer-openapi.yaml", errata=finch_errata)


def credentials(fake: FakeHRServer) -> Credentials:
    given = fake.credentials
    return Credentials(
        secrets={"access_token": Secret(given["access_token"])},
        settings={"base_url": fake.base_url, "company_id": given["company_id"], "provider_name": "Gusto"},
    )


def client(fake: FakeHRServer, *, version: bool = True) -> httpx.Client:
    headers = {"Authorization": f"Bearer {fake.credentials['access_token']}"}
    if version:
        headers["Finch-API-Version"] = API_VERSION
    return httpx.Client(base_url=fake.base_url, headers=headers)


def test_the_erratum_is_still_needed() -> None:
    raw = OpenAPI("finch-employer-openapi.yaml")
    versioned = Call.of(
        "GET", "/employer/directory", {}, {"Authorization": "Bearer t", "Finch-API-Version": API_VERSION}
    )
    assert raw.request_errors(versioned), "the raw spec refuses its own default version"


def test_the_validator_is_strict_about_finchs_schemas(finch_spec: OpenAPI) -> None:
    employment = finch_spec.schema("/employer/employment", "post", 200)
    bad_type = {"responses": [{"individual_id": "x", "code": 200, "body": {"employment": {"type": "robot"}}}]}
    assert finch_spec.errors(employment, bad_type), "employment.type is an enum"
    individual = finch_spec.schema("/employer/individual", "post", 200)
    bad_email = {"responses": [{"individual_id": "x", "code": 200, "body": {"emails": [{"type": "pager"}]}}]}
    assert finch_spec.errors(individual, bad_email), "an email's type is an enum"
    unversioned = Call.of("GET", "/employer/directory", {"limit": ["5"]}, {"Authorization": "Bearer t"})
    assert finch_spec.request_errors(unversioned), "Finch-API-Version is required"
    bad_limit = Call.of(
        "GET",
        "/employer/directory",
        {"limit": ["many"]},
        {"Authorization": "Bearer t", "Finch-API-Version": "x"},
    )
    assert finch_spec.request_errors(bad_limit), "limit is an integer"


def test_the_connectors_requests_match_the_spec(finch: FakeHRServer, finch_spec: OpenAPI) -> None:
    connector = Finch(
        runtime=Runtime(sleep=lambda _s: None), page_size=PAGE, policy=RetryPolicy(max_attempts=1)
    )
    creds = credentials(finch)
    with finch.recording() as exchanges, connector:
        people, _ = collect_all(connector, creds)
        connector.get_employees(creds, [people[0].hris_id, people[-1].hris_id])
        connector.directory(creds)
    finch_spec.assert_recorded_valid(exchanges, IN_SPEC, listing="/employer/directory")
    assert all(e.status == 200 for e in exchanges)
    expected = {e.hris_id: e.status for e in finch.expected_employees(include_deleted=True)}
    assert {e.hris_id: e.status for e in people} == expected


def test_the_fakes_answers_match_the_spec(finch: FakeHRServer, finch_spec: OpenAPI) -> None:
    with client(finch) as api:
        offset, pages, ids = 0, 0, []
        while True:
            answer = api.get("/employer/directory", params={"limit": 20, "offset": offset})
            finch_spec.validate("/employer/directory", "get", 200, answer.json())
            ids += [i["id"] for i in answer.json()["individuals"]]
            offset += 20
            pages += 1
            if offset >= answer.json()["paging"]["count"]:
                break
        assert pages > 2
        requests = {"requests": [{"individual_id": i} for i in ids[:10]]}
        for path in ("/employer/individual", "/employer/employment"):
            batch = api.post(path, json=requests)
            finch_spec.validate(path, "post", 200, batch.json())
            assert [r["code"] for r in batch.json()["responses"]] == [200] * 10
        unknown = api.post(
            "/employer/employment", json={"requests": [{"individual_id": individual_id("nobody")}]}
        )
        assert unknown.json()["responses"][0]["code"] == 404
        finch_spec.validate("/employer/company", "get", 200, api.get("/employer/company").json())
    with client(finch, version=False) as unversioned:
        refused = unversioned.get("/employer/directory")
    assert refused.status_code == 400
    assert set(refused.json()) == {"code", "name", "finch_code", "message"}
    with httpx.Client(base_url=finch.base_url) as anonymous:
        assert (
            anonymous.get("/employer/directory", headers={"Finch-API-Version": API_VERSION}).status_code
            == 401
        )


def test_the_fakes_webhooks_verify_and_name_the_individual(finch: FakeHRServer) -> None:
    vendor = finch.vendor
    _, hired = finch.company.hire("New", "Starter", department="Platform")
    person = finch.company.people()[0]
    changes = {
        WebhookKind.CREATED: hired,
        WebhookKind.UPDATED: finch.company.update(person.id, job_title="Principal"),
    }
    secret = vendor.credentials()["webhook_secret"]
    for kind, change in changes.items():
        [request] = vendor.webhook_requests(change, secret)
        Finch().verify_webhook(request.headers, request.body, Secret(secret), datetime.now(UTC))
        event = Finch().parse_webhook(request.headers, request.body)
        assert event.kind is kind
        assert event.employee_ids == (individual_id(str(change.person_id)),)
