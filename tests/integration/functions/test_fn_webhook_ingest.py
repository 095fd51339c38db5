"""``functions/webhook_ingest`` in-process on moto, from the sample events (signed with the test secret)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from functions.webhook_ingest import handler as ingest
from shared import bootstrap
from shared.domain.models import ConnectionStatus
from tests.support.events import TEST_WEBHOOK_SECRET, connection_of, load_event
from tests.support.lambda_stack import Stack, add_connection, aws_ports, fixed_clock, mocked_stack

PROVIDERS = ("bamboohr", "hibob", "personio", "merge", "finch")
EXPECTED = {
    "bamboohr": ("1001", "updated"),
    "hibob": ("3332883884017713100", "updated"),
    "personio": ("8812345", "updated"),
    "merge": ("f8b1a2c3-0000-4000-8000-000000000101", "updated"),
    "finch": ("5d0b10a1-a09a-430f-81f1-20be735dc5e9", "updated"),
}


@pytest.fixture(scope="module")
def _connected() -> Iterator[Stack]:
    """One mocked stack for the module: the ingest writes nothing but queue messages."""
    with mocked_stack() as stack:
        ports = aws_ports()
        for provider in PROVIDERS:
            add_connection(ports, provider)
        yield stack


@pytest.fixture
def connected(_connected: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    bootstrap.reset_all()
    ingest.root.cache_clear()
    root = ingest.root()
    # The sample events were signed at EVENT_TIME (BambooHR's signature covers a timestamp).
    signed = root._replace(ports=replace(root.ports, clock=fixed_clock()))
    monkeypatch.setattr(ingest, "root", lambda: signed)
    yield _connected
    _connected.queued()  # drain what a test left


def _call(event: dict[str, Any], stack: Stack) -> dict[str, Any]:
    return ingest.handler(event, stack.context)


def _body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def _header(response: dict[str, Any], name: str) -> str:
    """A response header as API Gateway reads it (single- or multi-value)."""
    single = response.get("headers") or {}
    if name in single:
        return str(single[name])
    (value,) = (response.get("multiValueHeaders") or {})[name]
    return str(value)


def _addressed_to(event: dict[str, Any], connection_id: str) -> dict[str, Any]:
    """The event as API Gateway sends it for ``POST /webhooks/<connection_id>``."""
    event["path"] = f"/webhooks/{connection_id}"
    event["pathParameters"]["connection_id"] = connection_id
    return event


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_signed_delivery_is_queued_before_the_202(provider: str, connected: Stack) -> None:
    response = _call(load_event(f"webhook_ingest/{provider}"), connected)

    assert response["statusCode"] == 202, response
    (message,) = connected.queued()
    queued = json.loads(message["Body"])
    employee_id, kind = EXPECTED[provider]
    assert queued["connection_id"] == connection_of(provider)
    assert queued["tenant_id"] == "tenant-acme"
    assert queued["provider"] == provider
    assert queued["employee_ids"] == [employee_id]
    assert queued["kind"] == kind
    assert queued["received_at"] == "2026-01-15T12:00:00Z"
    assert _body(response)["delivery_ids"] == [queued["delivery_id"]]


def test_a_base64_body_is_decoded_before_verification(connected: Stack) -> None:
    response = _call(load_event("webhook_ingest/bamboohr_base64"), connected)
    assert response["statusCode"] == 202
    assert len(connected.queued()) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_tampered_body_is_401_and_nothing_is_queued(
    provider: str, connected: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    event = load_event(f"webhook_ingest/{provider}")
    event["body"] = event["body"].replace(EXPECTED[provider][0], "9999")
    if provider == "personio":  # Personio signs nothing: its webhook token is the proof
        event["headers"]["Authorization"] = "Bearer not-the-token"

    response = _call(event, connected)

    assert response["statusCode"] == 401
    assert _body(response)["error"]["code"] == "bad_signature"
    assert connected.queued() == []
    (rejected,) = [r for r in caplog.records if r.getMessage() == "webhook rejected"]
    assert rejected.__dict__["reason"] == "bad_signature"
    assert TEST_WEBHOOK_SECRET not in repr([r.__dict__ for r in caplog.records])


def test_a_missing_signature_is_401(connected: Stack) -> None:
    event = load_event("webhook_ingest/merge")
    del event["headers"]["X-Merge-Webhook-Signature"]
    del event["multiValueHeaders"]["X-Merge-Webhook-Signature"]
    assert _call(event, connected)["statusCode"] == 401


def test_an_authentic_but_unreadable_body_is_400(connected: Stack) -> None:
    event = load_event("webhook_ingest/merge")
    body = b'{"not": "a merge event"}'
    signature = base64.b64encode(hmac.new(TEST_WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest())
    event["body"] = body.decode()
    event["headers"]["X-Merge-Webhook-Signature"] = signature.decode()
    response = _call(event, connected)
    assert response["statusCode"] == 400
    assert _body(response)["error"]["code"] == "unparseable"
    assert connected.queued() == []


def test_an_unknown_connection_is_404(connected: Stack) -> None:
    event = _addressed_to(load_event("webhook_ingest/bamboohr"), "conn-nobody")
    response = _call(event, connected)
    assert response["statusCode"] == 404
    assert _body(response) == {
        "error": {"code": "connection_not_found", "message": "no such webhook endpoint", "details": {}}
    }


@contextmanager
def _disconnected(provider: str, status: ConnectionStatus = ConnectionStatus.DISCONNECTED) -> Iterator[None]:
    """``conn-<provider>`` disconnected (or back to a draft) in the table, by another process than
    the ingest's (the admin API's), for the ``with`` block."""
    ports = aws_ports()
    before = ports.connections.get("tenant-acme", connection_of(provider))
    gone = before.model_copy(update={"status": status, "version": before.version + 1})
    ports.connections.save(gone, expected_version=before.version)
    try:
        yield
    finally:
        back = gone.model_copy(update={"status": ConnectionStatus.ACTIVE, "version": gone.version + 1})
        ports.connections.save(back, expected_version=gone.version, max_active=len(PROVIDERS))


def test_r20_a_disconnected_connection_is_410_gone(connected: Stack) -> None:
    with _disconnected("bamboohr"):
        response = _call(load_event("webhook_ingest/bamboohr"), connected)
    assert response["statusCode"] == 410
    assert _body(response)["error"]["code"] == "connection_disconnected"
    assert connected.queued() == []


def test_r20_a_disconnect_is_410_at_once_even_for_a_warm_container(connected: Stack) -> None:
    # Given a warm ingest container that just accepted a delivery for the connection
    assert _call(load_event("webhook_ingest/bamboohr"), connected)["statusCode"] == 202
    connected.queued()
    # When the admin API disconnects it (another process: the ingest's cache is not told)
    with _disconnected("bamboohr"):
        # Then the very next delivery is refused, not queued from a cached copy for a minute
        response = _call(load_event("webhook_ingest/bamboohr"), connected)
        handshake = _call(load_event("webhook_ingest/slack_url_verification"), connected)
    assert response["statusCode"] == 410
    assert connected.queued() == []
    assert _call(load_event("webhook_ingest/bamboohr"), connected)["statusCode"] == 202  # reconnected
    assert handshake["statusCode"] == 410  # a handshake is not answered for it either


@pytest.mark.parametrize(
    "connection_id",
    ["conn#bamboohr", "T#tenant-acme", "c" * 513, "c" * 10_000, "conn bamboohr", "../conn-bamboohr"],
    ids=["hash", "key-like", "over-512", "10k", "space", "dots"],
)
def test_a_webhook_path_id_of_no_connection_shape_is_404_without_a_read(
    connection_id: str, connected: Stack
) -> None:
    calls: list[str] = []
    cached = ingest.root().ports.connections
    inner = cached._inner  # type: ignore[attr-defined]

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(inner, name)

    cached._inner = Counting()  # type: ignore[attr-defined]
    event = _addressed_to(load_event("webhook_ingest/bamboohr"), connection_id)
    response = _call(event, connected)
    assert response["statusCode"] == 404
    assert _body(response)["error"]["code"] == "connection_not_found"
    assert calls == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_only_a_post_is_a_delivery_another_method_is_404_without_a_read(
    method: str, connected: Stack
) -> None:
    # The resolver routes POST /webhooks/<connection_id> only: a signed body sent with another
    # method (were a route ever added upstream) is no delivery and reads nothing.
    calls: list[str] = []
    cached = ingest.root().ports.connections
    inner = cached._inner  # type: ignore[attr-defined]

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(inner, name)

    cached._inner = Counting()  # type: ignore[attr-defined]
    event = load_event("webhook_ingest/bamboohr")
    event["httpMethod"] = method
    response = _call(event, connected)
    assert response["statusCode"] == 404
    assert _body(response)["error"]["code"] == "connection_not_found"
    assert calls == []
    assert connected.queued() == []


@pytest.mark.parametrize(
    "body",
    [
        "[" * 1000 + "]" * 1000,
        '{"type": "employee.updated", "data": ' + "[" * 1000 + "]" * 1000 + "}",
        '{"type": "url_verification", "challenge": ' + "[" * 1000 + "]" * 1000 + "}",
        '{"type": "employee.updated", "data": {"employeeId": ' + "9" * 5000 + "}}",
    ],
    ids=["nested", "nested-data", "nested-slack-handshake", "int-5000-digits"],
)
def test_a_hostile_json_body_is_400_never_a_crash(body: str, connected: Stack) -> None:
    event = load_event("webhook_ingest/hibob")
    event["body"] = body
    raw = body.encode()
    event["headers"]["bob-signature"] = base64.b64encode(
        hmac.new(TEST_WEBHOOK_SECRET.encode(), raw, hashlib.sha256).digest()
    ).decode()
    event["multiValueHeaders"].pop("bob-signature", None)
    response = _call(event, connected)
    assert response["statusCode"] == 400, response
    assert _body(response)["error"]["code"] == "unparseable"
    assert connected.queued() == []


def _hibob_unsigned() -> dict[str, Any]:
    event = load_event("webhook_ingest/hibob")
    for headers in (event["headers"], event.get("multiValueHeaders") or {}):
        for name in [n for n in headers if n.lower() == "bob-signature"]:
            del headers[name]
    return event


@contextmanager
def _hibob_requiring_signatures(required: bool) -> Iterator[None]:
    ports = aws_ports()
    before = ports.connections.get("tenant-acme", connection_of("hibob"))
    edited = before.model_copy(update={"require_signature": required, "version": before.version + 1})
    ports.connections.save(edited, expected_version=before.version)
    try:
        yield
    finally:
        back = edited.model_copy(update={"require_signature": False, "version": edited.version + 1})
        ports.connections.save(back, expected_version=edited.version)


def test_hibob_an_unsigned_delivery_is_accepted_by_default(connected: Stack) -> None:
    assert _call(_hibob_unsigned(), connected)["statusCode"] == 202
    assert len(connected.queued()) == 1


def test_hibob_require_signature_makes_an_unsigned_delivery_401_at_once(connected: Stack) -> None:
    # Warm: the connection was read while signatures were optional
    assert _call(_hibob_unsigned(), connected)["statusCode"] == 202
    connected.queued()
    with _hibob_requiring_signatures(True):
        unsigned = _call(_hibob_unsigned(), connected)
        signed = _call(load_event("webhook_ingest/hibob"), connected)
    assert unsigned["statusCode"] == 401
    assert _body(unsigned)["error"] == {
        "code": "bad_signature",
        "message": "the request is not authentic: missing bob-signature header",
        "details": {},
    }
    assert signed["statusCode"] == 202
    assert len(connected.queued()) == 1  # the signed one only


def test_a_body_over_1_mb_is_413(connected: Stack) -> None:
    event = load_event("webhook_ingest/bamboohr")
    event["body"] = "x" * (1_048_576 + 1)
    assert _call(event, connected)["statusCode"] == 413
    encoded = load_event("webhook_ingest/bamboohr_base64")
    encoded["body"] = base64.b64encode(b"x" * (1_048_576 + 1)).decode()
    assert _call(encoded, connected)["statusCode"] == 413
    assert connected.queued() == []


def test_invalid_base64_is_400(connected: Stack) -> None:
    event = load_event("webhook_ingest/bamboohr_base64")
    event["body"] = "%%% not base64 %%%"
    assert _call(event, connected)["statusCode"] == 400


def test_microsoft_graph_validation_echoes_the_token_as_plain_text(connected: Stack) -> None:
    event = load_event("webhook_ingest/graph_validation")
    response = _call(event, connected)
    assert response["statusCode"] == 200
    assert _header(response, "Content-Type") == "text/plain"
    assert response["body"] == event["queryStringParameters"]["validationToken"]
    assert connected.queued() == []


def test_slack_url_verification_answers_the_challenge(connected: Stack) -> None:
    event = load_event("webhook_ingest/slack_url_verification")
    response = _call(event, connected)
    assert response["statusCode"] == 200
    assert _body(response) == {"challenge": json.loads(event["body"])["challenge"]}
    assert connected.queued() == []


def test_r32_a_delivery_for_a_draft_is_verified_then_answered_200_and_dropped(connected: Stack) -> None:
    with _disconnected("bamboohr", ConnectionStatus.DRAFT):
        response = _call(load_event("webhook_ingest/bamboohr"), connected)
        tampered = load_event("webhook_ingest/bamboohr")
        tampered["body"] = tampered["body"].replace("1001", "1002")
        refused = _call(tampered, connected)
    assert response["statusCode"] == 200
    assert _body(response) == {"status": "draft"}
    assert refused["statusCode"] == 401  # still verified: a draft is no open door
    assert connected.queued() == []


def test_a_hibob_ping_is_verified_and_answered_without_queueing(connected: Stack) -> None:
    response = _call(load_event("webhook_ingest/hibob_ping"), connected)
    assert response["statusCode"] == 200
    assert _body(response) == {"status": "ping"}
    assert connected.queued() == []
    tampered = load_event("webhook_ingest/hibob_ping")
    tampered["headers"]["bob-signature"] = base64.b64encode(b"0" * 32).decode()
    assert _call(tampered, connected)["statusCode"] == 401


def test_nothing_is_lost_when_the_queue_fails_the_vendor_is_told_to_retry(
    connected: Stack, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = ingest.root()
    from shared.adapters.queue import SqsQueue

    missing = SqsQueue(connected.queue_url + "-missing", client=connected.client("sqs"))
    monkeypatch.setattr(ingest, "root", lambda: root._replace(ports=replace(root.ports, queue=missing)))

    response = _call(load_event("webhook_ingest/bamboohr"), connected)

    assert response["statusCode"] == 503
    assert "webhook not queued" in [r.getMessage() for r in caplog.records]


def test_the_route_is_read_once_per_cache_period_the_connection_on_every_delivery(
    connected: Stack,
) -> None:
    calls: list[str] = []
    cached = ingest.root().ports.connections
    inner = cached._inner  # type: ignore[attr-defined]

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(inner, name)

    # Wrap the cached store's inner store: a second delivery within the period reads the
    # connection (its status may have changed elsewhere), not its route (which never changes).
    cached._inner = Counting()  # type: ignore[attr-defined]
    for _ in range(3):
        assert _call(load_event("webhook_ingest/bamboohr"), connected)["statusCode"] == 202
    assert calls == ["tenant_of", "get", "get", "get"]


def _metrics(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_accepted_and_rejected_webhooks_are_counted_rejections_by_reason(
    connected: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    _call(load_event("webhook_ingest/bamboohr"), connected)
    tampered = load_event("webhook_ingest/hibob")
    tampered["body"] = tampered["body"].replace("employee.updated", "employee.created")
    _call(tampered, connected)

    emitted = _metrics(capsys.readouterr().out)
    accepted = [m for m in emitted if "WebhooksAccepted" in m]
    rejected = [m for m in emitted if "WebhooksRejected" in m]
    assert [m["WebhooksAccepted"] for m in accepted] == [[1.0]]
    assert [(m["reason"], m["WebhooksRejected"]) for m in rejected] == [("bad_signature", [1.0])]
    assert rejected[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "HrisSyncTest"
