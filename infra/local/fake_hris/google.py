"""Fake Google Workspace (Admin SDK Directory API v1; spec ``google-admin-directory-v1-discovery.json``).

- Token endpoint ``POST /token``: the JWT bearer grant only; the assertion's RS256 signature is
  verified with the fake service account's public key, and its ``iss``, ``sub`` (an admin),
  ``aud`` (this endpoint), ``scope`` and lifetime (<= 1 h) are checked. Access tokens last
  ``access_token_ttl`` seconds (3600).
- ``users.list`` (``customer``, ``maxResults`` 1..500, ``pageToken``; everyone, suspended ones
  too), ``users.get`` by id or primary email, ``orgunits.list`` (one org unit per department),
  ``groups.list`` (one group per division, ``userKey`` filter too) and ``members.list``; paging by
  ``nextPageToken``; 429 with ``Retry-After`` past the rate limit; Google's error shape.
- A terminated person is a suspended user (``suspensionReason: ADMIN``); ``archive(id)`` archives.
- Push: ``users.watch`` opens a channel (``sync`` is sent to its address at once), each change is
  sent to the channels watching its event (``add``/``update``/``delete``) with the ``X-Goog-*``
  headers and the channel's token; ``push(id, state)`` sends one by hand; ``channels.stop``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.domain.models import EmployeeStatus

from .company import Change, Person
from .oauth import bearer
from .oauth_endpoints import error_response
from .server import (
    Delivery,
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

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
USER_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
USERS = "/admin/directory/v1/users"
_EVENTS = {"created": "add", "updated": "update", "deleted": "delete"}
WATCH_EVENTS = frozenset({"add", "update", "delete", "undelete", "makeAdmin"})


@dataclass
class Channel:
    id: str
    token: str | None
    address: str
    event: str
    resource_id: str
    expiration_ms: int
    messages: int = 0


class GoogleWorkspace(Vendor):
    name = "google_workspace"
    # Google's default is 2,400 queries a minute per user.
    default_rate_limit = RateLimit(2400, 60.0)

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        opts = server.options
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.client_email: str = opts.get("client_email", "hris-sync@fake-project.iam.gserviceaccount.com")
        self.subject: str = opts.get("subject", "admin@acme.test")
        self.customer_id: str = opts.get("customer_id", "C0fake42")
        self.token_ttl = int(opts.get("access_token_ttl", 3600))
        self._tokens: dict[str, float] = {}
        self.channels: dict[str, Channel] = {}
        self.archived: set[str] = set()
        self._lock = threading.Lock()

    # -- connection -------------------------------------------------------------------------------

    def service_account_key(self) -> str:
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "fake-project",
                "private_key_id": "fake-key-1",
                "private_key": pem,
                "client_email": self.client_email,
                "client_id": "100000000000000000001",
                "token_uri": f"{self.server.base_url}/token",
            }
        )

    def credentials(self) -> dict[str, str]:
        return {
            "service_account_key": self.service_account_key(),
            "subject": self.subject,
            "customer": self.customer_id,
        }

    def error(self, status: int, code: str, message: str) -> Response:
        reason = {429: "rateLimitExceeded", 401: "authError", 404: "notFound"}.get(status, code)
        return Response.json(
            {
                "error": {
                    "code": status,
                    "message": message,
                    "errors": [{"domain": "global", "reason": reason, "message": message}],
                }
            },
            status,
        )

    def routes(self) -> list[Route]:
        return [
            Route.of("POST", "/token", self.token),
            Route.of("POST", f"{USERS}/watch", self.watch),
            Route.of("GET", USERS, self.list_users),
            Route.of("GET", f"{USERS}/{{user_key}}", self.get_user),
            Route.of("GET", "/admin/directory/v1/customer/{customer}/orgunits", self.list_orgunits),
            Route.of("GET", "/admin/directory/v1/groups", self.list_groups),
            Route.of("GET", "/admin/directory/v1/groups/{group_key}/members", self.list_members),
            Route.of("POST", "/admin/directory_v1/channels/stop", self.stop),
        ]

    # -- auth -------------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") != GRANT_TYPE:
            return error_response("unsupported_grant_type", "Invalid grant_type")
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self._key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.server.base_url}/token",
                issuer=self.client_email,
                options={"require": ["iss", "sub", "aud", "iat", "exp", "scope"]},
            )
        except jwt.PyJWTError as exc:
            return error_response("invalid_grant", f"Invalid JWT: {type(exc).__name__}")
        if int(claims["exp"]) - int(claims["iat"]) > 3600:
            return error_response("invalid_grant", "Invalid JWT: lifetime longer than one hour")
        if claims["sub"] != self.subject:
            return error_response("unauthorized_client", "Client is unauthorized to retrieve access tokens")
        if USER_SCOPE not in str(claims["scope"]).split():
            return error_response(
                "unauthorized_client", "The scope is not authorized for domain-wide delegation"
            )
        token = "ya29." + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
        return Response.json({"access_token": token, "expires_in": self.token_ttl, "token_type": "Bearer"})

    def _auth(self, request: Request) -> None:
        token = bearer(request.header("Authorization"))
        with self._lock:
            expires = self._tokens.get(token or "")
        if expires is None or expires < time.monotonic():
            raise HttpError(self.error(401, "authError", "Invalid Credentials"))

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def _customer(self, value: str | None) -> None:
        if value not in ("my_customer", self.customer_id):
            raise HttpError(self.error(400, "badRequest", "Bad Request"))

    # -- records ----------------------------------------------------------------------------------

    def user(self, person: Person) -> dict[str, Any]:
        e = person.employee
        manager = self.company.find(e.manager_hris_id) if e.manager_hris_id else None
        record: dict[str, Any] = {
            "kind": "admin#directory#user",
            "id": person.key,
            "etag": f'"{person.version}"',
            "primaryEmail": e.email,
            "name": {
                "givenName": e.first_name,
                "familyName": e.last_name,
                "fullName": " ".join(x for x in (e.first_name, e.last_name) if x),
            },
            "isAdmin": False,
            "suspended": e.status is EmployeeStatus.TERMINATED and person.key not in self.archived,
            "archived": person.key in self.archived,
            "orgUnitPath": f"/{e.department}" if e.department else "/",
            "creationTime": person.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "customerId": self.customer_id,
            "organizations": [
                {
                    "primary": True,
                    "title": e.job_title,
                    "department": e.department,
                    "costCenter": "CC-1",
                    "customType": "",
                }
            ],
            "externalIds": [{"type": "organization", "value": e.employee_number}]
            if e.employee_number
            else [],
            "relations": [{"type": "manager", "value": manager.employee.email}] if manager else [],
            "locations": [{"type": "desk", "area": "desk", "buildingId": e.office_location}]
            if e.office_location
            else [],
            "addresses": [{"type": "home", "countryCode": e.home_country}] if e.home_country else [],
        }
        if e.status is EmployeeStatus.TERMINATED:
            record["suspensionReason"] = "ADMIN"
        if e.avatar_url:
            record["thumbnailPhotoUrl"] = e.avatar_url
        return record

    def _units(self) -> dict[str, str]:
        """Department name -> org unit id."""
        names = sorted({p.employee.department for p in self.company.people() if p.employee.department})
        return {name: f"id:{self.company.catalog.id_for('department', name):05d}" for name in names}

    def _groups(self) -> dict[str, str]:
        """Division name -> group id."""
        names = sorted({p.division for p in self.company.people() if p.division})
        return {name: f"0{self.company.catalog.id_for('division', name):05d}grp" for name in names}

    def archive(self, person_id: int | str) -> None:
        person = self.company.get(person_id)
        self.archived.add(person.key)
        # Archiving is a user update: the record's version moves on and the update channels hear it.
        self.server.update(person.key, status=EmployeeStatus.TERMINATED)

    # -- Directory API ----------------------------------------------------------------------------

    def list_users(self, request: Request) -> Response:
        self._auth(request)
        self._customer(request.arg("customer"))
        records = [self.user(p) for p in self.company.people()]
        users, token = self._page(request, records, 500, 100)
        return Response.json(
            {"kind": "admin#directory#users", "users": users, **({"nextPageToken": token} if token else {})}
        )

    def _page(
        self, request: Request, records: list[dict[str, Any]], most: int, default: int
    ) -> tuple[list[Any], str | None]:
        try:
            size = int(request.arg("maxResults") or default)
        except ValueError:
            raise self.bad_request("Invalid value for maxResults") from None
        if not 1 <= size <= most:
            raise self.bad_request("Invalid value for maxResults")
        token = request.arg("pageToken")
        offset = 0
        if token:
            try:
                offset = int(urllib.parse.unquote(token).removeprefix("off:"))
            except ValueError:
                raise self.bad_request("Invalid page token") from None
        faults = self.page_faults(offset // size + 1)
        chunk = records[offset : offset + size]
        more = offset + size < len(records)
        if faults.bad_cursor:
            return chunk, "off:garbage"
        if faults.repeat and token:
            return chunk, token
        return faults.shorten(chunk), (f"off:{offset + size}" if more else None)

    def get_user(self, request: Request) -> Response:
        self._auth(request)
        key = request.params["user_key"].casefold()
        for person in self.company.people():
            if person.key == key or (person.employee.email or "").casefold() == key:
                return Response.json(self.user(person))
        raise HttpError(self.error(404, "notFound", "Resource Not Found: userKey"))

    def list_orgunits(self, request: Request) -> Response:
        self._auth(request)
        self._customer(request.params["customer"])
        units = [
            {
                "kind": "admin#directory#orgUnit",
                "name": name,
                "orgUnitId": unit_id,
                "orgUnitPath": f"/{name}",
                "parentOrgUnitId": "id:00000",
                "parentOrgUnitPath": "/",
            }
            for name, unit_id in self._units().items()
        ]
        return Response.json({"kind": "admin#directory#orgUnits", "organizationUnits": units})

    def list_groups(self, request: Request) -> Response:
        self._auth(request)
        member_of = request.arg("userKey")
        if member_of is None:
            self._customer(request.arg("customer"))
        counts: dict[str, int] = {}
        for person in self.company.people():
            if person.division:
                counts[person.division] = counts.get(person.division, 0) + 1
        records = [
            {
                "kind": "admin#directory#group",
                "id": group_id,
                "name": name,
                "email": f"{group_id}@groups.acme.test",
                "directMembersCount": str(counts.get(name, 0)),
            }
            for name, group_id in self._groups().items()
            if member_of is None
            or any(p.key == member_of and p.division == name for p in self.company.people())
        ]
        groups, token = self._page(request, records, 200, 200)
        return Response.json(
            {
                "kind": "admin#directory#groups",
                "groups": groups,
                **({"nextPageToken": token} if token else {}),
            }
        )

    def list_members(self, request: Request) -> Response:
        self._auth(request)
        names = {group_id: name for name, group_id in self._groups().items()}
        name = names.get(request.params["group_key"])
        if name is None:
            raise HttpError(self.error(404, "notFound", "Resource Not Found: groupKey"))
        records = [
            {
                "kind": "admin#directory#member",
                "id": p.key,
                "email": p.employee.email,
                "role": "MEMBER",
                "type": "USER",
                "status": "ACTIVE",
            }
            for p in self.company.people()
            if p.division == name
        ]
        members, token = self._page(request, records, 200, 200)
        return Response.json(
            {
                "kind": "admin#directory#members",
                "members": members,
                **({"nextPageToken": token} if token else {}),
            }
        )

    # -- push -------------------------------------------------------------------------------------

    def watch(self, request: Request) -> Response:
        self._auth(request)
        self._customer(request.arg("customer"))
        event = request.arg("event") or "update"
        try:
            body = request.json()
        except ValueError:
            raise self.bad_request("The body is not JSON") from None
        if event not in WATCH_EVENTS or not isinstance(body, dict) or body.get("type") != "web_hook":
            raise self.bad_request("Invalid channel")
        channel_id, address = body.get("id"), body.get("address")
        if not isinstance(channel_id, str) or not channel_id or not isinstance(address, str):
            raise self.bad_request("Invalid channel id or address")
        if not _is_loopback(address):
            raise self.bad_request("The fake delivers to loopback addresses only")
        ttl = int((body.get("params") or {}).get("ttl") or 7200)
        channel = Channel(
            id=channel_id,
            token=body.get("token") if isinstance(body.get("token"), str) else None,
            address=address,
            event=event,
            resource_id=f"res-{event}-{self.customer_id}",
            expiration_ms=int((time.time() + min(ttl, 172800)) * 1000),
        )
        with self._lock:
            if channel_id in self.channels:
                raise HttpError(self.error(400, "channelIdNotUnique", "Channel id not unique"))
            self.channels[channel_id] = channel
        # Google sends ``sync`` as soon as the channel exists (not inside the watch call).
        threading.Thread(target=self._send, args=(channel, "sync", None), daemon=True).start()
        return Response.json(
            {
                "kind": "api#channel",
                "id": channel.id,
                "resourceId": channel.resource_id,
                "resourceUri": f"{self.server.base_url}{USERS}?customer={self.customer_id}&event={event}",
                "expiration": str(channel.expiration_ms),
                **({"token": channel.token} if channel.token else {}),
            }
        )

    def stop(self, request: Request) -> Response:
        self._auth(request)
        try:
            body = request.json()
        except ValueError:
            raise self.bad_request("The body is not JSON") from None
        with self._lock:
            channel = self.channels.get(str(body.get("id"))) if isinstance(body, dict) else None
            if channel is None or channel.resource_id != body.get("resourceId"):
                raise HttpError(self.error(404, "notFound", "Channel not found"))
            del self.channels[channel.id]
        return Response(204)

    def push(self, person_id: int | str, state: str) -> list[Delivery]:
        """Send ``state`` (add, update, delete ...) about a person to the channels watching it."""
        person = self.company.get(person_id)
        with self._lock:
            channels = [c for c in self.channels.values() if c.event == state]
        return [d for c in channels if (d := self._send(c, state, person)) is not None]

    def _send(self, channel: Channel, state: str, person: Person | None) -> Delivery | None:
        with self._lock:
            channel.messages += 1
            number = channel.messages
        body = b""
        if person is not None:
            body = json.dumps(
                {
                    "kind": "admin#directory#user",
                    "id": person.key,
                    "etag": f'"{person.version}"',
                    "primaryEmail": person.employee.email,
                },
                separators=(",", ":"),
            ).encode()
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": time.strftime(
                "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(channel.expiration_ms / 1000)
            ),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": f"{self.server.base_url}{USERS}?customer={self.customer_id}",
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(number),
        }
        if channel.token:
            headers["X-Goog-Channel-Token"] = channel.token
        delivery = _deliver(channel.address, WebhookRequest(body=body, headers=headers))
        self.server.deliveries.append(delivery)
        return delivery

    def on_change(self, change: Change) -> None:
        """The server calls this for every change: push to the channels watching its event."""
        state = _EVENTS.get(change.kind)
        if state is not None and self.channels:
            self.push(change.person_id, state)

    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:  # noqa: ARG002
        # Google pushes to the channels opened with users.watch (``on_change``), not to a URL.
        return []
