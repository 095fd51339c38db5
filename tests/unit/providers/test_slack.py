"""Slack: users.list by cursor (R31), statuses and who is left out, user groups, OAuth v2 install,
Events API signatures."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from shared.domain.models import EmployeeStatus
from shared.providers.base import (
    Credentials,
    IncompleteListing,
    ProviderAuthError,
    ProviderUnavailable,
    Secret,
    Tier,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import AuthMethod, ProviderKind, credential_problems
from shared.providers.registry import get_provider, provider_info
from shared.providers.slack import BOT_SCOPES, Slack
from tests.unit.providers.provider_helpers import FAST_POLICY, START, FakeTime, hmac_hex, json_response

API = "https://slack.com/api"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"


def credentials(**settings: str) -> Credentials:
    return Credentials(
        secrets={
            "client_id": Secret("slack-client"),
            "client_secret": Secret("slack-secret"),
            "access_token": Secret("xoxb-token-1"),
            "webhook_secret": Secret(SIGNING),
        },
        settings={
            "team_id": "T0001",
            "team_name": "Acme",
            "granted_scopes": ",".join(BOT_SCOPES),
            **settings,
        },
    )


def connector(clock: FakeTime | None = None, **options: Any) -> Slack:
    return Slack(runtime=(clock or FakeTime()).runtime(), policy=FAST_POLICY, **options)


def user(user_id: str, first: str = "Ada", last: str = "Lovelace", **fields: Any) -> dict[str, Any]:
    profile = {
        "real_name": f"{first} {last}".strip(),
        "display_name": first.lower(),
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower()}@acme.test",
        "title": "Engineer",
        "image_512": f"https://avatars.slack-edge.com/{user_id}_512.png",
        "phone": "+1 555 0100",
    }
    profile.update(fields.pop("profile", {}))
    return {
        "id": user_id,
        "team_id": "T0001",
        "name": first.lower(),
        "deleted": False,
        "is_bot": False,
        "is_app_user": False,
        "updated": 1_700_000_000,
        "profile": profile,
        **fields,
    }


def listing(*members: dict[str, Any], next_cursor: str = "") -> httpx.Response:
    return json_response(
        {
            "ok": True,
            "members": list(members),
            "cache_ts": 1,
            "response_metadata": {"next_cursor": next_cursor},
        }
    )


def no_groups(router: respx.MockRouter) -> None:
    router.get(f"{API}/usergroups.list").mock(return_value=json_response({"ok": True, "usergroups": []}))


def everyone(slack: Slack, creds: Credentials) -> list[Any]:
    people, cursor = [], None
    while True:
        page = slack.list_employees(creds, cursor)
        people.extend(page.employees)
        cursor = page.next_cursor
        if cursor is None:
            return people


# --------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------


def test_catalogue_entry_is_a_basic_directory_connected_by_oauth() -> None:
    info = provider_info("slack")
    assert info.kind is ProviderKind.DIRECTORY
    assert info.tier is Tier.BASIC and info.default_schedule == "rate(24 hours)"
    assert info.methods == (AuthMethod.OAUTH,)
    assert {f.name: f.secret for f in info.oauth_fields} == {"include_guests": False, "include_bots": False}
    assert all(not f.required for f in info.oauth_fields)
    assert info.capabilities == frozenset({"first_name", "last_name", "email", "job_title", "avatar_url"})
    assert isinstance(get_provider("slack"), Slack)


def test_what_the_install_stores_fits_the_catalogue() -> None:
    stored = credentials(include_guests="true", token_expires_at=START.isoformat())
    assert not credential_problems(provider_info("slack"), stored)
    stray = Credentials(secrets={**stored.secrets, "signing_secret": Secret("x")}, settings=stored.settings)
    assert credential_problems(provider_info("slack"), stray).unknown == ("secrets.signing_secret",)


def test_r15_groups_are_a_capability_only_with_the_usergroups_scope() -> None:
    slack = connector()
    assert "groups" in slack.capabilities_for(credentials())
    without = credentials(granted_scopes="users:read,users:read.email")
    assert slack.capabilities_for(without) == frozenset(
        {"first_name", "last_name", "email", "job_title", "avatar_url"}
    )


# --------------------------------------------------------------------------------------------
# Mapping and status
# --------------------------------------------------------------------------------------------


@respx.mock
def test_mapping_names_email_title_avatar_and_raw_without_extra_fields() -> None:
    no_groups(respx.mock)
    respx.get(f"{API}/users.list").mock(return_value=listing(user("U1")))
    [ada] = everyone(connector(), credentials())
    assert (ada.hris_id, ada.first_name, ada.last_name) == ("U1", "Ada", "Lovelace")
    assert (ada.email, ada.job_title) == ("ada@acme.test", "Engineer")
    assert ada.avatar_url == "https://avatars.slack-edge.com/U1_512.png"
    assert ada.status is EmployeeStatus.ACTIVE and not ada.status_unknown
    assert ada.company_id == "T0001"
    assert "phone" not in ada.raw["profile"], "only the fields read are kept"


def test_names_fall_back_to_real_name_then_display_name() -> None:
    slack = connector()
    split = slack.employee(
        user("U1", profile={"first_name": "", "last_name": "", "real_name": "Grace B. Hopper"})
    )
    assert (split.first_name, split.last_name) == ("Grace", "B. Hopper")
    only_display = slack.employee(
        user("U2", profile={"first_name": "", "last_name": "", "real_name": "", "display_name": "gh"})
    )
    assert (only_display.first_name, only_display.last_name) == ("gh", None)


def test_r03_deleted_user_is_terminated_with_a_reason_an_admin_understands() -> None:
    gone = connector().employee(user("U1", deleted=True))
    assert gone.status is EmployeeStatus.TERMINATED
    assert gone.raw_status == "deactivated in Slack"


def test_invited_user_is_pending() -> None:
    invited = connector().employee(user("U1", is_invited_user=True))
    assert invited.status is EmployeeStatus.PENDING
    assert invited.raw_status == "invited to Slack, not joined yet"


def test_missing_email_is_kept_without_an_email() -> None:
    # No users:read.email scope: Slack leaves the email out; the member is still listed (R05 decides).
    employee = connector().employee(user("U1", profile={"email": None}))
    assert employee.email is None and employee.first_name == "Ada"


@respx.mock
def test_bots_apps_slackbot_and_guests_are_left_out_by_default() -> None:
    no_groups(respx.mock)
    respx.get(f"{API}/users.list").mock(
        return_value=listing(
            user("U1"),
            user("USLACKBOT", "Slackbot", "", is_bot=False),
            user("UBOT1", "Deploy", "Bot", is_bot=True),
            user("UAPP1", "Some", "App", is_app_user=True),
            user("UGST1", "Guest", "One", is_restricted=True),
            user("UGST2", "Guest", "Two", is_ultra_restricted=True),
        )
    )
    assert [e.hris_id for e in everyone(connector(), credentials())] == ["U1"]


@respx.mock
def test_the_connection_may_include_guests_and_bots() -> None:
    no_groups(respx.mock)
    respx.get(f"{API}/users.list").mock(
        return_value=listing(
            user("U1"), user("UBOT1", is_bot=True), user("UGST1", is_restricted=True), user("USLACKBOT")
        )
    )
    guests = everyone(connector(), credentials(include_guests="true"))
    assert [e.hris_id for e in guests] == ["U1", "UGST1"]
    both = everyone(connector(), credentials(include_guests="true", include_bots="true"))
    assert [e.hris_id for e in both] == ["U1", "UBOT1", "UGST1", "USLACKBOT"]


# --------------------------------------------------------------------------------------------
# Paging (R31), rate limits, errors
# --------------------------------------------------------------------------------------------


@respx.mock
def test_r31_pages_until_next_cursor_is_empty_and_short_pages_are_not_the_end() -> None:
    no_groups(respx.mock)
    pages = {
        None: listing(user("U1"), next_cursor="dXNlcjpVMg=="),  # one of 200: Slack's pages may be short
        "dXNlcjpVMg==": listing(user("U2"), user("U3"), next_cursor="dXNlcjpVNA=="),
        "dXNlcjpVNA==": listing(user("U4"), next_cursor=""),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        assert query["limit"] == ["200"]
        assert request.headers["Authorization"] == "Bearer xoxb-token-1"
        return pages[query.get("cursor", [None])[0]]

    route = respx.get(f"{API}/users.list").mock(side_effect=answer)
    assert [e.hris_id for e in everyone(connector(), credentials())] == ["U1", "U2", "U3", "U4"]
    assert route.call_count == 3


@respx.mock
def test_r31_a_repeating_cursor_is_an_incomplete_listing() -> None:
    no_groups(respx.mock)
    pages = {None: listing(user("U1"), next_cursor="A"), "A": listing(user("U2"), next_cursor="A")}
    respx.get(f"{API}/users.list").mock(
        side_effect=lambda r: pages[parse_qs(urlsplit(str(r.url)).query).get("cursor", [None])[0]]
    )
    with pytest.raises(IncompleteListing, match="handed out a next cursor it had given before"):
        everyone(connector(), credentials())


@respx.mock
def test_r31_a_list_past_the_largest_company_is_incomplete() -> None:
    no_groups(respx.mock)
    counter = iter(range(1000))
    respx.get(f"{API}/users.list").mock(
        side_effect=lambda _r: listing(user(f"U{next(counter)}"), next_cursor=f"c{next(counter)}")
    )
    with pytest.raises(IncompleteListing, match="still reports more"):
        everyone(connector(max_records=3), credentials())


@respx.mock
def test_429_waits_for_retry_after_then_succeeds() -> None:
    no_groups(respx.mock)
    clock = FakeTime()
    respx.get(f"{API}/users.list").mock(
        side_effect=[
            json_response({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": "7"}),
            listing(user("U1")),
        ]
    )
    assert [e.hris_id for e in everyone(connector(clock), credentials())] == ["U1"]
    assert clock.sleeps == [7.0]


@respx.mock
def test_429_for_longer_than_the_budget_is_unavailable_never_empty() -> None:
    no_groups(respx.mock)
    respx.get(f"{API}/users.list").mock(
        return_value=json_response({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": "30"})
    )
    with pytest.raises(ProviderUnavailable):
        everyone(connector(), credentials())


@respx.mock
def test_ok_false_auth_errors_are_auth_errors_with_slacks_code() -> None:
    respx.get(f"{API}/auth.test").mock(return_value=json_response({"ok": False, "error": "invalid_auth"}))
    with pytest.raises(ProviderAuthError) as refused:
        connector().check_credentials(credentials())
    assert refused.value.vendor_message == "invalid_auth"
    assert "xoxb" not in str(refused.value)


@respx.mock
def test_check_credentials_calls_auth_test() -> None:
    route = respx.get(f"{API}/auth.test").mock(
        return_value=json_response({"ok": True, "team_id": "T0001", "user_id": "UBOT"})
    )
    connector().check_credentials(credentials())
    assert route.calls.last.request.headers["Authorization"] == "Bearer xoxb-token-1"


# --------------------------------------------------------------------------------------------
# users.info, user groups, directory
# --------------------------------------------------------------------------------------------


GROUPS = {
    "ok": True,
    "usergroups": [
        {"id": "S1", "name": "Engineering", "handle": "eng", "date_delete": 0, "users": ["U1", "U2"]},
        {"id": "S2", "name": "Old team", "handle": "old", "date_delete": 1_600_000_000, "users": ["U1"]},
    ],
}


@respx.mock
def test_users_info_fetches_each_named_user_and_skips_unknown_ones() -> None:
    respx.get(f"{API}/usergroups.list").mock(return_value=json_response(GROUPS))

    def answer(request: httpx.Request) -> httpx.Response:
        wanted = parse_qs(urlsplit(str(request.url)).query)["user"][0]
        if wanted == "U404":
            return json_response({"ok": False, "error": "user_not_found"})
        return json_response({"ok": True, "user": user(wanted, deleted=wanted == "U2")})

    respx.get(f"{API}/users.info").mock(side_effect=answer)
    page = connector().get_employees(credentials(), ["U1", "U2", "U404", "not a user id"])
    assert [(e.hris_id, e.status) for e in page.employees] == [
        ("U1", EmployeeStatus.ACTIVE),
        ("U2", EmployeeStatus.TERMINATED),
    ]
    assert page.employees[0].group_ids == ("S1",) and page.employees[0].groups == ("Engineering",)


@respx.mock
def test_get_employees_leaves_out_a_bot_or_guest_like_the_list_does() -> None:
    no_groups(respx.mock)
    respx.get(f"{API}/users.info").mock(
        return_value=json_response({"ok": True, "user": user("UGST1", is_restricted=True)})
    )
    assert connector().get_employees(credentials(), ["UGST1"]).employees == []


@respx.mock
def test_directory_lists_user_groups_with_ids_and_active_counts() -> None:
    respx.get(f"{API}/usergroups.list").mock(return_value=json_response(GROUPS))
    respx.get(f"{API}/users.list").mock(
        return_value=listing(user("U1"), user("U2", "Bob", "Byte", deleted=True))
    )
    directory = connector().directory(credentials())
    assert [(g.id, g.name, g.kind, g.count) for g in directory.groups] == [
        ("S1", "Engineering", "user_group", 1)
    ]
    assert [(c.id, c.name, c.kind) for c in directory.companies] == [("T0001", "Acme", "workspace")]
    assert {p.id for p in directory.people} == {"U1", "U2"}
    assert directory.notes == ()


@respx.mock
def test_directory_without_the_usergroups_scope_says_so_instead_of_failing() -> None:
    respx.get(f"{API}/usergroups.list").mock(
        return_value=json_response({"ok": False, "error": "missing_scope", "needed": "usergroups:read"})
    )
    respx.get(f"{API}/users.list").mock(return_value=listing(user("U1")))
    legacy = Credentials(secrets=credentials().secrets, settings={"team_id": "T0001"})  # scopes unknown
    directory = connector().directory(legacy)
    assert directory.groups == [] and [p.id for p in directory.people] == ["U1"]
    assert directory.notes == ("user groups are not listed: the Slack app was not granted usergroups:read",)


@respx.mock
def test_directory_does_not_ask_for_groups_the_workspace_did_not_grant() -> None:
    route = respx.get(f"{API}/usergroups.list")
    respx.get(f"{API}/users.list").mock(return_value=listing(user("U1")))
    directory = connector().directory(credentials(granted_scopes="users:read,users:read.email"))
    assert not route.called
    assert directory.notes and "usergroups:read" in directory.notes[0]


# --------------------------------------------------------------------------------------------
# OAuth v2 install
# --------------------------------------------------------------------------------------------


def test_authorize_url_asks_for_the_bot_scopes_without_pkce() -> None:
    app = Credentials(secrets={"client_id": Secret("123.456"), "client_secret": Secret("s")})
    url, pkce = connector().start_authorization(
        app, redirect_uri="https://api.example/oauth/callback", state="st"
    )
    assert pkce is None
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "slack.com", "/oauth/v2/authorize")
    query = parse_qs(parts.query)
    assert query["scope"] == ["users:read,users:read.email,usergroups:read,team:read"]
    assert (query["client_id"], query["state"]) == (["123.456"], ["st"])


@respx.mock
def test_install_exchanges_the_code_and_keeps_the_workspace_scopes_and_signing_secret() -> None:
    route = respx.post(f"{API}/oauth.v2.access").mock(
        return_value=json_response(
            {
                "ok": True,
                "access_token": "xoxb-new",
                "token_type": "bot",
                "scope": "users:read,users:read.email",
                "bot_user_id": "UBOT",
                "app_id": "A1",
                "team": {"id": "T0001", "name": "Acme"},
                "enterprise": None,
                "authed_user": {"id": "UADMIN"},
                "refresh_token": "xoxe-1-refresh",
                "expires_in": 43200,
            }
        )
    )
    app = Credentials(
        secrets={
            "client_id": Secret("123.456"),
            "client_secret": Secret("s"),
            "signing_secret": Secret(SIGNING),
        },
        settings={"include_guests": "true"},
    )
    stored = connector().finish_authorization(app, code="c0de", redirect_uri="https://cb", verifier=None)
    form = parse_qs(route.calls.last.request.content.decode())
    assert form == {
        "code": ["c0de"],
        "redirect_uri": ["https://cb"],
        "client_id": ["123.456"],
        "client_secret": ["s"],
    }
    assert stored.secrets["access_token"] == Secret("xoxb-new")
    assert stored.secrets["refresh_token"] == Secret("xoxe-1-refresh")
    assert stored.secrets["webhook_secret"] == Secret(SIGNING) and "signing_secret" not in stored.secrets
    assert stored.settings["team_id"] == "T0001" and stored.settings["team_name"] == "Acme"
    assert stored.settings["granted_scopes"] == "users:read,users:read.email"
    assert stored.settings["include_guests"] == "true"
    assert stored.settings["token_expires_at"] == (START + timedelta(seconds=43200)).isoformat()
    assert not credential_problems(provider_info("slack"), stored)


@respx.mock
def test_install_refused_by_slack_is_an_auth_error() -> None:
    respx.post(f"{API}/oauth.v2.access").mock(
        return_value=json_response({"ok": False, "error": "invalid_code"})
    )
    app = Credentials(secrets={"client_id": Secret("123.456"), "client_secret": Secret("s")})
    with pytest.raises(ProviderAuthError, match="invalid_code"):
        connector().finish_authorization(app, code="bad", redirect_uri="https://cb", verifier=None)


# --------------------------------------------------------------------------------------------
# Events API
# --------------------------------------------------------------------------------------------


def signed(body: bytes, *, at: int | None = None, secret: str = SIGNING) -> dict[str, str]:
    timestamp = str(at if at is not None else int(START.timestamp()))
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + hmac_hex(secret, f"v0:{timestamp}:".encode() + body),
    }


def event(kind: str, user_value: Any, event_id: str = "Ev01") -> bytes:
    return json.dumps(
        {
            "token": "deprecated",
            "team_id": "T0001",
            "api_app_id": "A1",
            "event": {"type": kind, "user": user_value, "event_ts": "1700000000.000100"},
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(START.timestamp()),
            "authed_users": [],
        }
    ).encode()


def test_signature_good_is_accepted() -> None:
    body = event("team_join", user("U9"))
    connector().verify_webhook(signed(body), body, Secret(SIGNING), START)


def test_signature_bad_is_rejected() -> None:
    body = event("team_join", user("U9"))
    with pytest.raises(WebhookRejected, match="bad signature"):
        connector().verify_webhook(signed(body, secret="another"), body, Secret(SIGNING), START)
    tampered = body.replace(b"U9", b"U8")
    with pytest.raises(WebhookRejected, match="bad signature"):
        connector().verify_webhook(signed(body), tampered, Secret(SIGNING), START)
    with pytest.raises(WebhookRejected, match="missing X-Slack-Signature"):
        connector().verify_webhook({"X-Slack-Request-Timestamp": "1"}, body, Secret(SIGNING), START)
    with pytest.raises(WebhookRejected, match="version"):
        headers = {
            **signed(body),
            "X-Slack-Signature": signed(body)["X-Slack-Signature"].replace("v0=", "v1="),
        }
        connector().verify_webhook(headers, body, Secret(SIGNING), START)


def test_signature_stale_timestamp_is_rejected() -> None:
    body = event("team_join", user("U9"))
    old = int(START.timestamp()) - 301
    with pytest.raises(WebhookRejected, match="stale"):
        connector().verify_webhook(signed(body, at=old), body, Secret(SIGNING), START)


def test_signature_replay_of_an_old_delivery_is_rejected_and_redelivery_has_one_id() -> None:
    """A captured request replayed later fails the window; within it, Slack's retries carry the
    same event_id (the delivery id), so applying it twice changes nothing (R24)."""
    body = event("user_change", user("U9"), event_id="Ev42")
    headers = signed(body)
    connector().verify_webhook(headers, body, Secret(SIGNING), START)
    with pytest.raises(WebhookRejected, match="stale"):
        connector().verify_webhook(headers, body, Secret(SIGNING), START + timedelta(minutes=6))
    retry = {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (
        connector().parse_webhook(retry, body).delivery_id
        == connector().parse_webhook(headers, body).delivery_id
    )


def test_team_join_is_a_hire_of_that_user() -> None:
    parsed = connector().parse_webhook({}, event("team_join", user("U9")))
    assert (parsed.kind, parsed.employee_ids, parsed.delivery_id) == (WebhookKind.CREATED, ("U9",), "Ev01")
    assert parsed.occurred_at == START


def test_user_change_is_an_update_and_deleted_true_a_leaver() -> None:
    changed = connector().parse_webhook({}, event("user_change", user("U9")))
    assert (changed.kind, changed.employee_ids) == (WebhookKind.UPDATED, ("U9",))
    gone = connector().parse_webhook({}, event("user_change", user("U9", deleted=True)))
    assert (gone.kind, gone.employee_ids) == (WebhookKind.DELETED, ("U9",))


def test_url_verification_parses_as_a_ping_and_other_events_sync_nothing() -> None:
    challenge = json.dumps({"token": "t", "challenge": "3eZbrw1aB", "type": "url_verification"}).encode()
    assert connector().parse_webhook({}, challenge).kind is WebhookKind.PING
    other = connector().parse_webhook({}, event("app_mention", "U9"))
    assert (other.kind, other.employee_ids) == (WebhookKind.PING, ())


def test_unreadable_events_are_unparseable() -> None:
    for body in (b"not json", b"[]", b'{"type": "event_callback", "event_id": "E1"}', event("team_join", {})):
        with pytest.raises(WebhookUnparseable):
            connector().parse_webhook({}, body)
