"""Fake Slack (``vendor-specs/slack-web-users-openapi.json``, the Events API specs beside it).

- OAuth v2 install: ``GET /oauth/v2/authorize`` acts as the consenting admin (a 302 back to the
  ``redirect_uri`` with ``code`` and ``state``; ``login_hint=deny`` or ``deny_consent`` declines);
  ``POST /api/oauth.v2.access`` exchanges the code for a bot token (``xoxb-``), answering
  ``{ok, access_token, token_type: "bot", scope, bot_user_id, app_id, team{id, name}, ...}``. With
  the option ``token_rotation`` the token expires and a refresh token comes with it.
- Web API (Bearer token): ``auth.test``, ``users.list`` (``limit`` default 0 = everyone, cursor
  paging through ``response_metadata.next_cursor``), ``users.info``, ``usergroups.list``
  (``include_users``; refused with ``missing_scope`` when the option ``usergroups_scope`` is false)
  and ``team.info``. Errors are HTTP 200 ``{"ok": false, "error": ...}``; rate limits HTTP 429
  with ``Retry-After`` (Tier 2: 20 requests a minute by default).
- The company's people are members ``U...``; leavers and deleted people ``deleted: true``; future
  starters invited (``is_invited_user``). Beside them Slackbot, a bot and guests (option
  ``guests``, default 2: one multi-channel, one single-channel). Departments are user groups.
- Events: a hire sends ``team_join``, any other change ``user_change`` (``deleted: true`` for a
  leaver), signed ``X-Slack-Signature: v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the
  signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from dataclasses import replace
from typing import Any

from shared.domain.models import Employee, EmployeeStatus

from . import oauth_endpoints
from .company import Change, Person
from .oauth import OAuthError, OAuthServer, bearer
from .server import HttpError, RateLimit, Request, Response, Route, Vendor, WebhookRequest

# The Slack app the fake knows by default (client id, client secret) and its signing secret.
OAUTH_CLIENT = ("1111111111.2222222222", "fake-slack-client-secret")
SIGNING_SECRET = "fake-slack-signing-secret-0123456789"  # noqa: S105 - the fake's own
TEAM_ID, TEAM_NAME = "T0FAKE0001", "Fake Workspace"
BOT_USER_ID, APP_ID = "UFAKEBOT01", "A0FAKEAPP1"
SCOPES = "users:read,users:read.email,usergroups:read,team:read"
MAX_LIMIT = 1000


def user_id(person: Person) -> str:
    return f"U{int(person.id):08d}"


def group_id(name: str) -> str:
    return "S" + hashlib.sha256(name.encode()).hexdigest()[:10].upper()


def _profile(
    first: str | None, last: str | None, email: str | None, title: str | None, image: str | None
) -> dict[str, Any]:
    real = " ".join(x for x in (first, last) if x)
    return {
        "real_name": real,
        "real_name_normalized": real,
        "display_name": (first or "").lower(),
        "display_name_normalized": (first or "").lower(),
        "first_name": first,
        "last_name": last,
        "email": email,
        "title": title or "",
        "phone": "",
        "skype": "",
        "status_text": "",
        "status_emoji": "",
        "avatar_hash": hashlib.md5(real.encode()).hexdigest()[:12],  # noqa: S324 - not security
        "image_512": image,
        "fields": None,
        "team": TEAM_ID,
    }


def _user(uid: str, profile: dict[str, Any], **flags: Any) -> dict[str, Any]:
    return {
        "id": uid,
        "team_id": TEAM_ID,
        "name": profile["display_name"] or uid.lower(),
        "real_name": profile["real_name"],
        "deleted": False,
        "is_admin": False,
        "is_owner": False,
        "is_bot": False,
        "is_app_user": False,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "tz": "Europe/London",
        "tz_label": "Greenwich Mean Time",
        "tz_offset": 0,
        "updated": 1_700_000_000,
        "profile": profile,
        **flags,
    }


class Slack(Vendor):
    name = "slack"
    # Tier 2 (users.list, usergroups.list): about 20 requests a minute.
    default_rate_limit = RateLimit(20, 60.0)

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        opts = server.options
        self.rotation = bool(opts.get("token_rotation", False))
        self.oauth = OAuthServer(
            opts.get("client_id", OAUTH_CLIENT[0]),
            opts.get("client_secret", OAUTH_CLIENT[1]),
            access_ttl=int(opts.get("access_token_ttl", 43200 if self.rotation else 10 * 365 * 86400)),
            pkce=False,
            prefix="xoxb",
        )
        self.signing_secret = str(opts.get("signing_secret", SIGNING_SECRET))
        self.usergroups_scope = bool(opts.get("usergroups_scope", True))
        self.guests = int(opts.get("guests", 2))
        self._issued = self.oauth.issue()

    def credentials(self) -> dict[str, str]:
        return {
            "client_id": self.oauth.client_id,
            "client_secret": self.oauth.client_secret,
            "signing_secret": self.signing_secret,
            "access_token": self._issued.access_token,
            "team_id": TEAM_ID,
            "authorize_url": "/oauth/v2/authorize",
            "token_url": "/api/oauth.v2.access",
        }

    def error(self, status: int, code: str, message: str) -> Response:  # noqa: ARG002 - Slack has codes only
        return Response.json({"ok": False, "error": code}, status)

    def rate_limited(self, retry_after: int) -> Response:
        return Response.json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(retry_after)})

    def _refuse(self, code: str) -> HttpError:
        return HttpError(Response.json({"ok": False, "error": code}))

    def routes(self) -> list[Route]:
        routes = [
            Route.of("GET", "/oauth/v2/authorize", self.authorize),
            Route.of("POST", "/api/oauth.v2.access", self.access),
        ]
        for method, handler in (
            ("auth.test", self.auth_test),
            ("users.list", self.users_list),
            ("users.info", self.users_info),
            ("usergroups.list", self.usergroups_list),
            ("team.info", self.team_info),
        ):
            routes += [
                Route.of("GET", f"/api/{method}", handler),
                Route.of("POST", f"/api/{method}", handler),
            ]
        return routes

    # -- the people as Slack shows them -----------------------------------------------------------

    def expected_employee(self, person: Person) -> Employee:
        e = person.employee
        status = EmployeeStatus.TERMINATED if person.deleted else e.status
        if status is EmployeeStatus.ON_LEAVE:
            status = EmployeeStatus.ACTIVE  # Slack knows no leave
        return replace(e, hris_id=user_id(person), status=status)

    def _member(self, person: Person) -> dict[str, Any]:
        e = self.expected_employee(person)
        profile = _profile(e.first_name, e.last_name, e.email, e.job_title, e.avatar_url)
        return _user(
            e.hris_id,
            profile,
            deleted=e.status is EmployeeStatus.TERMINATED,
            is_invited_user=e.status is EmployeeStatus.PENDING,
            updated=int(person.updated_at.timestamp()),
        )

    def _extras(self) -> list[dict[str, Any]]:
        """Slackbot, a bot, and the guests: in every workspace, never employees."""
        extras = [
            _user("USLACKBOT", _profile("Slackbot", None, None, None, None), is_bot=False),
            _user(BOT_USER_ID, _profile("HRIS Sync", None, None, None, None), is_bot=True),
        ]
        for n in range(self.guests):
            ultra = n % 2 == 1
            profile = _profile(f"Guest{n}", "Contractor", f"guest{n}@partner.example", "Contractor", None)
            extras.append(_user(f"UGUEST{n:04d}", profile, is_restricted=True, is_ultra_restricted=ultra))
        return extras

    def members(self) -> list[dict[str, Any]]:
        return self.memo(
            "members",
            lambda: [self._member(p) for p in self.company.people(include_deleted=True)] + self._extras(),
        )

    # -- OAuth v2 ---------------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        redirect_uri = request.arg("redirect_uri")
        try:
            self.oauth.check_authorization_request(request.arg("client_id"), redirect_uri)
        except OAuthError as exc:
            return Response.json({"ok": False, "error": exc.error}, 400)
        # The consenting admin, as the other OAuth fakes have it (a code, or a declined consent).
        return oauth_endpoints.authorize(self.oauth, request, pkce=False)

    def access(self, request: Request) -> Response:
        try:
            form = request.payload()
        except ValueError:
            return Response.json({"ok": False, "error": "invalid_form_data"})
        try:
            if form.get("grant_type") == "refresh_token":
                pair = self.oauth.refresh(
                    form.get("refresh_token"),
                    client_id=form.get("client_id"),
                    client_secret=form.get("client_secret"),
                )
            else:
                pair = self.oauth.exchange_code(
                    form.get("code"),
                    client_id=form.get("client_id"),
                    client_secret=form.get("client_secret"),
                    redirect_uri=form.get("redirect_uri"),
                    code_verifier=None,
                )
        except OAuthError as exc:
            code = {"invalid_client": "invalid_client_id", "invalid_grant": "invalid_code"}.get(
                exc.error, exc.error
            )
            if form.get("grant_type") == "refresh_token" and exc.error == "invalid_grant":
                code = "invalid_refresh_token"
            return Response.json({"ok": False, "error": code})
        body: dict[str, Any] = {
            "ok": True,
            "access_token": pair.access_token,
            "token_type": "bot",
            "scope": SCOPES if self.usergroups_scope else SCOPES.replace("usergroups:read,", ""),
            "bot_user_id": BOT_USER_ID,
            "app_id": APP_ID,
            "team": {"id": TEAM_ID, "name": TEAM_NAME},
            "enterprise": None,
            "authed_user": {"id": "UADMIN0001"},
        }
        if self.rotation:
            body.update(refresh_token=pair.refresh_token, expires_in=pair.expires_in)
        return Response.json(body)

    def _auth(self, request: Request) -> None:
        token = bearer(request.header("Authorization")) or request.arg("token")
        if not token:
            raise self._refuse("not_authed")
        if not self.oauth.valid(token):
            raise self._refuse("token_expired" if token.startswith("xoxb-at-") else "invalid_auth")

    # -- Web API ----------------------------------------------------------------------------------

    def auth_test(self, request: Request) -> Response:
        self._auth(request)
        return Response.json(
            {
                "ok": True,
                "url": "https://fake-workspace.slack.com/",
                "team": TEAM_NAME,
                "user": "hris-sync",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "B0FAKEBOT1",
                "is_enterprise_install": False,
            }
        )

    def team_info(self, request: Request) -> Response:
        self._auth(request)
        return Response.json(
            {"ok": True, "team": {"id": TEAM_ID, "name": TEAM_NAME, "domain": "fake-workspace"}}
        )

    def users_list(self, request: Request) -> Response:
        self._auth(request)
        try:
            limit = int(request.arg("limit") or 0)
        except ValueError:
            raise self._refuse("invalid_arg_name") from None
        members = self.members()
        start = 0
        cursor = request.arg("cursor")
        if cursor:
            try:
                start = int(urllib.parse.unquote(cursor).removeprefix("dXNlcjo=").split(":", 1)[1])
            except (ValueError, IndexError):
                raise self._refuse("invalid_cursor") from None
        size = min(limit, MAX_LIMIT) if limit > 0 else len(members)
        page_number = start // size + 1 if size else 1
        faults = self.page_faults(page_number)
        if faults.repeat:
            start = 0
        page = faults.shorten(members[start : start + size])
        end = start + size
        next_cursor = f"dXNlcjo=:{end}" if end < len(members) else ""
        return Response.json(
            {
                "ok": True,
                "members": page,
                "cache_ts": int(time.time()),
                "response_metadata": {"next_cursor": next_cursor},
            }
        )

    def users_info(self, request: Request) -> Response:
        self._auth(request)
        wanted = request.arg("user")
        if not wanted:
            raise self._refuse("user_not_found")
        for member in self.members():
            if member["id"] == wanted:
                return Response.json({"ok": True, "user": member})
        raise self._refuse("user_not_found")

    def usergroups_list(self, request: Request) -> Response:
        self._auth(request)
        if not self.usergroups_scope:
            return Response.json(
                {"ok": False, "error": "missing_scope", "needed": "usergroups:read", "provided": SCOPES}
            )
        include_users = request.arg("include_users") in ("true", "1")
        groups: dict[str, list[str]] = {}
        for person in self.company.people():
            e = self.expected_employee(person)
            if e.status is EmployeeStatus.TERMINATED:
                continue
            for name in e.groups:
                groups.setdefault(name, []).append(e.hris_id)
        answer = []
        for name in sorted(groups):
            group: dict[str, Any] = {
                "id": group_id(name),
                "team_id": TEAM_ID,
                "is_usergroup": True,
                "name": name,
                "handle": name.lower().replace(" ", "-"),
                "description": "",
                "date_create": 1_600_000_000,
                "date_update": 1_600_000_000,
                "date_delete": 0,
                "user_count": len(groups[name]),
            }
            if include_users:
                group["users"] = groups[name]
            answer.append(group)
        return Response.json({"ok": True, "usergroups": answer})

    # -- Events API -------------------------------------------------------------------------------

    def event_request(self, event: dict[str, Any], secret: str, *, at: int | None = None) -> WebhookRequest:
        """An Events API request carrying ``event``, signed with ``secret`` as Slack signs."""
        now = int(time.time()) if at is None else at
        body = json.dumps(
            {
                "token": "deprecated-verification-token",
                "team_id": TEAM_ID,
                "api_app_id": APP_ID,
                "event": {**event, "event_ts": f"{now}.000100"},
                "type": "event_callback",
                "event_id": f"Ev{secrets.token_hex(5).upper()}",
                "event_time": now,
                "authed_users": [BOT_USER_ID],
            }
        ).encode()
        return WebhookRequest(body=body, headers=sign(body, secret, now))

    def webhook_requests(self, change: Change, secret: str) -> list[WebhookRequest]:
        person = self.company.get(change.person_id)
        member = self._member(person)
        kind = "team_join" if change.event == "hired" else "user_change"
        return [self.event_request({"type": kind, "user": member}, secret or self.signing_secret)]


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """Slack's request signing (v0)."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }
