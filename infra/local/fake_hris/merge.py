"""Fake Merge HRIS (spec: ../shared/vendor-specs/merge-hris-openapi.yaml, base ``/api/hris/v1``).

- Auth: ``Authorization: Bearer <api key>`` and ``X-Account-Token: <linked account token>``.
- ``GET /employees?page_size&cursor&modified_after&include_deleted_data&employment_status&remote_id
  &expand``: ``{next, previous, results}`` with opaque cursors (page_size default 100, max 100);
  deleted records only with ``include_deleted_data=true`` (``remote_was_deleted: true``).
  ``employment_status``: ``ACTIVE`` (active and on leave), ``PENDING`` (future hire), ``INACTIVE``
  (terminated, with ``termination_date``). ``expand`` inlines manager, company, groups,
  work_location, home_location, employments.
- ``GET /employees/{id}``, ``/companies``, ``/groups``, ``/locations``, ``/employments`` (job titles
  live on employments in Merge's model).
- Webhooks: ``X-Merge-Webhook-Signature`` = base64url HMAC-SHA256 of the raw body (no timestamp);
  body ``{hook{id, event, target}, linked_account{id, integration, ...}, data{...employee}}`` with
  events ``Employee.added|changed|removed``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from shared.domain.models import Employee, EmployeeStatus

from .company import Change, Person, vendor_uuid
from .oauth import bearer
from .server import HttpError, Request, Response, Route, Vendor, WebhookRequest

DEFAULT_PAGE, MAX_PAGE = 100, 100
STATUS = {
    EmployeeStatus.PENDING: "PENDING",
    EmployeeStatus.ACTIVE: "ACTIVE",
    EmployeeStatus.ON_LEAVE: "ACTIVE",
    EmployeeStatus.TERMINATED: "INACTIVE",
}
EVENTS = {"created": "Employee.added", "updated": "Employee.changed", "deleted": "Employee.removed"}


def _dt(day: date | None) -> str | None:
    return f"{day.isoformat()}T00:00:00Z" if day else None


def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# What ``expand`` may name on /employees (the v3 spec's enum; comma separated, no spaces).
EXPANDABLE = frozenset(
    {"company", "employments", "groups", "home_location", "manager", "pay_group", "team", "work_location"}
)


class Merge(Vendor):
    name = "merge"

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        opts = server.options
        self.api_key: str = opts.get("api_key", "fake-merge-api-key")
        self.account_token: str = opts.get("account_token", "fake-merge-account-token")
        self.integration: str = opts.get("integration", "BambooHR")
        self._cache: dict[int, tuple[int, dict[str, Any]]] = {}

    def credentials(self) -> dict[str, str]:
        return {"api_key": self.api_key, "account_token": self.account_token}

    def error(self, status: int, code: str, message: str) -> Response:  # noqa: ARG002 - Merge sends no code
        return Response.json({"detail": message}, status)

    def routes(self) -> list[Route]:
        base = "/api/hris/v1"
        return [
            Route.of("GET", f"{base}/employees", self.list_employees),
            Route.of("GET", f"{base}/employees/{{employee_id}}", self.get_employee),
            Route.of("GET", f"{base}/companies", self._lister("companies", self._companies)),
            Route.of("GET", f"{base}/groups", self._lister("groups", self._groups)),
            Route.of("GET", f"{base}/locations", self._lister("locations", self._locations)),
            Route.of("GET", f"{base}/employments", self._lister("employments", self._employments)),
            Route.of("GET", f"{base}/account-details", self.account_details),
        ]

    def expected_employee(self, person: Person) -> Employee:
        e = person.employee
        manager = vendor_uuid("merge-employee", e.manager_hris_id) if e.manager_hris_id else None
        return replace(e, hris_id=vendor_uuid("merge-employee", person.key), manager_hris_id=manager)

    def _auth(self, request: Request) -> None:
        token = bearer(request.header("Authorization"))
        if token is None or not hmac.compare_digest(token, self.api_key):
            raise self.unauthorized("Invalid API key.")
        account = request.header("X-Account-Token") or ""
        if not hmac.compare_digest(account, self.account_token):
            raise self.unauthorized("Invalid account token.")

    # -- records --------------------------------------------------------------------------------

    def _common(self, kind: str, key: str, modified: datetime | None = None) -> dict[str, Any]:
        return {
            "id": vendor_uuid(f"merge-{kind}", key),
            "remote_id": key,
            "remote_was_deleted": False,
            "field_mappings": None,
            "modified_at": _ts(modified or self.company.now()),
            "remote_data": None,
        }

    def _record(self, person: Person) -> dict[str, Any]:
        cached = self._cache.get(person.id)
        if cached is not None and cached[0] == person.version:
            return cached[1]
        e = person.employee
        company = e.company or self.company.company_name
        record: dict[str, Any] = {
            **self._common("employee", person.key, person.updated_at),
            "employee_number": e.employee_number,
            "company": vendor_uuid("merge-company", company),
            "first_name": e.first_name,
            "last_name": e.last_name,
            "display_full_name": " ".join(x for x in (e.first_name, e.last_name) if x) or None,
            "username": None,
            "groups": [vendor_uuid("merge-group", g) for g in e.groups],
            "work_email": e.email,
            "personal_email": None,
            "mobile_phone_number": None,
            "employments": [vendor_uuid("merge-employment", person.key)],
            "home_location": vendor_uuid("merge-location", f"home:{e.home_country}")
            if e.home_country
            else None,
            "work_location": vendor_uuid("merge-location", e.office_location) if e.office_location else None,
            "manager": vendor_uuid("merge-employee", e.manager_hris_id) if e.manager_hris_id else None,
            "team": vendor_uuid("merge-team", person.division) if person.division else None,
            "pay_group": None,
            "ssn": None,
            "gender": None,
            "ethnicity": None,
            "marital_status": None,
            "date_of_birth": _dt(e.birthday),
            "hire_date": _dt(e.start_date),
            "start_date": _dt(e.start_date),
            "remote_created_at": _ts(person.created_at),
            "employment_status": STATUS[e.status],
            "termination_date": _dt(e.termination_date),
            "avatar": e.avatar_url,
            "custom_fields": None,
            "remote_was_deleted": person.deleted,
        }
        self._cache[person.id] = (person.version, record)
        return record

    def _companies(self) -> list[dict[str, Any]]:
        return [
            {**self._common("company", name), "legal_name": name, "display_name": name, "eins": []}
            for name in self.company.catalog.names("company")
        ]

    def _groups(self) -> list[dict[str, Any]]:
        departments = set(self.company.catalog.names("department"))
        return [
            {
                **self._common("group", name),
                "parent_group": None,
                "name": name,
                "type": "DEPARTMENT" if name in departments else "TEAM",
            }
            for name in self.company.catalog.names("group")
        ]

    def _locations(self) -> list[dict[str, Any]]:
        offices = [
            {**self._common("location", name), "name": name, "location_type": "WORK"}
            for name in self.company.catalog.names("office")
        ]
        countries = sorted(
            {p.employee.home_country for p in self.company.people() if p.employee.home_country}
        )
        homes = [
            {**self._common("location", f"home:{c}"), "name": None, "country": c, "location_type": "HOME"}
            for c in countries
        ]
        return offices + homes

    def _employments(self) -> list[dict[str, Any]]:
        return [
            {
                **self._common("employment", p.key, p.updated_at),
                "employee": vendor_uuid("merge-employee", p.key),
                "job_title": p.employee.job_title,
                "effective_date": _dt(p.employee.start_date),
                "employment_type": "FULL_TIME",
            }
            for p in self.company.people()
        ]

    # -- paging ---------------------------------------------------------------------------------

    def _page_size(self, request: Request) -> int:
        try:
            size = int(request.arg("page_size") or DEFAULT_PAGE)
        except ValueError:
            raise self.bad_request("page_size must be an integer") from None
        return max(1, min(size, MAX_PAGE))

    def _offset(self, request: Request) -> int:
        cursor = request.arg("cursor")
        if not cursor:
            return 0
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            kind, _, value = text.partition("=")
            if kind != "o":
                raise ValueError(kind)
            return int(value)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise HttpError(self.error(400, "bad_cursor", "Invalid cursor")) from None

    @staticmethod
    def _cursor(offset: int) -> str:
        return base64.urlsafe_b64encode(f"o={offset}".encode()).decode().rstrip("=")

    def _paged(self, request: Request, items: list[Any]) -> dict[str, Any]:
        size = self._page_size(request)
        offset = self._offset(request)
        faults = self.page_faults(offset // size + 1)
        more = offset + size < len(items)
        next_cursor = self._cursor(offset + size) if more else None
        if next_cursor and faults.bad_cursor:
            next_cursor = "bm90LWEtY3Vyc29y"
        if next_cursor and faults.repeat and request.arg("cursor"):
            next_cursor = request.arg("cursor")
        return {
            "next": next_cursor,
            "previous": self._cursor(max(0, offset - size)) if offset else None,
            "results": faults.shorten(items[offset : offset + size]),
        }

    def _lister(self, name: str, source: Callable[[], list[dict[str, Any]]]) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            self._auth(request)
            return Response.json(self._paged(request, self.memo(name, source)))

        return handler

    def account_details(self, request: Request) -> Response:
        """The linked account the account token names (``AccountDetails``): what a credentials
        check asks for."""
        self._auth(request)
        return Response.json(
            {
                "id": vendor_uuid("merge-account", self.account_token),
                "integration": self.integration,
                "integration_slug": self.integration.lower().replace(" ", ""),
                "category": "hris",
                "end_user_origin_id": "hris-sync-tenant",
                "end_user_organization_name": "Acme Corp",
                "end_user_email_address": "it@acme.test",
                "status": "COMPLETE",
                "webhook_listener_url": "https://api.merge.dev/api/integrations/webhook-listener/fake",
                "is_duplicate": None,
                "account_type": "PRODUCTION",
                "completed_at": "2026-01-01T00:00:00Z",
            }
        )

    def list_employees(self, request: Request) -> Response:
        self._auth(request)
        include_deleted = self._flag(request, "include_deleted_data")
        status = request.arg("employment_status")
        if status not in (None, "ACTIVE", "INACTIVE", "PENDING"):
            raise self.bad_request("employment_status must be ACTIVE, INACTIVE or PENDING")
        modified_after = request.arg("modified_after")
        since: datetime | None = None
        if modified_after:
            try:
                since = datetime.fromisoformat(modified_after.replace("Z", "+00:00"))
            except ValueError:
                raise self.bad_request("modified_after must be an ISO 8601 date-time") from None
        remote_id = request.arg("remote_id")
        people = [
            p
            for p in self.company.people(include_deleted=include_deleted)
            if (status is None or STATUS[p.employee.status] == status)
            and (since is None or p.updated_at > since)
            and (remote_id is None or p.key == remote_id)
        ]
        page = self._paged(request, people)
        expand = self._expand(request)
        page["results"] = [self._expanded(self._record(p), expand) for p in page["results"]]
        return Response.json(page)

    def get_employee(self, request: Request) -> Response:
        self._auth(request)
        person = self.by_uuid("merge-employee").get(request.params["employee_id"])
        if person is None:
            raise HttpError(self.error(404, "not_found", "Not found."))
        expand = self._expand(request)
        return Response.json(self._expanded(self._record(person), expand))

    def _flag(self, request: Request, name: str) -> bool:
        """A boolean query parameter: ``true`` or ``false`` (the spec's type), else 400."""
        value = request.arg(name)
        if value not in (None, "true", "false"):
            raise self.bad_request(f"{name} must be true or false")
        return value == "true"

    def _expand(self, request: Request) -> set[str]:
        """The relations ``expand`` names; an unknown one is a 400 (the spec's enum)."""
        names = {x for x in (request.arg("expand") or "").split(",") if x}
        unknown = sorted(names - EXPANDABLE)
        if unknown:
            raise self.bad_request(f"expand: unknown relation(s) {', '.join(unknown)[:200]}")
        return names

    def _expanded(self, record: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        if not expand:
            return record
        out = dict(record)
        by_id = self.memo(
            "related:by-id",
            lambda: {x["id"]: x for x in (*self._companies(), *self._groups(), *self._locations())},
        )
        for name in ("company", "work_location", "home_location"):
            if name in expand and out.get(name):
                out[name] = by_id.get(out[name], out[name])
        if "groups" in expand:
            out["groups"] = [by_id.get(g, g) for g in out["groups"]]
        if "manager" in expand and out.get("manager"):
            manager = self.by_uuid("merge-employee").get(out["manager"])
            out["manager"] = self._record(manager) if manager else out["manager"]
        if "employments" in expand:
            by_employment = self.memo("employments:by-id", lambda: {e["id"]: e for e in self._employments()})
            out["employments"] = [by_employment.get(e, e) for e in out["employments"]]
        return out

    # -- webhooks -------------------------------------------------------------------------------

    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:
        person = self.company.get(change.person_id)
        event = EVENTS[change.kind]
        body = json.dumps(
            {
                "hook": {"id": vendor_uuid("merge-hook", event), "event": event, "target": ""},
                "linked_account": {
                    "id": vendor_uuid("merge-account", self.account_token),
                    "integration": self.integration,
                    "category": "hris",
                },
                "data": self._record(person),
            },
            separators=(",", ":"),
        ).encode()
        return [
            WebhookRequest(
                body=body,
                headers={"Content-Type": "application/json", "X-Merge-Webhook-Signature": sign(body, secret)},
            )
        ]


def sign(body: bytes, secret: str) -> str:
    """Merge's signature: base64url of the HMAC-SHA256 of the raw body."""
    return base64.urlsafe_b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
