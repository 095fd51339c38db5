"""Fake Microsoft Graph and Entra login (``msgraph-users-subset-openapi.yaml``, PROVIDERS.md).

- Consent and sign-in: ``GET /{tenant}/oauth2/v2.0/authorize?response_type=code&client_id&
  redirect_uri&state&scope=openid ...&prompt=admin_consent&nonce&code_challenge`` acts as the
  fake tenant's admin signing in and consenting: a 302 back with ``code``, ``state`` and
  ``session_state``; or ``error=access_denied`` (``deny_consent``, or ``login_hint=deny``). Until
  then the tenant refuses the app's token requests. ``{tenant}`` is ``organizations``,
  ``common`` or the fake's tenant id.
- Token: ``POST /{tenant}/oauth2/v2.0/token``: ``grant_type=authorization_code`` (the code, its
  redirect URI and PKCE verifier) -> an ``id_token`` (RS256, ``kid``; ``iss``
  ``{base}/{tid}/v2.0``, ``aud`` the client id, ``tid``, the authorize request's ``nonce``) and a
  delegated access token; ``grant_type=client_credentials`` with the app's client id and secret
  and ``scope=https://graph.microsoft.com/.default`` -> ``{token_type, expires_in, access_token}``
  for a consented tenant (the fake's own, and ``other_consented_tenants``: other customers of the
  same app). Errors in Entra's shape (``error``, ``error_description``). Tests can bend the
  id_token (``id_token_claims`` overrides, ``sign_with`` another key).
- Keys: ``GET /{tenant}/discovery/v2.0/keys`` -> the JWKS the id_tokens are signed with.
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
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.domain.models import Employee, EmployeeStatus

from .company import Change, Person, vendor_uuid
from .oauth import OAuthError, OAuthServer, bearer
from .oauth_endpoints import DENY_HINT, redirect_back
from .server import (
    HttpError,
    RateLimit,
    Request,
    Response,
    Route,
    Vendor,
    WebhookRequest,
    _deliver,
    _is_loopback,
)

OAUTH_CLIENT = ("fake-ms-client-id", "fake-ms-client-secret")
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_TOP, MAX_TOP = 100, 999
MAX_SUBSCRIPTION = timedelta(minutes=41_760)
SIGNING_KID = "fake-entra-key-1"
SIGN_IN_PATHS = ("organizations", "common")
# The signed-in user's directory roles (``wids``): the admin is a Global Administrator (and, as
# Entra adds to everyone, holds the default user role); ``login_hint=member`` signs in a member.
DEFAULT_USER_ROLE = "b79fbf4d-3ef9-4689-8143-76b194e85509"
ADMIN_ROLES = ("62e90394-69f5-4237-9190-012177145e10", DEFAULT_USER_ROLE)
MEMBER_ROLES = (DEFAULT_USER_ROLE,)
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
        # Other customers' tenants that consented to the same app (what an edited tenant would reach).
        self.other_tenants = frozenset(
            t for t in str(opts.get("other_consented_tenants", "")).split(",") if t
        )
        self.deny_consent = False
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # Test hooks: claims to override in the next id_tokens, another key to sign them with.
        self.id_token_claims: dict[str, Any] = {}
        self.sign_with: rsa.RSAPrivateKey | None = None
        self._nonces: dict[str, str] = {}
        self._roles: dict[str, tuple[str, ...]] = {}
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
            Route.of("GET", "/{tenant}/oauth2/v2.0/authorize", self.authorize),
            Route.of("POST", "/{tenant}/oauth2/v2.0/token", self.token),
            Route.of("GET", "/{tenant}/discovery/v2.0/keys", self.keys),
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

    def authorize(self, request: Request) -> Response:
        """The admin signs in to the fake tenant and consents for it (``prompt=admin_consent``)."""
        redirect_uri = request.arg("redirect_uri")
        try:
            self.oauth.check_authorization_request(request.arg("client_id"), redirect_uri)
        except OAuthError as error:
            return self._entra_error(400, error.error, f"AADSTS700016: {error.description}")
        if request.params["tenant"] not in (*SIGN_IN_PATHS, self.tenant_id):
            return self._entra_error(400, "invalid_request", "AADSTS90002: Tenant not found.")
        state = request.arg("state") or ""
        values: dict[str, str]
        if self.deny_consent or request.arg("login_hint") == DENY_HINT:
            values = {"error": "access_denied", "error_description": "The admin declined", "state": state}
        elif request.arg("response_type") != "code" or "openid" not in (request.arg("scope") or "").split():
            values = {"error": "invalid_request", "error_description": "AADSTS900144", "state": state}
        else:
            try:
                code = self.oauth.authorize(
                    request.arg("client_id"),
                    redirect_uri,
                    request.arg("code_challenge"),
                    request.arg("code_challenge_method"),
                )
            except OAuthError as error:
                values = {"error": error.error, "error_description": error.description, "state": state}
            else:
                if request.arg("prompt") == "admin_consent":
                    self.consented = True
                with self._lock:
                    self._nonces[code] = request.arg("nonce") or ""
                    # ``login_hint=member``: a user of the tenant who is no administrator.
                    self._roles[code] = MEMBER_ROLES if request.arg("login_hint") == "member" else ADMIN_ROLES
                values = {"code": code, "state": state, "session_state": secrets.token_hex(8)}
        assert redirect_uri is not None  # noqa: S101 - checked above
        return redirect_back(redirect_uri, values)

    def keys(self, request: Request) -> Response:  # noqa: ARG002 - public, like Entra's
        jwk = json.loads(RSAAlgorithm.to_jwk(self.signing_key.public_key()))
        return Response.json({"keys": [{**jwk, "kid": SIGNING_KID, "use": "sig", "alg": "RS256"}]})

    def id_token(self, nonce: str, roles: tuple[str, ...] = ()) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": f"{self.server.base_url}/{self.tenant_id}/v2.0",
            "aud": self.oauth.client_id,
            "tid": self.tenant_id,
            "sub": vendor_uuid("ms-admin-sub", self.tenant_id),
            "oid": vendor_uuid("ms-admin", self.tenant_id),
            "nonce": nonce,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "ver": "2.0",
            "wids": list(roles or ADMIN_ROLES),
            **self.id_token_claims,
        }
        key = self.sign_with or self.signing_key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": SIGNING_KID})

    def _code_grant(self, form: dict[str, str]) -> Response:
        with self._lock:
            nonce = self._nonces.pop(form.get("code", ""), "")
            roles = self._roles.pop(form.get("code", ""), ADMIN_ROLES)
        try:
            pair = self.oauth.exchange_code(
                form.get("code"),
                client_id=form.get("client_id"),
                client_secret=form.get("client_secret"),
                redirect_uri=form.get("redirect_uri"),
                code_verifier=form.get("code_verifier"),
            )
        except OAuthError as error:
            status = 401 if error.error == "invalid_client" else 400
            return self._entra_error(status, error.error, f"AADSTS70008: {error.description}")
        return Response.json(
            {
                "token_type": "Bearer",
                "scope": form.get("scope", ""),
                "expires_in": pair.expires_in,
                "access_token": pair.access_token,
                "id_token": self.id_token(nonce, roles),
            }
        )

    def _entra_error(self, status: int, error: str, description: str) -> Response:
        return Response.json({"error": error, "error_description": description, "error_codes": [0]}, status)

    def token(self, request: Request) -> Response:  # noqa: PLR0911 - one answer per Entra error
        form = request.form()
        tenant = request.params["tenant"]
        if form.get("grant_type") == "authorization_code" and tenant in (*SIGN_IN_PATHS, self.tenant_id):
            return self._code_grant(form)
        if tenant != self.tenant_id and tenant not in self.other_tenants:
            return self._entra_error(400, "invalid_request", "AADSTS90002: Tenant not found.")
        if form.get("grant_type") != "client_credentials":
            return self._entra_error(400, "unsupported_grant_type", "AADSTS70003: client_credentials only")
        if form.get("scope") != GRAPH_SCOPE:
            return self._entra_error(400, "invalid_scope", "AADSTS1002012: scope must be .default")
        if not secrets.compare_digest(
            form.get("client_id", ""), self.oauth.client_id
        ) or not secrets.compare_digest(form.get("client_secret", ""), self.oauth.client_secret):
            return self._entra_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if not self.consented and tenant not in self.other_tenants:
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
            hook = WebhookRequest(json.dumps(body).encode(), {"Content-Type": "application/json"})
            statuses.append(_deliver(s.lifecycle_url or s.notification_url, hook).status)
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
