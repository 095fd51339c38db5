"""Google Workspace (Admin SDK Directory API v1): a service account with domain-wide delegation.

- Auth: the connection's secret ``service_account_key`` is the service account's JSON key; its
  ``client_email`` signs (RS256, PyJWT over ``cryptography``) an RFC 7523 assertion ``{iss, sub:
  the admin in the setting ``subject``, scope, aud: the token URL, iat, exp <= iat + 1 h}``
  exchanged at ``oauth2.googleapis.com/token`` (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``).
  The access token (1 h) is cached in the connector and handed back (secret ``access_token``,
  setting ``token_expires_at``) so the next sync step reuses it. The key's own ``token_uri`` is
  never followed: a key file must not point the connector at another host.
- Users: ``users.list?customer=..&projection=full&maxResults=500``, ``pageToken`` = the previous
  ``nextPageToken`` until it is absent (R31: nothing else ends the list). 429/5xx and 403
  ``userRateLimitExceeded``/``rateLimitExceeded``/``quotaExceeded`` are retried with backoff
  (``Retry-After`` honoured), then the snapshot is incomplete.
- Status: ``archived`` and ``suspended`` users are NOT active (they come back from ``users.list``
  like everyone else; integrations that ignore both keep leavers active). Archived -> terminated;
  suspended -> terminated, or on_leave with the setting ``suspended_status=on_leave`` (some admins
  suspend for leave). Google has no hire date: never pending.
- Groups (R33): the user's org unit (kind ``org_unit``, id the ``orgUnitId``, resolved from
  ``orgUnitPath`` through ``orgunits.list``) and the Google groups they are a direct member of
  (kind ``group``, id the group id), from ``members.list`` per group: one call per group (and
  page of 200), not one ``groups.list?userKey=`` per user; loaded once per connector (sync step).
- Manager: ``relations[type=manager].value`` is an email: resolved to the manager's id on the
  same page, else with one ``users.get`` by email per manager (cached); outside the domain -> none.
- Push: ``users.watch`` channels (one per event: add, update, delete, undelete), each with its
  own id and a token derived from the connection's ``webhook_secret`` (HMAC of the channel id),
  so a notification's ``X-Goog-Channel-ID`` and ``X-Goog-Channel-Token`` are checked together in
  constant time; ``sync`` is the handshake (200, nothing to do). Google has no renew call:
  ``renew`` opens new channels, then stops the old ones (``channels.stop``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from shared.domain.models import Employee, EmployeeStatus
from shared.providers.base import (
    Credentials,
    Directory,
    DirectoryEntry,
    EmployeePage,
    ProviderAuthError,
    ProviderResponseError,
    ProviderSettingsError,
    ProviderUnavailable,
    Secret,
    Subscription,
    Tier,
    WebhookEvent,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import WEBHOOK_SECRET, CredentialField, ProviderKind, describe
from shared.providers.common import (
    Connector,
    ListPage,
    as_list,
    as_object,
    bearer_headers,
    build_employee,
    collect_all,
    cursor_history,
    cursor_int,
    decode_cursor,
    encode_cursor,
    follow_cursor,
    person_name,
    pick,
    record_id,
    text,
    unique,
)
from shared.providers.http import decode_json, parse_retry_after, sent_values, vendor_message
from shared.providers.oauth import OAuthToken
from shared.providers.status import MappedStatus
from shared.providers.webhooks import as_id, parse_json_object, required_header, same

DEFAULT_BASE = "https://admin.googleapis.com"
DEFAULT_OAUTH_BASE = "https://oauth2.googleapis.com"
TOKEN_PATH = "/token"  # noqa: S105 - a URL path
USERS_PATH = "/admin/directory/v1/users"
GROUPS_PATH = "/admin/directory/v1/groups"
CHANNELS_STOP_PATH = "/admin/directory_v1/channels/stop"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.orgunit.readonly",
)
PAGE_LIMIT = 500  # users.list's maximum
GROUP_PAGE_LIMIT = 200  # groups.list and members.list's maximum
ASSERTION_LIFETIME = timedelta(hours=1)  # Google's maximum
TOKEN_SKEW = timedelta(minutes=5)
# 403 reasons that mean "slow down", not "refused" (PROVIDERS.md): retried like a 429.
_RATE_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"})
# Push: one channel per event (the watch takes one), each asked to live the maximum, 2 days.
WATCH_EVENTS = ("add", "update", "delete", "undelete")
CHANNEL_TTL = timedelta(days=2)
_STATES = {
    "add": WebhookKind.CREATED,
    "update": WebhookKind.UPDATED,
    "undelete": WebhookKind.UPDATED,
    "makeadmin": WebhookKind.UPDATED,
    "delete": WebhookKind.DELETED,
}
_MAX_CHANNEL_ID = 64
SUSPENDED_STATUSES = {"terminated": EmployeeStatus.TERMINATED, "on_leave": EmployeeStatus.ON_LEAVE}

CAPABILITIES = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "employee_number",
        "avatar_url",
        "job_title",
        "department",
        "groups",
        "office_location",
        "home_country",
        "manager_hris_id",
    }
)
# What Employee.raw keeps of a user (never passwords, hashes, SSH keys or recovery details).
RAW_FIELDS = (
    "id",
    "primaryEmail",
    "name",
    "suspended",
    "suspensionReason",
    "archived",
    "orgUnitPath",
    "organizations",
    "relations",
    "locations",
    "externalIds",
    "creationTime",
    "isGuestUser",
    "customerId",
)

SERVICE_ACCOUNT_KEY = CredentialField(
    "service_account_key",
    "Service account key (JSON)",
    "In Google Cloud console: create a service account, add a JSON key and paste the whole file. "
    "Then in the Admin console (Security > Access and data control > API controls > Domain-wide "
    "delegation) add its client ID with the scopes " + ",".join(SCOPES) + ".",
    secret=True,
)
SUBJECT = CredentialField(
    "subject",
    "Admin email to act as",
    "An admin of your Google Workspace who can read users, groups and organizational units; the "
    "service account acts as this admin (domain-wide delegation).",
    secret=False,
)
CUSTOMER = CredentialField(
    "customer",
    "Customer ID",
    "Your Google Workspace customer ID (Admin console > Account > Account settings), or my_customer "
    "for the admin's own account (the default).",
    secret=False,
    required=False,
)
SUSPENDED = CredentialField(
    "suspended_status",
    "Suspended users are",
    "terminated (the default: a suspended account is a leaver) or on_leave (if you suspend people "
    "while they are away).",
    secret=False,
    required=False,
)


class GoogleWorkspace(Connector):
    name = "google_workspace"
    tier = Tier.BASIC
    capabilities = CAPABILITIES
    supports_webhooks = True
    max_page_size = PAGE_LIMIT
    info = describe(
        id=name,
        name="Google Workspace",
        kind=ProviderKind.DIRECTORY,
        tier=tier,
        capabilities=capabilities,
        supports_webhooks=supports_webhooks,
        api_key_fields=(SERVICE_ACCOUNT_KEY, SUBJECT, CUSTOMER, SUSPENDED),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # Loaded once per connector (one sync step): org unit path -> (id, name); user id -> groups.
        self._org_units: dict[str, tuple[str, str]] | None = None
        self._memberships: dict[str, list[str]] | None = None
        self._groups: list[DirectoryEntry] | None = None
        self._managers: dict[str, str | None] = {}

    # -- auth ---------------------------------------------------------------------------------

    def _token(
        self, credentials: Credentials, *, refused: Secret | None = None
    ) -> tuple[Secret, Credentials | None]:
        """A usable access token: the cached or stored one until it expires, else a new JWT grant."""
        return self.granted_token(credentials, self._grant, skew=TOKEN_SKEW, refused=refused)

    def _grant(self, credentials: Credentials) -> OAuthToken:
        """The JWT bearer grant (RFC 7523) at Google's token endpoint."""
        now = self.runtime.now()
        token_url = self._token_url(credentials)
        form = {"grant_type": GRANT_TYPE, "assertion": self.assertion(credentials, token_url, now)}
        # 400 is OAuth's invalid_grant (delegation not granted, unknown subject, disabled key).
        response = self.http.request(
            "POST", token_url, form=form, ok_statuses=frozenset({400}), idempotent=False
        )
        if response.status_code == 400:
            said = vendor_message(response, sent_values(None, None, None, form))
            raise ProviderAuthError(
                "google_workspace: Google refused the service account's token grant (HTTP 400); check "
                "the domain-wide delegation of its client ID and scopes, and the admin email"
                + (f": {said}" if said else ""),
                vendor_message=said,
            )
        body = decode_json(response, self.name)
        access = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(access, str) or not access:
            raise ProviderResponseError(
                "google_workspace: the token endpoint answered without an access_token"
            )
        lifetime = body.get("expires_in")
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = 3600
        return OAuthToken(Secret(access), None, now + timedelta(seconds=float(lifetime)))

    def assertion(self, credentials: Credentials, token_url: str, now: datetime) -> str:
        """The RS256-signed JWT the grant sends (RFC 7523 section 3)."""
        key = service_account(self.secret(credentials, "service_account_key"))
        subject = text(credentials.settings.get("subject"))
        if subject is None or "@" not in subject:
            raise ProviderSettingsError("google_workspace: the setting subject must be an admin's email")
        issued = int(now.timestamp())
        claims = {
            "iss": key.client_email,
            "sub": subject,
            "scope": " ".join(SCOPES),
            "aud": token_url,
            "iat": issued,
            "exp": issued + int(ASSERTION_LIFETIME.total_seconds()),
        }
        headers = {"kid": key.key_id} if key.key_id else None
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers=headers)

    def _token_url(self, credentials: Credentials) -> str:
        return self.base_url(credentials, DEFAULT_OAUTH_BASE, "oauth_base_url") + TOKEN_PATH

    def _customer(self, credentials: Credentials) -> str:
        customer = text(credentials.settings.get("customer")) or "my_customer"
        if not customer.replace("_", "").replace("-", "").isalnum() or len(customer) > 64:
            raise ProviderSettingsError("google_workspace: customer must be a customer ID or my_customer")
        return customer

    # -- requests -----------------------------------------------------------------------------

    def _call(
        self,
        credentials: Credentials,
        method: str,
        path: str,
        *,
        ok_statuses: frozenset[int] = frozenset(),
        **kwargs: Any,
    ) -> tuple[httpx.Response, Credentials | None]:
        """A Directory API call with the bearer token: a new grant once on 401, and 403s that are
        rate limits retried with backoff (then ``ProviderUnavailable``: the snapshot is incomplete)."""
        url = f"{self.base_url(credentials, DEFAULT_BASE)}{path}"
        token, refreshed = self._token(credentials)
        started, attempt = self.runtime.monotonic(), 0
        while True:
            attempt += 1
            try:
                response = self.http.request(
                    method, url, headers=bearer_headers(token), ok_statuses=ok_statuses | {403}, **kwargs
                )
            except ProviderAuthError:
                if refreshed is not None:
                    raise
                token, refreshed = self._token(credentials, refused=token)
                continue
            if response.status_code != 403 or 403 in ok_statuses:
                return response, refreshed
            reason = _error_reason(response)
            if reason not in _RATE_REASONS:
                said = vendor_message(response, sent_values(bearer_headers(token), None, None, None))
                raise ProviderAuthError(
                    f"google_workspace {method} {path} refused the credentials (HTTP 403)"
                    + (f": {said}" if said else ""),
                    vendor_message=said,
                )
            self._back_off(f"{method} {path}", reason, attempt, response, started)

    def _back_off(
        self, where: str, reason: str, attempt: int, response: httpx.Response, started: float
    ) -> None:
        policy = self.http.policy
        if attempt >= policy.max_attempts:
            raise ProviderUnavailable(f"google_workspace {where} gave up after {attempt} attempts ({reason})")
        wait = parse_retry_after(response.headers.get("retry-after"), self.runtime.now())
        delay = wait if wait is not None else policy.backoff(attempt - 1, self.runtime)
        if self.runtime.monotonic() - started + delay > policy.max_total:
            raise ProviderUnavailable(
                f"google_workspace {where} gave up: the retry budget is spent ({reason})"
            )
        self.runtime.sleep(delay)

    def _get(
        self, credentials: Credentials, path: str, *, ok_statuses: frozenset[int] = frozenset(), **kwargs: Any
    ) -> tuple[Any, Credentials | None, int]:
        response, refreshed = self._call(credentials, "GET", path, ok_statuses=ok_statuses, **kwargs)
        if response.status_code in ok_statuses and not 200 <= response.status_code < 300:
            return None, refreshed, response.status_code
        return decode_json(response, self.name), refreshed, response.status_code

    def check_credentials(self, credentials: Credentials) -> None:
        """The token grant (the key, the delegation, the admin), then one user with it."""
        self._get(credentials, USERS_PATH, params={"customer": self._customer(credentials), "maxResults": 1})

    # -- snapshot -----------------------------------------------------------------------------

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        state = decode_cursor(self.name, cursor)
        number = cursor_int(state, "n", 0, self.name) + 1
        history = cursor_history(state, self.name)
        page_token = state.get("t")
        if page_token is not None and not isinstance(page_token, str):
            raise ProviderResponseError("google_workspace: malformed cursor")
        params: dict[str, Any] = {
            "customer": self._customer(credentials),
            "projection": "full",
            "maxResults": self.page_size,
        }
        if page_token:
            params["pageToken"] = page_token
        body, refreshed, _ = self._get(credentials, USERS_PATH, params=params)
        body = as_object(body, "the users response", self.name)
        current = refreshed or credentials
        records = [
            as_object(r, "a user", self.name) for r in as_list(body.get("users", []), "users", self.name)
        ]
        employees = self._employees(current, records)
        # R31: the list ends when Google hands out no nextPageToken, nothing else.
        next_token = text(body.get("nextPageToken"))
        page = ListPage(
            number=number,
            asked=self.page_size,
            got=len(records),
            more=next_token is not None,
            seen=cursor_int(state, "s", 0, self.name) + len(records),
        )
        refreshed = current if current is not credentials else None
        if self.end_of_list(page, "users") or next_token is None:
            return EmployeePage(employees, None, refreshed)
        history = follow_cursor(self.name, history, next_token)
        next_cursor = encode_cursor(self.name, {"t": next_token, "n": number, "s": page.seen, "h": history})
        return EmployeePage(employees, next_cursor, refreshed)

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        records: list[dict[str, Any]] = []
        current = credentials
        for user_id in unique(ids):
            if not _is_user_key(user_id):
                continue
            body, new, status = self._get(
                current,
                f"{USERS_PATH}/{user_id}",
                params={"projection": "full"},
                ok_statuses=frozenset({404}),
            )
            current = new or current
            # 404: deleted (or never there): nobody to return.
            if status != 404 and isinstance(body, dict):
                records.append(body)
        employees = self._employees(current, records)
        return EmployeePage(employees, None, current if current is not credentials else None)

    def directory(self, credentials: Credentials) -> Directory:
        employees, refreshed = collect_all(self, credentials)
        current = refreshed or credentials
        units = self._units(current)
        groups = self._group_entries(current)
        counts: dict[str, int] = {}
        for employee in employees:
            for group_id in employee.group_ids:
                counts[group_id] = counts.get(group_id, 0) + (
                    employee.status is not EmployeeStatus.TERMINATED
                )
        entries = [
            DirectoryEntry(id=unit_id, name=path, kind="org_unit", count=counts.get(unit_id, 0))
            for path, (unit_id, _) in units.items()
        ] + [DirectoryEntry(g.id, g.name, g.kind, counts.get(g.id, 0)) for g in groups]
        people = [DirectoryEntry(id=e.hris_id, name=person_name(e)) for e in employees]
        return Directory(
            companies=[],
            groups=sorted(entries, key=lambda e: (e.kind or "", e.name.casefold(), e.id)),
            people=sorted(people, key=lambda p: (p.name.casefold(), p.id)),
            refreshed_credentials=refreshed,
        )

    # -- org units, groups, managers ------------------------------------------------------------

    def _units(self, credentials: Credentials) -> dict[str, tuple[str, str]]:
        """Org unit path -> (orgUnitId, name), the root ``/`` included when a child names it."""
        if self._org_units is None:
            customer = self._customer(credentials)
            body, _, _ = self._get(
                credentials, f"/admin/directory/v1/customer/{customer}/orgunits", params={"type": "all"}
            )
            body = as_object(body, "the orgunits response", self.name)
            units: dict[str, tuple[str, str]] = {}
            for raw in as_list(body.get("organizationUnits", []), "organizationUnits", self.name):
                unit = as_object(raw, "an org unit", self.name)
                path, unit_id = text(unit.get("orgUnitPath")), text(unit.get("orgUnitId"))
                if path and unit_id:
                    units[path] = (unit_id, text(unit.get("name")) or path)
                parent_path, parent_id = (
                    text(unit.get("parentOrgUnitPath")),
                    text(unit.get("parentOrgUnitId")),
                )
                if parent_path == "/" and parent_id:
                    units.setdefault("/", (parent_id, "/"))
            self._org_units = units
        return self._org_units

    def _group_entries(self, credentials: Credentials) -> list[DirectoryEntry]:
        if self._groups is None:
            groups: list[DirectoryEntry] = []
            for raw in self._paged(
                credentials, GROUPS_PATH, "groups", {"customer": self._customer(credentials)}
            ):
                group_id, name = text(raw.get("id")), text(raw.get("name")) or text(raw.get("email"))
                if group_id and name:
                    groups.append(DirectoryEntry(group_id, name, "group"))
            self._groups = groups
        return self._groups

    def _member_groups(self, credentials: Credentials) -> dict[str, list[str]]:
        """User id -> the ids of the groups they are a direct member of (``members.list`` per group)."""
        if self._memberships is None:
            memberships: dict[str, list[str]] = {}
            for group in self._group_entries(credentials):
                for member in self._paged(credentials, f"{GROUPS_PATH}/{group.id}/members", "members", {}):
                    member_id = text(member.get("id"))
                    if member_id and member.get("type", "USER") == "USER":
                        memberships.setdefault(member_id, []).append(group.id)
            self._memberships = memberships
        return self._memberships

    def _paged(
        self, credentials: Credentials, path: str, key: str, params: Mapping[str, Any]
    ) -> Iterable[dict[str, Any]]:
        """Every record of a ``nextPageToken`` list (groups, members), to its end (R31)."""
        history: list[str] = []
        token: str | None = None
        while True:
            query = {**params, "maxResults": GROUP_PAGE_LIMIT, **({"pageToken": token} if token else {})}
            body, _, _ = self._get(credentials, path, params=query)
            body = as_object(body, f"the {key} response", self.name)
            for raw in as_list(body.get(key, []), key, self.name):
                yield as_object(raw, f"one of {key}", self.name)
            token = text(body.get("nextPageToken"))
            if token is None:
                return
            history = follow_cursor(self.name, history, token)

    def _manager_ids(self, credentials: Credentials, emails: Iterable[str]) -> None:
        """Resolve manager emails not seen yet with ``users.get`` (the key may be an alias)."""
        for email in emails:
            if email in self._managers or not _is_user_key(email):
                continue
            body, _, status = self._get(
                credentials,
                f"{USERS_PATH}/{email}",
                params={"projection": "basic"},
                ok_statuses=frozenset({404}),
            )
            self._managers[email] = text(body.get("id")) if status != 404 and isinstance(body, dict) else None

    # -- mapping ------------------------------------------------------------------------------

    def _employees(self, credentials: Credentials, records: Sequence[dict[str, Any]]) -> list[Employee]:
        if not records:
            return []
        for record in records:
            for email in _emails(record):
                if text(record.get("id")):
                    self._managers[email] = text(record.get("id"))
        self._manager_ids(credentials, (m for r in records if (m := _manager_email(r)) is not None))
        units = self._units(credentials)
        memberships = self._member_groups(credentials)
        suspended = suspended_status(credentials)
        return [self.employee(r, units, memberships, suspended) for r in records]

    def employee(
        self,
        record: Mapping[str, Any],
        units: Mapping[str, tuple[str, str]],
        memberships: Mapping[str, Sequence[str]],
        suspended: EmployeeStatus = EmployeeStatus.TERMINATED,
    ) -> Employee:
        user_id = record_id(record, "id", self.name)
        given = record.get("name")
        name: Mapping[str, Any] = given if isinstance(given, dict) else {}
        organization = _primary(record.get("organizations"))
        warnings: list[str] = []
        email = text(record.get("primaryEmail"))
        if email is None:
            warnings.append("google_workspace: the user has no primary email")
        manager_email = _manager_email(record)
        manager_id = self._managers.get(manager_email.casefold()) if manager_email else None
        if manager_email and manager_id is None:
            warnings.append("google_workspace: the manager's email is not a user of this Google Workspace")
        path = text(record.get("orgUnitPath"))
        unit = units.get(path) if path else None
        if path and unit is None:
            warnings.append(f"google_workspace: org unit {path[:80]!r} is not in the org unit list")
        unit_id = self.seen_as("org_unit", unit[0] if unit else None, path)
        return build_employee(
            hris_id=user_id,
            mapped=status_of(record, suspended),
            raw=pick(record, RAW_FIELDS),
            warnings=warnings,
            first_name=text(name.get("givenName")),
            last_name=text(name.get("familyName")),
            email=email,
            employee_number=_external_id(record.get("externalIds")),
            avatar_url=text(record.get("thumbnailPhotoUrl")),
            job_title=text(organization.get("title")),
            department=text(organization.get("department")),
            group_ids=unique((unit_id, *memberships.get(user_id, ()))),
            groups=unique((path, text(organization.get("department")))),
            office_location=_location(record, organization),
            home_country=_home_country(record.get("addresses")),
            manager_hris_id=manager_id if manager_id != user_id else None,
        )

    # -- push notifications (users.watch channels) ----------------------------------------------

    def subscribe(self, credentials: Credentials, notification_url: str) -> tuple[Subscription, Credentials]:
        """Open one ``users.watch`` channel per event; the connection's ``webhook_secret`` (made
        here when it has none) derives each channel's token. Returns the credentials to store."""
        current = credentials
        if not _has_secret(current, WEBHOOK_SECRET):
            current = Credentials(
                secrets={**current.secrets, WEBHOOK_SECRET: Secret(secrets.token_urlsafe(32))},
                settings=current.settings,
            )
        subscription, refreshed = self._watch(current, notification_url)
        return subscription, refreshed or current

    def renew(self, credentials: Credentials, subscription: Subscription) -> Subscription:
        """Google channels cannot be extended: open new ones, then stop the old ones."""
        address = _address_of(subscription)
        fresh, _ = self._watch(credentials, address)
        self.unsubscribe(credentials, subscription)
        return fresh

    def unsubscribe(self, credentials: Credentials, subscription: Subscription) -> None:
        """``channels.stop`` for every channel (one already gone is fine: 404)."""
        for channel_id, resource_id in _channels_of(subscription):
            self._call(
                credentials,
                "POST",
                CHANNELS_STOP_PATH,
                json_body={"id": channel_id, "resourceId": resource_id},
                ok_statuses=frozenset({404}),
            )

    def _watch(self, credentials: Credentials, address: str) -> tuple[Subscription, Credentials | None]:
        secret = self.secret(credentials, WEBHOOK_SECRET)
        expires = self.runtime.now() + CHANNEL_TTL
        opened: list[tuple[str, str]] = []
        refreshed: Credentials | None = None
        customer = self._customer(credentials)
        try:
            for event in WATCH_EVENTS:
                channel_id = str(uuid.uuid4())
                response, new = self._call(
                    refreshed or credentials,
                    "POST",
                    f"{USERS_PATH}/watch",
                    params={"customer": customer, "event": event, "projection": "full"},
                    json_body={
                        "id": channel_id,
                        "type": "web_hook",
                        "address": address,
                        "token": channel_token(secret, channel_id),
                        "params": {"ttl": str(int(CHANNEL_TTL.total_seconds()))},
                    },
                )
                refreshed = new or refreshed
                body = as_object(decode_json(response, self.name), "the channel", self.name)
                resource_id = text(body.get("resourceId"))
                if body.get("id") != channel_id or resource_id is None or " " in resource_id:
                    raise ProviderResponseError("google_workspace: users.watch answered another channel")
                opened.append((channel_id, resource_id))
                expiration = _millis(body.get("expiration"))
                if expiration is not None:
                    expires = min(expires, expiration)
        except Exception:
            # All or nothing: a half-open set would deliver without being stopped on disconnect.
            partial = Subscription(_encode_channels(opened, address), expires)
            self.unsubscribe(refreshed or credentials, partial)
            raise
        resource = f"users of {customer}: " + ", ".join(WATCH_EVENTS)
        return Subscription(_encode_channels(opened, address), expires, resource), refreshed

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        secret: Secret,
        now: datetime,
        *,
        require_signature: bool = False,
    ) -> None:
        """The channel id and its token together: the token is the HMAC of the id under the
        connection's secret, compared in constant time (Google signs nothing else)."""
        channel_id = required_header(headers, "X-Goog-Channel-ID")
        received = required_header(headers, "X-Goog-Channel-Token")
        if len(channel_id) > _MAX_CHANNEL_ID:
            raise WebhookRejected("X-Goog-Channel-ID too long")
        if not same(channel_token(secret, channel_id).encode(), received.encode()):
            raise WebhookRejected("bad channel token")

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        try:
            state = required_header(headers, "X-Goog-Resource-State").casefold()
            channel_id = required_header(headers, "X-Goog-Channel-ID")
            number = required_header(headers, "X-Goog-Message-Number")
        except WebhookRejected as error:
            raise WebhookUnparseable(f"google_workspace: {error.reason}") from None
        delivery = f"{channel_id}:{number}"
        if state == "sync":
            return WebhookEvent(WebhookKind.PING, (), delivery)
        kind = _STATES.get(state)
        if kind is None:
            raise WebhookUnparseable(f"google_workspace: unknown resource state {state[:20]!r}")
        body = parse_json_object(raw_body)
        user_id = as_id(body.get("id"))
        if user_id is None:
            raise WebhookUnparseable("google_workspace: a notification without a user id")
        return WebhookEvent(kind, (user_id,), delivery)


# ---------------------------------------------------------------------------------------------
# The service account key
# ---------------------------------------------------------------------------------------------


class ServiceAccountKey:
    __slots__ = ("client_email", "key_id", "private_key")

    def __init__(self, client_email: str, key_id: str | None, private_key: RSAPrivateKey) -> None:
        self.client_email = client_email
        self.key_id = key_id
        self.private_key = private_key

    def __repr__(self) -> str:
        return f"ServiceAccountKey({self.client_email!r})"


def service_account(secret: Secret) -> ServiceAccountKey:
    """The JSON key's ``client_email``, ``private_key_id`` and RSA ``private_key``; a typed error
    naming what is wrong (never the key) for anything else."""
    try:
        document = json.loads(secret.reveal())
    except ValueError:
        raise ProviderSettingsError("google_workspace: the service account key is not JSON") from None
    if not isinstance(document, dict) or document.get("type", "service_account") != "service_account":
        raise ProviderSettingsError("google_workspace: the key is not a service account key (type)")
    email, pem = document.get("client_email"), document.get("private_key")
    if not isinstance(email, str) or "@" not in email or not isinstance(pem, str):
        raise ProviderSettingsError("google_workspace: the key has no client_email or private_key")
    try:
        key = load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        raise ProviderSettingsError("google_workspace: the key's private_key is not a PEM RSA key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ProviderSettingsError("google_workspace: the key's private_key is not an RSA key")
    key_id = document.get("private_key_id")
    return ServiceAccountKey(email, key_id if isinstance(key_id, str) and key_id else None, key)


def status_of(
    record: Mapping[str, Any], suspended: EmployeeStatus = EmployeeStatus.TERMINATED
) -> MappedStatus:
    """Archived and suspended users are not active, with the reason an admin recognises
    (``raw_status``); Google has no hire date, so never pending."""
    if record.get("archived") is True:
        return MappedStatus(EmployeeStatus.TERMINATED, "archived in Google Workspace")
    if record.get("suspended") is True:
        reason = text(record.get("suspensionReason"))
        raw = "suspended in Google Workspace" + (f" (reason: {reason[:40]})" if reason else "")
        return MappedStatus(suspended, raw)
    return MappedStatus(EmployeeStatus.ACTIVE, "active")


def suspended_status(credentials: Credentials) -> EmployeeStatus:
    """What the connection's ``suspended_status`` setting makes a suspended user (terminated)."""
    value = (text(credentials.settings.get("suspended_status")) or "terminated").casefold()
    status = SUSPENDED_STATUSES.get(value)
    if status is None:
        raise ProviderSettingsError("google_workspace: suspended_status must be terminated or on_leave")
    return status


def channel_token(secret: Secret, channel_id: str) -> str:
    """The token a channel is opened with: HMAC-SHA256 of its id under the connection's secret."""
    digest = hmac.new(secret.reveal().encode(), f"google-channel:{channel_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


# A subscription's id: the channels as ``<channel id>/<resource id>`` joined by spaces, then the
# address after `` @ `` (renewing opens the new channels at the same address).
def _encode_channels(channels: Sequence[tuple[str, str]], address: str) -> str:
    return " ".join(f"{c}/{r}" for c, r in channels) + f" @ {address}"


def _channels_of(subscription: Subscription) -> list[tuple[str, str]]:
    head, _, _ = subscription.id.partition(" @ ")
    channels = []
    for part in head.split():
        channel_id, _, resource_id = part.partition("/")
        if channel_id and resource_id:
            channels.append((channel_id, resource_id))
    return channels


def _address_of(subscription: Subscription) -> str:
    _, _, address = subscription.id.partition(" @ ")
    if not address.strip():
        raise ProviderSettingsError("google_workspace: the subscription names no notification address")
    return address.strip()


# ---------------------------------------------------------------------------------------------
# Field helpers
# ---------------------------------------------------------------------------------------------


def _error_reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    errors = (
        body.get("error", {}).get("errors")
        if isinstance(body, dict) and isinstance(body.get("error"), dict)
        else None
    )
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    reason = first.get("reason")
    return reason if isinstance(reason, str) else ""


def _objects(value: Any) -> list[dict[str, Any]]:
    """The discovery document types these ``any``: arrays of objects, tolerated absent or odd."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _primary(value: Any) -> dict[str, Any]:
    items = _objects(value)
    return next((i for i in items if i.get("primary") is True), items[0] if items else {})


def _external_id(value: Any) -> str | None:
    """The console's Employee ID is the external id of type ``organization``."""
    return next((text(i.get("value")) for i in _objects(value) if i.get("type") == "organization"), None)


def _manager_email(record: Mapping[str, Any]) -> str | None:
    value = next(
        (text(r.get("value")) for r in _objects(record.get("relations")) if r.get("type") == "manager"), None
    )
    return value.casefold() if value else None


def _emails(record: Mapping[str, Any]) -> list[str]:
    values = [record.get("primaryEmail"), *(record.get("aliases") or [])]
    values += [e.get("address") for e in _objects(record.get("emails"))]
    return [v.strip().casefold() for v in values if isinstance(v, str) and v.strip()]


def _location(record: Mapping[str, Any], organization: Mapping[str, Any]) -> str | None:
    """The desk location (building, floor) else the primary organization's location."""
    for place in _objects(record.get("locations")):
        parts = [text(place.get(k)) for k in ("buildingId", "floorName", "floorSection")]
        joined = ", ".join(p for p in parts if p)
        if joined:
            return joined
    return text(organization.get("location"))


def _home_country(value: Any) -> str | None:
    addresses = _objects(value)
    home = next((a for a in addresses if a.get("type") == "home"), None)
    return text(home.get("countryCode")) if home else None


def _millis(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _has_secret(credentials: Credentials, name: str) -> bool:
    value = credentials.secrets.get(name)
    return value is not None and bool(value.reveal())


def _is_user_key(value: str) -> bool:
    """A user id or email safe to put in a path (no slash, no query, bounded)."""
    return 0 < len(value) <= 256 and not any(c in value for c in "/?#%\\ ")
