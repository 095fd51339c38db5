"""Fake Personio v1 (specs: ../shared/vendor-specs/personio-auth-openapi.yaml and
personio-personnel-openapi.yaml).

- ``POST /v1/auth`` ``{client_id, client_secret}`` (JSON or form) -> ``{success, data{token,
  expires_in, scope}}``; tokens live 24 hours (option ``token_ttl``).
- ``GET /v1/company/employees?limit&offset`` (Bearer): limit at most 100 (default 50; a larger
  limit is clamped and the response says the limit used, as Personio does since 2025-01-31),
  ``email``, ``attributes[]`` projection, ``updated_since`` (then limit/offset are ignored).
  Records are ``{type: "Employee", attributes: {name: {label, value, type, universal_id}}}``.
- ``GET /v1/company/employees/{id}``.
- Webhooks (v2 events ``person.created|updated|deleted``): no signature; the static token set when
  the webhook was created comes back verbatim in ``Authorization``.

Status values: ``onboarding`` (future hire), ``active``, ``leave``, ``inactive`` (terminated).
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
import uuid
from datetime import date, datetime
from typing import Any

from shared.domain.models import EmployeeStatus

from .company import Change, Person
from .oauth import bearer
from .server import HttpError, Request, Response, Route, Vendor, WebhookRequest

DEFAULT_LIMIT, MAX_LIMIT = 50, 100
STATUS = {
    EmployeeStatus.PENDING: "onboarding",
    EmployeeStatus.ACTIVE: "active",
    EmployeeStatus.ON_LEAVE: "leave",
    EmployeeStatus.TERMINATED: "inactive",
}


def _date(day: date | None) -> str | None:
    return f"{day.isoformat()}T00:00:00+00:00" if day else None


def _attr(label: str, value: Any, universal_id: str, kind: str = "standard") -> dict[str, Any]:
    return {"label": label, "value": value, "type": kind, "universal_id": universal_id}


def _relation(label: str, value: dict[str, Any] | None, universal_id: str) -> dict[str, Any]:
    """An attribute whose value is an object: the spec has no null for it, so an empty one has none."""
    if value is None:
        return {"label": label, "type": "standard", "universal_id": universal_id}
    return _attr(label, value, universal_id)


class Personio(Vendor):
    name = "personio"

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        opts = server.options
        self.client_id: str = opts.get("client_id", "fake-personio-client-id")
        self.client_secret: str = opts.get("client_secret", "fake-personio-client-secret")
        self.token_ttl = int(opts.get("token_ttl", 86400))
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        self._cache: dict[int, tuple[int, dict[str, Any]]] = {}

    def credentials(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def error(self, status: int, code: str, message: str) -> Response:  # noqa: ARG002 - numeric codes
        return Response.json({"success": False, "error": {"code": status, "message": message}}, status)

    def routes(self) -> list[Route]:
        return [
            Route.of("POST", "/v1/auth", self.auth),
            Route.of("GET", "/v1/company/employees", self.list_employees),
            Route.of("GET", "/v1/company/employees/{employee_id}", self.get_employee),
        ]

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = 0.0

    # -- auth -----------------------------------------------------------------------------------

    def auth(self, request: Request) -> Response:
        try:
            body = request.payload()
        except ValueError:
            raise self.bad_request("The body must be JSON or a form") from None
        client_id, client_secret = str(body.get("client_id") or ""), str(body.get("client_secret") or "")
        if not (
            hmac.compare_digest(client_id, self.client_id)
            and hmac.compare_digest(client_secret, self.client_secret)
        ):
            raise self.unauthorized("Wrong credentials")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
        return Response.json(
            {
                "success": True,
                "data": {"token": token, "expires_in": self.token_ttl, "scope": "employees:read"},
            }
        )

    def _auth(self, request: Request) -> None:
        token = bearer(request.header("Authorization"))
        with self._lock:
            expires = self._tokens.get(token or "")
        if expires is None or expires <= time.monotonic():
            raise self.unauthorized("The given token is invalid or expired")

    # -- employees ------------------------------------------------------------------------------

    def _record(self, person: Person) -> dict[str, Any]:
        cached = self._cache.get(person.id)
        if cached is not None and cached[0] == person.version:
            return cached[1]
        e = person.employee
        catalog = self.company.catalog
        manager = self.company.find(e.manager_hris_id) if e.manager_hris_id else None
        supervisor = (
            {
                "type": "Employee",
                "attributes": {
                    "id": _attr("ID", manager.id, "id", "integer"),
                    "first_name": _attr("First name", manager.employee.first_name, "first_name"),
                    "last_name": _attr("Last name", manager.employee.last_name, "last_name"),
                    "email": _attr("Email", manager.employee.email, "email"),
                },
            }
            if manager
            else None
        )
        subcompany = e.company or self.company.company_name
        team = person.division
        attributes: dict[str, Any] = {
            "id": _attr("ID", person.id, "id", "integer"),
            "first_name": _attr("First name", e.first_name, "first_name"),
            "last_name": _attr("Last name", e.last_name, "last_name"),
            "preferred_name": _attr("Name (preferred)", None, "preferred_name"),
            "email": _attr("Email", e.email, "email"),
            "gender": _attr("Gender", None, "gender"),
            "status": _attr("Status", STATUS[e.status], "status"),
            "position": _attr("Position", e.job_title, "position"),
            "supervisor": _relation("Supervisor", supervisor, "supervisor"),
            "employment_type": _attr("Employment type", "internal", "employment_type"),
            "hire_date": _attr("Hire date", _date(e.start_date), "hire_date", "date"),
            "termination_date": _attr(
                "Termination date", _date(e.termination_date), "termination_date", "date"
            ),
            "date_of_birth": _attr("Date of birth", _date(e.birthday), "date_of_birth", "date"),
            "created_at": _attr(
                "created_at", person.created_at.isoformat(timespec="seconds"), "created_at", "date"
            ),
            "last_modified_at": _attr(
                "Last modified", person.updated_at.isoformat(timespec="seconds"), "last_modified_at", "date"
            ),
            "subcompany": _attr(
                "Subcompany",
                {
                    "type": "Subcompany",
                    "attributes": {"id": catalog.id_for("company", subcompany), "name": subcompany},
                },
                "subcompany",
            ),
            "office": _relation(
                "Office",
                {
                    "type": "Office",
                    "attributes": {
                        "id": catalog.id_for("office", e.office_location),
                        "name": e.office_location,
                    },
                }
                if e.office_location
                else None,
                "office",
            ),
            "department": _relation(
                "Department",
                {
                    "type": "Department",
                    "attributes": {"id": catalog.id_for("department", e.department), "name": e.department},
                }
                if e.department
                else None,
                "department",
            ),
            "team": _relation(
                "Team",
                {"type": "Team", "attributes": {"id": catalog.id_for("group", team), "name": team}}
                if team
                else None,
                "team",
            ),
            "profile_picture": _attr("Profile Picture", e.avatar_url, "profile_picture"),
            "employee_number": _attr("Employee number", e.employee_number, "employee_number"),
            "nationality": _attr("Nationality", e.home_country, "nationality"),
        }
        record = {"type": "Employee", "attributes": attributes}
        self._cache[person.id] = (person.version, record)
        return record

    def _int(self, text: str | None, default: int, name: str, minimum: int) -> int:
        try:
            value = int(text) if text not in (None, "") else default
        except ValueError:
            raise self.bad_request(f"{name} must be an integer") from None
        if value < minimum:
            raise self.bad_request(f"{name} must be at least {minimum}")
        return value

    def list_employees(self, request: Request) -> Response:
        self._auth(request)
        attributes = [a for a in request.args("attributes[]") if a]
        people = self.company.people()
        updated_since = request.arg("updated_since")
        if updated_since:
            try:
                since = datetime.fromisoformat(updated_since.replace("Z", "+00:00"))
            except ValueError:
                raise self.bad_request("updated_since must be ISO 8601") from None
            if since.tzinfo is None:
                since = since.replace(tzinfo=self.company.now().tzinfo)
            chunk = [p for p in people if p.updated_at > since]
            limit, offset = max(1, len(chunk)), 0
            self.page_faults(1)
        else:
            limit = min(self._int(request.arg("limit"), DEFAULT_LIMIT, "limit", 1), MAX_LIMIT)
            offset = self._int(request.arg("offset"), 0, "offset", 0)
            email = request.arg("email")
            if email:
                people = [p for p in people if (p.employee.email or "").lower() == email.lower()]
            faults = self.page_faults(offset // limit + 1)
            if faults.bad_cursor:
                raise self.bad_request("offset is out of range")
            if faults.repeat:
                offset = 0  # a server that ignores the offset asked for
            chunk = faults.shorten(people[offset : offset + limit])
        data = [self._project(self._record(p), attributes) for p in chunk]
        total = len(chunk) if updated_since else len(people)
        return Response.json(
            {
                "success": True,
                "metadata": {
                    "total_elements": total,
                    "current_page": offset // limit,
                    "total_pages": max(1, -(-total // limit)),
                },
                "offset": offset,
                "limit": limit,
                "data": data,
            }
        )

    @staticmethod
    def _project(record: dict[str, Any], attributes: list[str]) -> dict[str, Any]:
        if not attributes:
            return record
        keep = {"id", *attributes}
        return {
            "type": "Employee",
            "attributes": {k: v for k, v in record["attributes"].items() if k in keep},
        }

    def get_employee(self, request: Request) -> Response:
        self._auth(request)
        person = self.company.find(request.params["employee_id"])
        if person is None or person.deleted:
            raise HttpError(self.error(404, "not_found", "Employee not found"))
        return Response.json({"success": True, "data": self._record(person)})

    # -- webhooks -------------------------------------------------------------------------------

    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:
        body = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "type": f"person.{change.kind}",
                "created_at": change.at.isoformat(timespec="seconds"),
                "data": {"id": str(change.person_id), "changed_attributes": list(change.changed_fields)},
            },
            separators=(",", ":"),
        ).encode()
        return [
            WebhookRequest(body=body, headers={"Content-Type": "application/json", "Authorization": secret})
        ]
