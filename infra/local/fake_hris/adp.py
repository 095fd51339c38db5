"""Fake ADP Workforce Now (ADP's Postman collection ``vendor-specs/adp-wfn-postman-collection.json``
and its sample responses ``vendor-specs/adp-wfn-samples/``; ADP publishes no OpenAPI).

- Mutual TLS on loopback: the fake makes its own CA at start (``tls.generate``, or the option
  ``tls``), serves HTTPS with a certificate for 127.0.0.1 and refuses at the handshake any client
  that presents no certificate that CA signed. ``credentials()`` hands out the client certificate
  and key and the CA (``ca_certificate``, the connection's loopback-only trust anchor).
- ``POST /auth/oauth/v2/token``: ``grant_type=client_credentials`` (form or query) with Basic
  ``client_id:client_secret`` -> ``{access_token, token_type, expires_in, scope}``; 401
  ``invalid_client`` otherwise.
- ``GET /hr/v2/workers?$top&$skip`` (``$top`` default: everyone) -> ``{"workers": [...]}``, HTTP 204
  past the end; the page faults apply (page = ``$skip // $top + 1``: a short page leaves records
  out, ``repeat_cursor`` answers the first page whatever ``$skip`` says). ``GET
  /hr/v2/workers/{aoid}`` -> ``{"workers": [one]}`` or 404. Errors are ADP's ``confirmMessage``.
- Workers are shaped like ADP's samples: ``associateOID`` (16 letters and digits), ``workerID``,
  ``person.legalName``, ``businessCommunication.emails`` (the "Work E-mail"; a personal address
  sits in ``person.communication``), ``workerDates``, ``workerStatus`` (Active, Inactive on leave,
  Terminated; deleted records stay as terminated: ADP keeps its workers) and ``workAssignments``
  (the primary one with ``assignmentStatus`` A/L/T, job title, ``reportsTo``, the department and
  business unit as ``homeOrganizationalUnits``, ``homeWorkLocation``; every seventh worker also has
  a second, non-primary assignment listed first).
- Event notifications: every change of the company (hire, terminate, rehire, leave, move, manager,
  edits, through the Python API or ``/_admin``) puts a message on the queue shaped like ADP's
  samples (``worker.hire``, ``worker.terminate``, ``worker.rehire``, ``worker.on-leave``, ...).
  ``GET /core/v1/event-notification-messages`` answers the head (header ``adp-msg-msgid``) or 204;
  ``DELETE /core/v1/event-notification-messages/{msgid}`` removes it (404 when there is none).
  ADP sends no webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shared.domain.models import Employee, EmployeeStatus

from .company import Change, Person
from .oauth import OAuthError, OAuthServer, basic, bearer
from .oauth_endpoints import error_response
from .server import HttpError, Request, Response, Route, ServerTls, Vendor, WebhookRequest
from .tls import FakeTls, generate

CLIENT = ("fake-adp-client-id", "fake-adp-client-secret")
TOKEN_TTL = 3600
WORKER_STATUS = {
    EmployeeStatus.ACTIVE: "Active",
    EmployeeStatus.PENDING: "Active",
    EmployeeStatus.ON_LEAVE: "Inactive",
    EmployeeStatus.TERMINATED: "Terminated",
}
ASSIGNMENT_STATUS = {
    EmployeeStatus.ACTIVE: ("A", "Active"),
    EmployeeStatus.PENDING: ("A", "Active"),
    EmployeeStatus.ON_LEAVE: ("L", "Leave"),
    EmployeeStatus.TERMINATED: ("T", "Terminated"),
}
# The company's changes -> ADP's event names (their samples). Return from leave is not in ADP's
# samples (uncertain): the fake says ``worker.return-from-leave``.
EVENTS = {
    "hired": "worker.hire",
    "terminated": "worker.terminate",
    "deleted": "worker.terminate",
    "rehired": "worker.rehire",
    "leave_started": "worker.on-leave",
    "leave_ended": "worker.return-from-leave",
    "moved": "worker.work-assignment.home-organizational-units.modify",
    "manager_changed": "worker.reports-to.modify",
}
_EDITS = (
    ("email", "worker.business-communication.email.change"),
    ("first_name", "worker.legal-name.change"),
    ("last_name", "worker.legal-name.change"),
    ("start_date", "worker.worker-original-hire-date.change"),
)
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def associate_oid(key: str) -> str:
    """A stable AOID in ADP's shape (``G3`` and 14 letters and digits) for a fake person."""
    digest = base64.b32encode(hashlib.sha256(f"adp-aoid:{key}".encode()).digest()).decode()
    return "G3" + "".join(c for c in digest if c in _B32)[:14]


def _code(value: str, name: str | None = None) -> dict[str, str]:
    return {"codeValue": value, "shortName": name or value}


class AdpWorkforceNow(Vendor):
    name = "adp_workforce_now"

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        opts = server.options
        material = opts.get("tls")
        self.tls: FakeTls = material if isinstance(material, FakeTls) else generate("hris-sync fake ADP CA")
        self.oauth = OAuthServer(
            opts.get("client_id", CLIENT[0]),
            opts.get("client_secret", CLIENT[1]),
            access_ttl=int(opts.get("access_token_ttl", TOKEN_TTL)),
            pkce=False,
            prefix="adp",
        )
        self._queue: deque[tuple[str, bytes]] = deque()
        self._queue_lock = threading.Lock()
        # Messages acknowledged (DELETE answered 200), for tests.
        self.acknowledged: list[str] = []

    def server_tls(self) -> ServerTls:
        return self.tls.server

    def credentials(self) -> dict[str, str]:
        return {
            "client_id": self.oauth.client_id,
            "client_secret": self.oauth.client_secret,
            "client_certificate": self.tls.client_certificate,
            "client_key": self.tls.client_key,
            "ca_certificate": self.tls.ca_certificate,
        }

    def error(self, status: int, code: str, message: str) -> Response:
        """ADP's ``confirmMessage`` error body."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        return Response.json(
            {
                "confirmMessage": {
                    "confirmMessageID": {"idValue": str(uuid.uuid4())},
                    "createDateTime": now,
                    "requestReceiptDateTime": now,
                    "protocolStatusCode": {"codeValue": str(status)},
                    "processMessages": [
                        {
                            "processMessageID": {"idValue": code},
                            "messageTypeCode": {"codeValue": "error"},
                            "userMessage": {"messageTxt": message},
                        }
                    ],
                }
            },
            status,
        )

    def routes(self) -> list[Route]:
        return [
            Route.of("POST", "/auth/oauth/v2/token", self.token),
            Route.of("GET", "/hr/v2/workers", self.workers),
            Route.of("GET", "/hr/v2/workers/{aoid}", self.worker),
            Route.of("GET", "/core/v1/event-notification-messages", self.next_message),
            Route.of("DELETE", "/core/v1/event-notification-messages/{msgid}", self.delete_message),
        ]

    # -- auth -------------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        form = request.form() if request.body else {}
        grant = form.get("grant_type") or request.arg("grant_type")
        if grant != "client_credentials":
            return error_response("unsupported_grant_type", "grant_type must be client_credentials")
        pair = basic(request.header("Authorization"))
        try:
            issued = self.oauth.client_credentials(*(pair or (None, None)))
        except OAuthError as exc:
            return error_response(exc.error, exc.description, 401)
        return Response.json(
            {
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": self.oauth.access_ttl,
                "scope": "api",
            }
        )

    def _auth(self, request: Request) -> None:
        token = bearer(request.header("Authorization"))
        if not token or not self.oauth.valid(token):
            raise self.unauthorized("Invalid or expired access token")

    # -- workers ----------------------------------------------------------------------------------

    def _everyone(self) -> list[Person]:
        return self.memo("people", lambda: list(self.company.people(include_deleted=True)))

    def _aoids(self) -> dict[str, Person]:
        return self.memo("aoids", lambda: {associate_oid(p.key): p for p in self._everyone()})

    def _status(self, person: Person) -> EmployeeStatus:
        return EmployeeStatus.TERMINATED if person.deleted else person.employee.status

    def _unit_code(self, kind: str, name: str) -> str:
        return f"{self.company.catalog.id_for(kind, name):06d}"

    def expected_employee(self, person: Person) -> Employee:
        e = person.employee
        units = [("department", e.department), ("business_unit", person.division)]
        return replace(
            e,
            hris_id=associate_oid(person.key),
            status=self._status(person),
            manager_hris_id=associate_oid(e.manager_hris_id) if e.manager_hris_id else None,
            groups=tuple(name for _, name in units if name),
            group_ids=tuple(
                f"{kind}:{self._unit_code('department' if kind == 'department' else 'group', name)}"
                for kind, name in units
                if name
            ),
            company=None,
            company_id=None,
            avatar_url=None,
            birthday=None,
            home_country=None,
            hris_role=None,
        )

    def render(self, person: Person) -> dict[str, Any]:
        """One worker as ``/hr/v2/workers`` shows it."""
        e = person.employee
        status = self._status(person)
        code, label = ASSIGNMENT_STATUS[status]
        start = e.start_date.isoformat() if e.start_date else None
        ended = e.termination_date.isoformat() if e.termination_date else None
        units = []
        if e.department:
            units.append(
                {
                    "nameCode": _code(self._unit_code("department", e.department), e.department),
                    "typeCode": _code("Department"),
                }
            )
        if person.division:
            units.append(
                {
                    "nameCode": _code(self._unit_code("group", person.division), person.division),
                    "typeCode": _code("Business Unit"),
                }
            )
        units.append(
            {
                "nameCode": _code(f"{person.id:09d}", "**"),
                "typeCode": _code("Cost Number", "Home Cost Number"),
            }
        )
        primary: dict[str, Any] = {
            "itemID": f"{person.id}_1",
            "primaryIndicator": True,
            "hireDate": start,
            "actualStartDate": start,
            "terminationDate": ended,
            "assignmentStatus": {"statusCode": _code(code, label), "effectiveDate": start},
            "workerTypeCode": _code("F", "Full Time"),
            "jobTitle": e.job_title,
            "jobCode": _code(f"J{person.id % 97:03d}", e.job_title) if e.job_title else None,
            "homeOrganizationalUnits": units,
            "homeWorkLocation": {
                "nameCode": _code(self._unit_code("office", e.office_location), e.office_location)
            }
            if e.office_location
            else None,
            "reportsTo": [
                {
                    "associateOID": associate_oid(e.manager_hris_id),
                    "workerID": {"idValue": f"M{e.manager_hris_id}"},
                    "reportsToWorkerName": {"formattedName": "Manager"},
                }
            ]
            if e.manager_hris_id
            else [],
            "baseRemuneration": {
                "payPeriodRateAmount": {
                    "nameCode": _code("Salary"),
                    "amountValue": 3461.54,
                    "currencyCode": "USD",
                }
            },
        }
        assignments = [{k: v for k, v in primary.items() if v is not None}]
        if person.id % 7 == 0:
            # A second job: not the primary one, listed first (the connector must not take it).
            assignments.insert(
                0,
                {
                    "itemID": f"{person.id}_2",
                    "primaryIndicator": False,
                    "assignmentStatus": {"statusCode": _code("A", "Active")},
                    "jobTitle": "Weekend Cover",
                    "homeOrganizationalUnits": [
                        {"nameCode": _code("999000", "Secondary Jobs"), "typeCode": _code("Department")}
                    ],
                },
            )
        worker: dict[str, Any] = {
            "associateOID": associate_oid(person.key),
            "workerID": {"idValue": e.employee_number or f"{person.id:010d}"},
            "person": {
                "legalName": {
                    "givenName": e.first_name,
                    "familyName1": e.last_name,
                    "formattedName": f"{e.last_name}, {e.first_name}",
                },
                "birthDate": "0000-" + (e.birthday.isoformat()[5:] if e.birthday else "01-01"),
                "governmentIDs": [
                    {
                        "idValue": "XXX-XX-1234",
                        "nameCode": {"codeValue": "SSN", "longName": "Social Security Number"},
                    }
                ],
                "communication": {
                    "emails": [
                        {
                            "nameCode": _code("Personal E-mail"),
                            "emailUri": f"{(e.first_name or 'x').lower()}.{person.key}@home.example",
                        }
                    ]
                },
            },
            "workerDates": {"originalHireDate": start, **({"terminationDate": ended} if ended else {})},
            "workerStatus": {"statusCode": {"codeValue": WORKER_STATUS[status]}},
            "businessCommunication": {
                "emails": [{"nameCode": _code("Work E-mail"), "emailUri": e.email}] if e.email else []
            },
            "workAssignments": assignments,
        }
        return worker

    def _int_arg(self, request: Request, name: str) -> int | None:
        raw = request.arg(name)
        if raw is None:
            return None
        if not raw.isdigit():
            raise self.bad_request(f"{name} must be a non-negative integer")
        return int(raw)

    def workers(self, request: Request) -> Response:
        self._auth(request)
        people = self._everyone()
        top = self._int_arg(request, "$top") or len(people) or 1
        skip = self._int_arg(request, "$skip") or 0
        faults = self.page_faults(skip // top + 1)
        if faults.repeat:
            skip = 0
        page = faults.shorten(people[skip : skip + top])
        if not page:
            return Response(status=204)
        return Response.json({"workers": [self.render(p) for p in page]})

    def worker(self, request: Request) -> Response:
        self._auth(request)
        person = self._aoids().get(request.params["aoid"])
        if person is None:
            raise HttpError(self.error(404, "worker_not_found", "No worker with this associateOID"))
        return Response.json({"workers": [self.render(person)]})

    # -- event notifications ------------------------------------------------------------------------

    def queued(self) -> list[str]:
        """The message ids on the queue, head first (for tests)."""
        with self._queue_lock:
            return [message_id for message_id, _ in self._queue]

    def enqueue(self, body: dict[str, Any]) -> str:
        message_id = uuid.uuid4().hex
        with self._queue_lock:
            self._queue.append((message_id, json.dumps(body, separators=(",", ":")).encode()))
        return message_id

    def next_message(self, request: Request) -> Response:
        self._auth(request)
        with self._queue_lock:
            head = self._queue[0] if self._queue else None
        if head is None:
            return Response(status=204)
        message_id, body = head
        return Response(200, body, {"Content-Type": "application/json", "adp-msg-msgid": message_id})

    def delete_message(self, request: Request) -> Response:
        self._auth(request)
        message_id = request.params["msgid"]
        with self._queue_lock:
            found = next((m for m in self._queue if m[0] == message_id), None)
            if found is not None:
                self._queue.remove(found)
                self.acknowledged.append(message_id)
        if found is None:
            raise HttpError(self.error(404, "message_not_found", "No message with this id"))
        return Response(status=200)

    def event_name(self, change: Change) -> str:
        if change.event in EVENTS:
            return EVENTS[change.event]
        for field, name in _EDITS:
            if field in change.changed_fields:
                return name
        return "worker.work-assignment.modify"

    def event_message(self, change: Change) -> dict[str, Any]:
        """The event notification ADP queues for a change, shaped like its samples."""
        person = self.company.get(change.person_id)
        aoid = associate_oid(person.key)
        name = self.event_name(change)
        worker = self.render(person)
        at = (
            change.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{change.at.microsecond // 1000:03d}+0000"
        )
        data: dict[str, Any]
        if name == "worker.hire":
            # Events carry the primary assignment as ``workAssignment`` (ADP's hire sample).
            hired = {k: v for k, v in worker.items() if k != "workAssignments"}
            primary = worker["workAssignments"][-1]
            hired["workAssignment"] = {
                **{k: v for k, v in primary.items() if k != "itemID"},
                "assignmentStatus": {"statusCode": primary["assignmentStatus"]["statusCode"]},
            }
            data = {"output": {"worker": hired}}
        elif name == "worker.reports-to.modify":
            # This one names the worker directly in eventContext (ADP's sample).
            assignment = worker["workAssignments"][-1]
            data = {
                "eventContext": {"associateOID": aoid},
                "output": {
                    "worker": {
                        "workAssignment": {
                            "reportsTo": [
                                {"associateOID": r["associateOID"]} for r in assignment.get("reportsTo", [])
                            ]
                        }
                    }
                },
            }
        else:
            data = {
                "eventContext": {"worker": {"associateOID": aoid}},
                "output": {
                    "worker": {
                        "associateOID": aoid,
                        "workerID": worker["workerID"],
                        "workerDates": worker["workerDates"],
                        "workerStatus": worker["workerStatus"],
                    }
                },
            }
        return {
            "events": [
                {
                    "eventID": str(uuid.uuid4()),
                    "serviceCategoryCode": {"codeValue": "HR"},
                    "eventNameCode": {"codeValue": name},
                    "eventStatusCode": {"codeValue": "COMPLETED", "shortName": "Completed"},
                    "recordDateTime": at,
                    "creationDateTime": at,
                    "effectiveDateTime": at,
                    "originator": {"associateOID": "G3FAKEADMIN00001"},
                    "actor": {"associateOID": "G3FAKEADMIN00001"},
                    "data": data,
                    "links": [],
                }
            ]
        }

    def on_change(self, change: Change) -> None:
        """ADP queues an event notification for every change (it sends no webhooks)."""
        self.enqueue(self.event_message(change))

    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:
        del change, secret
        return []
