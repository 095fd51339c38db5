"""Who is calling: the principal, read only from the authorizer's verified context.

API Gateway puts what its authorizer verified into ``requestContext.authorizer``:

- a Cognito user pool (or JWT) authorizer: the token's claims under ``authorizer.claims``;
- a Lambda (token) authorizer: its ``context`` map flat under ``authorizer`` (string values).

The tenant is the claim ``tenant_id`` (or Cognito's custom attribute ``custom:tenant_id``), the
admin's id is ``sub`` (or a Lambda authorizer's ``principalId``). Writes need the admin role, which
any one of these grants:

- ``cognito:groups`` (or ``groups``) containing ``admins`` (the user pool group the stack creates);
- ``scope`` containing ``hris-sync/admin`` (an OAuth resource-server scope, for access tokens);
- ``role`` equal to ``admin`` (a Lambda authorizer's context).

The admin's email is the claim ``email`` (an ID token's; Cognito and OIDC issuers put it there),
when it is a plausible address and not marked unverified (``email_verified`` false): it is where
the emails of a connection the admin makes go (R32), beside the connection's ``admin_emails``.

Nothing in the path, query or body names a tenant: a request without a verified tenant and subject
is 401, and another tenant's resources are simply not found (404).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import HrisSyncError

ADMIN_GROUP = "admins"  # infra.constants.ADMIN_GROUP (a test keeps the two equal)
ADMIN_SCOPE = "hris-sync/admin"
ADMIN_ROLE = "admin"

_TENANT_CLAIMS = ("tenant_id", "custom:tenant_id")
_SUBJECT_CLAIMS = ("sub", "principalId")
_GROUP_CLAIMS = ("cognito:groups", "groups")
# Tenant ids and subjects are opaque, but printable and short: anything else is not a real token.
_IDENTIFIER = re.compile(r"^[\w.:@|+=/-]{1,128}$")
_LIST_SEPARATORS = re.compile(r"[\s,]+")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_MAX_EMAIL = 254


class Unauthenticated(HrisSyncError):
    """No verified tenant and subject in the authorizer context."""

    code = "unauthenticated"
    http_status = 401

    def __init__(self) -> None:
        super().__init__("the request carries no verified identity with a tenant")


class Forbidden(HrisSyncError):
    """The caller is authenticated but lacks the admin role this action needs."""

    code = "forbidden"
    http_status = 403

    def __init__(self) -> None:
        super().__init__("this action needs the admin role", required_role=ADMIN_ROLE)


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    subject: str  # the admin's id: recorded on audit entries, tasks and decisions
    is_admin: bool
    # The token's verified ``email`` claim, if it has a usable one.
    email: str | None = None

    def require_admin(self) -> Principal:
        if not self.is_admin:
            raise Forbidden
        return self


def _values(raw: Any) -> list[str]:
    """A claim that may hold several values: a JSON list, or a string (API Gateway flattens lists
    to ``"a,b"``, ``"[a b]"`` or space-separated scopes)."""
    if isinstance(raw, list | tuple):
        return [str(v) for v in raw]
    if not isinstance(raw, str):
        return []
    return [v for v in _LIST_SEPARATORS.split(raw.strip().strip("[]")) if v]


def _first(claims: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and _IDENTIFIER.match(value):
            return value
    return None


def claims_of(request_context: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The verified claims, whichever authorizer produced them (empty when there are none)."""
    authorizer = (request_context or {}).get("authorizer")
    if not isinstance(authorizer, Mapping):
        return {}
    claims = authorizer.get("claims")
    if isinstance(claims, Mapping):
        return claims
    return authorizer


def principal_from(request_context: Mapping[str, Any] | None) -> Principal:
    """The caller, or ``Unauthenticated``."""
    claims = claims_of(request_context)
    tenant_id = _first(claims, _TENANT_CLAIMS)
    subject = _first(claims, _SUBJECT_CLAIMS)
    if tenant_id is None or subject is None:
        raise Unauthenticated
    groups = {g for name in _GROUP_CLAIMS for g in _values(claims.get(name))}
    scopes = set(_values(claims.get("scope")))
    is_admin = ADMIN_GROUP in groups or ADMIN_SCOPE in scopes or claims.get("role") == ADMIN_ROLE
    return Principal(tenant_id=tenant_id, subject=subject, is_admin=is_admin, email=_email(claims))


def _email(claims: Mapping[str, Any]) -> str | None:
    """The ``email`` claim when it is an address and not marked unverified (API Gateway passes
    booleans as the strings ``"true"`` / ``"false"``)."""
    value = claims.get("email")
    if not isinstance(value, str) or len(value) > _MAX_EMAIL or not _EMAIL.match(value):
        return None
    if str(claims.get("email_verified", "true")).lower() == "false":
        return None
    return value
