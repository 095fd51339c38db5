"""Google Workspace: JWT bearer grant, users.list paging, status (suspended, archived), fields,
org units and groups, users.watch channels and their notifications."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.domain.models import EmployeeStatus
from shared.providers.base import (
    Credentials,
    IncompleteListing,
    ProviderAuthError,
    ProviderSettingsError,
    ProviderUnavailable,
    Secret,
    Subscribes,
    Subscription,
    Tier,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import AuthMethod, ProviderKind
from shared.providers.google import (
    CAPABILITIES,
    GRANT_TYPE,
    SCOPES,
    GoogleWorkspace,
    channel_token,
)
from shared.providers.registry import get_provider, provider_info
from tests.unit.providers.provider_helpers import FAST_POLICY, START, FakeTime, json_response

API = "https://admin.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"
USERS_URL = f"{API}/admin/directory/v1/users"
ORGUNITS_URL = f"{API}/admin/directory/v1/customer/my_customer/orgunits"
GROUPS_URL = f"{API}/admin/directory/v1/groups"
STOP_URL = f"{API}/admin/directory_v1/channels/stop"
SA_EMAIL = "sync@acme-project.iam.gserviceaccount.com"


@cache
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_json() -> str:
    pem = private_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "acme-project",
            "private_key_id": "kid-1",
            "private_key": pem.decode(),
            "client_email": SA_EMAIL,
            "client_id": "1234567890",
            "token_uri": "https://attacker.example/token",
        }
    )


CREDENTIALS = Credentials(
    secrets={"service_account_key": Secret(key_json())}, settings={"subject": "admin@acme.test"}
)


def connector(clock: FakeTime | None = None, **options: Any) -> GoogleWorkspace:
    return GoogleWorkspace(runtime=(clock or FakeTime()).runtime(), policy=FAST_POLICY, **options)


def user(user_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "admin#directory#user",
        "id": user_id,
        "primaryEmail": f"u{user_id}@acme.test",
        "name": {
            "givenName": f"G{user_id}",
            "familyName": f"F{user_id}",
            "fullName": f"G{user_id} F{user_id}",
        },
        "suspended": False,
        "archived": False,
        "orgUnitPath": "/Engineering",
        "creationTime": "2024-03-01T10:00:00.000Z",
        **fields,
    }


def token_ok(request: httpx.Request) -> httpx.Response:
    return json_response({"access_token": "ya29.token", "expires_in": 3599, "token_type": "Bearer"})


def mock_directory(router: respx.MockRouter, *, members: dict[str, list[str]] | None = None) -> None:
    router.post(TOKEN_URL).mock(side_effect=token_ok)
    router.get(ORGUNITS_URL).mock(
        return_value=json_response(
            {
                "organizationUnits": [
                    {
                        "orgUnitId": "id:eng",
                        "orgUnitPath": "/Engineering",
                        "name": "Engineering",
                        "parentOrgUnitPath": "/",
                        "parentOrgUnitId": "id:root",
                    }
                ]
            }
        )
    )
    memberships = members or {}
    router.get(GROUPS_URL).mock(
        return_value=json_response(
            {"groups": [{"id": g, "name": f"Group {g}", "email": f"{g}@acme.test"} for g in memberships]}
        )
    )
    for group, member_ids in memberships.items():
        router.get(f"{GROUPS_URL}/{group}/members").mock(
            return_value=json_response({"members": [{"id": m, "type": "USER"} for m in member_ids]})
        )


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query)


# -- catalogue ---------------------------------------------------------------------------------


def test_catalogue_entry_is_a_basic_directory_with_a_service_account_key() -> None:
    info = provider_info("google_workspace")
    assert info.kind is ProviderKind.DIRECTORY
    assert info.tier is Tier.BASIC and info.default_schedule == "rate(24 hours)"
    assert info.methods == (AuthMethod.API_KEY,)
    fields = {f.name: f for f in info.api_key_fields}
    assert fields["service_account_key"].secret and fields["service_account_key"].required
    assert not fields["subject"].secret and fields["subject"].required
    assert not fields["customer"].required
    assert "Domain-wide delegation" in fields["service_account_key"].help
    assert info.capabilities == CAPABILITIES
    # Google supplies no birthday, start or termination date: those are never blanked (R15).
    assert not CAPABILITIES & {"birthday", "start_date", "termination_date", "company"}
    assert isinstance(get_provider("google_workspace"), Subscribes)


# -- auth --------------------------------------------------------------------------------------


@respx.mock
def test_jwt_assertion_is_rs256_signed_with_the_delegation_claims() -> None:
    route = respx.post(TOKEN_URL).mock(side_effect=token_ok)
    respx.get(USERS_URL).mock(return_value=json_response({"users": []}))
    connector().check_credentials(CREDENTIALS)
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["grant_type"] == [GRANT_TYPE]
    assertion = form["assertion"][0]
    assert jwt.get_unverified_header(assertion) == {"alg": "RS256", "kid": "kid-1", "typ": "JWT"}
    claims = jwt.decode(
        assertion, private_key().public_key(), algorithms=["RS256"], audience=TOKEN_URL, leeway=10**9
    )
    assert claims["iss"] == SA_EMAIL and claims["sub"] == "admin@acme.test"
    assert claims["scope"].split() == list(SCOPES)
    assert claims["iat"] == int(START.timestamp()) and claims["exp"] - claims["iat"] == 3600
    # check_credentials: the grant, then users.list maxResults=1 with the token.
    call = respx.calls.last.request
    assert query(call)["maxResults"] == ["1"] and query(call)["customer"] == ["my_customer"]
    assert call.headers["authorization"] == "Bearer ya29.token"


@respx.mock
def test_the_key_files_own_token_uri_is_never_followed() -> None:
    respx.post(TOKEN_URL).mock(side_effect=token_ok)
    respx.get(USERS_URL).mock(return_value=json_response({"users": []}))
    connector().check_credentials(CREDENTIALS)
    assert all("attacker" not in str(c.request.url) for c in respx.calls)


@respx.mock
def test_the_token_is_cached_until_it_expires_and_handed_back() -> None:
    clock = FakeTime()
    grant = respx.post(TOKEN_URL).mock(side_effect=token_ok)
    mock_directory(respx.mock)
    respx.get(USERS_URL).mock(return_value=json_response({"users": [user("1")]}))
    google = connector(clock)
    page = google.list_employees(CREDENTIALS, None)
    google.list_employees(CREDENTIALS, None)
    assert grant.call_count == 1
    assert page.refreshed_credentials is not None
    stored = page.refreshed_credentials
    assert stored.secrets["access_token"] == Secret("ya29.token")
    # The next step (a new connector) reuses the stored token until it is about to expire.
    connector(clock).list_employees(stored, None)
    assert grant.call_count == 1
    clock.elapsed += 3600
    connector(clock).list_employees(stored, None)
    assert grant.call_count == 2


@respx.mock
def test_a_refused_grant_is_a_typed_auth_error_without_the_key() -> None:
    respx.post(TOKEN_URL).mock(
        return_value=json_response(
            {"error": "unauthorized_client", "error_description": "Client is unauthorized"}, 400
        )
    )
    with pytest.raises(ProviderAuthError) as caught:
        connector().check_credentials(CREDENTIALS)
    assert "domain-wide delegation" in str(caught.value)
    assert "PRIVATE KEY" not in str(caught.value) and "Client is unauthorized" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("not json", "not JSON"),
        (json.dumps({"type": "authorized_user"}), "not a service account"),
        (json.dumps({"type": "service_account", "client_email": "x@y"}), "no client_email or private_key"),
        (json.dumps({"client_email": "x@y", "private_key": "-----BEGIN nope"}), "not a PEM RSA key"),
    ],
)
def test_a_bad_key_is_a_settings_error_naming_the_problem(key: str, problem: str) -> None:
    credentials = Credentials(secrets={"service_account_key": Secret(key)}, settings={"subject": "a@b.test"})
    with pytest.raises(ProviderSettingsError, match=problem):
        connector().check_credentials(credentials)


# -- snapshot ----------------------------------------------------------------------------------


@respx.mock
def test_r31_pages_with_page_token_until_there_is_no_next_page_token() -> None:
    mock_directory(respx.mock)
    pages = {None: ([user("1"), user("2")], "tok-2"), "tok-2": ([user("3")], None)}

    def answer(request: httpx.Request) -> httpx.Response:
        q = query(request)
        assert q["projection"] == ["full"] and q["customer"] == ["my_customer"] and q["maxResults"] == ["2"]
        users, next_token = pages[q.get("pageToken", [None])[0]]
        return json_response({"users": users, **({"nextPageToken": next_token} if next_token else {})})

    respx.get(USERS_URL).mock(side_effect=answer)
    google = connector(page_size=2)
    first = google.list_employees(CREDENTIALS, None)
    assert [e.hris_id for e in first.employees] == ["1", "2"] and first.next_cursor is not None
    second = google.list_employees(CREDENTIALS, first.next_cursor)
    assert [e.hris_id for e in second.employees] == ["3"] and second.next_cursor is None


@respx.mock
def test_r31_short_page_while_google_hands_out_a_next_token_is_incomplete() -> None:
    mock_directory(respx.mock)
    respx.get(USERS_URL).mock(return_value=json_response({"users": [user("1")], "nextPageToken": "more"}))
    with pytest.raises(IncompleteListing):
        connector(page_size=2).list_employees(CREDENTIALS, None)


@respx.mock
def test_429_and_403_rate_limit_are_retried_honouring_retry_after_then_give_up() -> None:
    clock = FakeTime()
    mock_directory(respx.mock)
    limited = {"error": {"code": 403, "errors": [{"reason": "userRateLimitExceeded"}], "message": "slow"}}
    respx.get(USERS_URL).mock(
        side_effect=[
            json_response({}, 429, {"Retry-After": "7"}),
            json_response(limited, 403, {"Retry-After": "3"}),
            json_response({}, 503, {"Retry-After": "2"}),
            json_response({"users": [user("1")]}),
        ]
    )
    page = connector(clock).list_employees(CREDENTIALS, None)
    assert [e.hris_id for e in page.employees] == ["1"]
    assert clock.sleeps == [7.0, 3.0, 2.0]
    respx.get(USERS_URL).mock(return_value=json_response(limited, 403))
    with pytest.raises(ProviderUnavailable):
        connector(clock).list_employees(CREDENTIALS, None)


@respx.mock
def test_a_403_that_is_not_a_rate_limit_is_an_auth_error() -> None:
    mock_directory(respx.mock)
    respx.get(USERS_URL).mock(
        return_value=json_response(
            {"error": {"code": 403, "errors": [{"reason": "forbidden"}], "message": "Not Authorized"}}, 403
        )
    )
    with pytest.raises(ProviderAuthError, match="Not Authorized"):
        connector().list_employees(CREDENTIALS, None)


# -- mapping and status -----------------------------------------------------------------------


def one(record: dict[str, Any], members: dict[str, list[str]] | None = None, **settings: str) -> Any:
    credentials = Credentials(secrets=CREDENTIALS.secrets, settings={**CREDENTIALS.settings, **settings})
    with respx.mock:
        mock_directory(respx.mock, members=members)
        respx.get(USERS_URL).mock(return_value=json_response({"users": [record, user("9")]}))
        respx.get(f"{USERS_URL}/boss@acme.test").mock(return_value=json_response(user("77")))
        respx.get(f"{USERS_URL}/outside@other.test").mock(return_value=json_response({}, 404))
        return connector().list_employees(credentials, None).employees[0]


def test_every_field_is_mapped_from_the_full_projection() -> None:
    employee = one(
        user(
            "1",
            organizations=[
                {"name": "Old Co", "title": "Intern", "department": "X"},
                {
                    "primary": True,
                    "title": "Engineer",
                    "department": "Platform",
                    "costCenter": "CC-42",
                    "location": "HQ",
                },
            ],
            externalIds=[
                {"type": "custom", "customType": "badge", "value": "B1"},
                {"type": "organization", "value": "E-7"},
            ],
            relations=[{"type": "manager", "value": "Boss@Acme.test"}],
            locations=[{"type": "desk", "buildingId": "London-1", "floorName": "3"}],
            addresses=[{"type": "work", "countryCode": "US"}, {"type": "home", "countryCode": "GB"}],
            thumbnailPhotoUrl="https://lh3.googleusercontent.com/a/photo",
            password="never-kept",
        ),
        members={"g-1": ["1"], "g-2": ["9"]},
    )
    assert (employee.first_name, employee.last_name, employee.email) == ("G1", "F1", "u1@acme.test")
    assert employee.employee_number == "E-7"
    assert (employee.job_title, employee.department) == ("Engineer", "Platform")
    assert employee.manager_hris_id == "77"
    assert employee.office_location == "London-1, 3"
    assert employee.home_country == "GB"
    assert employee.avatar_url == "https://lh3.googleusercontent.com/a/photo"
    assert employee.group_ids == ("id:eng", "g-1")
    assert employee.groups == ("/Engineering", "Platform")
    assert employee.status is EmployeeStatus.ACTIVE and not employee.warnings
    assert employee.raw["organizations"][1]["costCenter"] == "CC-42"
    assert employee.raw["creationTime"] == "2024-03-01T10:00:00.000Z"
    assert "password" not in employee.raw


def test_a_suspended_user_is_not_active_and_says_why() -> None:
    employee = one(user("1", suspended=True, suspensionReason="ADMIN"))
    assert employee.status is EmployeeStatus.TERMINATED
    assert employee.raw_status == "suspended in Google Workspace (reason: ADMIN)"
    assert not employee.status_unknown


def test_a_suspended_user_is_on_leave_when_the_connection_says_so() -> None:
    employee = one(user("1", suspended=True), suspended_status="on_leave")
    assert employee.status is EmployeeStatus.ON_LEAVE


def test_an_archived_user_is_terminated() -> None:
    employee = one(user("1", archived=True))
    assert employee.status is EmployeeStatus.TERMINATED
    assert employee.raw_status == "archived in Google Workspace"


def test_a_user_without_a_primary_email_is_kept_with_a_warning() -> None:
    record = user("1")
    del record["primaryEmail"]
    employee = one(record)
    assert employee.email is None
    assert "google_workspace: the user has no primary email" in employee.warnings


def test_a_manager_outside_the_domain_is_no_manager_and_a_warning() -> None:
    employee = one(user("1", relations=[{"type": "manager", "value": "outside@other.test"}]))
    assert employee.manager_hris_id is None
    assert any("manager" in w for w in employee.warnings)


def test_fields_the_discovery_document_types_any_tolerate_odd_shapes() -> None:
    employee = one(user("1", organizations="nope", relations=[1, None], externalIds={}, locations=None))
    assert employee.job_title is None and employee.manager_hris_id is None
    assert employee.employee_number is None and employee.office_location is None


@respx.mock
def test_directory_lists_org_units_and_groups_by_id_with_counts() -> None:
    mock_directory(respx.mock, members={"g-1": ["1", "2"]})
    respx.get(USERS_URL).mock(
        return_value=json_response(
            {"users": [user("1"), user("2", suspended=True), user("3", orgUnitPath="/")]}
        )
    )
    directory = connector().directory(CREDENTIALS)
    groups = {(g.id, g.name, g.kind, g.count) for g in directory.groups}
    assert groups == {
        ("g-1", "Group g-1", "group", 1),
        ("id:eng", "/Engineering", "org_unit", 1),
        ("id:root", "/", "org_unit", 1),
    }
    assert [p.id for p in directory.people] == ["1", "2", "3"]


@respx.mock
def test_get_employees_reads_each_user_and_skips_deleted_ones() -> None:
    mock_directory(respx.mock)
    respx.get(f"{USERS_URL}/5").mock(return_value=json_response(user("5")))
    respx.get(f"{USERS_URL}/6").mock(return_value=json_response({"error": {"code": 404}}, 404))
    page = connector().get_employees(CREDENTIALS, ["5", "6", "../x"])
    assert [e.hris_id for e in page.employees] == ["5"]


# -- push notifications ------------------------------------------------------------------------


@respx.mock
def test_subscribe_opens_a_channel_per_event_with_a_derived_token_and_makes_the_secret() -> None:
    respx.post(TOKEN_URL).mock(side_effect=token_ok)
    bodies: list[dict[str, Any]] = []

    def watch(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append({**body, "event": query(request)["event"][0]})
        expiration = str(int(START.timestamp() * 1000) + 3_600_000)
        return json_response(
            {**body, "kind": "api#channel", "resourceId": f"r-{len(bodies)}", "expiration": expiration}
        )

    respx.post(f"{USERS_URL}/watch").mock(side_effect=watch)
    google = connector()
    subscription, stored = google.subscribe(CREDENTIALS, "https://api.example/webhooks/c1")
    secret = stored.secrets["webhook_secret"]
    assert len(secret.reveal()) >= 32
    assert [b["event"] for b in bodies] == ["add", "update", "delete", "undelete"]
    for body in bodies:
        assert body["type"] == "web_hook" and body["address"] == "https://api.example/webhooks/c1"
        assert body["token"] == channel_token(secret, body["id"])
        assert body["params"] == {"ttl": "172800"}
    assert subscription.expires_at.timestamp() == START.timestamp() + 3600
    assert "users of my_customer" in subscription.resource

    # renew: new channels at the same address, then the old ones stopped.
    stop = respx.post(STOP_URL).mock(return_value=httpx.Response(204))
    renewed = google.renew(stored, subscription)
    assert renewed.id != subscription.id and len(bodies) == 8
    stopped = [json.loads(c.request.content) for c in stop.calls]
    assert stopped == [{"id": b["id"], "resourceId": f"r-{i}"} for i, b in enumerate(bodies[:4], start=1)]
    assert all(b["address"] == "https://api.example/webhooks/c1" for b in bodies[4:])

    google.unsubscribe(stored, renewed)
    assert stop.call_count == 8


@respx.mock
def test_a_failed_watch_stops_the_channels_already_opened() -> None:
    respx.post(TOKEN_URL).mock(side_effect=token_ok)
    respx.post(f"{USERS_URL}/watch").mock(
        side_effect=[
            json_response({"id": "x", "resourceId": "r"}),  # another channel id than asked
        ]
    )
    stop = respx.post(STOP_URL).mock(return_value=httpx.Response(204))
    with pytest.raises(Exception, match="another channel"):
        connector().subscribe(CREDENTIALS, "https://api.example/webhooks/c1")
    assert stop.call_count == 0


def headers(
    state: str, channel: str = "chan-1", token: str | None = None, number: str = "7"
) -> dict[str, str]:
    secret = Secret("s" * 40)
    return {
        "X-Goog-Channel-ID": channel,
        "X-Goog-Channel-Token": token if token is not None else channel_token(secret, channel),
        "X-Goog-Resource-State": state,
        "X-Goog-Message-Number": number,
        "X-Goog-Resource-ID": "r-1",
    }


def test_notifications_are_verified_by_channel_id_and_token_in_constant_time() -> None:
    google, secret = GoogleWorkspace(), Secret("s" * 40)
    google.verify_webhook(headers("update"), b"{}", secret, START)
    with pytest.raises(WebhookRejected):
        google.verify_webhook(headers("update", token="forged"), b"{}", secret, START)
    # A valid token of one channel does not pass with another channel id.
    forged = headers("update", channel="chan-2", token=channel_token(secret, "chan-1"))
    with pytest.raises(WebhookRejected):
        google.verify_webhook(forged, b"{}", secret, START)
    missing = headers("update")
    del missing["X-Goog-Channel-Token"]
    with pytest.raises(WebhookRejected):
        google.verify_webhook(missing, b"{}", secret, START)


def test_sync_is_a_handshake_and_events_become_targeted_plans() -> None:
    google = GoogleWorkspace()
    sync = google.parse_webhook(headers("sync", number="1"), b"")
    assert sync.kind is WebhookKind.PING and sync.employee_ids == ()
    body = json.dumps({"kind": "admin#directory#user", "id": "115", "primaryEmail": "a@acme.test"}).encode()
    assert google.parse_webhook(headers("add"), body).kind is WebhookKind.CREATED
    update = google.parse_webhook(headers("update"), body)
    assert update.kind is WebhookKind.UPDATED and update.employee_ids == ("115",)
    assert update.delivery_id == "chan-1:7"
    assert google.parse_webhook(headers("delete"), body).kind is WebhookKind.DELETED
    assert google.parse_webhook(headers("undelete"), body).kind is WebhookKind.UPDATED
    with pytest.raises(WebhookUnparseable):
        google.parse_webhook(headers("update"), b"{}")
    with pytest.raises(WebhookUnparseable):
        google.parse_webhook(headers("exploded"), body)


def test_subscription_id_round_trips_its_channels() -> None:
    from shared.providers.google import _address_of, _channels_of, _encode_channels

    encoded = _encode_channels([("c1", "r1"), ("c2", "r2")], "https://api.example/webhooks/c1")
    subscription = Subscription(encoded, START)
    assert _channels_of(subscription) == [("c1", "r1"), ("c2", "r2")]
    assert _address_of(subscription) == "https://api.example/webhooks/c1"
