"""The HTTP layer every connector shares: one httpx client per sync, bounded retries, typed errors.

Retries cover 429, 5xx and network errors, with exponential backoff and full jitter, honouring
``Retry-After`` (seconds or an HTTP date). They are bounded twice: in attempts and in total time.
When the budget is spent the call raises ``ProviderUnavailable`` so the sync marks its snapshot
incomplete (R09), never empty. Sleep, clocks and randomness are injected (``Runtime``) so tests
never really wait.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from shared.providers.base import ProviderAuthError, ProviderResponseError, ProviderUnavailable

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Network failures worth another attempt (a refused connection, a reset, a read timeout ...).
_RETRYABLE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# A request that must not run twice (a refresh-token grant: the token is good once) is retried
# only when it surely did not run: the connection never opened, or the server said "not now".
_UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_REFUSED_STATUSES = frozenset({429, 503})
# Vendor headers that carry a readable error text (BambooHR), safe to show: never a credential.
_ERROR_TEXT_HEADERS = ("x-bamboohr-error-message",)
_MAX_ERROR_TEXT = 200
# TLS alerts by which a server refuses our client certificate (mutual TLS: ADP). OpenSSL's reason
# names; with TLS 1.3 they arrive on the first read after the handshake. Retrying cannot help.
_REFUSED_CERTIFICATE_ALERTS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _jitter(upper: float) -> float:
    return secrets.SystemRandom().uniform(0.0, upper)


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a connector reads from the outside world besides the network: injectable in tests."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = _wall_clock
    # uniform(0, upper): the "full jitter" of a backoff delay.
    jitter: Callable[[float], float] = _jitter


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # The whole call, every attempt and wait included, stays under this.
    max_total: float = 120.0

    def backoff(self, retry: int, runtime: Runtime) -> float:
        """Full jitter: uniform(0, min(max_delay, base * 2**retry))."""
        return runtime.jitter(min(self.max_delay, self.base_delay * (2**retry)))


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    read: float = 30.0
    write: float = 30.0
    pool: float = 5.0

    def as_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), else None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# Where vendors put the reason for an error in a JSON body, most specific first (BambooHR,
# Personio and Employment Hero ``error.message``; HiBob ``message``; Merge ``detail``; OAuth
# servers ``error_description``).
_MESSAGE_PATHS = (
    ("error", "message"),
    ("message",),
    ("error_description",),
    ("detail",),
    ("errors", 0, "message"),
    ("errors", 0, "detail"),
    ("error",),
)
_MAX_ERROR_BODY = 16_384
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_REDACTED = "[redacted]"


def sent_values(
    headers: Mapping[str, str] | None,
    auth: tuple[str, str] | None,
    json_body: Any,
    form: Mapping[str, str] | None,
) -> set[str]:
    """Every credential-like value a request carried (header values and their last word, Basic
    pairs and their encoding, form and top-level JSON string values): what an echo must not show."""
    values: set[str] = set()
    for value in (headers or {}).values():
        values.update((value, value.rsplit(" ", 1)[-1]))
    if auth is not None:
        values.update(auth)
        values.add(base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii"))
    values.update((form or {}).values())
    if isinstance(json_body, Mapping):
        values.update(v for v in json_body.values() if isinstance(v, str))
    # Short values (``x``, ``json``) are not credentials, and redacting them would garble the text.
    return {v for v in values if len(v) >= 6}


def vendor_message(response: httpx.Response, sent: set[str]) -> str | None:
    """What the vendor said about an error (its error header or body), fit to show an admin:
    control characters removed, any value the request carried redacted, at most 200 characters."""
    said = next(
        (response.headers.get(name) for name in _ERROR_TEXT_HEADERS if response.headers.get(name)), None
    )
    if said is None and len(response.content) <= _MAX_ERROR_BODY:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        said = next((v for v in (_at(body, path) for path in _MESSAGE_PATHS) if v), None)
    if not said:
        return None
    text = " ".join(_CONTROL.sub(" ", said).split())
    for value in sorted(sent, key=len, reverse=True):
        text = text.replace(value, _REDACTED)
    return text[:_MAX_ERROR_TEXT] or None


def _at(body: Any, path: tuple[str | int, ...]) -> str | None:
    for step in path:
        if isinstance(step, int):
            body = body[step] if isinstance(body, list) and len(body) > step else None
        else:
            body = body.get(step) if isinstance(body, Mapping) else None
    return body if isinstance(body, str) and body.strip() else None


def _error_text(response: httpx.Response) -> str:
    for name in _ERROR_TEXT_HEADERS:
        text = response.headers.get(name)
        if text:
            return f": {text[:_MAX_ERROR_TEXT]}"
    return ""


@dataclass(slots=True)
class HttpClient:
    """One per sync (per provider instance): holds the httpx client, retries, maps errors to types.

    ``vendor`` names the HR system in error messages; URLs in messages carry the path only, never
    a query string or header, so no credential can leak through them.

    ``ssl_context``: the TLS settings of every connection this client opens, when not httpx's
    defaults (system trust, no client certificate): a vendor that authenticates with a client
    certificate (ADP's mutual TLS) gets a client of its own per certificate.
    """

    vendor: str
    runtime: Runtime = field(default_factory=Runtime)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeouts: Timeouts = field(default_factory=Timeouts)
    client: httpx.Client | None = None
    ssl_context: ssl.SSLContext | None = None

    def _client(self) -> httpx.Client:
        if self.client is None:
            self.client = httpx.Client(
                timeout=self.timeouts.as_httpx(),
                follow_redirects=False,
                verify=self.ssl_context if self.ssl_context is not None else True,
            )
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Any = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        ok_statuses: frozenset[int] = frozenset(),
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send with bounded retries; return a 2xx (or ``ok_statuses``) response or raise typed.

        401/403 -> ``ProviderAuthError``; other 4xx -> ``ProviderResponseError``; 429/5xx/network
        errors retried, then ``ProviderUnavailable``. A request that is not ``idempotent`` is
        retried only when it cannot have run (connect errors, 429, 503).
        """
        where = f"{self.vendor} {method} {httpx.URL(url).path}"
        retry_errors = _RETRYABLE_ERRORS if idempotent else _UNSENT_ERRORS
        retry_statuses = RETRYABLE_STATUSES if idempotent else _REFUSED_STATUSES
        started = self.runtime.monotonic()
        attempt = 0
        while True:
            attempt += 1
            wait: float | None
            try:
                response = self._client().request(
                    method, url, headers=headers, params=params, json=json_body, data=form, auth=auth
                )
            except httpx.RequestError as error:
                alert = _tls_alert(error)
                if alert in _REFUSED_CERTIFICATE_ALERTS:
                    raise ProviderAuthError(
                        f"{where} refused our client certificate in the TLS handshake ({alert})",
                        vendor_message=f"the server refused the client certificate ({alert})",
                    ) from None
                if alert == "CERTIFICATE_VERIFY_FAILED":
                    raise ProviderUnavailable(
                        f"{where} failed: the server's certificate is not trusted (not retried)"
                    ) from None
                if not isinstance(error, retry_errors):
                    # It may have reached the server (a non-idempotent request), or cannot work.
                    raise ProviderUnavailable(
                        f"{where} failed: {type(error).__name__} (not retried)"
                    ) from error
                reason = f"{type(error).__name__}"
                wait = None
            else:
                status = response.status_code
                if 200 <= status < 300 or status in ok_statuses:
                    return response
                if status in (401, 403):
                    said = vendor_message(response, sent_values(headers, auth, json_body, form))
                    raise ProviderAuthError(
                        f"{where} refused the credentials (HTTP {status})" + (f": {said}" if said else ""),
                        vendor_message=said,
                    )
                if status not in retry_statuses:
                    failed = f"{where} failed with HTTP {status}{_error_text(response)}"
                    if status >= 500:
                        raise ProviderUnavailable(f"{failed} (not retried)")
                    raise ProviderResponseError(failed)
                reason = f"HTTP {status}{_error_text(response)}"
                wait = parse_retry_after(response.headers.get("retry-after"), self.runtime.now())
                response.close()
            self._wait_or_give_up(where, reason, attempt, wait, started)

    def _wait_or_give_up(
        self, where: str, reason: str, attempt: int, retry_after: float | None, started: float
    ) -> None:
        policy = self.policy
        if attempt >= policy.max_attempts:
            raise ProviderUnavailable(f"{where} gave up after {attempt} attempts (last: {reason})")
        delay = retry_after if retry_after is not None else policy.backoff(attempt - 1, self.runtime)
        elapsed = self.runtime.monotonic() - started
        if elapsed + delay > policy.max_total:
            raise ProviderUnavailable(
                f"{where} gave up after {attempt} attempts: waiting {delay:.1f}s more would exceed "
                f"the {policy.max_total:.0f}s budget (last: {reason})"
            )
        self.runtime.sleep(delay)

    def get_json(self, url: str, **kwargs: Any) -> Any:
        return decode_json(self.request("GET", url, **kwargs), self.vendor)

    def post_json(self, url: str, **kwargs: Any) -> Any:
        return decode_json(self.request("POST", url, **kwargs), self.vendor)


def _tls_alert(error: BaseException) -> str | None:
    """The OpenSSL reason of the ``ssl.SSLError`` behind an httpx error, if one is (the chain of
    causes, bounded)."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            reason = getattr(seen, "reason", None)
            return reason if isinstance(reason, str) else None
        seen = seen.__cause__ or seen.__context__
    return None


def decode_json(response: httpx.Response, vendor: str) -> Any:
    """The vendor's JSON, with any lone surrogate (R25) replaced by U+FFFD."""
    try:
        document = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        # RecursionError: nested deeper than the parser goes (valid JSON no vendor means).
        raise ProviderResponseError(
            f"{vendor} answered {httpx.URL(str(response.request.url)).path} with a body that is not JSON"
        ) from error
    # JSON can escape half of a surrogate pair (``"\ud800"``): Python decodes it into a string no
    # UTF-8 encoder (pydantic, DynamoDB, the JSON we write) can take, so one such name would fail the
    # whole page. It is not a character, so nothing can store it faithfully: it becomes U+FFFD, as
    # a UTF-8 decoder does with invalid bytes. Only a body that escapes a surrogate is walked.
    if _ESCAPED_SURROGATE.search(response.content):
        return without_lone_surrogates(document)
    return document


_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(document: Any) -> Any:
    """``document`` (decoded JSON) with every lone surrogate in its keys and strings replaced by
    U+FFFD; iterative, so a deep document cannot exhaust the stack."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return _LONE_SURROGATE.sub("\ufffd", value)
        return value

    root: list[Any] = [document]
    pending: list[tuple[Any, Any]] = [(root, 0)]
    while pending:
        container, key = pending.pop()
        value = container[key]
        if isinstance(value, dict):
            value = {clean(k): v for k, v in value.items()}
            container[key] = value
            pending.extend((value, k) for k in value)
        elif isinstance(value, list):
            pending.extend((value, i) for i in range(len(value)))
        else:
            container[key] = clean(value)
    return root[0]
