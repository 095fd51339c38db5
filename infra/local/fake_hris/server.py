"""The HTTP machinery every vendor fake shares: a threaded loopback server, routing, rate limits,
injectable faults, the admin endpoint (``/_admin/...``) and webhook delivery.

A vendor (``Vendor``) supplies its routes, its error shape, its auth and its webhook signing; the
server (``FakeHRServer``) does the rest. Only the standard library is used on the request path.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import shutil
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from shared.codecs import to_plain

from .company import Change, FakeCompany, InvalidChange, Person, UnknownEmployee, vendor_uuid

_T = TypeVar("_T")

JSON_TYPE = "application/json"


# ---------------------------------------------------------------------------------------------
# Requests and responses
# ---------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return str(value) if value is not None else None

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        if not self.body:
            raise ValueError("empty body")
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in urllib.parse.parse_qs(self.body.decode("utf-8", "replace")).items()}

    def payload(self) -> dict[str, Any]:
        """A JSON object or form body as a dict (OAuth token endpoints accept both)."""
        content_type = (self.header("Content-Type") or "").lower()
        if "json" in content_type:
            data = self.json()
            if not isinstance(data, dict):
                raise ValueError("body is not a JSON object")
            return data
        return dict(self.form())


@dataclass(frozen=True)
class Exchange:
    """A request the fake received and the status it answered (recorded by ``recording()``)."""

    request: Request
    status: int


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        body = json.dumps(data, separators=(",", ":"), default=_json_default).encode()
        return cls(status=status, body=body, headers={"Content-Type": JSON_TYPE, **(headers or {})})


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class HttpError(Exception):
    """Raised by a handler to answer with a ready response (the vendor's error shape)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler

    @classmethod
    def of(cls, method: str, path: str, handler: Handler) -> Route:
        """``path`` with ``{name}`` placeholders (one path segment each)."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
        return cls(method, re.compile(f"^{regex}$"), handler)


# ---------------------------------------------------------------------------------------------
# Limits and faults
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    requests: int
    per_seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"50/60"`` or ``"50/min"`` or ``"10/s"``: requests per window."""
        count, _, window = text.partition("/")
        seconds = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0}.get(window.strip())
        try:
            return cls(int(count), seconds if seconds is not None else float(window or 60))
        except ValueError:
            raise ValueError(f"rate limit {text!r} is not N/seconds, N/s or N/min") from None


class RateLimiter:
    """A sliding window: at most ``requests`` in any ``per_seconds``; else how long to wait."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def check(self) -> int | None:
        now = time.monotonic()
        with self._lock:
            while self._hits and now - self._hits[0] >= self.limit.per_seconds:
                self._hits.popleft()
            if len(self._hits) >= self.limit.requests:
                return max(1, math.ceil(self.limit.per_seconds - (now - self._hits[0])))
            self._hits.append(now)
            return None


FaultKind = Literal["error", "slow", "bad_cursor", "short_page", "repeat_cursor"]
FAULT_KINDS: tuple[str, ...] = ("error", "slow", "bad_cursor", "short_page", "repeat_cursor")


@dataclass
class Fault:
    """Something going wrong on list pages: ``page`` is 1-based, ``None`` means every page.

    ``error`` answers ``status`` (the vendor's error body); ``slow`` waits ``delay`` seconds first;
    ``bad_cursor`` hands out a next cursor the server will then reject. The paging faults of R31
    answer 200 OK and lie about the list: ``short_page`` leaves the page's last ``missing``
    records out while its totals and next cursor still say the page was full; ``repeat_cursor``
    hands out as next cursor the one the page was asked with (cursor vendors: BambooHR OAuth,
    Merge), or answers the first page again whatever page was asked for (page and offset
    vendors: BambooHR datasets, Personio, Employment Hero). HiBob has no paging: it ignores both.
    ``times`` is how many requests it hits (``None``: until cleared).
    """

    kind: FaultKind = "error"
    page: int | None = None
    status: int = 503
    delay: float = 0.0
    times: int | None = 1
    missing: int = 5
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {self.kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if not 400 <= int(self.status) <= 599 or self.delay < 0 or (self.page is not None and self.page < 1):
            raise ValueError("a fault needs a 4xx/5xx status, a delay >= 0 and a page >= 1")
        if self.missing < 1:
            raise ValueError("a short page leaves out at least 1 record (missing >= 1)")

    def matches(self, page: int) -> bool:
        return (self.page is None or self.page == page) and (self.times is None or self.hits < self.times)


@dataclass
class PageFaults:
    delay: float = 0.0
    status: int | None = None
    bad_cursor: bool = False
    # R31 lies: records left out of a page that still claims to be full; a cursor handed out again.
    missing: int = 0
    repeat: bool = False

    def shorten(self, records: list[_T]) -> list[_T]:
        """The page as a ``short_page`` fault serves it: its last ``missing`` records left out."""
        return records[: max(0, len(records) - self.missing)] if self.missing else records


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def on_page(self, page: int) -> PageFaults:
        result = PageFaults()
        with self._lock:
            for fault in self._faults:
                if not fault.matches(page):
                    continue
                fault.hits += 1
                if fault.kind == "slow":
                    result.delay += fault.delay
                elif fault.kind == "bad_cursor":
                    result.bad_cursor = True
                elif fault.kind == "short_page":
                    result.missing = max(result.missing, fault.missing)
                elif fault.kind == "repeat_cursor":
                    result.repeat = True
                elif result.status is None:
                    result.status = fault.status
        return result


# ---------------------------------------------------------------------------------------------
# TLS (a fake that speaks mutual TLS: ADP Workforce Now)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerTls:
    """A fake's TLS: its certificate chain and private key (PEM) and, for mutual TLS, the CA whose
    client certificates it requires (a client without one is refused at the handshake). Test
    material made at start (``infra.local.fake_hris.tls``), never a real key."""

    certificate_chain: str
    private_key: str
    client_ca: str | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        folder = Path(tempfile.mkdtemp(prefix="fake-hris-tls-"))
        try:
            chain, key = folder / "server.pem", folder / "server.key"
            chain.write_text(self.certificate_chain, encoding="utf-8")
            key.write_text(self.private_key, encoding="utf-8")
            key.chmod(0o600)
            context.load_cert_chain(chain, key)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if self.client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=self.client_ca)
        return context


# ---------------------------------------------------------------------------------------------
# Vendors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookRequest:
    body: bytes
    headers: dict[str, str]


class Vendor(ABC):
    """One HR system's API over the shared company."""

    name: str
    default_rate_limit: RateLimit | None = None

    def __init__(self, server: FakeHRServer) -> None:
        self.server = server
        self._memo: dict[str, tuple[int, Any]] = {}

    @property
    def company(self) -> FakeCompany:
        return self.server.company

    @abstractmethod
    def routes(self) -> list[Route]: ...

    @abstractmethod
    def error(self, status: int, code: str, message: str) -> Response:
        """The vendor's error response."""

    def rate_limited(self, retry_after: int) -> Response:
        response = self.error(429, "too_many_requests", "Rate limit exceeded")
        response.headers["Retry-After"] = str(retry_after)
        return response

    def unauthorized(self, message: str = "Invalid credentials") -> HttpError:
        return HttpError(self.error(401, "unauthorized", message))

    @abstractmethod
    def credentials(self) -> dict[str, str]:
        """What a connection to this fake needs (printed by the CLI, used by tests)."""

    @abstractmethod
    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:
        """The signed deliveries the vendor sends for a change (empty: the vendor sends none)."""

    def server_tls(self) -> ServerTls | None:
        """The TLS the vendor's API is served with (None: plain HTTP on loopback, most fakes)."""
        return None

    def on_change(self, change: Change) -> None:
        """Called for every change: vendors that push to subscriptions (Google's watch channels)
        deliver here; the others send ``webhook_requests`` to the ``webhooks_to`` URL."""
        del change

    def expected_employee(self, person: Person) -> Any:
        """The domain employee a connector should produce for this person (ids as this vendor's)."""
        return person.employee

    def memo(self, name: str, compute: Callable[[], _T]) -> _T:
        """A view derived from the company, computed once per company revision."""
        revision = self.company.revision
        found = self._memo.get(name)
        if found is None or found[0] != revision:
            found = (revision, compute())
            self._memo[name] = found
        value: _T = found[1]
        return value

    def by_uuid(self, kind: str) -> dict[str, Person]:
        """People (deleted ones too) by their vendor UUID (``vendor_uuid(kind, id)``)."""
        return self.memo(
            f"uuid:{kind}",
            lambda: {vendor_uuid(kind, p.key): p for p in self.company.people(include_deleted=True)},
        )

    def page_faults(self, page: int) -> PageFaults:
        """Apply the faults configured for a list page: sleep, or raise the vendor's 5xx."""
        faults = self.server.faults.on_page(page)
        if faults.delay:
            time.sleep(faults.delay)
        if faults.status is not None:
            raise HttpError(self.error(faults.status, "server_error", "Injected failure"))
        return faults

    def bad_request(self, message: str, code: str = "bad_request") -> HttpError:
        return HttpError(self.error(400, code, message))


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


@dataclass
class Delivery:
    url: str
    status: int | None
    error: str | None
    headers: dict[str, str]
    body: str


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        request = Request(
            method=self.command,
            path=urllib.parse.unquote(split.path),
            query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        response = self.server.fake.dispatch(request)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815 - stdlib names

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a fake server serving 50,000 employees must not flood the terminal."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], fake: FakeHRServer, tls: ssl.SSLContext | None = None
    ) -> None:
        self.fake = fake
        super().__init__(address, _HTTPHandler)
        if tls is not None:
            # The handshake runs in the request's own thread (finish_request), never in the
            # accepting one: a client that stalls or is refused holds up nobody else.
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(10)
                request.do_handshake()
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                # No client certificate, or one no CA the fake trusts signed: refused.
                self.fake.handshake_refused()
                return
        super().finish_request(request, client_address)


class FakeHRServer:
    """A vendor's fake HR API on 127.0.0.1, over a mutable company. A context manager.

    ``hire``/``terminate``/``move``/``change_manager``/``start_leave``/``end_leave``/``update``/
    ``delete`` change the company and send the vendor's signed webhook to the URL configured with
    ``webhooks_to`` (the same operations are on the admin endpoint, ``/_admin/...``).
    """

    def __init__(
        self,
        vendor: type[Vendor],
        company: FakeCompany,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: RateLimit | Literal["vendor"] | None = "vendor",
        options: Mapping[str, Any] | None = None,
        tls: ServerTls | None = None,
    ) -> None:
        if not _is_loopback(f"http://{host}/"):
            raise ValueError("the fake HR server listens on loopback only")
        self.company = company
        self.options: dict[str, Any] = dict(options or {})
        self.faults = Faults()
        self.vendor = vendor(self)
        # HTTPS (mutual TLS when it names a client CA) when given or when the vendor speaks it.
        self.tls = tls if tls is not None else self.vendor.server_tls()
        # TLS handshakes refused (no client certificate, or one from another CA).
        self.refused_handshakes = 0
        self._refusals = threading.Condition()
        limit = self.vendor.default_rate_limit if rate_limit == "vendor" else rate_limit
        self._limiter = RateLimiter(limit) if limit is not None else None
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._routes = self.vendor.routes()
        self._webhook: tuple[str, str] | None = None
        self.deliveries: list[Delivery] = []
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._recordings: list[list[Exchange]] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeHRServer:
        if self._server is None:
            context = self.tls.context() if self.tls is not None else None
            self._server = _Server((self._host, self._port), self, context)
            self._thread = threading.Thread(
                target=self._server.serve_forever, name=f"fake-{self.vendor.name}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeHRServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake HR server is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self._host}:{self.port}"

    @property
    def oauth_base_url(self) -> str:
        """Where the vendor's OAuth endpoints are (the same server for the fakes)."""
        return self.base_url

    @property
    def credentials(self) -> dict[str, str]:
        return self.vendor.credentials()

    def handshake_refused(self) -> None:
        with self._refusals:
            self.refused_handshakes += 1
            self._refusals.notify_all()

    def wait_refused(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` TLS handshakes were refused (the refusing thread counts it just
        after the client saw the alert); False when they were not within ``timeout``."""
        with self._refusals:
            return self._refusals.wait_for(lambda: self.refused_handshakes >= count, timeout)

    # -- configuration --------------------------------------------------------------------------

    def set_rate_limit(self, limit: RateLimit | None) -> None:
        self._limiter = RateLimiter(limit) if limit is not None else None

    def add_fault(self, fault: Fault) -> Fault:
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def webhooks_to(self, url: str | None, secret: str = "") -> None:
        """Send the vendor's signed webhook for each change to ``url`` (loopback only)."""
        if url is None:
            self._webhook = None
            return
        if not _is_loopback(url):
            raise InvalidChange("webhooks go to loopback addresses only")
        self._webhook = (url, secret)

    def expected_employees(self, *, include_deleted: bool = False) -> list[Any]:
        """The domain employees a connector should produce from this fake."""
        return [
            self.vendor.expected_employee(p) for p in self.company.people(include_deleted=include_deleted)
        ]

    @contextmanager
    def recording(self) -> Iterator[list[Exchange]]:
        """Every vendor request received inside the block, as it came over the wire, in order."""
        exchanges: list[Exchange] = []
        with self._stats_lock:
            self._recordings.append(exchanges)
        try:
            yield exchanges
        finally:
            with self._stats_lock:
                self._recordings.remove(exchanges)

    # -- changes (Python API) -------------------------------------------------------------------

    def hire(self, first_name: str, last_name: str, **fields: Any) -> Person:
        person, change = self.company.hire(first_name, last_name, **fields)
        self._notify(change)
        return person

    def terminate(self, person_id: int | str, *, on: date | None = None) -> Change:
        return self._notify(self.company.terminate(person_id, on=on))

    def rehire(self, person_id: int | str, *, on: date | None = None) -> Change:
        return self._notify(self.company.rehire(person_id, on=on))

    def move(self, person_id: int | str, **fields: Any) -> Change:
        return self._notify(self.company.move(person_id, **fields))

    def change_manager(self, person_id: int | str, manager_id: int | str | None) -> Change:
        return self._notify(self.company.change_manager(person_id, manager_id))

    def start_leave(self, person_id: int | str) -> Change:
        return self._notify(self.company.start_leave(person_id))

    def end_leave(self, person_id: int | str) -> Change:
        return self._notify(self.company.end_leave(person_id))

    def update(self, person_id: int | str, **fields: Any) -> Change:
        return self._notify(self.company.update(person_id, **fields))

    def delete(self, person_id: int | str) -> Change:
        return self._notify(self.company.delete(person_id))

    def _notify(self, change: Change) -> Change:
        self.vendor.on_change(change)
        if self._webhook is not None:
            url, secret = self._webhook
            for hook in self.vendor.webhook_requests(change, secret):
                self.deliveries.append(_deliver(url, hook))
        return change

    # -- dispatch -------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        try:
            if request.path.startswith("/_admin/"):
                return self._admin(request)
            response = self._vendor_dispatch(request)
        except HttpError as exc:
            response = exc.response
        with self._stats_lock:
            self.stats[f"{request.method} {request.path}"] += 1
            self.stats[f"status {response.status}"] += 1
            if not request.path.startswith("/_admin/"):
                for exchanges in self._recordings:
                    exchanges.append(Exchange(request, response.status))
        return response

    def _vendor_dispatch(self, request: Request) -> Response:
        matched_path = False
        for route in self._routes:
            match = route.pattern.match(request.path)
            if match is None:
                continue
            matched_path = True
            if route.method != request.method:
                continue
            if self._limiter is not None:
                retry_after = self._limiter.check()
                if retry_after is not None:
                    return self.vendor.rate_limited(retry_after)
            request.params = match.groupdict()
            return route.handler(request)
        if matched_path:
            return self.vendor.error(405, "method_not_allowed", "Method not allowed")
        return self.vendor.error(404, "not_found", "Not found")

    # -- admin ----------------------------------------------------------------------------------

    def _admin(self, request: Request) -> Response:
        try:
            body = request.json() if request.body else {}
            if not isinstance(body, dict):
                raise InvalidChange("the body is a JSON object")
            return self._admin_route(request, body)
        except UnknownEmployee as exc:
            return Response.json({"error": str(exc)}, 404)
        except (InvalidChange, ValueError, TypeError) as exc:
            return Response.json({"error": str(exc).splitlines()[0] if str(exc) else "invalid"}, 400)

    def _admin_route(self, request: Request, body: dict[str, Any]) -> Response:  # noqa: C901, PLR0911
        parts = request.path.strip("/").split("/")[1:]
        method = request.method
        if parts == ["employees"] and method == "GET":
            return Response.json([_employee_json(p) for p in self.company.people(include_deleted=True)])
        if parts == ["employees"] and method == "POST":
            fields = _dates(body, ("birthday", "start_date"))
            if "first_name" not in fields or "last_name" not in fields:
                raise InvalidChange("a hire needs first_name and last_name")
            person = self.hire(fields.pop("first_name"), fields.pop("last_name"), **fields)
            return Response.json(_employee_json(person), 201)
        if len(parts) >= 2 and parts[0] == "employees":
            person_id = parts[1]
            action = parts[2] if len(parts) > 2 else ""
            if method == "GET" and not action:
                return Response.json(_employee_json(self.company.get(person_id)))
            if method == "DELETE" and not action:
                return Response.json(asdict_change(self.delete(person_id)))
            if method == "POST":
                change = self._admin_action(person_id, action, body)
                return Response.json(
                    {"change": asdict_change(change), "employee": _employee_json(self.company.get(person_id))}
                )
        if parts == ["webhooks"] and method in ("PUT", "POST"):
            self.webhooks_to(str(body.get("url") or ""), str(body.get("secret") or ""))
            return Response.json({"url": body.get("url")})
        if parts == ["webhooks"] and method == "DELETE":
            self.webhooks_to(None)
            return Response.json({})
        if parts == ["webhooks", "deliveries"] and method == "GET":
            return Response.json([asdict(d) for d in self.deliveries])
        if parts == ["faults"] and method == "POST":
            fault = self.add_fault(Fault(**body))
            return Response.json(asdict(fault), 201)
        if parts == ["faults"] and method == "GET":
            return Response.json([asdict(f) for f in self.faults.list()])
        if parts == ["faults"] and method == "DELETE":
            self.clear_faults()
            return Response.json({})
        if parts == ["rate-limit"] and method in ("PUT", "POST"):
            limit = body.get("requests")
            self.set_rate_limit(
                RateLimit(int(limit), float(body.get("per_seconds", 60))) if limit is not None else None
            )
            return Response.json({"requests": limit, "per_seconds": body.get("per_seconds", 60)})
        if parts == ["stats"] and method == "GET":
            with self._stats_lock:
                return Response.json(dict(self.stats))
        if parts == ["credentials"] and method == "GET":
            return Response.json(self.credentials)
        return Response.json({"error": f"no admin route {method} {request.path}"}, 404)

    def _admin_action(self, person_id: str, action: str, body: dict[str, Any]) -> Change:  # noqa: PLR0911
        fields = _dates(body, ("on", "birthday", "start_date", "termination_date"))
        if action == "terminate":
            return self.terminate(person_id, on=fields.get("on"))
        if action == "rehire":
            return self.rehire(person_id, on=fields.get("on"))
        if action == "move":
            return self.move(person_id, **fields)
        if action == "manager":
            return self.change_manager(person_id, fields.get("manager_id"))
        if action == "leave":
            return self.start_leave(person_id)
        if action == "return":
            return self.end_leave(person_id)
        if action == "update":
            return self.update(person_id, **fields)
        raise InvalidChange(f"unknown action {action!r}")


def _dates(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    fields = dict(body)
    for name in names:
        value = fields.get(name)
        if isinstance(value, str):
            try:
                fields[name] = date.fromisoformat(value)
            except ValueError:
                raise InvalidChange(f"{name} is not an ISO date: {value[:20]!r}") from None
    return fields


def asdict_change(change: Change) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "event": change.event,
        "employee_id": str(change.person_id),
        "changed_fields": list(change.changed_fields),
        "at": change.at.isoformat(),
    }


def _employee_json(person: Person) -> dict[str, Any]:
    data = to_plain(person.employee, exclude={"raw", "warnings"})
    data["deleted"] = person.deleted
    return data


def _deliver(url: str, hook: WebhookRequest) -> Delivery:
    request = urllib.request.Request(url, data=hook.body, headers=hook.headers, method="POST")  # noqa: S310
    status: int | None = None
    error: str | None = None
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback only
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        status, error = exc.code, exc.reason if isinstance(exc.reason, str) else str(exc.reason)
    except (urllib.error.URLError, OSError) as exc:
        error = str(exc)
    shown = {k: ("**********" if k.lower() == "authorization" else v) for k, v in hook.headers.items()}
    return Delivery(url=url, status=status, error=error, headers=shown, body=hook.body.decode())
