"""What every connector shares: its HTTP client and runtime, opaque cursors, field helpers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from shared.codecs import employee_from
from shared.domain.models import Employee, EmployeeStatus
from shared.providers.base import (
    Credentials,
    Directory,
    DirectoryEntry,
    IncompleteListing,
    InvalidCursor,
    ProviderAuthError,
    ProviderResponseError,
    ProviderSettingsError,
    Secret,
)
from shared.providers.catalogue import ProviderInfo
from shared.providers.http import HttpClient, RetryPolicy, Runtime, Timeouts
from shared.providers.oauth import OAuthToken, TokenKeeper, UnkeptTokens, refresh, token_from, with_token
from shared.providers.status import MappedStatus

# Free text (names, titles, emails ...) longer than this is cut: R25 keeps a thousand characters
# whole, and a member item stays far below DynamoDB's 400 KB. Ids are never cut (``record_id``).
_MAX_TEXT = 2_000
# No company a connector serves is larger: a list that goes on past this many records is a loop.
MAX_LIST_RECORDS = 1_000_000
# How many of the last vendor cursors a list remembers to recognise one handed out again.
CURSOR_HISTORY = 16


class Connector:
    """Base of the connectors: one ``HttpClient`` per instance, so one per sync.

    Build a fresh connector for each sync (``get_provider``) and ``close()`` it (or use it as a
    context manager) when the sync step ends.
    """

    name: str = ""
    # Its catalogue entry (``shared.providers.catalogue.describe``), declared by each connector.
    info: ProviderInfo
    # The most records one list request may ask for (the vendor's maximum); the default size.
    max_page_size: int = 100

    def __init__(
        self,
        *,
        runtime: Runtime | None = None,
        policy: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        http: HttpClient | None = None,
        page_size: int | None = None,
        max_records: int = MAX_LIST_RECORDS,
    ) -> None:
        self.runtime = runtime or Runtime()
        # Directory id -> (name, kind) of every company and group mapped so far (R33): what a
        # directory built from the employees shows for the ids they carry.
        self.seen: dict[str, tuple[str, str]] = {}
        # R31: a list running past this many records is a loop, not a company (tests set it low).
        self.max_records = max(1, max_records)
        # Where OAuth refreshes go (the services give one that coordinates and saves them).
        self.tokens: TokenKeeper = UnkeptTokens()
        # Smaller pages for tests and tuning; never above the vendor's maximum.
        self.page_size = max(1, min(page_size or self.max_page_size, self.max_page_size))
        self.http = http or HttpClient(
            vendor=self.name,
            runtime=self.runtime,
            policy=policy or RetryPolicy(),
            timeouts=timeouts or Timeouts(),
        )

    def close(self) -> None:
        self.http.close()

    def seen_as(self, kind: str, directory_id: str | None, name: str | None) -> str | None:
        """``directory_id``, remembered with its ``name`` and ``kind`` for the directory (R33)."""
        if directory_id is not None and name is not None and directory_id not in self.seen:
            self.seen[directory_id] = (name, kind)
        return directory_id

    def end_of_list(self, page: ListPage, what: str) -> bool:
        """R31 for one page of this connector's lists (``end_of_list`` with its record cap)."""
        return end_of_list(self.name, page, what, self.max_records)

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} provider={self.name!r}>"

    # -- tokens a connector grants itself (client credentials, JWT bearer) ---------------------

    # The token this instance last obtained or used (one sync's connector).
    _granted: OAuthToken | None = None

    def granted_token(
        self,
        credentials: Credentials,
        grant: Callable[[Credentials], OAuthToken],
        *,
        skew: timedelta,
        refused: Secret | None = None,
    ) -> tuple[Secret, Credentials | None]:
        """A usable access token: the cached or stored one until it expires within ``skew``, else
        a new one from ``grant`` through the token keeper (which saves it). ``refused``: the server
        said 401 to that one. Also returns the credentials to store when a new one was granted."""
        now = self.runtime.now()
        if refused is None:
            for candidate in (self._granted, token_from(credentials)):
                if candidate is not None and not candidate.needs_refresh(now, skew):
                    return candidate.access_token, None
            held = token_from(credentials)
            refused = held.access_token if held is not None and held.access_token.reveal() else None

        def exchange(latest: Credentials) -> Credentials:
            return with_token(latest, grant(latest))

        fresh = self.tokens.refresh(credentials, refused, exchange)
        token = token_from(fresh)
        if token is None or not token.access_token.reveal():
            raise ProviderAuthError(f"{self.name}: the token grant left the connection without a token")
        self._granted = token
        return token.access_token, fresh

    # -- credentials --------------------------------------------------------------------------

    def secret(self, credentials: Credentials, name: str) -> Secret:
        value = credentials.secrets.get(name)
        if value is None or not value.reveal():
            raise ProviderAuthError(f"{self.name}: the connection has no {name}")
        return value

    def base_url(self, credentials: Credentials, default: str, key: str = "base_url") -> str:
        """The vendor's host, or the one a connection's setting names (fakes, sandboxes, EU hosts)."""
        value = credentials.settings.get(key)
        if not value:
            return default.rstrip("/")
        return checked_base_url(value, f"{self.name} {key}")

    def today(self) -> date:
        return self.runtime.now().date()

    def capabilities_for(self, credentials: Credentials) -> frozenset[str]:
        """The fields this connection supplies (R15); some vendors supply more by auth mode."""
        capabilities: frozenset[str] = getattr(self, "capabilities", frozenset())
        return capabilities

    # -- OAuth2 bearer requests ---------------------------------------------------------------

    def keep_tokens_with(self, keeper: TokenKeeper) -> None:
        """Send this connector's token refreshes through ``keeper`` (``KeepsTokens``)."""
        self.tokens = keeper

    def _refreshed(
        self, credentials: Credentials, token_url: str, stale: OAuthToken
    ) -> tuple[OAuthToken, Credentials]:
        """Refresh through the keeper (which may hand back a token another caller refreshed)."""

        def exchange(latest: Credentials) -> Credentials:
            current = token_from(latest) or stale
            return with_token(latest, refresh(self.http, token_url, latest, current, self.runtime.now()))

        unusable = stale.access_token if stale.access_token.reveal() else None
        fresh = self.tokens.refresh(credentials, unusable, exchange)
        token = token_from(fresh)
        if token is None:
            raise ProviderAuthError(f"{self.name}: the refresh left the connection without a token")
        return token, fresh

    def bearer(self, credentials: Credentials, token_url: str) -> tuple[OAuthToken, Credentials | None]:
        """A usable access token, refreshed first when it is about to expire."""
        token = token_from(credentials)
        if token is None:
            raise ProviderAuthError(f"{self.name}: the connection has no OAuth token")
        if not token.needs_refresh(self.runtime.now()):
            return token, None
        return self._refreshed(credentials, token_url, token)

    def oauth_get(
        self, credentials: Credentials, url: str, token_url: str, **kwargs: Any
    ) -> tuple[Any, Credentials | None]:
        """GET JSON with the bearer token; refresh and retry once when the server says 401.

        Returns the body and, when a refresh happened, the credentials to store (the new access
        token, the rotated refresh token and the expiry).
        """
        token, refreshed = self.bearer(credentials, token_url)
        try:
            return self.http.get_json(url, headers=bearer_headers(token.access_token), **kwargs), refreshed
        except ProviderAuthError:
            if refreshed is not None or token.refresh_token is None:
                raise
        token, refreshed = self._refreshed(credentials, token_url, token)
        return self.http.get_json(url, headers=bearer_headers(token.access_token), **kwargs), refreshed


def bearer_headers(token: Secret, accept: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {token.reveal()}", "Accept": accept}


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP: where only the local fake HR servers answer."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")


def _ends_in_number(host: str) -> bool:
    """Whether a host's last label is a number (decimal, or hex with 0x): an IPv4 address in a
    shorthand form, never a registered name."""
    return bool(_NUMERIC_LABEL.match(host.rstrip(".").rsplit(".", 1)[-1]))


def checked_base_url(value: str, what: str) -> str:
    """``scheme://host[:port]`` that is safe to send credentials to, without a trailing slash.

    https anywhere public; plain http only to loopback (the fake HR servers). Never userinfo, a
    query or a fragment, and never a private, link-local or metadata address given as an IP:
    credentials and the Lambda's network must not be pointed at internal services.
    """
    try:
        url = httpx.URL(value.strip())
    except (httpx.InvalidURL, TypeError) as error:
        raise ProviderSettingsError(f"{what} is not a URL") from error
    host = url.host
    if url.scheme not in ("https", "http") or not host or url.userinfo or url.query or url.fragment:
        raise ProviderSettingsError(f"{what} must be scheme://host[:port]")
    if url.path not in ("", "/"):
        raise ProviderSettingsError(f"{what} must not carry a path")
    loopback = is_loopback_host(host)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and not loopback and not address.is_global:
        raise ProviderSettingsError(f"{what} points at a private or reserved address")
    if address is None and _ends_in_number(host):
        # 167772161, 0xa000001, 10.1: the resolver reads these as 10.0.0.1 (inet_aton), the check
        # above does not; no public name ends in a number (WHATWG's "ends in a number").
        raise ProviderSettingsError(f"{what} must name its IP address in dotted form (a.b.c.d)")
    if url.scheme == "http" and not loopback:
        raise ProviderSettingsError(f"{what} must use https")
    port = f":{url.port}" if url.port is not None else ""
    bracketed = f"[{host}]" if address is not None and address.version == 6 else host
    return f"{url.scheme}://{bracketed}{port}"


def pick(record: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The part of a vendor record kept in ``Employee.raw``: the fields read, nothing else.

    Vendors send more than a member needs (salaries, bank details, SSNs): none of it is stored.
    """
    return {key: record[key] for key in keys if key in record}


# ---------------------------------------------------------------------------------------------
# Cursors: opaque to callers, a small JSON object inside, tagged with the provider's name
# ---------------------------------------------------------------------------------------------


def encode_cursor(provider: str, state: Mapping[str, Any]) -> str:
    payload = json.dumps({"p": provider, **state}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(payload.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_cursor(provider: str, cursor: str | None) -> dict[str, Any]:
    """The state inside a cursor ({} for the first page); ``InvalidCursor`` for anything else."""
    if cursor is None:
        return {}
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as error:
        raise InvalidCursor(f"{provider}: not a cursor this provider issued") from error
    if not isinstance(state, dict) or state.get("p") != provider:
        raise InvalidCursor(f"{provider}: not a cursor this provider issued")
    state.pop("p")
    return state


def cursor_int(state: Mapping[str, Any], key: str, default: int, provider: str) -> int:
    value = state.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidCursor(f"{provider}: malformed cursor")
    return value


def cursor_history(state: Mapping[str, Any], provider: str) -> list[str]:
    """The digests of the vendor cursors this list has followed so far (``[]`` on the first page)."""
    history = state.get("h", [])
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise InvalidCursor(f"{provider}: malformed cursor")
    return history


# ---------------------------------------------------------------------------------------------
# The end of the list (R31): only the vendor's own signal ends it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListPage:
    """What one page of a vendor's list said about the end of that list."""

    number: int  # 1-based, within this list
    asked: int  # records per page: what was asked for, or the smaller size the vendor says it used
    got: int  # records on this page
    more: bool  # the vendor's own signal that another page follows (a cursor, a page count ...)
    seen: int = 0  # records on this page and every earlier page of the list
    total: int | None = None  # how many records the vendor says the list holds


def end_of_list(vendor: str, page: ListPage, what: str = "records", most: int = MAX_LIST_RECORDS) -> bool:
    """True when ``page`` ends the list; ``IncompleteListing`` when the vendor's signals disagree.

    Every page but the last is full; a list never ends short of the total the vendor reports, and
    never runs past the pages that total, or ``most`` records (the largest company), can fill.
    """
    reported = f" (it reports {page.total})" if page.total is not None else ""
    if not page.more:
        if page.total is not None and page.seen < page.total:
            raise IncompleteListing(
                f"{vendor}: the list ended after {page.seen} {what} while the HR system reports {page.total}"
            )
        return True
    if page.got < page.asked:
        raise IncompleteListing(
            f"{vendor}: page {page.number} held {page.got} of the {page.asked} {what} asked for "
            f"while the HR system reports more{reported}"
        )
    # With a total, its last page must say so; without, one empty page may follow the last full one.
    fillable, last = -(-most // page.asked), -(-most // page.asked) + 1
    if page.total is not None and page.total < most:
        fillable = last = -(-page.total // page.asked)
    if page.number >= last:
        count = page.total if page.total is not None and page.total < most else most
        raise IncompleteListing(
            f"{vendor}: page {page.number} still reports more, past the {fillable} pages of "
            f"{page.asked} that {count} {what} can fill"
        )
    return False


def follow_cursor(vendor: str, history: Sequence[str], received: str) -> list[str]:
    """The history after following ``received``; ``IncompleteListing`` when it was handed out before."""
    digest = hashlib.sha256(received.encode("utf-8")).hexdigest()[:16]
    if digest in history:
        raise IncompleteListing(f"{vendor}: the HR system handed out a next cursor it had given before")
    return [*history, digest][-CURSOR_HISTORY:]


def answered_as_asked(vendor: str, what: str, asked: int, answered: Any) -> None:
    """``IncompleteListing`` when the vendor says it answered another page than the one asked for."""
    if isinstance(answered, int) and not isinstance(answered, bool) and answered != asked:
        raise IncompleteListing(
            f"{vendor}: asked for {what} {asked}, the HR system answered {what} {answered}"
        )


def reported_int(value: Any) -> int | None:
    """A count or size the vendor reports: a non-negative integer, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def page_size_used(asked: int, reported: Any) -> int:
    """The records a full page holds: what was asked for, or the smaller size the vendor used."""
    used = reported_int(reported)
    return used if used is not None and 0 < used < asked else asked


# ---------------------------------------------------------------------------------------------
# Field helpers: vendors send strings, numbers, nulls, empty strings and nested objects
# ---------------------------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """A trimmed non-empty string (numbers become strings), else None."""
    if type(value) is str:  # the common case first: this runs for every field of every record
        stripped = value.strip()
        return stripped[:_MAX_TEXT] if stripped else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        stripped = value.strip()
        return stripped[:_MAX_TEXT] if stripped else None
    return None


def date_text(value: Any) -> date | str | None:
    """A date: parsed when it is ISO (``2020-01-31``, ``2020-01-31T00:00:00+01:00``), the text
    itself when it is not (the domain model then records a "malformed date" warning), None when
    empty. BambooHR's "0000-00-00" means "no date"."""
    result = text(value)
    if result is None or result.startswith("0000"):
        return None
    try:
        return date.fromisoformat(result[:10])
    except ValueError:
        return result


def iso_day(value: Any) -> date | None:
    """The date when ``value`` is an ISO date, else None (``date_text`` without the malformed text)."""
    parsed = date_text(value)
    return parsed if isinstance(parsed, date) else None


def dig(record: Any, *path: str) -> Any:
    """``record[path[0]][path[1]]...`` or None when any step is missing or not an object."""
    current = record
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def as_list(value: Any, what: str, vendor: str) -> list[Any]:
    if not isinstance(value, list):
        raise ProviderResponseError(f"{vendor}: expected a list of {what}")
    return value


def as_object(value: Any, what: str, vendor: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderResponseError(f"{vendor}: expected {what} to be an object")
    return value


def unique(values: Iterable[str | None]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        if value:
            seen.setdefault(value, None)
    return tuple(seen)


def build_employee(
    *,
    hris_id: str,
    mapped: MappedStatus,
    raw: dict[str, Any],
    status: EmployeeStatus | None = None,
    warnings: Iterable[str] = (),
    **fields: Any,
) -> Employee:
    """An ``Employee`` from mapped fields; the domain model stays lenient on dates and emails."""
    all_warnings = [*([mapped.warning] if mapped.warning else []), *warnings]
    return employee_from(
        {
            "hris_id": hris_id,
            **fields,
            "status": status or mapped.status,
            "raw_status": mapped.raw,
            "status_unknown": not mapped.known,
            "warnings": tuple(all_warnings),
            "raw": raw,
        }
    )


def record_id(record: Mapping[str, Any], key: str, vendor: str) -> str:
    """A record's id, trimmed but never cut: an id cut short would be another employee's (R25; one
    too long to store is skipped with a reason when it is written)."""
    raw = record.get(key)
    value = (raw.strip() or None) if isinstance(raw, str) else text(raw)
    if value is None:
        raise ProviderResponseError(f"{vendor}: a record has no {key}")
    return value


def collect_all(provider: Any, credentials: Credentials) -> tuple[list[Employee], Credentials | None]:
    """Every employee, page by page (for ``directory``), and the refreshed credentials if any."""
    employees: list[Employee] = []
    cursor: str | None = None
    current = credentials
    while True:
        page = provider.list_employees(current, cursor)
        employees.extend(page.employees)
        if page.refreshed_credentials is not None:
            current = page.refreshed_credentials
        cursor = page.next_cursor
        if cursor is None:
            return employees, (current if current is not credentials else None)


def grouping_id(kind: str, key: str | None) -> str | None:
    """The directory id of a company or group the vendor identifies only within its kind (by its
    name, or by an id of that kind's own table): ``kind:key``, so a department and a division of
    the same name (or number) stay two entries (R33)."""
    return f"{kind}:{key}" if key else None


def directory_from(
    employees: Iterable[Employee],
    seen: Mapping[str, tuple[str, str]],
    refreshed: Credentials | None = None,
) -> Directory:
    """Companies, groups and people as the employees carry them (vendors without a listing API):
    the ids on the employees (``company_id``, ``group_ids``), named and typed as ``seen`` recorded
    them while mapping, each with the count of its people who are not terminated."""
    companies: dict[str, int] = {}
    groups: dict[str, int] = {}
    people: list[DirectoryEntry] = []
    for employee in employees:
        current = employee.status is not EmployeeStatus.TERMINATED
        if employee.company_id is not None:
            companies[employee.company_id] = companies.get(employee.company_id, 0) + current
        for group in employee.group_ids:
            groups[group] = groups.get(group, 0) + current
        people.append(DirectoryEntry(id=employee.hris_id, name=person_name(employee)))
    return Directory(
        companies=_entries(companies, seen, "company"),
        groups=_entries(groups, seen, "group"),
        people=sorted(people, key=lambda p: (p.name.casefold(), p.id)),
        refreshed_credentials=refreshed,
    )


def person_name(employee: Employee) -> str:
    """How the directory shows a person: their name, else their email, else their id."""
    name = " ".join(part for part in (employee.first_name, employee.last_name) if part)
    return name or employee.email or employee.hris_id


def _entries(
    counts: Mapping[str, int], seen: Mapping[str, tuple[str, str]], kind: str
) -> list[DirectoryEntry]:
    entries = [
        DirectoryEntry(id=i, name=seen.get(i, (i, kind))[0], kind=seen.get(i, (i, kind))[1], count=n)
        for i, n in counts.items()
    ]
    return sorted(entries, key=lambda e: (e.name.casefold(), e.id))
