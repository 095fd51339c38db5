"""Slack: the connector's requests and the fake's answers against Slack's own users API spec
(``vendor-specs/slack-web-users-openapi.json``, Swagger 2.0 read as OpenAPI 3 by ``slack_errata``),
and Events API requests against Slack's event wrapper schema; over real loopback HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from jsonschema import Draft7Validator
from vendor_openapi import SPECS, OpenAPI, load_spec, slack_errata
from vendor_requests import Call

from infra.local.fake_hris import FakeHRServer
from shared.providers.base import Credentials, Secret
from shared.providers.common import collect_all
from shared.providers.http import RetryPolicy, Runtime
from shared.providers.slack import Slack

PAGE = 25
# Methods outside the users spec (auth.test, usergroups.list): not checked against it.
IN_SPEC = ("/api/users.list", "/api/users.info")


@pytest.fixture(scope="module")
def slack_spec() -> OpenAPI:
    return OpenAPI("slack-web-users-openapi.json", prefix="/api", errata=slack_errata)


def credentials(fake: FakeHRServer) -> Credentials:
    given = fake.credentials
    return Credentials(
        secrets={
            "access_token": Secret(given["access_token"]),
            "webhook_secret": Secret(given["signing_secret"]),
        },
        settings={"base_url": fake.base_url, "team_id": given["team_id"]},
    )


def test_the_errata_are_needed_and_the_validator_is_strict(slack_spec: OpenAPI) -> None:
    raw = load_spec("slack-web-users-openapi.json")
    assert raw["swagger"] == "2.0", "a Swagger 2.0 document"
    assert isinstance(raw["definitions"]["objs_user"]["items"], list), "'one of' written as items: [...]"
    info = next(p for p in raw["paths"]["/users.info"]["get"]["parameters"] if p["name"] == "token")
    assert info["required"] is True, "the token as a required query parameter"
    user = slack_spec.schema("/api/users.info", "get", 200)
    assert slack_spec.errors(user, {"ok": True, "user": {"id": "U1"}}), (
        "a user's required fields are enforced"
    )
    assert slack_spec.errors(user, {"ok": True, "user": {"id": "lower", "name": "x"}}), "ids are patterned"
    listing = slack_spec.schema("/api/users.list", "get", 200)
    assert slack_spec.errors(listing, {"ok": True, "members": []}), "cache_ts is required"
    bad_query = Call.of("GET", "/api/users.list", {"limit": ["many"]}, {"Authorization": "Bearer x"})
    assert slack_spec.request_errors(bad_query), "limit is an integer"
    unauthenticated = Call.of("GET", "/api/users.list", {"limit": ["5"]})
    assert slack_spec.request_errors(unauthenticated), "the token is required"


def test_the_connectors_requests_match_the_spec(slack: FakeHRServer, slack_spec: OpenAPI) -> None:
    runtime = Runtime(sleep=lambda _s: None)
    connector = Slack(runtime=runtime, page_size=PAGE, policy=RetryPolicy(max_attempts=1))
    creds = credentials(slack)
    with slack.recording() as exchanges, connector:
        people, _ = collect_all(connector, creds)
        connector.get_employees(creds, [people[0].hris_id, people[-1].hris_id])
        connector.check_credentials(creds)
    slack_spec.assert_recorded_valid(exchanges, IN_SPEC, listing="/api/users.list")
    assert all(e.status == 200 for e in exchanges)
    # Everyone the fake has, but its bots and guests; its leavers deactivated.
    expected = {e.hris_id: e.status for e in slack.expected_employees(include_deleted=True)}
    assert {e.hris_id: e.status for e in people} == expected


def test_the_fakes_answers_match_the_spec(slack: FakeHRServer, slack_spec: OpenAPI) -> None:
    token = slack.credentials["access_token"]
    with httpx.Client(base_url=slack.base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        cursor, pages = "", 0
        while True:
            answer = client.get(
                "/api/users.list", params={"limit": 20, **({"cursor": cursor} if cursor else {})}
            )
            slack_spec.validate("/api/users.list", "get", 200, answer.json())
            cursor = answer.json()["response_metadata"]["next_cursor"]
            pages += 1
            if not cursor:
                break
        assert pages > 2
        first = answer.json()["members"][0]["id"]
        slack_spec.validate(
            "/api/users.info", "get", 200, client.get("/api/users.info", params={"user": first}).json()
        )
        refused = client.get("/api/users.info", params={"user": "UNOBODY00"}).json()
        assert refused == {"ok": False, "error": "user_not_found"}
        slack_spec.validate("/api/users.info", "get", 0, refused)
    with httpx.Client(base_url=slack.base_url) as anonymous:
        unauthenticated = anonymous.get("/api/users.list").json()
    assert unauthenticated == {"ok": False, "error": "not_authed"}
    slack_spec.validate("/api/users.list", "get", 0, unauthenticated)


def test_the_fakes_events_match_slacks_event_wrapper(slack: FakeHRServer) -> None:
    if not (SPECS / "slack-events-wrapper-schema.json").is_file():
        pytest.skip("the Slack event wrapper schema is missing")
    schema = json.loads((SPECS / "slack-events-wrapper-schema.json").read_text(encoding="utf-8"))
    validator = Draft7Validator(schema)
    vendor = slack.vendor
    person = slack.company.people()[0]
    _, hired = slack.company.hire("New", "Starter", department="Platform")
    changes = {
        "team_join": hired,
        "user_change": slack.company.update(person.id, job_title="Principal"),
    }
    for kind, change in changes.items():
        [request] = vendor.webhook_requests(change, "s3cret")
        body = json.loads(request.body)
        assert not list(validator.iter_errors(body))
        assert body["event"]["type"] == kind and body["event"]["user"]["id"].startswith("U")
        assert request.headers["X-Slack-Signature"].startswith("v0=")
        Slack().verify_webhook(request.headers, request.body, Secret("s3cret"), datetime.now(UTC))
