"""BambooHR: API key (HTTP Basic) or OAuth2, each through the endpoints the vendor's spec allows.

- An API-key connection reads everyone, leavers included, through the Datasets API
  (``POST /api/v2/datasets/employee/data``, Basic allowed) with a filter naming both statuses:
  ``GET /api/v1/employees`` accepts OAuth only, and ``employees/directory`` holds active people
  only, so a connector reading it could never see a leaver.
- An OAuth connection pages ``GET /api/v1/employees`` twice: ``filter[status]=active`` then
  ``filter[status]=inactive``.
- Webhook follow-ups: an API-key connection asks a custom report restricted to the ids
  (``POST /api/v1/reports/custom`` with ``filters.employeeIds``, Basic allowed, every status), an
  OAuth connection ``GET /api/v1/employees?filter[ids]=``; ``GET /api/v1/employees/changed``
  (Basic and OAuth) names what changed since a time.
- Webhooks: ``X-BambooHR-Signature`` = lowercase hex HMAC-SHA256 of the raw body followed by
  ``X-BambooHR-Timestamp`` (unix seconds), keyed with the webhook's private key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.domain.models import Employee, EmployeeStatus
from shared.providers.base import (
    Credentials,
    Directory,
    EmployeePage,
    IncompleteListing,
    InvalidCursor,
    ProviderAuthError,
    ProviderSettingsError,
    Secret,
    Tier,
    WebhookEvent,
    WebhookKind,
    WebhookUnparseable,
)
from shared.providers.catalogue import CredentialField, ProviderKind, describe, webhook_secret_field
from shared.providers.common import (
    Connector,
    ListPage,
    answered_as_asked,
    as_list,
    as_object,
    build_employee,
    collect_all,
    cursor_history,
    cursor_int,
    date_text,
    decode_cursor,
    dig,
    directory_from,
    encode_cursor,
    follow_cursor,
    grouping_id,
    page_size_used,
    pick,
    record_id,
    reported_int,
    text,
    unique,
)
from shared.providers.oauth import Pkce, authorization_url, exchange_code, token_from, with_token
from shared.providers.status import MappedStatus, status_map
from shared.providers.webhooks import (
    DEFAULT_REPLAY_WINDOW,
    as_id,
    body_digest,
    check_unix_timestamp,
    decode_hex,
    hmac_sha256,
    parse_iso_datetime,
    parse_json_object,
    require_same,
    required_header,
)

DATASET = "employee"
# What an OAuth connection asks for: non-sensitive employee data and a refresh token.
OAUTH_SCOPE = "offline_access employee employee:job employee:photo"
# BambooHR field aliases, as the Datasets API and custom reports name them.
DATASET_FIELDS = (
    "id",
    "firstName",
    "lastName",
    "preferredName",
    "workEmail",
    "employeeNumber",
    "jobTitle",
    "department",
    "division",
    "location",
    "country",
    "dateOfBirth",
    "hireDate",
    "terminationDate",
    "supervisorEId",
    "status",
    "employmentHistoryStatus",
    "photoUrl",
)
# Both statuses named on purpose: leavers and future hires are "Inactive".
DATASET_FILTER = "status in ('Active','Inactive')"
EMPLOYEE_FIELDS = (
    "workEmail",
    "birthDate",
    "hireDate",
    "departmentName",
    "divisionName",
    "locationName",
    "employmentStatusName",
    "reportsToId",
)
# What GET /api/v1/employees always answers, besides the fields asked for.
API_BASE_FIELDS = (
    "employeeId",
    "firstName",
    "lastName",
    "preferredName",
    "photoUrl",
    "jobTitleName",
    "status",
)
STATUS_PHASES = ("active", "inactive")
DATASET_PAGE_SIZE = 1000  # the Datasets API maximum (GET /api/v1/employees allows 2500)
IDS_PER_REQUEST = 100

_COMPANY_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
STATUSES = status_map("bamboohr", active=("Active",), terminated=("Inactive",))
# Employment status names are the company's own list; these mean "away, not gone".
_LEAVE_WORDS = ("leave", "furlough", "sabbatical")
_TERMINATED_WORDS = ("terminated",)

# What both auth modes supply (R15). The dataset (API key) also supplies the extras.
CAPABILITIES = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "avatar_url",
        "job_title",
        "department",
        "groups",
        "office_location",
        "birthday",
        "start_date",
        "manager_hris_id",
    }
)
DATASET_EXTRAS = frozenset({"employee_number", "home_country", "termination_date"})


COMPANY_DOMAIN = CredentialField(
    "company_domain",
    "Company domain",
    "The name before .bamboohr.com in your BambooHR address: acme for https://acme.bamboohr.com.",
    secret=False,
)
API_KEY = CredentialField(
    "api_key",
    "API key",
    "In BambooHR, click your name at the top right, then API Keys, then Add New Key. The key acts "
    "with your user's access: use an account that can see every employee, past employees included.",
    secret=True,
)
WEBHOOK_KEY = webhook_secret_field(
    "Webhook private key",
    "Optional, for changes within minutes: in BambooHR, Settings > Webhooks > Add Webhook, point it "
    "at this connection's webhook URL and paste the private key BambooHR shows once the webhook is saved.",
)


@dataclass(frozen=True, slots=True)
class ChangedEmployees:
    """``employees/changed``: employee id -> ``Inserted|Updated|Deleted``."""

    changes: Mapping[str, str]
    # The latest change in the answer: the next ``since``.
    latest: datetime | None
    refreshed_credentials: Credentials | None = None


class BambooHR(Connector):
    name = "bamboohr"
    tier = Tier.FULL
    capabilities = CAPABILITIES
    supports_webhooks = True
    max_page_size = DATASET_PAGE_SIZE
    info = describe(
        id=name,
        name="BambooHR",
        kind=ProviderKind.HRIS,
        tier=tier,
        capabilities=capabilities,
        supports_webhooks=supports_webhooks,
        api_key_fields=(COMPANY_DOMAIN, API_KEY, WEBHOOK_KEY),
        oauth_fields=(COMPANY_DOMAIN,),
        oauth=True,
    )

    def __init__(self, *, replay_window: float = DEFAULT_REPLAY_WINDOW, **options: Any) -> None:
        super().__init__(**options)
        # How old (or how far ahead) a signed webhook timestamp may be, in seconds.
        self.replay_window = replay_window

    def capabilities_for(self, credentials: Credentials) -> frozenset[str]:
        return CAPABILITIES | DATASET_EXTRAS if self._uses_api_key(credentials) else CAPABILITIES

    # -- hosts and auth -----------------------------------------------------------------------

    def _base(self, credentials: Credentials) -> str:
        if credentials.settings.get("base_url"):
            return self.base_url(credentials, "")
        domain = credentials.settings.get("company_domain") or credentials.settings.get("subdomain")
        if not domain:
            raise ProviderSettingsError("bamboohr: the connection has neither base_url nor company_domain")
        if not _COMPANY_DOMAIN.fullmatch(domain):
            raise ProviderSettingsError("bamboohr: company_domain is not a BambooHR subdomain")
        return f"https://{domain.lower()}.bamboohr.com"

    @staticmethod
    def _uses_api_key(credentials: Credentials) -> bool:
        return "api_key" in credentials.secrets

    def _oauth_base(self, credentials: Credentials) -> str:
        return self.base_url(credentials, self._base(credentials), key="oauth_base_url")

    def _token_url(self, credentials: Credentials) -> str:
        return self._oauth_base(credentials) + "/token.php"

    # -- OAuth connect (authorization code; BambooHR documents no PKCE: state only) -----------

    # The settings asked before the redirect: the catalogue's OAuth fields.
    oauth_settings = frozenset(f.name for f in info.oauth_fields)

    def start_authorization(
        self, credentials: Credentials, *, redirect_uri: str, state: str, scope: str | None = None
    ) -> tuple[str, Pkce | None]:
        """The company's own authorize page (``https://{company_domain}.bamboohr.com/authorize.php``)."""
        url = authorization_url(
            f"{self._oauth_base(credentials)}/authorize.php",
            client_id=self.secret(credentials, "client_id").reveal(),
            redirect_uri=redirect_uri,
            state=state,
            pkce=None,
            scope=scope or OAUTH_SCOPE,
            extra={"request": "authorize"},
        )
        return url, None

    def finish_authorization(
        self, credentials: Credentials, *, code: str, redirect_uri: str, verifier: Secret | None
    ) -> Credentials:
        token = exchange_code(
            self.http,
            self._token_url(credentials),
            client_id=self.secret(credentials, "client_id").reveal(),
            client_secret=self.secret(credentials, "client_secret"),
            code=code,
            redirect_uri=redirect_uri,
            verifier=verifier,
            now=self.runtime.now(),
        )
        return with_token(credentials, token)

    def _oauth_get(
        self, credentials: Credentials, url: str, params: Mapping[str, str]
    ) -> tuple[Any, Credentials | None]:
        if token_from(credentials) is None:
            raise ProviderAuthError("bamboohr: the connection has neither api_key nor access_token")
        return self.oauth_get(credentials, url, self._token_url(credentials), params=params)

    def check_credentials(self, credentials: Credentials) -> None:
        """One row of the endpoint the connection reads: a dataset page of one (API key), or one
        active employee (OAuth)."""
        if self._uses_api_key(credentials):
            self._dataset(credentials, DATASET_FILTER, 1, fields=("id",), page_size=1)
            return
        params = {"filter[status]": STATUS_PHASES[0], "page[limit]": "1"}
        self._oauth_get(credentials, f"{self._base(credentials)}/api/v1/employees", params)

    # -- snapshot -----------------------------------------------------------------------------

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        state = decode_cursor(self.name, cursor)
        if self._uses_api_key(credentials):
            return self._dataset_page(credentials, state)
        return self._employees_page(credentials, state)

    def _dataset_page(self, credentials: Credentials, state: Mapping[str, Any]) -> EmployeePage:
        page = cursor_int(state, "page", 1, self.name) or 1
        seen_before = cursor_int(state, "seen", 0, self.name)
        body = as_object(self._dataset(credentials, DATASET_FILTER, page), "the dataset response", self.name)
        employees = [self._from_dataset(row) for row in _dataset_rows(body)]
        answered_as_asked(self.name, "page", page, dig(body, "meta", "page"))
        seen = seen_before + len(employees)
        listed = ListPage(
            number=page,
            asked=page_size_used(self.page_size, dig(body, "meta", "pageSize")),
            got=len(employees),
            more=_dataset_has_more(body, page),
            seen=seen,
            total=reported_int(dig(body, "meta", "totalItems")),
        )
        if self.end_of_list(listed, "employees"):
            return EmployeePage(employees, None)
        return EmployeePage(employees, encode_cursor(self.name, {"page": page + 1, "seen": seen}))

    def _dataset(
        self,
        credentials: Credentials,
        filter_text: str,
        page: int,
        *,
        fields: Sequence[str] = DATASET_FIELDS,
        page_size: int | None = None,
    ) -> Any:
        api_key = self.secret(credentials, "api_key")
        return self.http.post_json(
            f"{self._base(credentials)}/api/v2/datasets/{DATASET}/data",
            json_body={
                "fields": list(fields),
                "filter": filter_text,
                "page": page,
                "pageSize": page_size or self.page_size,
            },
            auth=(api_key.reveal(), "x"),
            headers={"Accept": "application/json"},
        )

    def _employees_page(self, credentials: Credentials, state: Mapping[str, Any]) -> EmployeePage:
        phase = state.get("status", STATUS_PHASES[0])
        after = state.get("after")
        if phase not in STATUS_PHASES or not (after is None or isinstance(after, str)):
            raise InvalidCursor("bamboohr: malformed cursor")
        number = cursor_int(state, "n", 0, self.name) + 1
        seen_before = cursor_int(state, "seen", 0, self.name)
        history = cursor_history(state, self.name)
        params = {
            "filter[status]": phase,
            "page[limit]": str(self.page_size),
            "fields": ",".join(EMPLOYEE_FIELDS),
        }
        if after:
            params["page[after]"] = after
        body, refreshed = self._oauth_get(credentials, f"{self._base(credentials)}/api/v1/employees", params)
        body = as_object(body, "the employees response", self.name)
        employees = [self._from_api(as_object(r, "an employee", self.name)) for r in _records(body)]
        next_after = text(dig(body, "meta", "page", "nextCursor"))
        seen = seen_before + len(employees)
        listed = ListPage(
            number=number,
            asked=page_size_used(self.page_size, dig(body, "meta", "page", "limit")),
            got=len(employees),
            more=next_after is not None,
            seen=seen,
            total=reported_int(dig(body, "meta", "total")),
        )
        if not self.end_of_list(listed, f"{phase} employees") and next_after is not None:
            following = {
                "status": phase,
                "after": next_after,
                "n": number,
                "seen": seen,
                "h": follow_cursor(self.name, history, next_after),
            }
            return EmployeePage(employees, encode_cursor(self.name, following), refreshed)
        if phase == STATUS_PHASES[0]:
            return EmployeePage(employees, encode_cursor(self.name, {"status": STATUS_PHASES[1]}), refreshed)
        return EmployeePage(employees, None, refreshed)

    # -- follow-ups ---------------------------------------------------------------------------

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        # Employee ids are integers (the report filters by them as such): ASCII digits only.
        wanted = [i for i in unique(ids) if i.isascii() and i.isdigit()]
        employees: list[Employee] = []
        current = credentials
        refreshed: Credentials | None = None
        for chunk in _chunks(wanted, IDS_PER_REQUEST):
            if self._uses_api_key(credentials):
                employees.extend(self._report(credentials, chunk))
                continue
            params = {"filter[ids]": ",".join(chunk), "page[limit]": str(len(chunk))}
            params["fields"] = ",".join(EMPLOYEE_FIELDS)
            body, new = self._oauth_get(current, f"{self._base(current)}/api/v1/employees", params)
            if new is not None:
                current = refreshed = new
            body = as_object(body, "the employees response", self.name)
            employees.extend(self._from_api(as_object(r, "an employee", self.name)) for r in _records(body))
        return EmployeePage(employees, None, refreshed)

    def _report(self, credentials: Credentials, ids: list[str]) -> list[Employee]:
        """A custom report restricted to ``ids`` (Basic allowed; every status included)."""
        api_key = self.secret(credentials, "api_key")
        body = self.http.post_json(
            f"{self._base(credentials)}/api/v1/reports/custom",
            # The spec: ``format`` is one of json|xml|csv|xls|pdf; ``filters.employeeIds`` integers.
            params={"format": "json", "onlyCurrent": "true"},
            json_body={
                "title": "hris-sync",
                "fields": list(DATASET_FIELDS),
                "filters": {"employeeIds": [int(i) for i in ids]},
            },
            auth=(api_key.reveal(), "x"),
            headers={"Accept": "application/json"},
        )
        rows = as_list(as_object(body, "the report", self.name).get("employees"), "employees", self.name)
        return [self._from_dataset(as_object(r, "a report row", self.name)) for r in rows]

    def changed_since(self, credentials: Credentials, since: datetime) -> ChangedEmployees:
        """``employees/changed``: who was inserted, updated or deleted since ``since``."""
        url = f"{self._base(credentials)}/api/v1/employees/changed"
        params = {"since": since.isoformat(timespec="seconds")}
        refreshed: Credentials | None = None
        if self._uses_api_key(credentials):
            api_key = self.secret(credentials, "api_key")
            body = self.http.get_json(
                url, params=params, auth=(api_key.reveal(), "x"), headers={"Accept": "application/json"}
            )
        else:
            body, refreshed = self._oauth_get(credentials, url, params)
        changed = as_object(dig(body, "employees") or {}, "employees", self.name)
        changes: dict[str, str] = {}
        for key, entry in changed.items():
            employee_id = text(dig(entry, "id")) or text(key)
            action = text(dig(entry, "action")) or "Updated"
            if employee_id:
                changes[employee_id] = action
        return ChangedEmployees(changes, parse_iso_datetime(dig(body, "latest")), refreshed)

    def directory(self, credentials: Credentials) -> Directory:
        employees, refreshed = collect_all(self, credentials)
        return directory_from(employees, self.seen, refreshed)

    # -- mapping ------------------------------------------------------------------------------

    def _status(
        self, raw_status: Any, employment: str | None, hire_date: date | str | None
    ) -> tuple[MappedStatus, EmployeeStatus]:
        mapped = STATUSES.map(raw_status)
        status = mapped.status
        words = (employment or "").casefold()
        if status is EmployeeStatus.ACTIVE and STATUSES.knows(raw_status):
            if any(w in words for w in _LEAVE_WORDS):
                status = EmployeeStatus.ON_LEAVE
            elif any(w in words for w in _TERMINATED_WORDS):
                status = EmployeeStatus.TERMINATED
        elif status is EmployeeStatus.TERMINATED and isinstance(hire_date, date) and hire_date > self.today():
            # Future hires are "Inactive" until their first day.
            status = EmployeeStatus.PENDING
        return mapped, status

    def _from_dataset(self, row: Mapping[str, Any]) -> Employee:
        nested = row.get("fields")
        fields: Mapping[str, Any] = nested if isinstance(nested, Mapping) else row
        employment = text(fields.get("employmentHistoryStatus")) or text(fields.get("employmentStatus"))
        start = date_text(fields.get("hireDate"))
        mapped, status = self._status(fields.get("status"), employment, start)
        department, division = text(fields.get("department")), text(fields.get("division"))
        return build_employee(
            hris_id=text(fields.get("id")) or record_id(fields, "employeeId", self.name),
            mapped=mapped,
            status=status,
            raw=pick(fields, (*DATASET_FIELDS, "employeeId", "email", "employmentStatus")),
            first_name=text(fields.get("preferredName")) or text(fields.get("firstName")),
            last_name=text(fields.get("lastName")),
            email=text(fields.get("workEmail")) or text(fields.get("email")),
            employee_number=text(fields.get("employeeNumber")),
            avatar_url=text(fields.get("photoUrl")),
            job_title=text(fields.get("jobTitle")),
            department=department,
            groups=unique((department, division)),
            office_location=text(fields.get("location")),
            home_country=text(fields.get("country")),
            birthday=date_text(fields.get("dateOfBirth")),
            start_date=start,
            termination_date=date_text(fields.get("terminationDate")),
            manager_hris_id=text(fields.get("supervisorEId")),
            hris_role=employment,
            group_ids=self._group_ids(department, division),
        )

    def _from_api(self, record: Mapping[str, Any]) -> Employee:
        employment = text(record.get("employmentStatusName"))
        start = date_text(record.get("hireDate"))
        mapped, status = self._status(record.get("status"), employment, start)
        department, division = text(record.get("departmentName")), text(record.get("divisionName"))
        return build_employee(
            hris_id=record_id(record, "employeeId", self.name),
            mapped=mapped,
            status=status,
            raw=pick(record, (*API_BASE_FIELDS, *EMPLOYEE_FIELDS)),
            first_name=text(record.get("preferredName")) or text(record.get("firstName")),
            last_name=text(record.get("lastName")),
            email=text(record.get("workEmail")),
            avatar_url=text(record.get("photoUrl")),
            job_title=text(record.get("jobTitleName")),
            department=department,
            groups=unique((department, division)),
            office_location=text(record.get("locationName")),
            birthday=date_text(record.get("birthDate")),
            start_date=start,
            manager_hris_id=text(record.get("reportsToId")),
            hris_role=employment,
            group_ids=self._group_ids(department, division),
        )

    def _group_ids(self, department: str | None, division: str | None) -> tuple[str, ...]:
        """R33: BambooHR names departments and divisions (its records carry no ids for them):
        ``department:<name>`` and ``division:<name>``."""
        return unique(
            (
                self.seen_as("department", grouping_id("department", department), department),
                self.seen_as("division", grouping_id("division", division), division),
            )
        )

    # -- webhooks -----------------------------------------------------------------------------

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        secret: Secret,
        now: datetime,
        *,
        require_signature: bool = False,
    ) -> None:
        signature = required_header(headers, "X-BambooHR-Signature")
        timestamp = required_header(headers, "X-BambooHR-Timestamp")
        expected = hmac_sha256(secret, raw_body + timestamp.encode("utf-8"))
        require_same(expected, decode_hex(signature.lower()))
        check_unix_timestamp(timestamp, now, self.replay_window)

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        body = parse_json_object(raw_body)
        delivery = body_digest(raw_body)
        event_type = body.get("type")
        if isinstance(event_type, str):
            kind = _KINDS.get(event_type)
            occurred = parse_iso_datetime(body.get("timestamp"))
            if kind is None:
                # Company events and the like: authentic, but nothing to fetch.
                return WebhookEvent(WebhookKind.UPDATED, (), delivery, occurred)
            employee_id = as_id(dig(body, "data", "employeeId"))
            if employee_id is None:
                raise WebhookUnparseable("bamboohr: event without data.employeeId")
            return WebhookEvent(kind, (employee_id,), delivery, occurred)
        # The legacy "employee_with_fields" format: {"employees": [{"id", "action", ...}]}.
        legacy = body.get("employees")
        if isinstance(legacy, list) and legacy:
            ids = unique(as_id(dig(e, "id")) for e in legacy)
            actions = {str(dig(e, "action") or "").casefold() for e in legacy}
            if not ids:
                raise WebhookUnparseable("bamboohr: legacy event without employee ids")
            kind = WebhookKind.DELETED if actions == {"deleted"} else WebhookKind.UPDATED
            if actions in ({"created"}, {"inserted"}):
                kind = WebhookKind.CREATED
            return WebhookEvent(kind, ids, delivery)
        raise WebhookUnparseable("bamboohr: not a BambooHR webhook body")


_KINDS = {
    "employee.created": WebhookKind.CREATED,
    "employee.updated": WebhookKind.UPDATED,
    "employee.deleted": WebhookKind.DELETED,
}


def _records(body: Mapping[str, Any]) -> list[Any]:
    return as_list(body.get("data"), "employees", "bamboohr")


def _dataset_rows(body: Any) -> Iterator[Mapping[str, Any]]:
    data = as_list(as_object(body, "the dataset response", "bamboohr").get("data"), "rows", "bamboohr")
    for row in data:
        yield as_object(row, "a dataset row", "bamboohr")


def _dataset_has_more(body: Mapping[str, Any], page: int) -> bool:
    """The Datasets API's own end signal: ``meta.totalPages``, else ``links.next`` (R31)."""
    total_pages = reported_int(dig(body, "meta", "totalPages"))
    if total_pages is not None:
        return page < total_pages
    links = body.get("links")
    if isinstance(links, Mapping) and "next" in links:
        return bool(links["next"])
    raise IncompleteListing("bamboohr: the dataset page has neither meta.totalPages nor links.next")


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
