"""Fake BambooHR (spec: ../shared/vendor-specs/bamboohr-openapi.yaml).

Served, with the auth each allows in the spec's security sections:
- ``GET /api/v1/employees`` (OAuth only): cursor paging ``page[limit]`` (default 250, max 2500),
  ``page[after]``; ``fields=``; ``filter[status]``, ``filter[ids]``; ``{data, meta, _links}``.
- ``GET /api/v1/employees/directory`` (Basic or OAuth): Active employees only, unpaged.
- ``GET /api/v1/employees/changed?since=`` (Basic or OAuth).
- ``POST /api/v1/reports/custom`` (Basic or OAuth): every employee, any status; values as strings.
  Refuses what the spec refuses: a body not exactly ``Content-Type: application/json`` (400, the
  vendor reads it as XML), ``filters.employeeIds`` that are not integers and other mistyped
  fields (400), an unknown ``format`` (404; any case is accepted, as the spec says).
- ``POST /api/v1/datasets/{name}`` (Basic or OAuth): ``page``/``page_size`` (500, max 1000); Active
  only unless the request's filters name ``status`` (future hires are Inactive, per the spec).
- ``POST /api/v2/datasets/{name}/data`` (Basic or OAuth): ``page``/``pageSize`` in the body,
  OData-style ``filter`` on ``status`` (``eq``/``ne``/``in``); all statuses without a filter.
- ``GET /api/v1/meta/fields``; ``GET /authorize.php`` and ``POST /token.php`` (OAuth, refresh).
- The legacy ``/api/gateway.php/{subdomain}/v1/...`` paths (directory, reports/custom, meta/fields,
  employees/changed) that older integrations (airbyte-source-bamboo-hr) read, with Basic auth.

Report/dataset field names: id, employeeNumber, firstName, lastName, preferredName, displayName,
workEmail, jobTitle, department, division, location, country, status (Active|Inactive),
employmentHistoryStatus (Full-Time | Leave of Absence | Terminated), hireDate, terminationDate,
dateOfBirth, supervisorEId (the manager's employee id), supervisor, photoUrl, lastChanged.
Empty values in reports are "" and empty dates "0000-00-00", as BambooHR sends them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
import urllib.parse
from bisect import bisect_left
from datetime import date, datetime
from typing import Any

from shared.domain.models import EmployeeStatus

from . import oauth_endpoints
from .company import Change, Person
from .oauth import OAuthServer, basic, bearer
from .server import HttpError, Request, Response, Route, Vendor, WebhookRequest

DEFAULT_LIMIT, MAX_LIMIT = 250, 2500
DATASET_DEFAULT, DATASET_MAX = 500, 1000
V2_DEFAULT = 100
EMPLOYMENT_STATUS = {
    EmployeeStatus.ACTIVE: "Full-Time",
    EmployeeStatus.PENDING: "Full-Time",
    EmployeeStatus.ON_LEAVE: "Leave of Absence",
    EmployeeStatus.TERMINATED: "Terminated",
}
# Domain field -> BambooHR field, for webhooks' changedFields.
WEBHOOK_FIELDS = {
    "first_name": "firstName",
    "last_name": "lastName",
    "email": "workEmail",
    "employee_number": "employeeNumber",
    "avatar_url": "photoUrl",
    "job_title": "jobTitle",
    "department": "department",
    "company": "division",
    "groups": "division",
    "office_location": "location",
    "home_country": "country",
    "birthday": "dateOfBirth",
    "start_date": "hireDate",
    "termination_date": "terminationDate",
    "manager_hris_id": "supervisorEId",
    "status": "employmentHistoryStatus",
}
REPORT_FIELDS: dict[str, tuple[str, str]] = {
    "employeeNumber": ("text", "Employee #"),
    "firstName": ("text", "First Name"),
    "lastName": ("text", "Last Name"),
    "preferredName": ("text", "Preferred Name"),
    "displayName": ("text", "Display name"),
    "workEmail": ("email", "Work Email"),
    "jobTitle": ("list", "Job Title"),
    "department": ("list", "Department"),
    "division": ("list", "Division"),
    "location": ("list", "Location"),
    "country": ("country", "Country"),
    "status": ("status", "Status"),
    "employmentHistoryStatus": ("list", "Employment Status"),
    "hireDate": ("date", "Hire Date"),
    "terminationDate": ("date", "Termination Date"),
    "dateOfBirth": ("date", "Birth Date"),
    "supervisorEId": ("int", "Supervisor EID"),
    "supervisor": ("employee", "Supervisor"),
    "photoUrl": ("url", "Photo URL"),
    "lastChanged": ("timestamp", "Last changed"),
}
DIRECTORY_FIELDS: list[tuple[str, str, str]] = [
    ("displayName", "text", "Display name"),
    ("firstName", "text", "First name"),
    ("lastName", "text", "Last name"),
    ("preferredName", "text", "Preferred name"),
    ("jobTitle", "list", "Job title"),
    ("workEmail", "email", "Work Email"),
    ("department", "list", "Department"),
    ("location", "list", "Location"),
    ("division", "list", "Division"),
    ("supervisor", "employee", "Supervisor"),
    ("photoUploaded", "bool", "Employee photo"),
    ("photoUrl", "url", "Photo URL"),
    ("canUploadPhoto", "bool", "Can upload photo"),
]


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


# The OAuth app the fake knows by default (client id, client secret): what the local stack
# registers as the deployment's app for this provider.
OAUTH_CLIENT = ("fake-bamboohr-client", "fake-bamboohr-client-secret")


class BambooHR(Vendor):
    name = "bamboohr"

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        opts = server.options
        self.api_key: str = opts.get("api_key", "fake-bamboohr-api-key")
        self.subdomain: str = opts.get("subdomain", "acme")
        self.oauth = OAuthServer(
            opts.get("client_id", OAUTH_CLIENT[0]),
            opts.get("client_secret", OAUTH_CLIENT[1]),
            access_ttl=int(opts.get("access_token_ttl", 3600)),
            pkce=False,
            prefix="bhr",
        )
        self.company_id = 1
        self._cache: dict[int, tuple[int, dict[str, Any]]] = {}
        self._rows: dict[int, tuple[int, dict[str, str]]] = {}
        self._filtered: dict[tuple[int, frozenset[str]], list[Person]] = {}
        self._issued = self.oauth.issue()

    # -- plumbing -------------------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        return {
            "subdomain": self.subdomain,
            "api_key": self.api_key,
            "client_id": self.oauth.client_id,
            "client_secret": self.oauth.client_secret,
            "access_token": self._issued.access_token,
            "refresh_token": self._issued.refresh_token,
            "token_url": "/token.php?request=token",
            "authorize_url": "/authorize.php",
        }

    def error(self, status: int, code: str, message: str) -> Response:
        bamboo_code = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 429: "TooManyRequests"}
        if code[:1].islower():
            code = bamboo_code.get(status, "ServerError" if status >= 500 else "Error")
        response = Response.json({"error": {"code": code, "message": message}}, status)
        response.headers["x-bamboohr-error-message"] = message
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="BambooHR"'
        return response

    def routes(self) -> list[Route]:
        gateway = "/api/gateway.php/{subdomain}/v1"
        return [
            Route.of("GET", "/api/v1/employees", self.list_employees),
            Route.of("GET", "/api/v1/employees/directory", self.directory),
            Route.of("GET", "/api/v1/employees/changed", self.changed),
            Route.of("POST", "/api/v1/reports/custom", self.custom_report),
            Route.of("POST", "/api/v1/datasets/{dataset}", self.dataset_v1),
            Route.of("POST", "/api/v2/datasets/{dataset}/data", self.dataset_v2),
            Route.of("GET", "/api/v1/meta/fields", self.meta_fields),
            Route.of("GET", f"{gateway}/employees/directory", self.directory),
            Route.of("GET", f"{gateway}/employees/changed", self.changed),
            Route.of("POST", f"{gateway}/reports/custom", self.custom_report),
            Route.of("GET", f"{gateway}/meta/fields", self.meta_fields),
            Route.of("GET", "/authorize.php", self.authorize),
            Route.of("POST", "/token.php", self.token),
        ]

    def _auth(self, request: Request, *, basic_allowed: bool) -> None:
        subdomain = request.params.get("subdomain")
        if subdomain is not None and subdomain != self.subdomain:
            raise HttpError(self.error(404, "NotFound", "Unknown company"))
        header = request.header("Authorization")
        token = bearer(header)
        if token is not None:
            if self.oauth.valid(token):
                return
            raise self.unauthorized("The access token is invalid or expired")
        pair = basic(header)
        if pair is not None:
            if not basic_allowed:
                raise self.unauthorized("This endpoint requires OAuth")
            if hmac.compare_digest(pair[0], self.api_key):
                return
        raise self.unauthorized("Invalid API key")

    def _record(self, person: Person) -> dict[str, Any]:
        """The full BambooHR view of a person (cached per change)."""
        cached = self._cache.get(person.id)
        if cached is not None and cached[0] == person.version:
            return cached[1]
        e = person.employee
        manager = self.company.find(e.manager_hris_id) if e.manager_hris_id else None
        catalog = self.company.catalog
        division = person.division or e.company
        active = e.status in (EmployeeStatus.ACTIVE, EmployeeStatus.ON_LEAVE)
        display = " ".join(x for x in (e.first_name, e.last_name) if x)
        record: dict[str, Any] = {
            "employeeId": person.key,
            "employeeNumber": e.employee_number,
            "firstName": e.first_name,
            "lastName": e.last_name,
            "preferredName": None,
            "displayName": display or None,
            "photoUrl": e.avatar_url,
            "jobTitleName": e.job_title,
            "status": "Active" if active else "Inactive",
            "workEmail": e.email,
            "homeEmail": None,
            "bestEmail": e.email,
            "birthDate": _iso(e.birthday),
            "hireDate": _iso(e.start_date),
            "terminationDate": _iso(e.termination_date),
            "divisionName": division,
            "divisionId": str(catalog.id_for("group", division)) if division else None,
            "departmentName": e.department,
            "departmentId": str(catalog.id_for("department", e.department)) if e.department else None,
            "locationName": e.office_location,
            "locationId": str(catalog.id_for("office", e.office_location)) if e.office_location else None,
            "jobTitleId": None,
            "employmentStatusName": EMPLOYMENT_STATUS[e.status],
            "employmentStatusId": None,
            "reportsToId": manager.key if manager else None,
            "reportsToName": (
                " ".join(x for x in (manager.employee.first_name, manager.employee.last_name) if x)
                if manager
                else None
            ),
            "country": e.home_country,
            "lastChanged": _stamp(person.updated_at),
        }
        self._cache[person.id] = (person.version, record)
        return record

    # -- GET /api/v1/employees (OAuth) ----------------------------------------------------------

    def _cursor(self, employee_id: int, direction: str = "after") -> str:
        raw = json.dumps({"cursor": f"{direction}-{employee_id}"}).encode()
        return base64.b64encode(raw).decode()

    def _decode_cursor(self, cursor: str, direction: str) -> int:
        """The boundary employee id of a cursor; the wrong direction is a bad page (the spec)."""
        try:
            data = json.loads(base64.b64decode(cursor, validate=True))
            kind, _, value = str(data["cursor"]).partition("-")
            if kind != direction:
                raise ValueError(kind)
            return int(value)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise HttpError(self.error(400, "BadPage", "The page cursor is malformed")) from None

    def _ids_and_fields(self, request: Request) -> tuple[set[str] | None, list[str]]:
        """``filter[ids]`` (integers, comma separated; None: no filter) and ``fields`` (the spec's
        EmployeeOptionalField names, comma separated); 400 for anything else."""
        ids_raw = [*request.args("filter[ids][]"), *request.args("filter[ids]")]
        wanted: set[str] | None = None
        if ids_raw:
            wanted = {part.strip() for raw in ids_raw for part in raw.split(",") if part.strip()}
            if not all(_is_integer(i) for i in wanted):
                raise self.bad_request("filter[ids] must be integer employee ids", "BadRequest")
        extra = [f.strip() for f in ",".join(request.args("fields")).split(",") if f.strip()]
        unknown = sorted(set(extra) - SPEC_OPTIONAL_FIELDS)
        if unknown:
            raise self.bad_request(f"Unknown field(s): {', '.join(unknown)[:200]}", "BadRequest")
        return wanted, extra

    def list_employees(self, request: Request) -> Response:
        self._auth(request, basic_allowed=False)
        limit_text = request.arg("page[limit]")
        try:
            limit = int(limit_text) if limit_text is not None else DEFAULT_LIMIT
        except ValueError:
            raise self.bad_request("page[limit] must be an integer", "BadRequest") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise self.bad_request(f"page[limit] must be between 1 and {MAX_LIMIT}", "BadRequest")
        after_text, before_text = request.arg("page[after]"), request.arg("page[before]")
        after = self._decode_cursor(after_text, "after") if after_text else 0
        before = self._decode_cursor(before_text, "before") if before_text and not after else 0
        status = request.arg("filter[status]")
        if status not in (None, "active", "inactive"):
            raise self.bad_request("filter[status] must be active or inactive", "BadRequest")
        wanted, extra = self._ids_and_fields(request)
        matching = self._with_status(frozenset({status.capitalize()}) if status else None)
        if wanted is not None:
            matching = [p for p in matching if p.key in wanted]
        start, end = 0, limit
        if after or before:
            boundary = after or before
            position = bisect_left(matching, boundary, key=lambda p: p.id)
            if position >= len(matching) or matching[position].id != boundary:
                raise HttpError(self.error(400, "BadPage", "The page cursor no longer matches an employee"))
            start = position + 1 if after else max(0, position - limit)
            end = start + limit if after else position
        page_number = start // limit + 1
        faults = self.page_faults(page_number)
        chunk = matching[start:end]
        allowed = [f for f in extra if f in OPTIONAL_FIELDS]
        data = [self._list_item(person, allowed) for person in faults.shorten(chunk)]
        more = end < len(matching)
        next_cursor = self._cursor(chunk[-1].id) if more and chunk else None
        if next_cursor and faults.bad_cursor:
            next_cursor = base64.b64encode(b"not-a-cursor").decode()
        if next_cursor and faults.repeat and after_text:
            next_cursor = after_text
        self_href = f"{self.server.base_url}{request.path}?{urllib.parse.urlencode({'page[limit]': limit})}"
        links: dict[str, Any] = {"self": {"href": self_href}}
        if next_cursor:
            links["next"] = {"href": f"{self_href}&{urllib.parse.urlencode({'page[after]': next_cursor})}"}
        prev_cursor = self._cursor(chunk[0].id, "before") if start and chunk else None
        if prev_cursor:
            links["prev"] = {"href": f"{self_href}&{urllib.parse.urlencode({'page[before]': prev_cursor})}"}
        return Response.json(
            {
                "data": data,
                "meta": {
                    "total": len(matching),
                    "page": {
                        "limit": limit,
                        "nextCursor": next_cursor,
                        "prevCursor": prev_cursor,
                    },
                },
                "_links": links,
            }
        )

    def _list_item(self, person: Person, allowed: list[str]) -> dict[str, Any]:
        record = self._record(person)
        item = {key: record[key] for key in BASE_FIELDS}
        for name in allowed:
            item[name] = record[name]
        item["_restrictedFields"] = []
        return item

    # -- directory, changed, meta ---------------------------------------------------------------

    def directory(self, request: Request) -> Response:
        self._auth(request, basic_allowed=True)
        only_current = (request.arg("onlyCurrent") or "true").lower() != "false"
        self.page_faults(1)
        employees = []
        for person in self.company.people():
            e = person.employee
            current = e.status in (EmployeeStatus.ACTIVE, EmployeeStatus.ON_LEAVE)
            future = e.status is EmployeeStatus.PENDING
            if not (current or (future and not only_current)):
                continue
            r = self._record(person)
            employees.append(
                {
                    "id": person.key,
                    "displayName": r["displayName"],
                    "firstName": r["firstName"],
                    "lastName": r["lastName"],
                    "preferredName": None,
                    "jobTitle": r["jobTitleName"],
                    "workEmail": r["workEmail"],
                    "department": r["departmentName"],
                    "location": r["locationName"],
                    "division": r["divisionName"],
                    "supervisor": r["reportsToName"],
                    "photoUploaded": bool(r["photoUrl"]),
                    "photoUrl": r["photoUrl"],
                    "canUploadPhoto": 0,
                }
            )
        if not employees:
            raise HttpError(self.error(404, "NotFound", "The directory is empty"))
        fields = [{"id": i, "type": t, "name": n} for i, t, n in DIRECTORY_FIELDS]
        return Response.json({"fields": fields, "employees": employees})

    def changed(self, request: Request) -> Response:
        self._auth(request, basic_allowed=True)
        since_text = request.arg("since")
        if not since_text:
            raise self.bad_request("The since parameter is required")
        try:
            since = datetime.fromisoformat(since_text.replace("Z", "+00:00"))
        except ValueError:
            raise self.bad_request("since is not a valid ISO 8601 date") from None
        if since.tzinfo is None:
            raise self.bad_request("since needs a time zone offset")
        kind = (request.arg("type") or "all").lower()
        if kind not in ("inserted", "updated", "deleted", "all"):
            raise self.bad_request("type must be inserted, updated, deleted or all")
        employees: dict[str, Any] = {}
        latest = since
        for person in self.company.people(include_deleted=True):
            if person.updated_at <= since:
                continue
            action = "Deleted" if person.deleted else ("Inserted" if person.created_at > since else "Updated")
            if kind != "all" and action.lower() != kind:
                continue
            latest = max(latest, person.updated_at)
            employees[person.key] = {
                "id": person.key,
                "action": action,
                "lastChanged": _stamp(person.updated_at),
            }
        return Response.json({"latest": _stamp(latest), "employees": employees})

    def meta_fields(self, request: Request) -> Response:
        self._auth(request, basic_allowed=True)
        fields = [
            {"id": index, "name": label, "type": kind, "alias": alias}
            for index, (alias, (kind, label)) in enumerate(REPORT_FIELDS.items(), start=1)
        ]
        return Response.json(fields)

    # -- reports and datasets (Basic or OAuth) -------------------------------------------------

    def _report_row(self, person: Person) -> dict[str, str]:
        """Every report/dataset field of a person as BambooHR shows them: strings, "" when empty."""
        cached = self._rows.get(person.id)
        if cached is not None and cached[0] == person.version:
            return cached[1]
        r = self._record(person)
        empty_date = "0000-00-00"
        values = {
            "id": person.key,
            "employeeNumber": r["employeeNumber"],
            "firstName": r["firstName"],
            "lastName": r["lastName"],
            "preferredName": r["preferredName"],
            "displayName": r["displayName"],
            "workEmail": r["workEmail"],
            "jobTitle": r["jobTitleName"],
            "department": r["departmentName"],
            "division": r["divisionName"],
            "location": r["locationName"],
            "country": r["country"],
            "status": r["status"],
            "employmentHistoryStatus": r["employmentStatusName"],
            "hireDate": r["hireDate"] or empty_date,
            "terminationDate": r["terminationDate"] or empty_date,
            "dateOfBirth": r["birthDate"] or empty_date,
            "supervisorEId": r["reportsToId"],
            "supervisor": r["reportsToName"],
            "photoUrl": r["photoUrl"],
            "lastChanged": r["lastChanged"],
        }
        row = {k: "" if v is None else v for k, v in values.items()}
        self._rows[person.id] = (person.version, row)
        return row

    def _report_value(self, person: Person, name: str) -> str | None:
        """One report field; None for a field BambooHR does not know."""
        return self._report_row(person).get(name)

    def custom_report(self, request: Request) -> Response:
        """The spec's rules: ``format`` (any case) or an exact ``Accept``; ``Content-Type`` exactly
        ``application/json`` (anything else is read as XML); the body's types as its schema says."""
        self._auth(request, basic_allowed=True)
        fmt = (request.arg("format") or "").lower()
        accept = (request.header("Accept") or "").lower()
        if fmt not in ("", *REPORT_FORMATS) or (not fmt and accept not in REPORT_ACCEPT):
            raise HttpError(self.error(404, "NotFound", "Report format not found"))
        if fmt not in ("", "json") or (not fmt and accept != "application/json"):
            raise HttpError(self.error(404, "NotFound", "Only the JSON format is served by this fake"))
        if request.arg("onlyCurrent") not in (None, "true", "false"):
            raise self.bad_request("onlyCurrent must be true or false", "BadRequest")
        if (request.header("Content-Type") or "").strip() != "application/json":
            raise self.bad_request("Malformed XML", "BadRequest")
        try:
            body = request.json()
        except ValueError:
            raise self.bad_request("Malformed JSON", "BadRequest") from None
        problem = _report_problem(body)
        if problem is not None:
            raise self.bad_request(problem, "BadRequest")
        # Unknown field ids are silently omitted (the spec).
        known = [f for f in dict.fromkeys(body["fields"]) if f in REPORT_FIELDS and f != "id"]
        only_ids = {str(i) for i in (body.get("filters") or {}).get("employeeIds") or []}
        self.page_faults(1)
        rows = []
        for person in self.company.people():
            if only_ids and person.key not in only_ids:
                continue
            values = self._report_row(person)
            row: dict[str, Any] = {"id": person.key}
            for name in known:
                row[name] = values[name]
            rows.append(row)
        fields = [{"id": f, "type": REPORT_FIELDS[f][0], "name": REPORT_FIELDS[f][1]} for f in known]
        return Response.json(
            {"title": str(body.get("title") or "Report"), "fields": fields, "employees": rows}
        )

    def _page_arg(self, text: str | None, default: int, maximum: int | None, name: str) -> int:
        try:
            value = int(text) if text is not None else default
        except ValueError:
            raise self.bad_request(f"{name} must be an integer") from None
        if value < 1 or (maximum is not None and value > maximum):
            raise self.bad_request(f"{name} must be between 1 and {maximum}" if maximum else f"{name} >= 1")
        return value

    def _with_status(self, statuses: frozenset[str] | None) -> list[Person]:
        """People whose BambooHR status (Active/Inactive) is one of ``statuses`` (None: all),
        cached per company revision: a 50,000-person pull pages without re-filtering."""
        people = self.company.people()
        if statuses is None or statuses >= {"Active", "Inactive"}:
            return people
        key = (self.company.revision, statuses)
        cached = self._filtered.get(key)
        if cached is None:
            cached = [p for p in people if self._record(p)["status"] in statuses]
            self._filtered = {key: cached}
        return cached

    def _dataset_people(self, statuses: set[str] | None) -> list[Person]:
        return self._with_status(frozenset(statuses) if statuses is not None else None)

    def dataset_v1(self, request: Request) -> Response:
        self._auth(request, basic_allowed=True)
        if request.params["dataset"] != "employee":
            raise self.bad_request("Invalid dataset name")
        page = self._page_arg(request.arg("page"), 1, None, "page")
        size = self._page_arg(request.arg("page_size"), DATASET_DEFAULT, DATASET_MAX, "page_size")
        try:
            body = request.json()
        except ValueError:
            raise self.bad_request("Empty or malformed request body") from None
        if not isinstance(body, dict) or not isinstance(body.get("fields"), list) or not body["fields"]:
            raise self.bad_request("fields is required")
        statuses: set[str] = {"Active"}
        filters = body.get("filters") or {}
        for condition in filters.get("filters") or [] if isinstance(filters, dict) else []:
            if isinstance(condition, dict) and condition.get("field") == "status":
                statuses = _status_values(condition.get("operator"), condition.get("value"))
        people = self._dataset_people(statuses)
        self.page_faults(page)
        total_pages = max(1, -(-len(people) // size))
        chunk = people[(page - 1) * size : page * size]
        fields = [str(f) for f in body["fields"]]
        rows = []
        for person in chunk:
            row = self._report_row(person)
            rows.append({f: row.get(f) for f in fields})
        base = f"{self.server.base_url}{request.path}"
        return Response.json(
            {
                "data": rows,
                "aggregations": [],
                "pagination": {
                    "total_records": len(people),
                    "current_page": page,
                    "total_pages": total_pages,
                    "next_page": f"{base}?page={page + 1}&page_size={size}" if page < total_pages else None,
                    "prev_page": f"{base}?page={page - 1}&page_size={size}" if page > 1 else None,
                },
            }
        )

    def dataset_v2(self, request: Request) -> Response:
        self._auth(request, basic_allowed=True)
        if request.params["dataset"] != "employee":
            raise HttpError(self.error(404, "NotFound", "The dataset does not exist"))
        if (request.header("Content-Type") or "").strip() != "application/json":
            raise self.bad_request("The request body must be application/json")
        try:
            body = request.json()
        except ValueError:
            raise self.bad_request("Empty or malformed request body") from None
        if not isinstance(body, dict) or not isinstance(body.get("fields"), list) or not body["fields"]:
            raise self.bad_request("fields is required")
        if not all(isinstance(f, str) for f in body["fields"]):
            raise self.bad_request("fields must be field names")
        for name in ("page", "pageSize"):
            if name in body and not _is_int(body[name]):
                raise self.bad_request(f"{name} must be an integer")
        for name in ("filter", "orderBy"):
            if body.get(name) is not None and not isinstance(body[name], str):
                raise self.bad_request(f"{name} must be a string")
        page = self._page_arg(_text(body.get("page")), 1, None, "page")
        size = self._page_arg(_text(body.get("pageSize")), V2_DEFAULT, DATASET_MAX, "pageSize")
        statuses = _odata_status(body.get("filter"))
        if isinstance(statuses, bool):
            raise HttpError(
                self.error(422, "InvalidFilter", "Only status filters are supported by this fake")
            )
        people = self._dataset_people(statuses)
        faults = self.page_faults(page)
        total_pages = max(1, -(-len(people) // size))
        if faults.repeat:
            page = 1  # a server that ignores the page asked for
        chunk = faults.shorten(people[(page - 1) * size : page * size])
        fields = [str(f) for f in body["fields"]]
        rows = []
        for person in chunk:
            row = self._report_row(person)
            rows.append({"fields": {f: row.get(f, "") for f in fields}})
        base = f"{self.server.base_url}{request.path}"
        return Response.json(
            {
                "data": rows,
                "links": {
                    "next": f"{base}?page={page + 1}" if page < total_pages else None,
                    "prev": f"{base}?page={page - 1}" if page > 1 else None,
                },
                "meta": {
                    "page": page,
                    "pageSize": size,
                    "totalPages": total_pages,
                    "totalItems": len(people),
                },
            }
        )

    # -- OAuth ----------------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        return oauth_endpoints.authorize(self.oauth, request, pkce=False)

    def token(self, request: Request) -> Response:
        return oauth_endpoints.token(self.oauth, request, scope="employee report offline_access", pkce=False)

    # -- webhooks -------------------------------------------------------------------------------

    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:
        kinds = {"created": ["employee.created", "employee.updated"], "updated": ["employee.updated"]}
        fields = sorted({WEBHOOK_FIELDS[f] for f in change.changed_fields if f in WEBHOOK_FIELDS})
        hooks = []
        for kind in kinds.get(change.kind, ["employee.deleted"]):
            body = json.dumps(
                {
                    "type": kind,
                    "timestamp": _stamp(change.at),
                    "data": {
                        "companyId": self.company_id,
                        "employeeId": str(change.person_id),
                        "changedFields": fields if kind == "employee.updated" else [],
                    },
                },
                separators=(",", ":"),
            ).encode()
            timestamp = str(int(time.time()))
            hooks.append(
                WebhookRequest(
                    body=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-BambooHR-Timestamp": timestamp,
                        "X-BambooHR-Signature": sign(body, timestamp, secret),
                        "X-BambooHR-Delivery-Id": secrets.token_hex(8),
                    },
                )
            )
        return hooks


def sign(body: bytes, timestamp: str, secret: str) -> str:
    """BambooHR's signature: lowercase hex HMAC-SHA256 of the raw body followed by the timestamp."""
    return hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


BASE_FIELDS = ("employeeId", "firstName", "lastName", "preferredName", "photoUrl", "jobTitleName", "status")
OPTIONAL_FIELDS = frozenset(
    {
        "workEmail",
        "homeEmail",
        "bestEmail",
        "birthDate",
        "hireDate",
        "divisionName",
        "divisionId",
        "departmentName",
        "departmentId",
        "locationName",
        "locationId",
        "jobTitleId",
        "employmentStatusName",
        "employmentStatusId",
        "reportsToName",
        "reportsToId",
    }
)


# GET /api/v1/employees ``fields``: the spec's EmployeeOptionalField (the fake serves a subset).
SPEC_OPTIONAL_FIELDS = OPTIONAL_FIELDS | {
    "middleName",
    "workPhone",
    "workPhoneExtension",
    "mobilePhone",
    "homePhone",
    "skypeUsername",
    "linkedinUrl",
    "facebookUrl",
    "instagramUrl",
    "twitterUrl",
    "pinterestUrl",
}
REPORT_FORMATS = ("json", "xml", "csv", "xls", "pdf")
REPORT_ACCEPT = ("application/json", "text/xml", "text/csv", "application/pdf", "application/vnd.ms-excel")
MAX_REPORT_FIELDS = 400


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_integer(text: str) -> bool:
    return text.isascii() and text.lstrip("-").isdigit()


def _report_problem(body: Any) -> str | None:  # noqa: PLR0911 - one answer per rule of the schema
    """What the spec's RequestCustomReport refuses in ``body`` (None: nothing)."""
    if not isinstance(body, dict):
        return "The report definition is a JSON object"
    if "title" in body and not isinstance(body["title"], str):
        return "title must be a string"
    fields = body.get("fields")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        return "fields must be a list of field ids"
    if len(fields) > MAX_REPORT_FIELDS:
        return f"At most {MAX_REPORT_FIELDS} fields per report"
    if body.get("filterDuplicates", "yes") not in ("yes", "no"):
        return "filterDuplicates must be yes or no"
    filters = body.get("filters", {})
    if not isinstance(filters, dict):
        return "filters must be an object"
    ids = filters.get("employeeIds", [])
    if not isinstance(ids, list) or not all(_is_int(i) for i in ids):
        return "filters.employeeIds must be a list of integer employee ids"
    changed = filters.get("lastChanged", {})
    if not isinstance(changed, dict) or changed.get("includeNull", "yes") not in ("yes", "no"):
        return "filters.lastChanged must be an object; includeNull yes or no"
    if "value" in changed and not isinstance(changed["value"], str):
        return "filters.lastChanged.value must be an ISO 8601 date-time"
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _status_values(operator: Any, value: Any) -> set[str]:
    values = value if isinstance(value, list) else [value]
    names = {str(v).capitalize() for v in values}
    if operator in ("does_not_include", "not_equal"):
        return {"Active", "Inactive"} - names
    return names


_ODATA = re.compile(r"^\s*status\s+(eq|ne|in)\s+(.+?)\s*$", re.IGNORECASE)


def _odata_status(expression: Any) -> set[str] | bool | None:
    """The statuses an OData filter on ``status`` selects; None = no filter; False = unsupported."""
    if expression in (None, ""):
        return None
    match = _ODATA.match(str(expression))
    if match is None:
        return False
    operator, operand = match.group(1).lower(), match.group(2)
    names = {v.capitalize() for v in re.findall(r"'([^']*)'", operand)}
    if not names:
        return False
    return {"Active", "Inactive"} - names if operator == "ne" else names
