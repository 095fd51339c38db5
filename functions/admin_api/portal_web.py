"""The admin portal, served by the admin API's function under ``/portal`` (no authorizer: the
function checks the portal session itself).

- ``GET /portal/open?token=...``: opens a one-time link (``shared.services.portal``): sets the
  session cookie and redirects to the page; an expired, used or unknown link gets a page that
  says so (410).
- ``GET /portal/app``: the page; ``GET /portal/assets/<file>``: its script and style, built by
  ``make portal`` into ``portal_assets/`` beside this module (shipped with the function; no CDN).
- ``GET /portal/api/session``: the session's tenant, intent, return URL and CSRF token (read by
  the page's script only: the answer is same-origin JSON, no CORS).
- ``/portal/api/v1/...``: the admin API itself, called with the session's tenant as the principal
  (admin role): the same routes, validation and errors as ``/v1``. Every method but GET and HEAD
  needs the ``X-CSRF-Token`` header equal to the session's token.
- ``POST /portal/api/logout``: ends the session.

The cookie is ``__Host-`` prefixed (Secure, Path=/, no Domain: no sibling host can set or read
it), HttpOnly (no script reads it) and SameSite=Strict (another site's page cannot make the
browser send it). Every answer carries a strict Content-Security-Policy (scripts and styles from
this origin only, nothing inline, no framing), and the session-bearing ones ``no-store``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from functions.admin_api.errors import error_body
from functions.admin_api.identity import ADMIN_ROLE
from shared.errors import CsrfRejected, HrisSyncError, PortalLinkExpired
from shared.ports import PortalSession
from shared.services import portal
from shared.services.portal import PortalPorts

PREFIX = "/portal"
COOKIE = "__Host-hris-portal"
CSRF_HEADER = "x-csrf-token"
ASSETS = Path(__file__).parent / "portal_assets"
PAGE = "index.html"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".map": "application/json",
}
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The link's token is in the URL: never sent on to another site.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True, slots=True)
class Asset:
    body: str
    content_type: str
    etag: str


@functools.lru_cache(maxsize=1)
def assets() -> Mapping[str, Asset]:
    """The built files by name (read once per container); empty when ``make portal`` has not run."""
    found: dict[str, Asset] = {}
    if ASSETS.is_dir():
        for file in sorted(ASSETS.iterdir()):
            content_type = _CONTENT_TYPES.get(file.suffix)
            if file.is_file() and content_type is not None:
                body = file.read_text(encoding="utf-8")
                etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
                found[file.name] = Asset(body, content_type, etag)
    return found


def _answer(
    status: int,
    body: str,
    content_type: str,
    *,
    headers: Mapping[str, str] | None = None,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    all_headers = {**SECURITY_HEADERS, "Content-Type": content_type, **(headers or {})}
    multi: dict[str, list[str]] = {"Set-Cookie": cookies} if cookies else {}
    return {
        "statusCode": status,
        "headers": all_headers,
        "multiValueHeaders": multi,
        "body": body,
        "isBase64Encoded": False,
    }


def _json(status: int, payload: Any, *, cookies: list[str] | None = None) -> dict[str, Any]:
    return _answer(status, json.dumps(payload), "application/json", headers=NO_STORE, cookies=cookies)


def _error(error: HrisSyncError) -> dict[str, Any]:
    return _json(error.http_status, error_body(error.code, error.message, error.details))


def _not_found() -> dict[str, Any]:
    return _json(404, error_body("not_found", "no such page in the portal"))


def _page(status: int, title: str, text: str) -> dict[str, Any]:
    """A plain page without script (the link's problems)."""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><link rel="stylesheet" href="assets/portal.css"></head>'
        f'<body><main class="notice"><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></main>'
        "</body></html>"
    )
    return _answer(status, body, "text/html; charset=utf-8", headers=NO_STORE)


def session_cookie(token: str, max_age: int) -> str:
    return f"{COOKIE}={token}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict"


def cleared_cookie() -> str:
    return f"{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict"


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}


def cookie_token(event: Mapping[str, Any]) -> str | None:
    """The session token from the ``Cookie`` header(s), if any."""
    values = [
        v for k, vs in (event.get("multiValueHeaders") or {}).items() if k.lower() == "cookie" for v in vs
    ]
    values = values or [v for k, v in _headers(event).items() if k == "cookie"]
    for value in values:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(str(value))
        except CookieError:
            continue
        morsel = jar.get(COOKIE)
        if morsel is not None and morsel.value:
            return morsel.value
    return None


def _subpath(event: Mapping[str, Any]) -> str:
    """The path below ``/portal`` ("" for ``/portal`` itself)."""
    proxy = (event.get("pathParameters") or {}).get("proxy")
    if isinstance(proxy, str):
        return proxy
    path = str(event.get("path") or "")
    return path.removeprefix(PREFIX).lstrip("/")


def _open(ports: PortalPorts, event: Mapping[str, Any]) -> dict[str, Any]:
    token = (event.get("queryStringParameters") or {}).get("token")
    try:
        opened = portal.open_link(ports, token)
    except PortalLinkExpired:
        return _page(
            410,
            "This link has expired",
            "A portal link can be opened only within a few minutes of being created. "
            "Go back to your application and open the portal again to get a new link.",
        )
    except HrisSyncError:  # used before, or never issued
        return _page(
            410,
            "This link has already been used",
            "A portal link opens the portal once. Go back to your application and open the "
            "portal again to get a new link.",
        )
    max_age = int(portal.SESSION_TTL.total_seconds())
    return _answer(
        HTTPStatus.SEE_OTHER,
        "",
        "text/plain; charset=utf-8",
        headers={**NO_STORE, "Location": "app"},  # relative: /<stage>/portal/app
        cookies=[session_cookie(opened.token, max_age)],
    )


def _asset(name: str, event: Mapping[str, Any]) -> dict[str, Any]:
    found = assets().get(name)
    if found is None:
        if not assets():
            return _page(503, "The portal is not built", "Run `make portal` to build its page.")
        return _not_found()
    headers = {"Cache-Control": "no-cache", "ETag": found.etag}
    if _headers(event).get("if-none-match") == found.etag:
        return _answer(304, "", found.content_type, headers=headers)
    return _answer(200, found.body, found.content_type, headers=headers)


def _cross_site(event: Mapping[str, Any]) -> bool:
    """A browser says the request came from another site (Fetch Metadata): refused outright."""
    site = _headers(event).get("sec-fetch-site")
    return site is not None and site not in ("same-origin", "none")


def _session_view(session: PortalSession) -> dict[str, Any]:
    return {
        "tenant_id": session.tenant_id,
        "intent": session.intent.value,
        "return_url": session.return_url,
        "email": session.email,
        "expires_at": session.expires_at.isoformat(),
        "csrf_token": session.csrf_token,
    }


def _as_admin_api(event: Mapping[str, Any], session: PortalSession, rest: str) -> dict[str, Any]:
    """The event as the admin API's ``/v1/{proxy+}`` route gets it, with the session's tenant as
    the verified principal (what an authorizer would have put in ``requestContext.authorizer``)."""
    inner = copy.deepcopy(dict(event))
    path = f"/v1/{rest}"
    inner["path"] = path
    inner["resource"] = "/v1/{proxy+}"
    inner["pathParameters"] = {"proxy": rest}
    context = dict(inner.get("requestContext") or {})
    stage = context.get("stage")
    context["path"] = f"/{stage}{path}" if stage else path
    context["resourcePath"] = "/v1/{proxy+}"
    authorizer = {"principalId": session.subject, "tenant_id": session.tenant_id, "role": ADMIN_ROLE}
    if session.email is not None:
        authorizer["email"] = session.email
    context["authorizer"] = authorizer
    inner["requestContext"] = context
    # The cookie and the CSRF token stop here.
    drop = ("cookie", CSRF_HEADER)
    inner["headers"] = {k: v for k, v in (inner.get("headers") or {}).items() if k.lower() not in drop}
    inner["multiValueHeaders"] = {
        k: v for k, v in (inner.get("multiValueHeaders") or {}).items() if k.lower() not in drop
    }
    return inner


def _with_headers(answer: dict[str, Any]) -> dict[str, Any]:
    extra = {**SECURITY_HEADERS, **NO_STORE}
    multi = answer.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        for name, value in extra.items():
            multi[name] = [value]
    else:
        answer["headers"] = {**(answer.get("headers") or {}), **extra}
    return answer


def _api(
    ports: PortalPorts, event: Mapping[str, Any], rest: str, app: APIGatewayRestResolver, context: Any
) -> dict[str, Any]:
    method = str(event.get("httpMethod") or "GET").upper()
    try:
        session = portal.session_for(ports, cookie_token(event))
        if method not in SAFE_METHODS:
            if _cross_site(event):
                raise CsrfRejected
            portal.check_csrf(session, _headers(event).get(CSRF_HEADER))
    except HrisSyncError as error:
        return _error(error)
    if rest == "session" and method == "GET":
        return _json(200, _session_view(session))
    if rest == "logout" and method == "POST":
        portal.end_session(ports, session)
        return _json(200, {"signed_out": True}, cookies=[cleared_cookie()])
    if not rest.startswith("v1/") or rest.startswith("v1/portal/"):
        return _not_found()  # a session cannot mint links: it cannot outlive itself
    answer: dict[str, Any] = app.resolve(_as_admin_api(event, session, rest.removeprefix("v1/")), context)
    return _with_headers(answer)


def handle(
    event: Mapping[str, Any], context: Any, *, app: APIGatewayRestResolver, ports: PortalPorts
) -> dict[str, Any]:
    """Answer a request under ``/portal``."""
    sub = _subpath(event)
    method = str(event.get("httpMethod") or "GET").upper()
    if sub.startswith("api/"):
        return _api(ports, event, sub.removeprefix("api/"), app, context)
    if method not in ("GET", "HEAD"):
        return _answer(405, "", "text/plain; charset=utf-8", headers={"Allow": "GET, HEAD"})
    return _get(ports, event, sub)


def _get(ports: PortalPorts, event: Mapping[str, Any], sub: str) -> dict[str, Any]:
    if sub == "open":
        return _open(ports, event)
    if sub == "":  # /<stage>/portal -> /<stage>/portal/app
        return _answer(HTTPStatus.PERMANENT_REDIRECT, "", "text/plain", headers={"Location": "portal/app"})
    if sub == "app":
        return _asset(PAGE, event)
    if sub.startswith("assets/"):
        return _asset(sub.removeprefix("assets/"), event)
    return _not_found()


def is_portal(event: Mapping[str, Any]) -> bool:
    resource = str(event.get("resource") or "")
    return resource == PREFIX or resource.startswith(f"{PREFIX}/")
