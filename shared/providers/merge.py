"""Merge HRIS: one connector for every HR system Merge links (``Authorization: Bearer`` + the
linked account's ``X-Account-Token``).

- ``GET /api/hris/v1/employees`` pages by ``cursor`` (the ``next`` value), with
  ``include_deleted_data=true`` so people removed in the HR system are seen (``remote_was_deleted``
  -> terminated) and ``expand`` for names. Where an answer holds ids instead of expanded objects
  (company, groups, locations, employments), they are resolved once per connector instance
  through the list endpoints.
- ``employment_status`` ``ACTIVE | PENDING | INACTIVE``.
- Merge reports no count: a list ends on a null ``next`` (R31). A page shorter than asked for
  while ``next`` is set, a ``next`` handed out before, or more pages than the largest company can
  fill makes the snapshot incomplete; the lookups' lists are held to the same rules.
- Webhooks: ``X-Merge-Webhook-Signature`` = base64url HMAC-SHA256 of the raw body; no timestamp,
  so duplicates are recognised by a digest of the body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.domain.models import SYNCED_FIELDS, Employee, EmployeeStatus
from shared.providers.base import (
    Credentials,
    Directory,
    DirectoryEntry,
    EmployeePage,
    IncompleteListing,
    InvalidCursor,
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
    as_list,
    as_object,
    build_employee,
    collect_all,
    cursor_history,
    cursor_int,
    date_text,
    decode_cursor,
    dig,
    encode_cursor,
    follow_cursor,
    person_name,
    pick,
    record_id,
    text,
    unique,
)
from shared.providers.http import decode_json
from shared.providers.status import MappedStatus, status_map
from shared.providers.webhooks import (
    as_id,
    body_digest,
    decode_base64,
    hmac_sha256,
    parse_json_object,
    require_same,
    required_header,
)

DEFAULT_BASE = "https://api.merge.dev"
API = "/api/hris/v1"
PAGE_SIZE = 100
EXPAND = "employments,groups,company,work_location,home_location,team"
MAX_LOOKUP_PAGES = 10_000

STATUSES = status_map("merge", active=("ACTIVE",), pending=("PENDING",), terminated=("INACTIVE",))
# The fields read (kept in Employee.raw): never ssn, remote_data, custom_fields ...
RAW_FIELDS = (
    "id",
    "remote_id",
    "employee_number",
    "company",
    "first_name",
    "last_name",
    "groups",
    "work_email",
    "employments",
    "home_location",
    "work_location",
    "manager",
    "team",
    "date_of_birth",
    "start_date",
    "employment_status",
    "termination_date",
    "avatar",
    "remote_was_deleted",
    "modified_at",
)
# Merge's common model supplies every synced field (R15).
CAPABILITIES = frozenset(SYNCED_FIELDS)
API_KEY = CredentialField(
    "api_key",
    "Merge API key",
    "Your organisation's production access key: Merge dashboard > API Keys.",
    secret=True,
)
ACCOUNT_TOKEN = CredentialField(
    "account_token",
    "Account token",
    "The token of the customer's linked HR system, returned when they finished Merge Link (also "
    "under Linked Accounts in the Merge dashboard).",
    secret=True,
)
REGION_HOST = CredentialField(
    "base_url",
    "API host (EU or APAC accounts only)",
    "Leave empty for Merge's US region. Accounts in Merge's EU region: https://api-eu.merge.dev; "
    "APAC: https://api-ap.merge.dev.",
    secret=False,
    required=False,
)
WEBHOOK_KEY = webhook_secret_field(
    "Webhook signature key",
    "Optional, for changes within minutes: Merge dashboard > Settings > Webhooks > Security, the "
    "signature key Merge signs each webhook with.",
)
_KINDS = {
    "added": WebhookKind.CREATED,
    "created": WebhookKind.CREATED,
    "changed": WebhookKind.UPDATED,
    "updated": WebhookKind.UPDATED,
    "removed": WebhookKind.DELETED,
    "deleted": WebhookKind.DELETED,
}


class Merge(Connector):
    name = "merge"
    tier = Tier.FULL
    capabilities = CAPABILITIES
    supports_webhooks = True
    info = describe(
        id=name,
        name="Merge (unified HRIS)",
        kind=ProviderKind.UNIFIED,
        tier=tier,
        capabilities=capabilities,
        supports_webhooks=supports_webhooks,
        api_key_fields=(API_KEY, ACCOUNT_TOKEN, REGION_HOST, WEBHOOK_KEY),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # id -> record, per lookup endpoint; filled on first need (one client per sync).
        self._lookups: dict[str, dict[str, Mapping[str, Any]]] = {}
        self._job_titles: dict[str, str] | None = None

    def _headers(self, credentials: Credentials) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.secret(credentials, 'api_key').reveal()}",
            "X-Account-Token": self.secret(credentials, "account_token").reveal(),
            "Accept": "application/json",
        }

    def _get(self, credentials: Credentials, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url(credentials, DEFAULT_BASE)}{API}{path}"
        return self.http.get_json(url, headers=self._headers(credentials), **kwargs)

    def check_credentials(self, credentials: Credentials) -> None:
        """The linked account's details: Merge's own check of the API key with the account token."""
        self._get(credentials, "/account-details")

    def _all(self, credentials: Credentials, path: str, params: Mapping[str, str] | None = None) -> list[Any]:
        """Every record of a cursor-paged list endpoint (small ones: companies, groups ...)."""
        records: list[Any] = []
        cursor: str | None = None
        history: list[str] = []
        for number in range(1, MAX_LOOKUP_PAGES + 1):
            query = {"page_size": str(PAGE_SIZE), **(params or {})}
            if cursor:
                query["cursor"] = cursor
            body = as_object(self._get(credentials, path, params=query), f"the {path} response", self.name)
            results = as_list(body.get("results"), path, self.name)
            records.extend(results)
            cursor = text(body.get("next"))
            listed = ListPage(number=number, asked=PAGE_SIZE, got=len(results), more=cursor is not None)
            if self.end_of_list(listed, f"{path} records") or cursor is None:
                return records
            history = follow_cursor(self.name, history, cursor)
        raise IncompleteListing(f"merge: {path} runs past {MAX_LOOKUP_PAGES} pages")

    def _lookup(self, credentials: Credentials, path: str) -> dict[str, Mapping[str, Any]]:
        if path not in self._lookups:
            table: dict[str, Mapping[str, Any]] = {}
            for record in self._all(credentials, path, {"include_deleted_data": "true"}):
                if isinstance(record, Mapping) and text(record.get("id")):
                    table[str(record["id"])] = record
            self._lookups[path] = table
        return self._lookups[path]

    def _titles(self, credentials: Credentials) -> dict[str, str]:
        """employee id -> the job title of their latest employment (when not expanded)."""
        if self._job_titles is None:
            latest: dict[str, tuple[str, str]] = {}
            for employment in self._all(credentials, "/employments"):
                employee, title = text(dig(employment, "employee")), text(dig(employment, "job_title"))
                when = text(dig(employment, "effective_date")) or ""
                if employee and title and (employee not in latest or when >= latest[employee][0]):
                    latest[employee] = (when, title)
            self._job_titles = {employee: title for employee, (_, title) in latest.items()}
        return self._job_titles

    # -- snapshot -----------------------------------------------------------------------------

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        state = decode_cursor(self.name, cursor)
        vendor_cursor = state.get("cursor")
        if vendor_cursor is not None and not isinstance(vendor_cursor, str):
            raise InvalidCursor("merge: malformed cursor")
        number = cursor_int(state, "n", 0, self.name) + 1
        history = cursor_history(state, self.name)
        params = {"page_size": str(self.page_size), "include_deleted_data": "true", "expand": EXPAND}
        if vendor_cursor:
            params["cursor"] = vendor_cursor
        body = as_object(
            self._get(credentials, "/employees", params=params), "the employees response", self.name
        )
        records = as_list(body.get("results"), "employees", self.name)
        # R31: Merge reports no count; the end is a null ``next``, and every page before it is full.
        next_cursor = text(body.get("next"))
        listed = ListPage(number=number, asked=self.page_size, got=len(records), more=next_cursor is not None)
        ended = self.end_of_list(listed, "employees")
        following = None
        if not ended and next_cursor is not None:
            following = {
                "cursor": next_cursor,
                "n": number,
                "h": follow_cursor(self.name, history, next_cursor),
            }
        employees = [self._employee(credentials, as_object(r, "an employee", self.name)) for r in records]
        return EmployeePage(employees, encode_cursor(self.name, following) if following else None)

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        employees: list[Employee] = []
        for employee_id in unique(ids):
            if len(employee_id) > 64 or not all(c.isalnum() or c == "-" for c in employee_id):
                continue
            url = f"{self.base_url(credentials, DEFAULT_BASE)}{API}/employees/{employee_id}"
            response = self.http.request(
                "GET",
                url,
                # ``include_deleted_data`` is a list parameter: the retrieve endpoint declares none.
                params={"expand": EXPAND},
                headers=self._headers(credentials),
                ok_statuses=frozenset({404}),
            )
            if response.status_code == 404:
                continue
            record = as_object(decode_json(response, self.name), "an employee", self.name)
            employees.append(self._employee(credentials, record))
        return EmployeePage(employees, None)

    def directory(self, credentials: Credentials) -> Directory:
        """``/companies`` and ``/groups`` as Merge lists them (ids, group ``type`` as the kind), each
        counted from the employee list the directory reads anyway (R33)."""
        companies = [c for c in self._all(credentials, "/companies") if isinstance(c, Mapping)]
        groups = [g for g in self._all(credentials, "/groups") if isinstance(g, Mapping)]
        employees, _ = collect_all(self, credentials)
        counts: dict[str, int] = {}
        for e in employees:
            if e.status is EmployeeStatus.TERMINATED:
                continue
            for key in (e.company_id, *e.group_ids):
                if key is not None:
                    counts[key] = counts.get(key, 0) + 1

        def entry(record: Mapping[str, Any], name: str | None, kind: str) -> DirectoryEntry:
            key = record_id(record, "id", self.name)
            return DirectoryEntry(id=key, name=name or key, kind=kind, count=counts.get(key, 0))

        return Directory(
            companies=[
                entry(c, _company_name(c), "company") for c in companies if not c.get("remote_was_deleted")
            ],
            groups=[
                entry(g, text(g.get("name")), (text(g.get("type")) or "group").lower())
                for g in groups
                if not g.get("remote_was_deleted")
            ],
            people=[
                DirectoryEntry(id=e.hris_id, name=person_name(e))
                for e in employees
                if e.status is not EmployeeStatus.TERMINATED
            ],
        )

    # -- mapping ------------------------------------------------------------------------------

    def _resolve(self, credentials: Credentials, value: Any, path: str) -> Mapping[str, Any] | None:
        """An expanded object as it is; an id through the lookup table of ``path``."""
        if isinstance(value, Mapping):
            return value
        key = text(value)
        if key is None:
            return None
        return self._lookup(credentials, path).get(key)

    def _employee(self, credentials: Credentials, record: Mapping[str, Any]) -> Employee:
        def resolve(value: Any, path: str) -> Mapping[str, Any] | None:
            return self._resolve(credentials, value, path)

        hris_id = record_id(record, "id", self.name)
        if record.get("remote_was_deleted") is True:
            mapped = STATUSES.map(record.get("employment_status"))
            mapped = MappedStatus(EmployeeStatus.TERMINATED, mapped.raw or "remote_was_deleted")
        else:
            mapped = STATUSES.map(record.get("employment_status"))
        group_refs = [g for g in record.get("groups") or () if g is not None]
        groups = [resolve(g, "/groups") for g in group_refs]
        department = _most_specific_department([g for g in groups if g is not None])
        team = record.get("team")
        team_name = text(dig(team, "name")) if isinstance(team, Mapping) else None
        company = resolve(record.get("company"), "/companies")
        work = resolve(record.get("work_location"), "/locations")
        home = resolve(record.get("home_location"), "/locations")
        return build_employee(
            hris_id=hris_id,
            mapped=mapped,
            raw=pick(record, RAW_FIELDS),
            first_name=text(record.get("first_name")),
            last_name=text(record.get("last_name")),
            email=text(record.get("work_email")),
            employee_number=text(record.get("employee_number")),
            avatar_url=text(record.get("avatar")),
            job_title=self._job_title(credentials, hris_id, record.get("employments")),
            department=department,
            company=_company_name(company),
            groups=unique([*(text(g.get("name")) for g in groups if g is not None), team_name]),
            # R33: the ids ``/companies`` and ``/groups`` list (expanded objects carry them too).
            company_id=_ref_id(record.get("company")),
            group_ids=unique(_ref_id(g) for g in group_refs),
            office_location=text(dig(work, "name")) if work else None,
            home_country=text(dig(home, "country")) if home else None,
            birthday=date_text(record.get("date_of_birth")),
            start_date=date_text(record.get("start_date")),
            termination_date=date_text(record.get("termination_date")),
            manager_hris_id=text(dig(record.get("manager"), "id"))
            if isinstance(record.get("manager"), Mapping)
            else text(record.get("manager")),
        )

    def _job_title(self, credentials: Credentials, hris_id: str, employments: Any) -> str | None:
        if not isinstance(employments, list) or not employments:
            return None
        expanded = [e for e in employments if isinstance(e, Mapping)]
        if expanded:
            latest = max(expanded, key=lambda e: text(e.get("effective_date")) or "")
            return text(latest.get("job_title"))
        return self._titles(credentials).get(hris_id)

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
        signature = required_header(headers, "X-Merge-Webhook-Signature")
        require_same(hmac_sha256(secret, raw_body), decode_base64(signature))

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        body = parse_json_object(raw_body)
        event = text(dig(body, "hook", "event")) or text(body.get("event"))
        if event is None:
            raise WebhookUnparseable("merge: event without hook.event")
        model, _, action = event.partition(".")
        delivery = body_digest(raw_body)
        if model.casefold() != "employee":
            # Sync notices and other models: authentic, nothing to fetch for a person.
            return WebhookEvent(WebhookKind.UPDATED, (), delivery)
        employee_id = as_id(dig(body, "data", "id"))
        if employee_id is None:
            raise WebhookUnparseable("merge: employee event without data.id")
        return WebhookEvent(_KINDS.get(action.casefold(), WebhookKind.UPDATED), (employee_id,), delivery)


def _ref_id(value: Any) -> str | None:
    """The id of a related object, expanded (``{id, ...}``) or not (the id itself)."""
    return text(value.get("id")) if isinstance(value, Mapping) else text(value)


def _company_name(company: Mapping[str, Any] | None) -> str | None:
    if company is None:
        return None
    return text(company.get("display_name")) or text(company.get("legal_name"))


def _most_specific_department(groups: list[Mapping[str, Any]]) -> str | None:
    """The employee's own department among its DEPARTMENT groups: not a parent of another one.

    Merge lists every group an employee belongs to, parent departments included; without
    ``parent_group`` links the last listed (the most specific, by HR systems' habit) wins.
    """
    departments = [g for g in groups if text(g.get("type")) == "DEPARTMENT" and text(g.get("name"))]
    parents = {text(g.get("parent_group")) for g in departments} - {None}
    leaves = [g for g in departments if text(g.get("id")) not in parents]
    chosen = leaves or departments
    return text(chosen[-1].get("name")) if chosen else None
