"""Webhook verification over the raw bytes: valid, tampered, wrong secret, stale, missing, replayed."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.providers.bamboohr import BambooHR
from shared.providers.base import (
    Provider,
    Secret,
    WebhookEvent,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.employment_hero import EmploymentHero
from shared.providers.finch import Finch
from shared.providers.hibob import HiBob
from shared.providers.merge import Merge
from shared.providers.personio import Personio
from shared.providers.registry import PROVIDER_NAMES, get_provider
from tests.unit.providers.provider_helpers import START, hmac_b64, hmac_b64url, hmac_hex

KEY = "whsec-0123456789"
NOW = START


@dataclass(frozen=True)
class Signed:
    """How one vendor signs a body: the provider and a function body -> headers."""

    provider: Provider
    sign: Callable[[bytes, str], dict[str, str]]
    body: bytes


def bamboo_sign(body: bytes, key: str, at: datetime = NOW) -> dict[str, str]:
    ts = str(int(at.timestamp()))
    return {"X-BambooHR-Signature": hmac_hex(key, body + ts.encode()), "X-BambooHR-Timestamp": ts}


BAMBOO_BODY = json.dumps(
    {
        "type": "employee.updated",
        "timestamp": "2026-11-21T12:00:00Z",
        "data": {"companyId": "1", "employeeId": "42", "changedFields": ["department"]},
    }
).encode()
MERGE_BODY = json.dumps(
    {
        "hook": {"id": "h1", "event": "Employee.changed", "target": "https://x"},
        "linked_account": {"id": "la1"},
        "data": {"id": "0958cbc6-6040-430a-848e-aafacbadf4ae"},
    }
).encode()
HIBOB_BODY = json.dumps(
    {
        "id": "evt-1",
        "type": "employee.updated",
        "triggeredAt": "2026-11-21T12:00:00Z",
        "data": {"employeeId": "3332883884017713238"},
    }
).encode()
PERSONIO_BODY = json.dumps(
    {
        "id": "0f6c7c5e-8d1e-4a8c-9c55-5e3c1e7a2b11",
        "type": "person.updated",
        "created_at": "2026-11-21T12:00:00Z",
        "data": {"id": "12345"},
    }
).encode()


def finch_sign(body: bytes, key: str, event_id: str, at: int) -> dict[str, str]:
    """Finch: ``v1,`` base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` (a key that is not base64
    keys the HMAC as it is)."""
    digest = hmac_b64(key, f"{event_id}.{at}.".encode() + body)
    return {"finch-event-id": event_id, "finch-timestamp": str(at), "finch-signature": f"v1,{digest}"}


FINCH_BODY = json.dumps(
    {
        "company_id": "co-1",
        "event_type": "employment.updated",
        "data": {"individual_id": "5d0b10a1-a09a-430f-81f1-20be735dc5e9"},
    }
).encode()

SIGNED = {
    "bamboohr": Signed(BambooHR(), bamboo_sign, BAMBOO_BODY),
    "merge": Signed(Merge(), lambda b, k: {"X-Merge-Webhook-Signature": hmac_b64url(k, b)}, MERGE_BODY),
    "hibob": Signed(
        HiBob(require_signature=True), lambda b, k: {"bob-signature": hmac_b64(k, b)}, HIBOB_BODY
    ),
    "personio": Signed(Personio(), lambda _b, k: {"Authorization": k}, PERSONIO_BODY),
    "finch": Signed(Finch(), lambda b, k: finch_sign(b, k, "evt-1", int(NOW.timestamp())), FINCH_BODY),
}


@pytest.mark.parametrize("vendor", sorted(SIGNED))
def test_a_valid_signature_is_accepted(vendor: str) -> None:
    case = SIGNED[vendor]
    case.provider.verify_webhook(case.sign(case.body, KEY), case.body, Secret(KEY), NOW)


@pytest.mark.parametrize("vendor", sorted(set(SIGNED) - {"personio"}))
def test_a_tampered_body_is_rejected(vendor: str) -> None:
    case = SIGNED[vendor]
    headers = case.sign(case.body, KEY)
    tampered = case.body.replace(b"updated", b"deleted").replace(b"changed", b"removed")
    assert tampered != case.body
    with pytest.raises(WebhookRejected, match="bad signature"):
        case.provider.verify_webhook(headers, tampered, Secret(KEY), NOW)


def test_a_reserialised_body_fails_verification_the_raw_bytes_are_what_count() -> None:
    case = SIGNED["bamboohr"]
    headers = case.sign(case.body, KEY)
    reserialised = json.dumps(json.loads(case.body), indent=2).encode()
    with pytest.raises(WebhookRejected):
        case.provider.verify_webhook(headers, reserialised, Secret(KEY), NOW)


@pytest.mark.parametrize("vendor", sorted(SIGNED))
def test_a_wrong_secret_is_rejected(vendor: str) -> None:
    case = SIGNED[vendor]
    with pytest.raises(WebhookRejected):
        case.provider.verify_webhook(case.sign(case.body, "some-other-key"), case.body, Secret(KEY), NOW)


@pytest.mark.parametrize("vendor", sorted(SIGNED))
def test_a_missing_header_is_rejected(vendor: str) -> None:
    case = SIGNED[vendor]
    with pytest.raises(WebhookRejected, match="missing"):
        case.provider.verify_webhook({}, case.body, Secret(KEY), NOW)


def test_header_names_are_case_insensitive() -> None:
    case = SIGNED["bamboohr"]
    headers = {k.lower(): v for k, v in case.sign(case.body, KEY).items()}
    case.provider.verify_webhook(headers, case.body, Secret(KEY), NOW)


@pytest.mark.parametrize("skew", [timedelta(seconds=301), timedelta(seconds=-301), timedelta(days=3)])
def test_bamboohr_a_stale_or_future_timestamp_is_rejected(skew: timedelta) -> None:
    headers = bamboo_sign(BAMBOO_BODY, KEY, at=NOW - skew)
    with pytest.raises(WebhookRejected, match="stale"):
        BambooHR().verify_webhook(headers, BAMBOO_BODY, Secret(KEY), NOW)


def test_bamboohr_a_timestamp_inside_the_five_minute_window_is_accepted() -> None:
    headers = bamboo_sign(BAMBOO_BODY, KEY, at=NOW - timedelta(seconds=299))
    BambooHR().verify_webhook(headers, BAMBOO_BODY, Secret(KEY), NOW)


def test_bamboohr_a_replayed_timestamp_cannot_be_swapped_for_a_fresh_one() -> None:
    old = bamboo_sign(BAMBOO_BODY, KEY, at=NOW - timedelta(hours=1))
    replay = {**old, "X-BambooHR-Timestamp": str(int(NOW.timestamp()))}
    with pytest.raises(WebhookRejected, match="bad signature"):
        BambooHR().verify_webhook(replay, BAMBOO_BODY, Secret(KEY), NOW)


def test_bamboohr_uppercase_hex_signature_is_accepted() -> None:
    headers = bamboo_sign(BAMBOO_BODY, KEY)
    headers["X-BambooHR-Signature"] = headers["X-BambooHR-Signature"].upper()
    BambooHR().verify_webhook(headers, BAMBOO_BODY, Secret(KEY), NOW)


def test_hibob_unsigned_deliveries_pass_unless_the_connection_requires_a_signature() -> None:
    HiBob().verify_webhook({}, HIBOB_BODY, Secret(KEY), NOW)
    with pytest.raises(WebhookRejected, match="missing bob-signature"):
        HiBob(require_signature=True).verify_webhook({}, HIBOB_BODY, Secret(KEY), NOW)
    with pytest.raises(WebhookRejected):
        HiBob().verify_webhook({"bob-signature": "AAAA"}, HIBOB_BODY, Secret(KEY), NOW)


def test_hibob_the_connection_setting_require_signature_refuses_unsigned_deliveries() -> None:
    # The connection's setting arrives per delivery (verify_webhook's keyword), whatever the
    # connector was built with; a signed delivery passes either way.
    with pytest.raises(WebhookRejected, match="missing bob-signature"):
        HiBob().verify_webhook({}, HIBOB_BODY, Secret(KEY), NOW, require_signature=True)
    with pytest.raises(WebhookRejected, match="missing bob-signature"):
        HiBob().verify_webhook({"bob-signature": "  "}, HIBOB_BODY, Secret(KEY), NOW, require_signature=True)
    signed = {"bob-signature": hmac_hex(KEY, HIBOB_BODY)}
    HiBob().verify_webhook(signed, HIBOB_BODY, Secret(KEY), NOW, require_signature=True)


def test_hibob_accepts_a_hex_signature_too() -> None:
    HiBob().verify_webhook({"bob-signature": hmac_hex(KEY, HIBOB_BODY)}, HIBOB_BODY, Secret(KEY), NOW)


def test_personio_accepts_the_token_with_a_bearer_prefix() -> None:
    Personio().verify_webhook({"authorization": f"Bearer {KEY}"}, PERSONIO_BODY, Secret(KEY), NOW)


def test_merge_accepts_unpadded_and_standard_base64() -> None:
    signature = hmac_b64url(KEY, MERGE_BODY).rstrip("=")
    Merge().verify_webhook({"X-Merge-Webhook-Signature": signature}, MERGE_BODY, Secret(KEY), NOW)
    standard = hmac_b64(KEY, MERGE_BODY)
    Merge().verify_webhook({"X-Merge-Webhook-Signature": standard}, MERGE_BODY, Secret(KEY), NOW)


def test_employment_hero_publishes_no_webhooks() -> None:
    provider = EmploymentHero()
    assert provider.supports_webhooks is False
    with pytest.raises(WebhookRejected):
        provider.verify_webhook({}, b"{}", Secret(KEY), NOW)
    with pytest.raises(WebhookUnparseable):
        provider.parse_webhook({}, b"{}")


# -- parsing and delivery ids -------------------------------------------------------------------


def test_bamboohr_events_name_the_employee_and_the_kind() -> None:
    event = BambooHR().parse_webhook({}, BAMBOO_BODY)
    assert event == WebhookEvent(WebhookKind.UPDATED, ("42",), event.delivery_id, event.occurred_at)
    assert event.occurred_at == NOW
    for kind in ("created", "deleted"):
        body = BAMBOO_BODY.replace(b"employee.updated", f"employee.{kind}".encode())
        assert BambooHR().parse_webhook({}, body).kind is WebhookKind(kind)


def test_bamboohr_legacy_payloads_list_several_employees() -> None:
    body = json.dumps({"employees": [{"id": "1", "action": "Updated"}, {"id": "2", "action": "Updated"}]})
    event = BambooHR().parse_webhook({}, body.encode())
    assert event.kind is WebhookKind.UPDATED
    assert event.employee_ids == ("1", "2")


# Finch's event id travels in a header, not the body (test_finch covers its delivery ids).
@pytest.mark.parametrize("vendor", sorted(set(SIGNED) - {"finch"}))
def test_replayed_deliveries_share_a_delivery_id_and_distinct_ones_do_not(vendor: str) -> None:
    provider = SIGNED[vendor].provider
    body = SIGNED[vendor].body
    first = provider.parse_webhook({}, body)
    again = provider.parse_webhook({}, body)
    other_body = body.replace(b'"h1"', b'"h2"').replace(b"evt-1", b"evt-2").replace(b"0f6c", b"1f6c")
    other_body = other_body.replace(b"2026-11-21T12:00:00Z", b"2026-11-21T12:00:01Z")
    other = provider.parse_webhook({}, other_body)
    assert first.delivery_id == again.delivery_id
    assert first.delivery_id != other.delivery_id


def test_vendor_event_ids_are_used_as_delivery_ids_when_sent() -> None:
    assert HiBob().parse_webhook({}, HIBOB_BODY).delivery_id == "hibob:evt-1"
    assert Personio().parse_webhook({}, PERSONIO_BODY).delivery_id.startswith("personio:0f6c")
    assert Merge().parse_webhook({}, MERGE_BODY).delivery_id.startswith("sha256:")


@pytest.mark.parametrize(
    "body", [b"Ping test", b'"Ping test"', b'{"text":"Ping test"}', b'{"text": "ping test"}']
)
def test_hibob_ping_is_recognised(body: bytes) -> None:
    event = HiBob().parse_webhook({}, body)
    assert event.kind is WebhookKind.PING
    assert event.employee_ids == ()


def test_hibob_metadata_only_events_give_the_id_to_fetch() -> None:
    event = HiBob().parse_webhook({}, HIBOB_BODY)
    assert (event.kind, event.employee_ids) == (WebhookKind.UPDATED, ("3332883884017713238",))
    lifecycle = HIBOB_BODY.replace(b"employee.updated", b"employee.terminated")
    assert HiBob().parse_webhook({}, lifecycle).kind is WebhookKind.UPDATED
    deleted = HIBOB_BODY.replace(b"employee.updated", b"employee.deleted")
    assert HiBob().parse_webhook({}, deleted).kind is WebhookKind.DELETED


def test_personio_person_and_employment_events() -> None:
    event = Personio().parse_webhook({}, PERSONIO_BODY)
    assert (event.kind, event.employee_ids) == (WebhookKind.UPDATED, ("12345",))
    created = PERSONIO_BODY.replace(b"person.updated", b"person.created")
    assert Personio().parse_webhook({}, created).kind is WebhookKind.CREATED
    employment = json.dumps(
        {"id": "e1", "type": "employment.terminated", "data": {"id": "9", "person_id": "77"}}
    )
    event = Personio().parse_webhook({}, employment.encode())
    assert (event.kind, event.employee_ids) == (WebhookKind.UPDATED, ("77",))


def test_merge_employee_events_and_other_models() -> None:
    event = Merge().parse_webhook({}, MERGE_BODY)
    assert (event.kind, event.employee_ids) == (
        WebhookKind.UPDATED,
        ("0958cbc6-6040-430a-848e-aafacbadf4ae",),
    )
    removed = MERGE_BODY.replace(b"Employee.changed", b"Employee.removed")
    assert Merge().parse_webhook({}, removed).kind is WebhookKind.DELETED
    added = MERGE_BODY.replace(b"Employee.changed", b"Employee.added")
    assert Merge().parse_webhook({}, added).kind is WebhookKind.CREATED
    sync = json.dumps({"hook": {"event": "LinkedAccount.sync_completed"}, "data": {}}).encode()
    assert Merge().parse_webhook({}, sync).employee_ids == ()


@pytest.mark.parametrize("name", PROVIDER_NAMES)
@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b"{}", b"\xff\xfe", b'{"type": 5}', b"null"])
def test_bodies_a_vendor_would_never_send_are_unparseable(name: str, body: bytes) -> None:
    with pytest.raises(WebhookUnparseable):
        get_provider(name).parse_webhook({}, body)


# -- Hypothesis: nothing but our typed rejections, whatever arrives -----------------------------

_HEADER_NAMES = st.sampled_from(
    [
        "X-BambooHR-Signature",
        "X-BambooHR-Timestamp",
        "X-Merge-Webhook-Signature",
        "bob-signature",
        "Authorization",
        "Content-Type",
    ]
)
_HEADERS = st.dictionaries(_HEADER_NAMES, st.text(max_size=80), max_size=6)
_BODIES = st.one_of(
    st.binary(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["employee.created", "employee.updated", "person.deleted", "x"]),
            "data": st.dictionaries(
                st.sampled_from(["employeeId", "id", "person_id"]),
                st.one_of(st.text(max_size=10), st.integers(), st.none()),
            ),
        }
    ).map(lambda value: json.dumps(value).encode()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(PROVIDER_NAMES), headers=_HEADERS, body=_BODIES, secret=st.text(max_size=20))
def test_random_requests_raise_nothing_but_typed_rejections(
    name: str, headers: dict[str, str], body: bytes, secret: str
) -> None:
    provider = get_provider(name)
    with contextlib.suppress(WebhookRejected):
        provider.verify_webhook(headers, body, Secret(secret), NOW)
    try:
        event = provider.parse_webhook(headers, body)
    except WebhookUnparseable:
        return
    assert isinstance(event.kind, WebhookKind)
    assert all(isinstance(i, str) and i for i in event.employee_ids)
    assert event.delivery_id


def test_bamboohr_replay_window_is_configurable() -> None:
    headers = bamboo_sign(BAMBOO_BODY, KEY, at=NOW - timedelta(seconds=90))
    BambooHR().verify_webhook(headers, BAMBOO_BODY, Secret(KEY), NOW)
    with pytest.raises(WebhookRejected, match="stale"):
        BambooHR(replay_window=60).verify_webhook(headers, BAMBOO_BODY, Secret(KEY), NOW)
