"""Slack: a directory connector (Web API ``users.list``/``users.info``, user groups, Events API).

- Connecting: OAuth v2 install. The admin consents at ``/oauth/v2/authorize`` with the bot scopes
  ``BOT_SCOPES``; the code is exchanged at ``POST /api/oauth.v2.access`` (client id and secret in
  the form). The answer's bot token (``xoxb-``), the workspace id (``team_id``) and the scopes
  granted (``granted_scopes``) are stored; with token rotation also the refresh token and its
  expiry (refreshed on the same endpoint). The Slack app's signing secret (the OAuth app's
  ``signing_secret``) becomes the connection's webhook secret: Slack signs every event with it.
- Slack answers errors as HTTP 200 ``{"ok": false, "error": "..."}``: the auth errors are
  ``ProviderAuthError`` (with Slack's error code), ``missing_scope`` is ``MissingScope``, the rest
  ``ProviderResponseError``. 429 with ``Retry-After`` (Tier 2: about 20 requests a minute) is
  waited out by the shared HTTP client.
- List: ``GET /api/users.list?limit=200&cursor=`` until ``response_metadata.next_cursor`` is empty
  (R31). Slack says a page may hold fewer than ``limit`` people before the end, so a short page is
  not a broken list; a next cursor handed out before, or a list past ``max_records``, is
  ``IncompleteListing``.
- People: ``deleted`` is terminated ("deactivated in Slack"), ``is_invited_user`` pending,
  everyone else active. Bots, app users and Slackbot (``USLACKBOT``, whose ``is_bot`` is false)
  are left out unless the connection's ``include_bots`` is true; guests (``is_restricted``,
  ``is_ultra_restricted``) unless ``include_guests`` is true.
- Groups: user groups (``usergroups.list?include_users=true``, kind ``user_group``) when the token
  has ``usergroups:read``; without it the directory lists none and says why (``Directory.notes``).
- Events API: ``X-Slack-Signature`` = ``v0=`` + hex HMAC-SHA256(signing secret,
  ``v0:{X-Slack-Request-Timestamp}:{raw body}``), the timestamp within 5 minutes. ``team_join`` is
  a hire, ``user_change`` an update (a deactivation arrives as ``user_change`` with
  ``deleted: true``); each names one user, fetched again with ``users.info``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.models import Employee, EmployeeStatus
from shared.providers.base import (
    Credentials,
    Directory,
    DirectoryEntry,
    EmployeePage,
    IncompleteListing,
    InvalidCursor,
    ProviderAuthError,
    ProviderResponseError,
    ProviderUnavailable,
    Secret,
    Tier,
    WebhookEvent,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import WEBHOOK_SECRET, CredentialField, ProviderKind, describe
from shared.providers.common import (
    Connector,
    as_list,
    as_object,
    build_employee,
    collect_all,
    cursor_history,
    cursor_int,
    decode_cursor,
    dig,
    encode_cursor,
    follow_cursor,
    person_name,
    pick,
    record_id,
    text,
    unique,
)
from shared.providers.http import decode_json
from shared.providers.oauth import OAuthToken, Pkce, authorization_url, with_token
from shared.providers.status import MappedStatus
from shared.providers.webhooks import (
    check_unix_timestamp,
    decode_hex,
    hmac_sha256,
    parse_json_object,
    require_same,
    required_header,
)

DEFAULT_BASE = "https://slack.com"
# Slack recommends at most 200 per page (users.list).
PAGE_SIZE = 200
# users:read (users.list, users.info, team_join/user_change events), users:read.email (emails),
# usergroups:read (user groups for scope), team:read (the workspace's name).
BOT_SCOPES = ("users:read", "users:read.email", "usergroups:read", "team:read")
GROUPS_SCOPE = "usergroups:read"
SLACKBOT = "USLACKBOT"
SIGNATURE_VERSION = "v0"
MAX_GET = 100
# Slack's error codes that mean the token is not (or no longer) good.
_AUTH_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "org_login_required",
        "ekm_access_denied",
        "not_allowed_token_type",
        "team_access_not_granted",
        "invalid_client_id",
        "bad_client_secret",
        "invalid_code",
        "invalid_grant_type",
        "invalid_refresh_token",
        "bad_redirect_uri",
        "code_already_used",
        "oauth_authorization_url_mismatch",
    }
)

RAW_FIELDS = (
    "id",
    "team_id",
    "name",
    "real_name",
    "deleted",
    "is_bot",
    "is_app_user",
    "is_restricted",
    "is_ultra_restricted",
    "is_invited_user",
    "is_admin",
    "is_owner",
    "tz",
    "updated",
)
PROFILE_FIELDS = ("real_name", "display_name", "first_name", "last_name", "email", "title", "image_512")
# What every Slack connection supplies (R15); user groups only with ``usergroups:read``
# (``capabilities_for``).
BASE_CAPABILITIES = frozenset({"first_name", "last_name", "email", "job_title", "avatar_url"})
GROUP_CAPABILITIES = frozenset({"groups"})

INCLUDE_GUESTS = CredentialField(
    "include_guests",
    "Include guests",
    "true to sync Slack guests (multi- and single-channel guests) too; they are left out by default.",
    secret=False,
    required=False,
)
INCLUDE_BOTS = CredentialField(
    "include_bots",
    "Include bots",
    "true to sync bot and app users too; they are left out by default.",
    secret=False,
    required=False,
)
# What the install stores besides the tokens (nothing an admin types).
SIGNING_SECRET = CredentialField(
    WEBHOOK_SECRET,
    "Slack signing secret",
    "The Slack app's signing secret: Slack signs every Events API request with it.",
    secret=True,
    required=False,
)
TEAM_ID = CredentialField(
    "team_id", "Workspace id", "The Slack workspace the app was installed in.", False, False
)
TEAM_NAME = CredentialField("team_name", "Workspace", "The Slack workspace's name.", False, False)
GRANTED_SCOPES = CredentialField(
    "granted_scopes",
    "Granted scopes",
    "The scopes the workspace granted the app (comma-separated).",
    False,
    False,
)


class MissingScope(ProviderAuthError):
    """The token lacks a scope a Slack method needs (``missing_scope``)."""

    def __init__(self, message: str, *, needed: str | None) -> None:
        super().__init__(message, vendor_message="missing_scope")
        self.needed = needed


def _flag(credentials: Credentials, name: str) -> bool:
    return (credentials.settings.get(name) or "").strip().casefold() in ("true", "1", "yes")


class Slack(Connector):
    name = "slack"
    tier = Tier.BASIC
    capabilities = BASE_CAPABILITIES
    supports_webhooks = True
    max_page_size = PAGE_SIZE
    info = describe(
        id=name,
        name="Slack",
        kind=ProviderKind.DIRECTORY,
        tier=tier,
        capabilities=capabilities,
        supports_webhooks=supports_webhooks,
        oauth_fields=(INCLUDE_GUESTS, INCLUDE_BOTS),
        oauth_stored_fields=(SIGNING_SECRET, TEAM_ID, TEAM_NAME, GRANTED_SCOPES),
        oauth=True,
    )
    oauth_settings = frozenset(f.name for f in info.oauth_fields)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # user id -> the user groups (id, name) they are in; None until read (once per instance).
        self._groups: tuple[list[tuple[str, str, int]], dict[str, list[str]]] | None = None
        self._groups_note: str | None = None

    # -- OAuth v2 install -----------------------------------------------------------------------

    def _api(self, credentials: Credentials, method: str) -> str:
        return f"{self.base_url(credentials, DEFAULT_BASE)}/api/{method}"

    def _token_url(self, credentials: Credentials) -> str:
        return self._api(credentials, "oauth.v2.access")

    def start_authorization(
        self, credentials: Credentials, *, redirect_uri: str, state: str, scope: str | None = None
    ) -> tuple[str, Pkce | None]:
        """Slack's authorize URL with the bot scopes (comma-separated); Slack has no PKCE."""
        authorize = f"{self.base_url(credentials, DEFAULT_BASE, key='oauth_base_url')}/oauth/v2/authorize"
        url = authorization_url(
            authorize,
            client_id=self.secret(credentials, "client_id").reveal(),
            redirect_uri=redirect_uri,
            state=state,
            pkce=None,
            scope=scope or ",".join(BOT_SCOPES),
        )
        return url, None

    def finish_authorization(
        self, credentials: Credentials, *, code: str, redirect_uri: str, verifier: Secret | None
    ) -> Credentials:
        """``oauth.v2.access``: the bot token, the workspace, the scopes granted; the app's signing
        secret kept as the connection's webhook secret."""
        form = {
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.secret(credentials, "client_id").reveal(),
            "client_secret": self.secret(credentials, "client_secret").reveal(),
        }
        response = self.http.request("POST", self._token_url(credentials), form=form, idempotent=False)
        body = _ok(decode_json(response, self.name), "oauth.v2.access")
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderResponseError("slack: oauth.v2.access answered without an access_token")
        refresh = body.get("refresh_token")
        expires_in = body.get("expires_in")
        expires_at = None
        if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0:
            expires_at = self.runtime.now() + timedelta(seconds=expires_in)
        token = OAuthToken(
            Secret(access), Secret(refresh) if isinstance(refresh, str) and refresh else None, expires_at
        )
        stored = with_token(credentials, token)
        secrets = dict(stored.secrets)
        signing = secrets.pop("signing_secret", None)
        if signing is not None and signing.reveal():
            secrets[WEBHOOK_SECRET] = signing
        settings = dict(stored.settings)
        team_id, team_name = text(dig(body, "team", "id")), text(dig(body, "team", "name"))
        if team_id:
            settings[TEAM_ID.name] = team_id
        if team_name:
            settings[TEAM_NAME.name] = team_name
        scope = text(body.get("scope"))
        if scope:
            settings[GRANTED_SCOPES.name] = scope
        return Credentials(secrets=secrets, settings=settings)

    # -- Web API --------------------------------------------------------------------------------

    def _call(
        self, credentials: Credentials, method: str, params: Mapping[str, Any]
    ) -> tuple[dict[str, Any], Credentials | None]:
        """GET a Web API method with the bearer token; Slack's ``ok: false`` as typed errors."""
        body, refreshed = self.oauth_get(
            credentials, self._api(credentials, method), self._token_url(credentials), params=dict(params)
        )
        return _ok(body, method), refreshed

    def check_credentials(self, credentials: Credentials) -> None:
        """``auth.test``: the token is valid for a workspace."""
        self._call(credentials, "auth.test", {})

    def capabilities_for(self, credentials: Credentials) -> frozenset[str]:
        """Groups only where the workspace granted ``usergroups:read`` (R15: never blanked)."""
        if GROUPS_SCOPE in _scopes(credentials):
            return BASE_CAPABILITIES | GROUP_CAPABILITIES
        return BASE_CAPABILITIES

    # -- user groups ------------------------------------------------------------------------------

    def _user_groups(
        self, credentials: Credentials
    ) -> tuple[tuple[list[tuple[str, str, int]], dict[str, list[str]]], Credentials | None]:
        """Every user group (id, name, active member count) and each user's groups; none (with a
        note) when the token may not read them."""
        if self._groups is not None:
            return self._groups, None
        granted = _scopes(credentials)
        if granted and GROUPS_SCOPE not in granted:
            self._groups_note = f"user groups are not listed: the Slack app was not granted {GROUPS_SCOPE}"
            self._groups = ([], {})
            return self._groups, None
        try:
            body, refreshed = self._call(credentials, "usergroups.list", {"include_users": "true"})
        except MissingScope:
            self._groups_note = f"user groups are not listed: the Slack app was not granted {GROUPS_SCOPE}"
            self._groups = ([], {})
            return self._groups, None
        groups: list[tuple[str, str, int]] = []
        members: dict[str, list[str]] = {}
        for raw in as_list(body.get("usergroups"), "user groups", self.name):
            group = as_object(raw, "a user group", self.name)
            group_id, name = text(group.get("id")), text(group.get("name")) or text(group.get("handle"))
            if not group_id or not name or _deleted_group(group):
                continue
            users = [u for u in (group.get("users") or []) if isinstance(u, str)]
            groups.append((group_id, name, len(users)))
            self.seen_as("user_group", group_id, name)
            for user in users:
                members.setdefault(user, []).append(group_id)
        self._groups = (groups, members)
        return self._groups, refreshed

    # -- snapshot -------------------------------------------------------------------------------

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        state = decode_cursor(self.name, cursor)
        vendor_cursor = state.get("c")
        if vendor_cursor is not None and (not isinstance(vendor_cursor, str) or not vendor_cursor):
            raise InvalidCursor("slack: malformed cursor")
        history = cursor_history(state, self.name)
        page = cursor_int(state, "n", 1, self.name) or 1
        seen_before = cursor_int(state, "seen", 0, self.name)
        (_, memberships), refreshed = self._user_groups(credentials)
        current = refreshed or credentials
        params: dict[str, Any] = {"limit": self.page_size}
        if vendor_cursor:
            params["cursor"] = vendor_cursor
        body, again = self._call(current, "users.list", params)
        current = again or current
        members = as_list(body.get("members"), "members", self.name)
        seen = seen_before + len(members)
        employees = [
            e
            for m in members
            if (e := self._member(as_object(m, "a member", self.name), credentials, memberships)) is not None
        ]
        next_vendor = text(dig(body, "response_metadata", "next_cursor"))
        next_cursor = None
        if next_vendor:
            # R31: only an empty next_cursor ends the list; one handed out before loops.
            history = follow_cursor(self.name, history, next_vendor)
            if seen >= self.max_records:
                raise IncompleteListing(
                    f"slack: users.list still reports more after {seen} members (past {self.max_records})"
                )
            next_cursor = encode_cursor(
                self.name, {"c": next_vendor, "h": history, "n": page + 1, "seen": seen}
            )
        return EmployeePage(employees, next_cursor, current if current is not credentials else None)

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        wanted = [i for i in unique(ids) if _is_user_id(i)][:MAX_GET]
        if not wanted:
            return EmployeePage([], None)
        (_, memberships), refreshed = self._user_groups(credentials)
        current = refreshed or credentials
        employees: list[Employee] = []
        for user_id in wanted:
            try:
                body, again = self._call(current, "users.info", {"user": user_id})
            except ProviderResponseError as error:
                if "user_not_found" in str(error):
                    continue  # not (or no longer) in the workspace: a targeted plan leaves them be
                raise
            current = again or current
            employee = self._member(
                as_object(body.get("user"), "a user", self.name), credentials, memberships
            )
            if employee is not None:
                employees.append(employee)
        return EmployeePage(employees, None, current if current is not credentials else None)

    def directory(self, credentials: Credentials) -> Directory:
        """People from ``users.list``, user groups (kind ``user_group``) with their active members
        counted; the workspace as the one company."""
        (groups, _), refreshed = self._user_groups(credentials)
        current = refreshed or credentials
        people, again = collect_all(self, current)
        current = again or current
        active = {e.hris_id for e in people if e.status is not EmployeeStatus.TERMINATED}
        counts: dict[str, int] = {}
        for employee in people:
            if employee.hris_id in active:
                for group_id in employee.group_ids:
                    counts[group_id] = counts.get(group_id, 0) + 1
        group_entries = [
            DirectoryEntry(id=group_id, name=name, kind="user_group", count=counts.get(group_id, 0))
            for group_id, name, _ in groups
        ]
        team_id, team_name = credentials.settings.get(TEAM_ID.name), credentials.settings.get(TEAM_NAME.name)
        companies = []
        if team_id:
            companies.append(
                DirectoryEntry(id=team_id, name=team_name or team_id, kind="workspace", count=len(active))
            )
        return Directory(
            companies=companies,
            groups=sorted(group_entries, key=lambda g: (g.name.casefold(), g.id)),
            people=sorted(
                (DirectoryEntry(id=e.hris_id, name=person_name(e)) for e in people),
                key=lambda p: (p.name.casefold(), p.id),
            ),
            refreshed_credentials=current if current is not credentials else None,
            notes=(self._groups_note,) if self._groups_note else (),
        )

    # -- mapping ----------------------------------------------------------------------------------

    def _member(
        self, record: Mapping[str, Any], credentials: Credentials, memberships: Mapping[str, list[str]]
    ) -> Employee | None:
        """The member as an employee, or None when the connection leaves them out (bots, guests)."""
        user_id = record_id(record, "id", self.name)
        if _is_bot(record) and not _flag(credentials, INCLUDE_BOTS.name):
            return None
        if _is_guest(record) and not _flag(credentials, INCLUDE_GUESTS.name):
            return None
        return self.employee(
            record, memberships.get(user_id, ()), team_id=credentials.settings.get(TEAM_ID.name)
        )

    def employee(
        self, record: Mapping[str, Any], group_ids: Sequence[str] = (), *, team_id: str | None = None
    ) -> Employee:
        """One Slack user as an employee (whoever they are: filtering is ``_member``'s)."""
        profile = record.get("profile")
        profile = profile if isinstance(profile, Mapping) else {}
        first, last = _names(record, profile)
        names = {group_id: self.seen.get(group_id, (group_id, "user_group"))[0] for group_id in group_ids}
        raw = pick(record, RAW_FIELDS)
        raw["profile"] = pick(profile, PROFILE_FIELDS)
        company_id = text(record.get("team_id")) or team_id
        return build_employee(
            hris_id=record_id(record, "id", self.name),
            mapped=_status(record),
            raw=raw,
            first_name=first,
            last_name=last,
            email=text(profile.get("email")),
            job_title=text(profile.get("title")),
            avatar_url=text(profile.get("image_512")),
            groups=unique(names.values()),
            group_ids=unique(group_ids),
            company_id=company_id,
        )

    # -- Events API -------------------------------------------------------------------------------

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        secret: Secret,
        now: datetime,
        *,
        require_signature: bool = False,
    ) -> None:
        """``v0=`` hex HMAC-SHA256 of ``v0:{timestamp}:{raw body}``, within 5 minutes, compared in
        constant time (Slack signs every request: a signature is always required)."""
        timestamp = required_header(headers, "X-Slack-Request-Timestamp")
        signature = required_header(headers, "X-Slack-Signature")
        check_unix_timestamp(timestamp, now)
        version, _, digest = signature.partition("=")
        if version != SIGNATURE_VERSION or not digest:
            raise WebhookRejected("unsupported signature version")
        expected = hmac_sha256(secret, f"{SIGNATURE_VERSION}:{timestamp}:".encode() + raw_body)
        require_same(expected, decode_hex(digest))

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        body = parse_json_object(raw_body)
        kind = body.get("type")
        if kind == "url_verification":
            return WebhookEvent(
                WebhookKind.PING, (), f"url_verification:{text(body.get('challenge')) or ''}"[:200]
            )
        if kind != "event_callback":
            raise WebhookUnparseable("not an Events API request")
        event = body.get("event")
        if not isinstance(event, dict):
            raise WebhookUnparseable("an event_callback without an event")
        event_id = text(body.get("event_id"))
        if not event_id or len(event_id) > 200:
            raise WebhookUnparseable("an event_callback without an event_id")
        occurred = body.get("event_time")
        occurred_at = (
            datetime.fromtimestamp(occurred, UTC)
            if isinstance(occurred, int) and not isinstance(occurred, bool) and 0 < occurred < 2**34
            else None
        )
        event_type = event.get("type")
        if event_type not in ("team_join", "user_change"):
            # Another event the app subscribed to: verified, nothing to sync.
            return WebhookEvent(WebhookKind.PING, (), event_id, occurred_at)
        user = event.get("user")
        user_id = text(dig(user, "id")) if isinstance(user, dict) else text(user)
        if not user_id or not _is_user_id(user_id):
            raise WebhookUnparseable(f"a {event_type} event without a user id")
        if event_type == "team_join":
            kind_of = WebhookKind.CREATED
        elif isinstance(user, dict) and user.get("deleted") is True:
            kind_of = WebhookKind.DELETED
        else:
            kind_of = WebhookKind.UPDATED
        return WebhookEvent(kind_of, (user_id,), event_id, occurred_at)


# ---------------------------------------------------------------------------------------------


def _ok(body: Any, method: str) -> dict[str, Any]:
    """The body of a successful call; Slack's ``ok: false`` as a typed error."""
    if not isinstance(body, dict):
        raise ProviderResponseError(f"slack: {method} answered something that is not an object")
    if body.get("ok") is True:
        return body
    error = text(body.get("error")) or "unknown_error"
    error = "".join(c for c in error if c.isalnum() or c in "_.:-")[:60] or "unknown_error"
    if error == "missing_scope":
        needed = text(body.get("needed"))
        raise MissingScope(f"slack: {method} needs the scope {needed or 'it was not granted'}", needed=needed)
    if error in _AUTH_ERRORS:
        raise ProviderAuthError(f"slack: {method} refused the token: {error}", vendor_message=error)
    if error in ("ratelimited", "request_timeout", "fatal_error", "internal_error", "service_unavailable"):
        raise ProviderUnavailable(f"slack: {method} failed: {error}")
    if error == "invalid_cursor":
        raise IncompleteListing(f"slack: {method} refused the cursor it handed out ({error})")
    raise ProviderResponseError(f"slack: {method} failed: {error}")


def _scopes(credentials: Credentials) -> set[str]:
    granted = credentials.settings.get(GRANTED_SCOPES.name) or ""
    return {s.strip() for s in granted.split(",") if s.strip()}


def _is_user_id(value: str) -> bool:
    return 2 <= len(value) <= 32 and value.isascii() and value.isalnum() and value[0] in "UW"


def _is_bot(record: Mapping[str, Any]) -> bool:
    return record.get("id") == SLACKBOT or record.get("is_bot") is True or record.get("is_app_user") is True


def _is_guest(record: Mapping[str, Any]) -> bool:
    return record.get("is_restricted") is True or record.get("is_ultra_restricted") is True


def _deleted_group(group: Mapping[str, Any]) -> bool:
    deleted = group.get("date_delete")
    return isinstance(deleted, int | float) and not isinstance(deleted, bool) and deleted > 0


def _status(record: Mapping[str, Any]) -> MappedStatus:
    """R03/R09 in words an admin understands: Slack has flags, not a status value."""
    if record.get("deleted") is True:
        return MappedStatus(EmployeeStatus.TERMINATED, "deactivated in Slack")
    if record.get("is_invited_user") is True:
        return MappedStatus(EmployeeStatus.PENDING, "invited to Slack, not joined yet")
    return MappedStatus(EmployeeStatus.ACTIVE, "active in Slack")


def _names(record: Mapping[str, Any], profile: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """First and last name: the profile's own, else split from the real name, else the display
    name as the first name."""
    first, last = text(profile.get("first_name")), text(profile.get("last_name"))
    if first or last:
        return first, last
    full = text(profile.get("real_name")) or text(record.get("real_name"))
    if full:
        given, _, family = full.partition(" ")
        return given or None, text(family)
    return text(profile.get("display_name")), None
