"""Fake Employment Hero (no published spec in vendor-specs; facts from PROVIDERS.md).

- OAuth2 authorization code with PKCE (S256 mandatory): ``GET /oauth2/authorize`` redirects to the
  ``redirect_uri`` with a code; ``POST /oauth2/token`` exchanges it (``code_verifier`` checked
  against the challenge) or a refresh token (rotated: each is good once). Access tokens live 15
  minutes (option ``access_token_ttl``).
- ``GET /api/v1/organisations``, ``GET /api/v1/organisations/{id}/employees`` and ``/teams``, paged
  with ``page_index`` (1-based) and ``items_per_page`` (default 20, max 100); records in
  ``data.items`` beside ``page_index``, ``item_per_page``, ``total_pages``, ``total_items``.
- Employee ids are UUIDs. No webhooks (the vendor publishes none).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from shared.domain.models import Employee, EmployeeStatus

from . import oauth_endpoints
from .company import Change, Person, vendor_uuid
from .oauth import OAuthServer, bearer
from .server import HttpError, Request, Response, Route, Vendor, WebhookRequest

DEFAULT_PER_PAGE, MAX_PER_PAGE = 20, 100
STATUS = {
    EmployeeStatus.PENDING: "pending",
    EmployeeStatus.ACTIVE: "active",
    EmployeeStatus.ON_LEAVE: "on_leave",
    EmployeeStatus.TERMINATED: "terminated",
}


# The OAuth app the fake knows by default (client id, client secret): what the local stack
# registers as the deployment's app for this provider.
OAUTH_CLIENT = ("fake-eh-client-id", "fake-eh-client-secret")


class EmploymentHero(Vendor):
    name = "employment_hero"

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        opts = server.options
        self.oauth = OAuthServer(
            opts.get("client_id", OAUTH_CLIENT[0]),
            opts.get("client_secret", OAUTH_CLIENT[1]),
            access_ttl=int(opts.get("access_token_ttl", 900)),
            pkce=True,
            prefix="eh",
        )
        self.organisation_id = vendor_uuid("eh-organisation", self.company.company_name)
        self._cache: dict[int, tuple[int, dict[str, Any]]] = {}
        self._issued = self.oauth.issue()

    def credentials(self) -> dict[str, str]:
        return {
            "client_id": self.oauth.client_id,
            "client_secret": self.oauth.client_secret,
            "access_token": self._issued.access_token,
            "refresh_token": self._issued.refresh_token,
            "authorize_url": "/oauth2/authorize",
            "token_url": "/oauth2/token",
        }

    def error(self, status: int, code: str, message: str) -> Response:
        return Response.json({"error": {"code": status, "message": message, "type": code}}, status)

    def routes(self) -> list[Route]:
        org = "/api/v1/organisations/{organisation_id}"
        return [
            Route.of("GET", "/oauth2/authorize", self.authorize),
            Route.of("POST", "/oauth2/token", self.token),
            Route.of("GET", "/api/v1/organisations", self.organisations),
            Route.of("GET", f"{org}/employees", self.employees),
            Route.of("GET", f"{org}/employees/{{employee_id}}", self.employee),
            Route.of("GET", f"{org}/teams", self.teams),
        ]

    def expected_employee(self, person: Person) -> Employee:
        e = person.employee
        manager = vendor_uuid("eh-employee", e.manager_hris_id) if e.manager_hris_id else None
        return replace(e, hris_id=vendor_uuid("eh-employee", person.key), manager_hris_id=manager)

    # -- OAuth ----------------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        if request.arg("response_type") != "code":
            return Response.json({"error": "unsupported_response_type"}, 400)
        return oauth_endpoints.authorize(self.oauth, request, pkce=True)

    def token(self, request: Request) -> Response:
        return oauth_endpoints.token(
            self.oauth, request, scope="urn:mainapp:employees:read urn:mainapp:organisations:read", pkce=True
        )

    def _auth(self, request: Request) -> None:
        token = bearer(request.header("Authorization"))
        if token is None or not self.oauth.valid(token):
            raise self.unauthorized("The access token is invalid or expired")

    # -- API ------------------------------------------------------------------------------------

    def _paging(self, request: Request) -> tuple[int, int]:
        try:
            index = int(request.arg("page_index") or 1)
            per_page = int(request.arg("items_per_page") or DEFAULT_PER_PAGE)
        except ValueError:
            raise self.bad_request("page_index and items_per_page are integers") from None
        if index < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise self.bad_request(f"page_index >= 1 and items_per_page between 1 and {MAX_PER_PAGE}")
        return index, per_page

    @staticmethod
    def _page(items: list[Any], index: int, per_page: int) -> dict[str, Any]:
        total = len(items)
        return {
            "data": {
                "items": items[(index - 1) * per_page : index * per_page],
                "item_per_page": per_page,
                "page_index": index,
                "total_pages": max(1, -(-total // per_page)),
                "total_items": total,
            }
        }

    def _organisation(self, request: Request) -> None:
        if request.params["organisation_id"] != self.organisation_id:
            raise HttpError(self.error(404, "not_found", "Organisation not found"))

    def organisations(self, request: Request) -> Response:
        self._auth(request)
        index, per_page = self._paging(request)
        org = {
            "id": self.organisation_id,
            "name": self.company.company_name,
            "country": "AU",
            "logo_url": None,
        }
        return Response.json(self._page([org], index, per_page))

    def _record(self, person: Person) -> dict[str, Any]:
        cached = self._cache.get(person.id)
        if cached is not None and cached[0] == person.version:
            return cached[1]
        e = person.employee
        manager = self.company.find(e.manager_hris_id) if e.manager_hris_id else None
        entity = e.company or self.company.company_name
        record = {
            "id": vendor_uuid("eh-employee", person.key),
            "employee_number": e.employee_number,
            "first_name": e.first_name,
            "last_name": e.last_name,
            "known_as": None,
            "company_email": e.email,
            "personal_email": None,
            "job_title": e.job_title,
            "status": STATUS[e.status],
            "location": e.office_location,
            "country": e.home_country,
            "date_of_birth": e.birthday.isoformat() if e.birthday else None,
            "start_date": e.start_date.isoformat() if e.start_date else None,
            "termination_date": e.termination_date.isoformat() if e.termination_date else None,
            "avatar_url": e.avatar_url,
            "primary_manager": (
                {
                    "id": vendor_uuid("eh-employee", manager.key),
                    "name": " ".join(
                        x for x in (manager.employee.first_name, manager.employee.last_name) if x
                    ),
                }
                if manager
                else None
            ),
            "employing_entity": {"id": vendor_uuid("eh-entity", entity), "name": entity},
            "teams": [{"id": vendor_uuid("eh-team", g), "name": g} for g in e.groups],
        }
        self._cache[person.id] = (person.version, record)
        return record

    def employees(self, request: Request) -> Response:
        self._auth(request)
        self._organisation(request)
        index, per_page = self._paging(request)
        faults = self.page_faults(index)
        if faults.repeat:
            index = 1  # a server that ignores the page asked for
        people = self.company.people()
        start = (index - 1) * per_page
        page = self._page([], index, per_page)
        page["data"]["items"] = [self._record(p) for p in faults.shorten(people[start : start + per_page])]
        page["data"]["total_items"] = len(people)
        page["data"]["total_pages"] = max(1, -(-len(people) // per_page))
        return Response.json(page)

    def employee(self, request: Request) -> Response:
        self._auth(request)
        self._organisation(request)
        person = self.by_uuid("eh-employee").get(request.params["employee_id"])
        if person is None or person.deleted:
            raise HttpError(self.error(404, "not_found", "Employee not found"))
        return Response.json({"data": self._record(person)})

    def teams(self, request: Request) -> Response:
        self._auth(request)
        self._organisation(request)
        index, per_page = self._paging(request)
        names = sorted(self.company.catalog.names("group"))
        teams = [{"id": vendor_uuid("eh-team", n), "name": n, "status": "active"} for n in names]
        return Response.json(self._page(teams, index, per_page))

    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:  # noqa: ARG002
        """Employment Hero publishes no HR webhooks: nothing is sent."""
        return []
