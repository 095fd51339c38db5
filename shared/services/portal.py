"""The admin portal's links and sessions: who may open the portal, for which tenant, for how long.

- ``create_link``: the SaaS team's backend (an admin of the tenant) asks for a one-time link. The
  link's token is 256 random bits; only its SHA-256 digest is stored, with the tenant, the intent
  and the return URL; it can be opened for ``LINK_TTL``, once.
- ``open_link``: takes the link (a conditional delete: once), and starts a session for its tenant
  with admin rights: a new 256-bit token for the cookie (stored as its digest too) and a CSRF token
  the page sends back in a header on every state-changing call (a synchronizer token, kept in the
  session item and compared in constant time).
- ``session_for`` / ``check_csrf``: every portal API call; ``end_session``: signing out.

A return URL is where the portal sends the admin back to, so it must be absolute ``https`` (or
``http`` on a loopback host, for development), with no credentials in it: the browser never chooses
it (it comes from the session, which the backend's link fixed), so the portal is no open redirect.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

from shared.errors import CsrfRejected, InvalidInput, PortalLinkUsed, PortalSessionInvalid
from shared.ports import PortalIntent, PortalLink, PortalSession
from shared.services.context import WithClock, WithPortal

LINK_TTL = timedelta(minutes=5)
SESSION_TTL = timedelta(hours=4)
TOKEN_BYTES = 32  # 256 bits from the OS's random source
MAX_RETURN_URL_LENGTH = 2048
# A token as ``secrets.token_urlsafe(32)`` writes it: anything else names no link or session.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_LOOPBACK_NAMES = frozenset({"localhost"})
SUBJECT_PREFIX = "portal:"
MAX_SUBJECT_LENGTH = 128  # functions.admin_api.identity reads subjects of at most 128 characters


class PortalPorts(WithPortal, WithClock, Protocol):
    """What the portal's use cases touch: its store and the clock."""


@dataclass(frozen=True, slots=True)
class IssuedLink:
    token: str  # goes into the URL once; never stored
    link: PortalLink


@dataclass(frozen=True, slots=True)
class OpenedSession:
    token: str  # goes into the cookie once; never stored
    session: PortalSession


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_return_url(url: str) -> str:
    """``url`` when it is an absolute https URL (http on a loopback host), without credentials."""
    if len(url) > MAX_RETURN_URL_LENGTH or any(c.isspace() or ord(c) < 0x20 for c in url):
        raise InvalidInput("return_url is not a usable URL", field="return_url")
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        raise InvalidInput("return_url is not a usable URL", field="return_url") from error
    if not host:
        raise InvalidInput("return_url must be an absolute URL", field="return_url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("return_url must not carry credentials", field="return_url")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return url
    raise InvalidInput("return_url must use https (http only on a loopback host)", field="return_url")


def _subject(created_by: str) -> str:
    """Who acts in a session: ``portal:<the subject that asked for the link>``, at most 128
    characters (a longer one is shortened to its digest)."""
    subject = f"{SUBJECT_PREFIX}{created_by}"
    if len(subject) <= MAX_SUBJECT_LENGTH:
        return subject
    return f"{SUBJECT_PREFIX}{hashlib.sha256(created_by.encode()).hexdigest()}"


def create_link(
    ports: PortalPorts,
    tenant_id: str,
    *,
    created_by: str,
    intent: PortalIntent,
    return_url: str | None = None,
    email: str | None = None,
) -> IssuedLink:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = PortalLink(
        token_digest=digest(token),
        tenant_id=tenant_id,
        intent=intent,
        created_by=created_by,
        expires_at=ports.clock.now() + LINK_TTL,
        return_url=None if return_url is None else check_return_url(return_url),
        email=email,
    )
    ports.portal.add_link(link)
    return IssuedLink(token=token, link=link)


def open_link(ports: PortalPorts, token: str | None) -> OpenedSession:
    """The session a link opens; ``PortalLinkUsed`` / ``PortalLinkExpired`` otherwise."""
    if token is None or not _TOKEN.match(token):
        raise PortalLinkUsed  # not a token we issue: no such link
    now = ports.clock.now()
    link = ports.portal.take_link(digest(token), now)
    session_token = secrets.token_urlsafe(TOKEN_BYTES)
    session = PortalSession(
        token_digest=digest(session_token),
        tenant_id=link.tenant_id,
        subject=_subject(link.created_by),
        intent=link.intent,
        csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
        expires_at=now + SESSION_TTL,
        return_url=link.return_url,
        email=link.email,
    )
    ports.portal.add_session(session)
    return OpenedSession(token=session_token, session=session)


def session_for(ports: PortalPorts, token: str | None) -> PortalSession:
    """The live session the cookie names, or ``PortalSessionInvalid``."""
    if token is None or not _TOKEN.match(token):
        raise PortalSessionInvalid
    return ports.portal.session(digest(token), ports.clock.now())


def check_csrf(session: PortalSession, sent: str | None) -> None:
    """``CsrfRejected`` unless ``sent`` is the session's CSRF token (compared in constant time)."""
    if sent is None or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise CsrfRejected


def end_session(ports: PortalPorts, session: PortalSession) -> None:
    ports.portal.end_session(session.token_digest)
