"""Fake HiBob (no published spec in vendor-specs; facts from PROVIDERS.md).

- Auth: service user id and token as HTTP Basic.
- ``POST /v1/people/search`` ``{fields, filters, showInactive}``: no paging, every match in
  ``employees[]``; without ``showInactive`` terminated people are left out. ``fields`` are paths
  (``root.id``, ``work.department`` ...) projecting the records; ``filters`` support
  ``{fieldPath: "root.id"|"root.email", operator: "equals", values: [...]}``.
- ``GET /v1/people/{id}`` one employee (webhook follow-ups).
- 50 requests per minute by default (429 with ``Retry-After`` beyond).
- Webhooks v2, metadata only: ``{companyId, type, triggeredBy, triggeredAt, version, data{employeeId}}``
  signed in ``bob-signature`` = base64 HMAC-SHA256 of the raw body with the webhook secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from shared.domain.models import EmployeeStatus

from .company import Change, Person
from .oauth import basic
from .server import HttpError, RateLimit, Request, Response, Route, Vendor, WebhookRequest

LIFECYCLE = {
    EmployeeStatus.PENDING: "hired",
    EmployeeStatus.ACTIVE: "employed",
    EmployeeStatus.ON_LEAVE: "leave",
    EmployeeStatus.TERMINATED: "terminated",
}


class HiBob(Vendor):
    name = "hibob"
    default_rate_limit = RateLimit(50, 60.0)

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        opts = server.options
        self.service_user_id: str = opts.get("service_user_id", "fake-hibob-service-user")
        self.service_user_token: str = opts.get("service_user_token", "fake-hibob-token")
        self.company_id = "fake-company"
        self._cache: dict[int, tuple[int, dict[str, Any]]] = {}

    def credentials(self) -> dict[str, str]:
        return {"service_user_id": self.service_user_id, "service_user_token": self.service_user_token}

    def error(self, status: int, code: str, message: str) -> Response:
        return Response.json({"error": code, "message": message}, status)

    def routes(self) -> list[Route]:
        return [
            Route.of("POST", "/v1/people/search", self.search),
            Route.of("GET", "/v1/people/{employee_id}", self.get_person),
        ]

    def _auth(self, request: Request) -> None:
        pair = basic(request.header("Authorization"))
        if pair is None or not (
            hmac.compare_digest(pair[0], self.service_user_id)
            and hmac.compare_digest(pair[1], self.service_user_token)
        ):
            raise self.unauthorized("Invalid service user credentials")

    def _record(self, person: Person) -> dict[str, Any]:
        cached = self._cache.get(person.id)
        if cached is not None and cached[0] == person.version:
            return cached[1]
        e = person.employee
        manager = self.company.find(e.manager_hris_id) if e.manager_hris_id else None
        display = " ".join(x for x in (e.first_name, e.last_name) if x)
        record: dict[str, Any] = {
            "id": person.key,
            "companyId": self.company_id,
            "firstName": e.first_name,
            "surname": e.last_name,
            "email": e.email,
            "displayName": display,
            "fullName": display,
            "avatarUrl": e.avatar_url,
            "work": {
                "title": e.job_title,
                "department": e.department,
                "site": e.office_location,
                "startDate": e.start_date.isoformat() if e.start_date else None,
                "employeeIdInCompany": e.employee_number,
                "isManager": False,
                "reportsTo": (
                    {
                        "id": manager.key,
                        "displayName": " ".join(
                            x for x in (manager.employee.first_name, manager.employee.last_name) if x
                        ),
                        "email": manager.employee.email,
                    }
                    if manager
                    else None
                ),
                "custom": {"division": person.division, "entity": e.company or self.company.company_name},
            },
            "address": {"country": e.home_country},
            "personal": {"birthDate": e.birthday.isoformat() if e.birthday else None},
            "internal": {
                "status": "Inactive" if e.status is EmployeeStatus.TERMINATED else "Active",
                "lifecycleStatus": LIFECYCLE[e.status],
                "terminationDate": e.termination_date.isoformat() if e.termination_date else None,
            },
        }
        self._cache[person.id] = (person.version, record)
        return record

    def search(self, request: Request) -> Response:
        self._auth(request)
        try:
            body = request.json() if request.body else {}
        except ValueError:
            raise self.bad_request("The body is not JSON") from None
        if not isinstance(body, dict):
            raise self.bad_request("The body is a JSON object")
        show_inactive = bool(body.get("showInactive"))
        fields = [str(f) for f in body.get("fields") or []]
        id_filter: set[str] | None = None
        email_filter: set[str] | None = None
        for condition in body.get("filters") or []:
            if not isinstance(condition, dict) or condition.get("operator") != "equals":
                raise self.bad_request("Only the equals operator is supported")
            values = {str(v) for v in condition.get("values") or []}
            path = condition.get("fieldPath")
            if path == "root.id":
                id_filter = values
            elif path == "root.email":
                email_filter = {v.lower() for v in values}
            else:
                raise self.bad_request(f"Unsupported filter field {str(path)[:40]!r}")
        self.page_faults(1)
        employees = []
        for person in self.company.people():
            e = person.employee
            if not show_inactive and e.status is EmployeeStatus.TERMINATED:
                continue
            if id_filter is not None and person.key not in id_filter:
                continue
            if email_filter is not None and (e.email or "").lower() not in email_filter:
                continue
            employees.append(_project(self._record(person), fields))
        return Response.json({"employees": employees})

    def get_person(self, request: Request) -> Response:
        self._auth(request)
        person = self.company.find(request.params["employee_id"])
        if person is None or person.deleted:
            raise HttpError(self.error(404, "not_found", "Employee not found"))
        return Response.json(self._record(person))

    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:
        body = json.dumps(
            {
                "companyId": self.company_id,
                "type": f"employee.{change.kind}",
                "triggeredBy": "fake-admin",
                "triggeredAt": change.at.isoformat(timespec="seconds"),
                "version": "v2",
                "data": {"employeeId": str(change.person_id)},
            },
            separators=(",", ":"),
        ).encode()
        return [
            WebhookRequest(
                body=body, headers={"Content-Type": "application/json", "bob-signature": sign(body, secret)}
            )
        ]


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _project(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Keep only the requested paths (``root.x`` is a top-level field); ``id`` always."""
    if not fields:
        return record
    out: dict[str, Any] = {"id": record["id"]}
    for path in fields:
        parts = path.split(".")
        if parts[0] == "root":
            parts = parts[1:]
        source: Any = record
        for part in parts:
            source = source.get(part) if isinstance(source, dict) else None
        if not parts:
            continue
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = source
    return out
