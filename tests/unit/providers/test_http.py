"""The shared HTTP layer: bounded retries, Retry-After, typed errors, no credential in messages."""

from __future__ import annotations

import json
import ssl
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from shared.providers.base import ProviderAuthError, ProviderResponseError, ProviderUnavailable
from shared.providers.http import HttpClient, RetryPolicy, parse_retry_after
from tests.unit.providers.provider_helpers import FAST_POLICY, START, FakeTime, json_response

URL = "https://hr.example.test/api/things"


def client(clock: FakeTime, policy: RetryPolicy = FAST_POLICY) -> HttpClient:
    return HttpClient(vendor="testvendor", runtime=clock.runtime(), policy=policy)


@respx.mock
def test_429_then_success_waits_exactly_retry_after_seconds() -> None:
    clock = FakeTime()
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), json_response({"ok": True})]
    )

    assert client(clock).get_json(URL) == {"ok": True}
    assert route.call_count == 2
    assert clock.sleeps == [7.0]


@respx.mock
def test_503_with_retry_after_as_http_date_is_honoured() -> None:
    clock = FakeTime()
    when = format_datetime(START + timedelta(seconds=12), usegmt=True)
    respx.get(URL).mock(side_effect=[httpx.Response(503, headers={"Retry-After": when}), json_response([])])

    assert client(clock).get_json(URL) == []
    assert clock.sleeps == [12.0]


@respx.mock
def test_r09_5xx_until_give_up_raises_provider_unavailable_after_bounded_attempts() -> None:
    clock = FakeTime()
    route = respx.get(URL).mock(return_value=httpx.Response(500))

    with pytest.raises(ProviderUnavailable, match="gave up after 4 attempts"):
        client(clock).get_json(URL)
    assert route.call_count == FAST_POLICY.max_attempts
    # Exponential backoff (full jitter at its upper bound in tests): 1, 2, 4 seconds.
    assert clock.sleeps == [1.0, 2.0, 4.0]


@respx.mock
def test_r09_a_retry_after_beyond_the_time_budget_gives_up_at_once() -> None:
    clock = FakeTime()
    route = respx.get(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "3600"}))

    with pytest.raises(ProviderUnavailable, match="budget"):
        client(clock).get_json(URL)
    assert route.call_count == 1
    assert clock.sleeps == []


@respx.mock
def test_total_time_bounds_the_retries_even_with_attempts_left() -> None:
    clock = FakeTime()
    policy = RetryPolicy(max_attempts=50, base_delay=10.0, max_delay=40.0, max_total=60.0)
    respx.get(URL).mock(return_value=httpx.Response(502))

    with pytest.raises(ProviderUnavailable):
        client(clock, policy).get_json(URL)
    assert sum(clock.sleeps) <= policy.max_total


@respx.mock
def test_network_errors_are_retried_then_succeed() -> None:
    clock = FakeTime()
    respx.get(URL).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), json_response(1)]
    )

    assert client(clock).get_json(URL) == 1
    assert len(clock.sleeps) == 2


@respx.mock
def test_network_errors_until_give_up_raise_provider_unavailable() -> None:
    clock = FakeTime()
    respx.get(URL).mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        client(clock).get_json(URL)


@respx.mock
@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_typed_and_not_retried(status: int) -> None:
    clock = FakeTime()
    route = respx.get(URL).mock(return_value=httpx.Response(status))

    with pytest.raises(ProviderAuthError):
        client(clock).get_json(URL, headers={"Authorization": "Bearer sup3r-s3cret"})
    assert route.call_count == 1


@respx.mock
def test_other_client_errors_are_response_errors_with_the_vendor_message() -> None:
    clock = FakeTime()
    respx.get(URL).mock(return_value=httpx.Response(400, headers={"x-bamboohr-error-message": "bad field"}))

    with pytest.raises(ProviderResponseError, match="HTTP 400: bad field"):
        client(clock).get_json(URL)


@respx.mock
def test_error_messages_never_carry_credentials_or_query_strings() -> None:
    clock = FakeTime()
    respx.get(URL).mock(return_value=httpx.Response(500))

    with pytest.raises(ProviderUnavailable) as caught:
        client(clock).get_json(
            URL, params={"token": "qs-s3cret"}, headers={"Authorization": "Bearer hdr-s3cret"}
        )
    text = str(caught.value) + repr(caught.value)
    assert "s3cret" not in text
    assert "/api/things" in text


@respx.mock
def test_a_body_that_is_not_json_is_a_response_error() -> None:
    respx.get(URL).mock(return_value=httpx.Response(200, text="<html>"))

    with pytest.raises(ProviderResponseError, match="not JSON"):
        client(FakeTime()).get_json(URL)


@respx.mock
def test_a_body_nested_deeper_than_the_parser_goes_is_a_response_error() -> None:
    # Valid JSON the standard parser cannot read (RecursionError): the vendor's fault, typed.
    respx.get(URL).mock(return_value=httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000))

    with pytest.raises(ProviderResponseError, match="not JSON"):
        client(FakeTime()).get_json(URL)


@respx.mock
def test_r25_a_lone_surrogate_from_the_vendor_becomes_u_fffd_and_pairs_are_kept() -> None:
    # JSON may escape half a surrogate pair; Python decodes it into a string no UTF-8 encoder takes.
    body = b'{"name": "Ada\\ud800 L", "\\udc00key": ["x\\uDFFF"], "emoji": "\\ud83d\\ude00"}'
    respx.get(URL).mock(
        return_value=httpx.Response(200, content=body, headers={"content-type": "application/json"})
    )

    document = client(FakeTime()).get_json(URL)

    assert document == {"name": "Ada\ufffd L", "\ufffdkey": ["x\ufffd"], "emoji": "\U0001f600"}
    json.dumps(document, ensure_ascii=False).encode("utf-8")  # storable now


def test_retry_after_forms() -> None:
    assert parse_retry_after("5", START) == 5.0
    assert parse_retry_after(" 0 ", START) == 0.0
    assert parse_retry_after("-3", START) == 0.0
    assert parse_retry_after(None, START) is None
    assert parse_retry_after("soon", START) is None
    assert parse_retry_after("nan", START) is None
    past = format_datetime(START - timedelta(minutes=1), usegmt=True)
    assert parse_retry_after(past, START) == 0.0


def test_backoff_is_full_jitter_within_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    seen: list[float] = []
    clock = FakeTime()
    runtime = clock.runtime()
    runtime = type(runtime)(
        sleep=runtime.sleep,
        monotonic=runtime.monotonic,
        now=runtime.now,
        jitter=lambda u: seen.append(u) or u,
    )
    for retry in range(6):
        policy.backoff(retry, runtime)
    assert seen == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    default = RetryPolicy()
    from shared.providers.http import Runtime

    values = [default.backoff(3, Runtime()) for _ in range(50)]
    assert all(0.0 <= v <= 4.0 for v in values)


@respx.mock
def test_a_request_that_must_not_run_twice_is_not_retried_after_it_may_have_run() -> None:
    clock = FakeTime()
    route = respx.post(URL).mock(side_effect=httpx.ReadTimeout("response lost"))

    with pytest.raises(ProviderUnavailable):
        client(clock).request("POST", URL, idempotent=False)
    assert route.call_count == 1

    route.reset()
    route.mock(side_effect=None, return_value=httpx.Response(500))
    with pytest.raises(ProviderUnavailable, match="HTTP 500"):
        client(clock).request("POST", URL, idempotent=False)
    assert route.call_count == 1
    assert clock.sleeps == []


@respx.mock
def test_a_request_that_must_not_run_twice_is_retried_when_it_surely_did_not_run() -> None:
    clock = FakeTime()
    route = respx.post(URL).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(503, headers={"Retry-After": "1"}),
            httpx.Response(429, headers={"Retry-After": "2"}),
            json_response({"ok": 1}),
        ]
    )

    response = client(clock).request("POST", URL, idempotent=False)

    assert response.json() == {"ok": 1}
    assert route.call_count == 4


@respx.mock
@pytest.mark.parametrize(
    "answer",
    [httpx.Response(401), httpx.Response(500), httpx.Response(200, text="{"), httpx.ReadTimeout("slow")],
)
def test_no_credential_appears_anywhere_in_a_failure_traceback(answer: object) -> None:
    import traceback

    from shared.providers.base import ProviderError

    respx.get(URL).mock(side_effect=[answer] * FAST_POLICY.max_attempts)
    with pytest.raises(ProviderError) as caught:
        client(FakeTime()).get_json(
            URL, headers={"Authorization": "Bearer tb-s3cret"}, auth=None, params={"page": "1"}
        )
    text = "".join(traceback.format_exception(caught.value))
    assert "tb-s3cret" not in text


def _tls_failure(reason: str) -> httpx.ReadError:
    """What httpx raises when the server's TLS alert arrives (TLS 1.3: on the first read)."""
    alert = ssl.SSLError(1, f"[SSL: {reason}] alert")
    alert.reason = reason  # type: ignore[misc]  # OpenSSL sets it; a stand-in here
    try:
        raise httpx.ReadError(str(alert)) from alert
    except httpx.ReadError as error:
        return error


def over_tls(clock: FakeTime, *answers: httpx.ReadError | httpx.Response) -> tuple[HttpClient, list[int]]:
    """An HttpClient whose transport answers ``answers`` in turn (an error raised as is, with its
    cause: respx would re-make it without one); the list counts the requests."""
    sent: list[int] = []

    def answer(_request: httpx.Request) -> httpx.Response:
        sent.append(1)
        given = answers[len(sent) - 1]
        if isinstance(given, Exception):
            raise given
        return given

    transport = httpx.Client(transport=httpx.MockTransport(answer))
    return HttpClient(
        vendor="testvendor", runtime=clock.runtime(), policy=FAST_POLICY, client=transport
    ), sent


@pytest.mark.parametrize(
    "reason",
    ["TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_CERTIFICATE_EXPIRED"],
)
def test_a_server_refusing_our_client_certificate_is_an_auth_error_at_once(reason: str) -> None:
    """Mutual TLS (ADP): the server's alert says our certificate is refused. Retrying cannot
    help, and the admin must read "certificate", not "the HR system did not answer"."""
    clock = FakeTime()
    http, sent = over_tls(clock, _tls_failure(reason))

    with pytest.raises(ProviderAuthError, match="refused our client certificate") as caught:
        http.get_json(URL)
    assert len(sent) == 1 and clock.sleeps == []
    assert caught.value.vendor_message == f"the server refused the client certificate ({reason})"


def test_a_server_certificate_we_do_not_trust_is_not_retried() -> None:
    clock = FakeTime()
    http, sent = over_tls(clock, _tls_failure("CERTIFICATE_VERIFY_FAILED"))

    with pytest.raises(ProviderUnavailable, match="certificate is not trusted"):
        http.get_json(URL)
    assert len(sent) == 1


def test_other_tls_read_errors_are_retried_like_any_network_error() -> None:
    clock = FakeTime()
    http, sent = over_tls(clock, _tls_failure("DECRYPTION_FAILED_OR_BAD_RECORD_MAC"), json_response({}))

    assert http.get_json(URL) == {}
    assert len(sent) == 2
