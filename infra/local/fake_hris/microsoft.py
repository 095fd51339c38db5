"""Fake Microsoft Graph and Entra login (``msgraph-users-subset-openapi.yaml``, PROVIDERS.md).

- Admin consent: ``GET /{tenant}/v2.0/adminconsent?client_id&redirect_uri&state&scope`` acts as the
  consenting admin: it redirects back with ``tenant`` (the fake's Entra tenant id),
  ``admin_consent=True``, ``state`` and ``scope``; or ``error=access_denied`` (``deny_consent``,
  or ``login_hint=deny``). Until then the tenant refuses the app's token requests.
- Token: ``POST /{tenant}/oauth2/v2.0/token`` ``grant_type=client_credentials`` with the app's
  client id and secret and ``scope=https://graph.microsoft.com/.default`` -> ``{token_type,
  expires_in, access_token}`` (no refresh token). Errors in Entra's shape (``error``,
  ``error_description``).
- ``GET /v1.0/users`` (``$select`` honoured: unselected HR fields are absent as in Graph;
  ``$expand=manager($select=id)``; ``$top`` 1..999, default 100) paged by ``@odata.nextLink``
  (``$skiptoken``); ``GET /v1.0/users/{id}`` (404 ``Request_ResourceNotFound`` once deleted);
  ``GET /v1.0/users/delta`` (``$deltatoken`` -> only what changed since; deleted users as
  ``{"id", "@removed": {"reason": "deleted"}}``); ``GET /v1.0/groups`` and
  ``/v1.0/groups/{id}/members/microsoft.graph.user``. 429 with ``Retry-After`` from the rate limit.
- Subscriptions: ``POST /v1.0/subscriptions`` validates the notification URL first (a POST with
  ``?validationToken=``; the answer must be 200 ``text/plain`` echoing it, within 10 s) and then
  sends ``changeNotificationCollection`` deliveries with the clientState for each change;
  ``PATCH`` renews, ``DELETE`` removes; ``send_lifecycle`` posts a lifecycle notification.

Statuses: terminated -> ``accountEnabled: false`` and ``employeeLeaveDateTime``; pending -> a
future ``employeeHireDate``; on leave -> enabled (Graph has no leave).
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.models import Employee, EmployeeStatus

from .company import Change, Person, vendor_uuid
from .oauth import OAuthServer, bearer
from .server import HttpError, RateLimit, Request, Response, Route, Vendor, WebhookRequest, _is_loopback

OAUTH_CLIENT = ("fake-ms-client-id", "fake-ms-client-secret")
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_TOP, MAX_TOP = 100, 999
MAX_SUBSCRIPTION = timedelta(minutes=41_760)
FIELDS = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "accountEnabled",
    "employeeId",
    "employeeHireDate",
    "employeeLeaveDateTime",
    "employeeType",
    "department",
    "jobTitle",
    "officeLocation",
    "companyName",
    "country",
    "userType",
    "createdDateTime",
)
# Graph's default property set (what comes back without $select): no HR fields, no accountEnabled.
DEFAULT_FIELDS = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "jobTitle",
    "officeLocation",
)


def user_id(person: Person) -> str:
    return vendor_uuid("ms-user", person.key)


@dataclass
class FakeSubscription:
    id: str
    resource: str
    change_type: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str
    expires: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "changeType": self.change_type,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "clientState": self.client_state,
            "expirationDateTime": _time(self.expires),
        }


class MicrosoftGraph(Vendor):
    name = "microsoft365"
    default_rate_limit = RateLimit(120, 10.0)

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        opts = server.options
        self.oauth = OAuthServer(
            opts.get("client_id", OAUTH_CLIENT[0]),
            opts.get("client_secret", OAUTH_CLIENT[1]),
            access_ttl=int(opts.get("access_token_ttl", 3599)),
            pkce=False,
            prefix="ms",
        )
        self.tenant_id = vendor_uuid("ms-tenant", self.company.company_name)
        # Consented unless told to start without (the journey's e2e makes the admin consent).
        self.consented = bool(opts.get("consented", True))
        self.deny_consent = False
        self.subscriptions: dict[str, FakeSubscription] = {}
        self.validations: list[int] = []
        self._lock = threading.Lock()

    def credentials(self) -> dict[str, str]:
        return {
            "client_id": self.oauth.client_id,
            "client_secret": self.oauth.client_secret,
            "tenant_id": self.tenant_id,
        }

    def error(self, status: int, code: str, message: str) -> Response:
        graph_code = {
            429: "TooManyRequests",
            404: "Request_ResourceNotFound",
            401: "InvalidAuthenticationToken",
        }
        return Response.json(
            {
                "error": {
                    "code": graph_code.get(status, code),
                    "message": message,
                    "innerError": {"request-id": secrets.token_hex(8)},
                }
            },
            status,
        )

    def routes(self) -> list[Route]:
        return [
            Route.of("GET", "/{tenant}/v2.0/adminconsent", self.adminconsent),
            Route.of("POST", "/{tenant}/oauth2/v2.0/token", self.token),
            Route.of("GET", "/v1.0/users", self.users),
            Route.of("GET", "/v1.0/users/delta", self.delta),
            Route.of("GET", "/v1.0/users/{user_id}", self.user),
            Route.of("GET", "/v1.0/groups", self.groups),
            Route.of("GET", "/v1.0/groups/{group_id}/members/microsoft.graph.user", self.members),
            Route.of("POST", "/v1.0/subscriptions", self.create_subscription),
            Route.of("PATCH", "/v1.0/subscriptions/{subscription_id}", self.update_subscription),
            Route.of("DELETE", "/v1.0/subscriptions/{subscription_id}", self.delete_subscription),
        ]

    def expected_employee(self, person: Person) -> Employee:
        e = person.employee
        manager = vendor_uuid("ms-user", e.manager_hris_id) if e.manager_hris_id else None
        status = EmployeeStatus.ACTIVE if e.status is EmployeeStatus.ON_LEAVE else e.status
        return replace(e, hris_id=user_id(person), manager_hris_id=manager, status=status)

    # -- consent and tokens ---------------------------------------------------------------------

    def adminconsent(self, request: Request) -> Response:
        redirect_uri = request.arg("redirect_uri")
        if request.arg("client_id") != self.oauth.client_id or not redirect_uri:
            return Response.json(
                {"error": "unauthorized_client", "error_description": "AADSTS700016: unknown app"}, 400
            )
        state = request.arg("state") or ""
        if self.deny_consent or request.arg("login_hint") == "deny":
            values = {"error": "access_denied", "error_description": "The admin declined", "state": state}
        else:
            self.consented = True
            values = {
                "tenant": self.tenant_id,
                "admin_consent": "True",
                "state": state,
                "scope": request.arg("scope") or "",
            }
        separator = "&" if "?" in redirect_uri else "?"
        return Response(302, b"", {"Location": f"{redirect_uri}{separator}{urllib.parse.urlencode(values)}"})

    def _entra_error(self, status: int, error: str, description: str) -> Response:
        return Response.json({"error": error, "error_description": description, "error_codes": [0]}, status)

    def token(self, request: Request) -> Response:
        form = request.form()
        if request.params["tenant"] != self.tenant_id:
            return self._entra_error(400, "invalid_request", "AADSTS90002: Tenant not found.")
        if form.get("grant_type") != "client_credentials":
            return self._entra_error(400, "unsupported_grant_type", "AADSTS70003: client_credentials only")
        if form.get("scope") != GRAPH_SCOPE:
            return self._entra_error(400, "invalid_scope", "AADSTS1002012: scope must be .default")
        if not secrets.compare_digest(
            form.get("client_id", ""), self.oauth.client_id
        ) or not secrets.compare_digest(form.get("client_secret", ""), self.oauth.client_secret):
            return self._entra_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if not self.consented:
            return self._entra_error(400, "invalid_grant", "AADSTS65001: The admin has not consented.")
        pair = self.oauth.issue()
        return Response.json(
            {
                "token_type": "Bearer",
                "expires_in": pair.expires_in,
                "ext_expires_in": pair.expires_in,
                "access_token": pair.access_token,
            }
        )

    def _auth(self, request: Request) -> None:
        token = bearer(request.header("Authorization"))
        if token is None or not self.oauth.valid(token):
            raise self.unauthorized("Access token is empty, invalid or expired.")

    # -- users ------------------------------------------------------------------------------------

    def _record(self, person: Person, selected: tuple[str, ...], manager: bool) -> dict[str, Any]:
        e = person.employee
        upn = (e.email or f"{user_id(person)}@fake.onmicrosoft.com").lower()
        full = {
            "id": user_id(person),
            "displayName": " ".join(x for x in (e.first_name, e.last_name) if x) or None,
            "givenName": e.first_name,
            "surname": e.last_name,
            "mail": e.email,
            "userPrincipalName": upn,
            "accountEnabled": e.status is not EmployeeStatus.TERMINATED,
            "employeeId": e.employee_number,
            "employeeHireDate": f"{e.start_date.isoformat()}T00:00:00Z" if e.start_date else None,
            "employeeLeaveDateTime": f"{e.termination_date.isoformat()}T00:00:00Z"
            if e.termination_date
            else None,
            "employeeType": "Employee",
            "department": e.department,
            "jobTitle": e.job_title,
            "officeLocation": e.office_location,
            "companyName": e.company,
            "country": e.home_country,
            "userType": "Member",
            "createdDateTime": person.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        record: dict[str, Any] = {k: full[k] for k in selected}
        if manager:
            boss = self.company.find(e.manager_hris_id) if e.manager_hris_id else None
            if boss is not None and not boss.deleted:
                record["manager"] = {"@odata.type": "#microsoft.graph.user", "id": user_id(boss)}
        return record

    def _selection(self, request: Request) -> tuple[tuple[str, ...], bool]:
        select = request.arg("$select")
        fields = tuple(f.strip() for f in select.split(",")) if select else DEFAULT_FIELDS
        unknown = [f for f in fields if f not in FIELDS]
        if unknown:
            raise self.bad_request(
                f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.user'."
            )
        expand = request.arg("$expand")
        if expand not in (None, "manager", "manager($select=id)"):
            raise self.bad_request("Parsing OData Select and Expand failed: unsupported $expand.")
        return ("id", *[f for f in fields if f != "id"]), expand is not None

    def _top(self, request: Request) -> int:
        try:
            top = int(request.arg("$top") or DEFAULT_TOP)
        except ValueError:
            raise self.bad_request("Invalid page size specified: '$top' must be an integer.") from None
        if not 1 <= top <= MAX_TOP:
            raise self.bad_request(f"Invalid page size specified: '$top' must be 1..{MAX_TOP}.")
        return top

    def _link(self, path: str, values: dict[str, str]) -> str:
        return f"{self.server.base_url}{path}?{urllib.parse.urlencode(values)}"

    def users(self, request: Request) -> Response:
        self._auth(request)
        skip = request.arg("$skiptoken")
        if skip is not None:
            try:
                state = json.loads(urllib.parse.unquote(skip))
                offset, top, select, expand = (
                    int(state["o"]),
                    int(state["t"]),
                    str(state["s"]),
                    bool(state["e"]),
                )
            except (ValueError, KeyError, TypeError):
                raise self.bad_request("Invalid $skiptoken.", "Request_BadRequest") from None
            selected = tuple(select.split(","))
        else:
            offset, top = 0, self._top(request)
            selected, expand = self._selection(request)
        page_number = offset // top + 1
        faults = self.page_faults(page_number)
        people = self.company.people()
        chunk = faults.shorten(people[offset : offset + top])
        body: dict[str, Any] = {
            "@odata.context": f"{self.server.base_url}/v1.0/$metadata#users",
            "value": [self._record(p, selected, expand) for p in chunk],
        }
        if offset + top < len(people):
            token = json.dumps(
                {"o": 0 if faults.repeat else offset + top, "t": top, "s": ",".join(selected), "e": expand}
            )
            body["@odata.nextLink"] = self._link("/v1.0/users", {"$skiptoken": token})
        return Response.json(body)

    def user(self, request: Request) -> Response:
        self._auth(request)
        person = self.by_uuid("ms-user").get(request.params["user_id"])
        if person is None or person.deleted:
            raise HttpError(
                self.error(
                    404, "Request_ResourceNotFound", f"Resource '{request.params['user_id']}' does not exist."
                )
            )
        selected, expand = self._selection(request)
        return Response.json(self._record(person, selected, expand))

    def delta(self, request: Request) -> Response:
        """Every user the first time, then what changed since the token (change-log position)."""
        self._auth(request)
        token = request.arg("$deltatoken")
        if token is None:
            selected, _ = self._selection(request)
            people = self.company.people()
            removed: list[Person] = []
        else:
            try:
                position, select = int(token.split(":", 1)[0]), token.split(":", 1)[1]
            except (ValueError, IndexError):
                raise self.bad_request("Invalid $deltatoken.", "Request_BadRequest") from None
            selected = tuple(select.split(","))
            changed = {c.person_id for c in self.company.changes()[position:]}
            everyone = [self.company.get(i) for i in sorted(changed)]
            people = [p for p in everyone if not p.deleted]
            removed = [p for p in everyone if p.deleted]
        value: list[dict[str, Any]] = [self._record(p, selected, False) for p in people]
        value += [{"id": user_id(p), "@removed": {"reason": "deleted"}} for p in removed]
        position = len(self.company.changes())
        link = self._link("/v1.0/users/delta", {"$deltatoken": f"{position}:{','.join(selected)}"})
        return Response.json(
            {
                "@odata.context": f"{self.server.base_url}/v1.0/$metadata#users",
                "value": value,
                "@odata.deltaLink": link,
            }
        )

    # -- groups -----------------------------------------------------------------------------------

    def _group_names(self) -> dict[str, str]:
        return {vendor_uuid("ms-group", n): n for n in sorted(self.company.catalog.names("group"))}

    def groups(self, request: Request) -> Response:
        self._auth(request)
        self._top(request)
        value = [{"id": i, "displayName": n} for i, n in self._group_names().items()]
        return Response.json({"value": value})

    def members(self, request: Request) -> Response:
        self._auth(request)
        self._top(request)
        name = self._group_names().get(request.params["group_id"])
        if name is None:
            raise HttpError(self.error(404, "Request_ResourceNotFound", "Group not found."))
        value = [
            {"@odata.type": "#microsoft.graph.user", "id": user_id(p)}
            for p in self.company.people()
            if name in p.employee.groups and name != p.employee.department
        ]
        return Response.json({"value": value})

    # -- subscriptions ------------------------------------------------------------------------------

    def create_subscription(self, request: Request) -> Response:
        self._auth(request)
        try:
            body = request.json()
        except ValueError:
            raise self.bad_request("Invalid request body.") from None
        if not isinstance(body, dict):
            raise self.bad_request("Invalid request body.")
        expires = _parse(body.get("expirationDateTime"))
        now = datetime.now(UTC)
        missing = [
            k for k in ("changeType", "notificationUrl", "resource", "expirationDateTime") if not body.get(k)
        ]
        if missing or expires is None:
            raise self.bad_request(
                f"Subscription request is missing {', '.join(missing) or 'a valid expirationDateTime'}."
            )
        if body["resource"] not in ("users", "/users"):
            raise self.bad_request("Resource not supported by this fake.")
        if not set(str(body["changeType"]).split(",")) <= {"updated", "deleted"}:
            raise self.bad_request("Users support changeType updated and deleted only.")
        if not now < expires <= now + MAX_SUBSCRIPTION:
            raise self.bad_request("Subscription expiration can only be 0-41760 minutes in the future.")
        state = body.get("clientState")
        if state is not None and (not isinstance(state, str) or len(state) > 128):
            raise self.bad_request("clientState is at most 128 characters.")
        url = str(body["notificationUrl"])
        if not self._validated(url):
            raise self.bad_request(
                "Subscription validation request failed. Notification endpoint must respond with "
                "200 OK to validation request."
            )
        lifecycle = body.get("lifecycleNotificationUrl")
        if isinstance(lifecycle, str) and lifecycle != url and not self._validated(lifecycle):
            raise self.bad_request("Subscription validation request failed for lifecycleNotificationUrl.")
        subscription = FakeSubscription(
            id=str(vendor_uuid("ms-subscription", secrets.token_hex(8))),
            resource="users",
            change_type=str(body["changeType"]),
            notification_url=url,
            lifecycle_url=lifecycle if isinstance(lifecycle, str) else None,
            client_state=state or "",
            expires=expires,
        )
        with self._lock:
            self.subscriptions[subscription.id] = subscription
        self.server.webhooks_to(url, subscription.client_state)
        return Response.json({"@odata.context": "#subscriptions/$entity", **subscription.as_json()}, 201)

    def _validated(self, url: str) -> bool:
        """Graph's handshake: POST ``?validationToken=``; 200, text/plain, the token echoed."""
        if not _is_loopback(url):
            return False
        token = f"Validation: Testing client application reachability Request-Id: {secrets.token_hex(8)}"
        separator = "&" if "?" in url else "?"
        request = urllib.request.Request(  # noqa: S310 - loopback only (the server refuses others)
            f"{url}{separator}{urllib.parse.urlencode({'validationToken': token})}",
            data=b"",
            method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                ok = (
                    answer.status == 200
                    and (answer.headers.get("Content-Type") or "").startswith("text/plain")
                    and answer.read().decode() == token
                )
        except (urllib.error.URLError, OSError):
            ok = False
        self.validations.append(200 if ok else 0)
        return ok

    def _subscription(self, request: Request) -> FakeSubscription:
        found = self.subscriptions.get(request.params["subscription_id"])
        if found is None:
            raise HttpError(self.error(404, "ResourceNotFound", "The object was not found."))
        return found

    def update_subscription(self, request: Request) -> Response:
        self._auth(request)
        subscription = self._subscription(request)
        try:
            body = request.json()
        except ValueError:
            raise self.bad_request("Invalid request body.") from None
        expires = _parse(body.get("expirationDateTime") if isinstance(body, dict) else None)
        now = datetime.now(UTC)
        if expires is None or not now < expires <= now + MAX_SUBSCRIPTION:
            raise self.bad_request("Subscription expiration can only be 0-41760 minutes in the future.")
        subscription.expires = expires
        return Response.json({"@odata.context": "#subscriptions/$entity", **subscription.as_json()})

    def delete_subscription(self, request: Request) -> Response:
        self._auth(request)
        subscription = self._subscription(request)
        with self._lock:
            self.subscriptions.pop(subscription.id, None)
        if not self.subscriptions:
            self.server.webhooks_to(None)
        return Response(204, b"", {})

    # -- notifications ------------------------------------------------------------------------------

    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:
        """One change notification per subscription: ``updated`` (also hires and soft deletes) or
        ``deleted``, naming the user; Graph signs nothing (the clientState is the check)."""
        person = self.company.find(change.person_id)
        if person is None:
            return []
        uid = user_id(person)
        change_type = "deleted" if change.kind == "deleted" else "updated"
        items = [
            {
                "subscriptionId": s.id,
                "subscriptionExpirationDateTime": _time(s.expires),
                "changeType": change_type,
                "resource": f"Users/{uid}",
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.User",
                    "@odata.id": f"Users/{uid}",
                    "id": uid,
                    "organizationId": self.tenant_id,
                },
                "clientState": s.client_state or secret,
                "tenantId": self.tenant_id,
            }
            for s in self.subscriptions.values()
        ]
        if not items:
            return []
        return [WebhookRequest(json.dumps({"value": items}).encode(), {"Content-Type": "application/json"})]

    def send_lifecycle(self, event: str) -> list[int | None]:
        """Post a lifecycle notification (``reauthorizationRequired``, ``subscriptionRemoved``,
        ``missed``) for every subscription to its lifecycle URL; the statuses answered."""
        statuses: list[int | None] = []
        for s in list(self.subscriptions.values()):
            body = {
                "value": [
                    {
                        "subscriptionId": s.id,
                        "subscriptionExpirationDateTime": _time(s.expires),
                        "tenantId": self.tenant_id,
                        "clientState": s.client_state,
                        "lifecycleEvent": event,
                    }
                ]
            }
            if event == "subscriptionRemoved":
                with self._lock:
                    self.subscriptions.pop(s.id, None)
            request = urllib.request.Request(  # noqa: S310 - loopback only
                s.lifecycle_url or s.notification_url,
                data=json.dumps(body).encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    statuses.append(int(answer.status))
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
            except (urllib.error.URLError, OSError):
                statuses.append(None)
        return statuses


def _time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
