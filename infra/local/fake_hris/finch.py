"""Fake Finch (spec: ``vendor-specs/finch-employer-openapi.yaml``; Connect, ``/auth/token`` and
``/introspect`` as Finch documents them outside that spec).

- Finch Connect: ``GET /authorize?client_id&products&redirect_uri&state`` acts as the consenting
  admin (a 302 back to ``redirect_uri`` with ``code`` and ``state``; the option ``deny_consent`` or
  ``login_hint=deny`` declines with ``error=access_denied``). ``POST /auth/token`` (JSON: client id
  and secret, code, redirect URI) answers a long-lived access token (no expiry, no refresh token).
- Every API call needs ``Authorization: Bearer`` and ``Finch-API-Version`` (400 without it).
  ``GET /introspect`` names the payroll system (option ``provider``, default ``gusto``).
- ``GET /employer/company``; ``GET /employer/directory?limit&offset`` (limit default: everyone)
  with ``paging{count, offset}``; ``POST /employer/individual`` and ``/employer/employment`` with
  ``{"requests": [{"individual_id"}]}`` answering one ``{individual_id, code, body}`` per request
  (404 for an id Finch does not know). Errors ``{code, name, finch_code, message}``; 429 with
  ``Retry-After`` (20 requests a minute by default, as Finch limits these endpoints).
- People: everyone in the company, leavers and deleted people ``is_active: false`` with their
  ``end_date``; ``employment_status`` (``active``, ``leave``, ``prehire``, ``terminated``) as newer
  API versions send it beside ``is_active``. Departments by name (Finch has no department ids).
- Webhooks: a hire is ``directory.created``, a deletion ``directory.deleted``, any other change
  ``employment.updated``; headers ``finch-event-id``, ``finch-timestamp`` and ``finch-signature:
  v1,<base64>`` = HMAC-SHA256 keyed with the base64-decoded secret over ``{id}.{timestamp}.{body}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import replace
from typing import Any

from shared.domain.models import Employee, EmployeeStatus

from . import oauth_endpoints
from .company import Change, Person, vendor_uuid
from .oauth import OAuthError, OAuthServer, bearer
from .server import HttpError, RateLimit, Request, Response, Route, Vendor, WebhookRequest

# The Finch app the fake knows by default (client id, client secret) and its webhook secret.
OAUTH_CLIENT = ("fake-finch-client-id", "fake-finch-client-secret")
WEBHOOK_SECRET = base64.b64encode(b"fake-finch-webhook-secret-0123456789").decode()
API_VERSION = "2020-09-17"
PRODUCTS = ("company", "directory", "individual", "employment")
STATUS = {
    EmployeeStatus.ACTIVE: "active",
    EmployeeStatus.ON_LEAVE: "leave",
    EmployeeStatus.PENDING: "prehire",
    EmployeeStatus.TERMINATED: "terminated",
}
EVENTS = {"created": "directory.created", "deleted": "directory.deleted"}


def individual_id(key: str) -> str:
    return vendor_uuid("finch-individual", key)


class Finch(Vendor):
    name = "finch"
    # Finch: 20 requests a minute for the directory, individual and employment endpoints.
    default_rate_limit = RateLimit(20, 60.0)

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        opts = server.options
        self.oauth = OAuthServer(
            opts.get("client_id", OAUTH_CLIENT[0]),
            opts.get("client_secret", OAUTH_CLIENT[1]),
            access_ttl=10 * 365 * 86400,
            pkce=False,
            prefix="finch",
        )
        self.oauth.deny_consent = bool(opts.get("deny_consent", False))
        self.provider: str = str(opts.get("provider", "gusto"))
        self.webhook_secret = str(opts.get("webhook_secret", WEBHOOK_SECRET))
        self.company_id = vendor_uuid("finch-company", self.company.company_name or "company")
        self.connection_id = vendor_uuid("finch-connection", self.company_id)
        self._issued = self.oauth.issue()

    def credentials(self) -> dict[str, str]:
        return {
            "client_id": self.oauth.client_id,
            "client_secret": self.oauth.client_secret,
            "webhook_secret": self.webhook_secret,
            "access_token": self._issued.access_token,
            "company_id": self.company_id,
            "provider_id": self.provider,
        }

    def error(self, status: int, code: str, message: str) -> Response:
        names = {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "not_found_error",
            429: "rate_limit_error",
        }
        name = names.get(status, "server_error" if status >= 500 else "invalid_request_error")
        return Response.json({"code": status, "name": name, "finch_code": code, "message": message}, status)

    def routes(self) -> list[Route]:
        return [
            Route.of("GET", "/authorize", self.authorize),
            Route.of("POST", "/auth/token", self.token),
            Route.of("GET", "/introspect", self.introspect),
            Route.of("GET", "/employer/company", self.company_info),
            Route.of("GET", "/employer/directory", self.directory),
            Route.of("POST", "/employer/individual", self.batch(self._individual)),
            Route.of("POST", "/employer/employment", self.batch(self._employment)),
        ]

    # -- the people as Finch shows them -----------------------------------------------------------

    def _status(self, person: Person) -> EmployeeStatus:
        return EmployeeStatus.TERMINATED if person.deleted else person.employee.status

    def expected_employee(self, person: Person) -> Employee:
        e = person.employee
        department = e.department
        return replace(
            e,
            hris_id=individual_id(person.key),
            status=self._status(person),
            manager_hris_id=individual_id(e.manager_hris_id) if e.manager_hris_id else None,
            groups=(department,) if department else (),
            group_ids=(f"department:{department}",) if department else (),
            company=None,
            company_id=self.company_id,
            avatar_url=None,
            birthday=None,
            home_country=None,
        )

    def _directory_record(self, person: Person) -> dict[str, Any]:
        e = person.employee
        return {
            "id": individual_id(person.key),
            "first_name": e.first_name,
            "middle_name": None,
            "last_name": e.last_name,
            "manager": {"id": individual_id(e.manager_hris_id)} if e.manager_hris_id else None,
            "department": {"name": e.department} if e.department else None,
            "is_active": self._status(person) is not EmployeeStatus.TERMINATED,
        }

    def _individual(self, person: Person) -> dict[str, Any]:
        e = person.employee
        emails = []
        if e.email:
            # A personal address first: the work one must still win.
            personal = f"{(e.first_name or 'x').lower()}.{person.key}@home.example"
            emails = [{"data": personal, "type": "personal"}, {"data": e.email, "type": "work"}]
        return {
            "id": individual_id(person.key),
            "first_name": e.first_name,
            "middle_name": None,
            "last_name": e.last_name,
            "preferred_name": None,
            "emails": emails,
            "phone_numbers": [],
            "gender": None,
            "ethnicity": None,
            "dob": e.birthday.isoformat() if e.birthday else None,
            "residence": {
                "line1": None,
                "line2": None,
                "city": None,
                "state": None,
                "postal_code": None,
                "country": e.home_country,
            },
        }

    def _employment(self, person: Person) -> dict[str, Any]:
        e = person.employee
        status = self._status(person)
        return {
            "id": individual_id(person.key),
            "first_name": e.first_name,
            "middle_name": None,
            "last_name": e.last_name,
            "title": e.job_title,
            "manager": {"id": individual_id(e.manager_hris_id)} if e.manager_hris_id else None,
            "department": {"name": e.department} if e.department else None,
            "employment": {"type": "employee", "subtype": "full_time"},
            "start_date": e.start_date.isoformat() if e.start_date else None,
            "end_date": e.termination_date.isoformat() if e.termination_date else None,
            "is_active": status is not EmployeeStatus.TERMINATED,
            "employment_status": STATUS[status],
            "class_code": None,
            "location": {
                "line1": None,
                "line2": None,
                "city": e.office_location,
                "state": None,
                "postal_code": None,
                "country": None,
            },
            "income": {"unit": "yearly", "amount": 9_000_000, "currency": "usd", "effective_date": None},
            "income_history": [],
            "custom_fields": [],
            "source_id": e.employee_number,
        }

    # -- Finch Connect ----------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        redirect_uri = request.arg("redirect_uri")
        try:
            self.oauth.check_authorization_request(request.arg("client_id"), redirect_uri)
        except OAuthError as exc:
            raise self.bad_request(exc.description, exc.error) from None
        products = (request.arg("products") or "").split()
        if not products or not set(products) <= {*PRODUCTS, "payment", "pay_statement", "benefits", "ssn"}:
            raise self.bad_request("products must name Finch products", "invalid_products")
        # The consenting admin, as the other OAuth fakes have it (a code, or a declined consent).
        return oauth_endpoints.authorize(self.oauth, request, pkce=False)

    def token(self, request: Request) -> Response:
        try:
            body = request.payload()
        except ValueError:
            raise self.bad_request("the body must be JSON") from None
        try:
            pair = self.oauth.exchange_code(
                body.get("code"),
                client_id=body.get("client_id"),
                client_secret=body.get("client_secret"),
                redirect_uri=body.get("redirect_uri"),
                code_verifier=None,
            )
        except OAuthError as exc:
            status = 401 if exc.error == "invalid_client" else 400
            raise HttpError(self.error(status, exc.error, exc.description)) from None
        return Response.json(
            {
                "access_token": pair.access_token,
                "token_type": "bearer",
                "connection_id": self.connection_id,
                "customer_id": None,
                "account_id": self.connection_id,
                "company_id": self.company_id,
                "provider_id": self.provider,
                "products": list(PRODUCTS),
                "connection_type": "provider",
            }
        )

    def _auth(self, request: Request) -> None:
        token = bearer(request.header("Authorization"))
        if not token or not self.oauth.valid(token):
            raise self.unauthorized("Invalid access token")
        if not request.header("Finch-API-Version"):
            raise self.bad_request("the Finch-API-Version header is required", "missing_api_version")

    # -- API --------------------------------------------------------------------------------------

    def introspect(self, request: Request) -> Response:
        self._auth(request)
        return Response.json(
            {
                "client_id": self.oauth.client_id,
                "client_type": "production",
                "connection_type": "provider",
                "company_id": self.company_id,
                "account_id": self.connection_id,
                "connection_id": self.connection_id,
                "products": list(PRODUCTS),
                "username": "admin@acme.example",
                "payroll_provider_id": self.provider,
                "provider_id": self.provider,
                "manual": False,
            }
        )

    def company_info(self, request: Request) -> Response:
        self._auth(request)
        departments = sorted({p.employee.department for p in self.company.people() if p.employee.department})
        return Response.json(
            {
                "id": self.company_id,
                "legal_name": self.company.company_name or "Acme, Inc.",
                "entity": {"type": "corporation", "subtype": "c_corporation"},
                "ein": "12-3456789",
                "primary_email": "founders@acme.example",
                "primary_phone_number": "1234567890",
                "departments": [{"name": d, "parent": None} for d in departments],
                "locations": [],
                "accounts": [],
            }
        )

    def _everyone(self) -> list[Person]:
        return self.memo("people", lambda: list(self.company.people(include_deleted=True)))

    def _int_arg(self, request: Request, name: str, default: int) -> int:
        raw = request.arg(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.bad_request(f"{name} must be an integer") from None
        if value < 0:
            raise self.bad_request(f"{name} must not be negative")
        return value

    def directory(self, request: Request) -> Response:
        self._auth(request)
        people = self._everyone()
        limit = self._int_arg(request, "limit", 0) or len(people)
        offset = self._int_arg(request, "offset", 0)
        faults = self.page_faults(offset // max(limit, 1) + 1)
        if faults.repeat:
            offset = 0
        page = faults.shorten(people[offset : offset + limit])
        return Response.json(
            {
                "paging": {"count": len(people), "offset": offset},
                "individuals": [self._directory_record(p) for p in page],
            }
        )

    def batch(self, render: Any) -> Any:
        def handler(request: Request) -> Response:
            self._auth(request)
            try:
                body = request.json()
            except ValueError:
                raise self.bad_request("the body must be JSON") from None
            requests = body.get("requests") if isinstance(body, dict) else None
            if not isinstance(requests, list) or not all(
                isinstance(r, dict) and isinstance(r.get("individual_id"), str) for r in requests
            ):
                raise self.bad_request("requests must be a list of {individual_id}")
            known = self.by_uuid("finch-individual")
            answers = []
            for item in requests:
                person = known.get(item["individual_id"])
                if person is None:
                    answers.append(
                        {
                            "individual_id": item["individual_id"],
                            "code": 404,
                            "body": {
                                "code": 404,
                                "name": "not_found_error",
                                "finch_code": "individual_not_found",
                                "message": "Individual not found",
                            },
                        }
                    )
                else:
                    answers.append(
                        {"individual_id": item["individual_id"], "code": 200, "body": render(person)}
                    )
            return Response.json({"responses": answers})

        return handler

    # -- webhooks ---------------------------------------------------------------------------------

    def event_request(
        self, event_type: str, person: Person, secret: str, *, at: int | None = None
    ) -> WebhookRequest:
        """A Finch webhook for ``person``, signed with ``secret`` as Finch signs."""
        body = json.dumps(
            {
                "account_id": self.connection_id,
                "company_id": self.company_id,
                "connection_id": self.connection_id,
                "event_type": event_type,
                "data": {"individual_id": individual_id(person.key)},
            },
            separators=(",", ":"),
        ).encode()
        event_id = str(uuid.uuid4())
        now = int(time.time()) if at is None else at
        return WebhookRequest(body=body, headers=sign(body, secret, event_id, now))

    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:
        person = self.company.get(change.person_id)
        event_type = EVENTS.get(change.kind, "employment.updated")
        return [self.event_request(event_type, person, secret or self.webhook_secret)]


def signing_key(secret: str) -> bytes:
    """Finch's HMAC key: the secret base64-decoded (a ``whsec_`` prefix dropped); a secret that
    is not base64 is used as it is (the connector then refuses the signature)."""
    value = secret.strip().removeprefix("whsec_")
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()


def sign(body: bytes, secret: str, event_id: str, timestamp: int) -> dict[str, str]:
    digest = hmac.new(
        signing_key(secret), f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256
    ).digest()
    return {
        "Content-Type": "application/json",
        "finch-event-id": event_id,
        "finch-timestamp": str(timestamp),
        "finch-signature": f"v1,{base64.b64encode(digest).decode()}",
    }
