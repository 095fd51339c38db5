"""Our exceptions: every failure a caller may handle has its own type (never match on message text).

Adapters turn AWS ``ClientError`` codes into these; services raise them for bad input and for
states that forbid an action; the admin API maps each ``code`` to one HTTP status and the one
error shape. Messages name keys and ids, never a credential.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - types only
    from shared.domain.records import SyncRun


class HrisSyncError(Exception):
    """Base of our own errors. ``code`` is stable (the API's ``error.code``); ``details`` is JSON-safe."""

    code = "error"
    # The HTTP status the admin API answers with (one place decides it for every error).
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details


# --- not found (404) ---------------------------------------------------------------------------


class NotFound(HrisSyncError):
    code = "not_found"
    http_status = 404
    resource = "resource"

    def __init__(self, resource_id: str, *, tenant_id: str | None = None) -> None:
        super().__init__(f"{self.resource} {resource_id!r} not found", id=resource_id)
        self.resource_id = resource_id
        # Kept for logs; not part of ``details`` (the caller knows its own tenant).
        self.tenant_id = tenant_id


class TenantNotFound(NotFound):
    code = "tenant_not_found"
    resource = "tenant"


class ConnectionNotFound(NotFound):
    code = "connection_not_found"
    resource = "connection"


class MemberNotFound(NotFound):
    code = "member_not_found"
    resource = "member"


class RunNotFound(NotFound):
    code = "run_not_found"
    resource = "run"


class TaskNotFound(NotFound):
    code = "task_not_found"
    resource = "task"


class BlobNotFound(NotFound):
    code = "blob_not_found"
    resource = "blob"


class SecretNotFound(NotFound):
    """No stored credentials for a connection (never carries a value)."""

    code = "secret_not_found"
    resource = "credentials of connection"


class ProviderNotFound(NotFound):
    code = "provider_not_found"
    resource = "provider"


# --- gone (410) -------------------------------------------------------------------------------


class Gone(HrisSyncError):
    """The resource existed and was retired on purpose: nothing about it is accepted any more."""

    code = "gone"
    http_status = 410


class ConnectionDisconnected(Gone):
    """R20: the connection was disconnected (its webhooks are refused at once, never queued)."""

    code = "connection_disconnected"

    def __init__(self, connection_id: str) -> None:
        super().__init__(f"connection {connection_id!r} is disconnected", id=connection_id)
        self.connection_id = connection_id


class PortalLinkExpired(Gone):
    """A portal link opened after its few minutes (it can never be opened again)."""

    code = "portal_link_expired"

    def __init__(self) -> None:
        super().__init__("this portal link has expired: ask for a new one")


class PortalLinkUsed(Gone):
    """A portal link opened a second time (single use), or one that was never issued."""

    code = "portal_link_used"

    def __init__(self) -> None:
        super().__init__("this portal link has already been used: ask for a new one")


# --- portal sessions (401 / 403) ---------------------------------------------------------------


class PortalSessionInvalid(HrisSyncError):
    """No portal session cookie, or one that names no live session (expired, ended or forged)."""

    code = "portal_session_invalid"
    http_status = 401

    def __init__(self) -> None:
        super().__init__("the portal session has expired or is not valid: open a new portal link")


class CsrfRejected(HrisSyncError):
    """A state-changing portal call without the session's CSRF token (or from another site)."""

    code = "csrf_rejected"
    http_status = 403

    def __init__(self) -> None:
        super().__init__("the request did not carry this portal session's CSRF token")


# --- conflicts (409) ---------------------------------------------------------------------------


class Conflict(HrisSyncError):
    code = "conflict"
    http_status = 409


class VersionConflict(Conflict):
    """A conditional write found another version than the one it expected (optimistic locking)."""

    code = "version_conflict"

    def __init__(self, resource: str, resource_id: str, expected: int | None) -> None:
        super().__init__(
            f"{resource} {resource_id!r} changed since it was read (expected version {expected})",
            resource=resource,
            id=resource_id,
            expected_version=expected,
        )
        self.resource = resource
        self.resource_id = resource_id
        self.expected = expected


class AlreadyExists(Conflict):
    code = "already_exists"

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"{resource} {resource_id!r} already exists", resource=resource, id=resource_id)
        self.resource = resource
        self.resource_id = resource_id


class EmailTaken(Conflict):
    """Another member of the tenant already has this email (compared case-insensitively)."""

    code = "email_taken"

    def __init__(self, email_key: str, member_id: str | None = None) -> None:
        super().__init__(f"email {email_key!r} is taken by another member", email=email_key)
        self.email_key = email_key
        # The member that holds the email, when the store knows it.
        self.member_id = member_id


class MemberConflict(Conflict):
    """R34: an app user's external id and email belong to two different members (or the email's
    member has another external id): which one is meant is the app's call, so nothing is written."""

    code = "member_conflict"

    def __init__(self, message: str, *, member_ids: list[str], reason: str) -> None:
        super().__init__(message, member_ids=member_ids, reason=reason)
        self.member_ids = member_ids
        self.reason = reason


class LockHeld(Conflict):
    """A full sync holds the connection's lock (R29): try again after ``expires_at`` at the latest."""

    code = "sync_running"

    def __init__(self, connection_id: str, holder: str, expires_at: datetime) -> None:
        super().__init__(
            f"connection {connection_id!r} is being synced by {holder!r}",
            connection_id=connection_id,
            holder=holder,
            expires_at=expires_at.isoformat(),
        )
        self.connection_id = connection_id
        self.holder = holder
        self.expires_at = expires_at


class LockLost(Conflict):
    """A lease expired and someone else took the lock: the holder must stop writing."""

    code = "lock_lost"

    def __init__(self, connection_id: str, holder: str) -> None:
        super().__init__(f"run {holder!r} lost the lock of connection {connection_id!r}", holder=holder)
        self.connection_id = connection_id
        self.holder = holder


class ConnectionLimitReached(Conflict):
    """R22: the tenant already has its maximum number of active connections."""

    code = "connection_limit_reached"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the tenant already has its maximum of {limit} active connection(s)", limit=limit)
        self.limit = limit


class InvalidState(Conflict):
    """The action does not apply to the resource's current state (approve an active member ...)."""

    code = "invalid_state"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, **details)


class ConnectionNotActive(InvalidState):
    """R32: the connection is a draft: nothing syncs, links or is confirmed until it is activated."""

    code = "connection_not_active"

    def __init__(self, connection_id: str, action: str) -> None:
        super().__init__(
            f"connection {connection_id!r} is a draft: activate it before you {action} "
            f"(POST /v1/connections/{connection_id}/activate)",
            connection_id=connection_id,
            status="draft",
        )
        self.connection_id = connection_id


class DraftLimitReached(Conflict):
    """R32: the tenant already has its maximum of draft connections (activate or delete one)."""

    code = "draft_limit_reached"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the tenant already has {limit} draft connection(s): activate or disconnect one first",
            limit=limit,
        )
        self.limit = limit


# --- bad input (400 / 422) ---------------------------------------------------------------------


class InvalidInput(HrisSyncError):
    code = "invalid_input"
    http_status = 422

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        if field is not None:
            details["field"] = field
        super().__init__(message, **details)
        self.field = field


class EmptyScope(InvalidInput):
    """R33: a ``companies``, ``groups`` or ``people`` scope that selects nothing."""

    code = "empty_scope"

    def __init__(self, mode: str) -> None:
        super().__init__(f"a {mode!r} scope must select at least one of its {mode}", field=f"scope.{mode}")


class UnknownScopeIds(InvalidInput):
    """R33: scope values that the connection's directory does not list (named in ``values``)."""

    code = "unknown_scope_ids"

    def __init__(self, mode: str, values: list[str]) -> None:
        shown = ", ".join(repr(v[:100]) for v in values[:20]) + (" ..." if len(values) > 20 else "")
        super().__init__(
            f"the HR system's directory lists no {mode} {shown}",
            field=f"scope.{mode}",
            values=[v[:200] for v in values[:100]],
        )


class KeyTooLong(InvalidInput):
    """A value too long to be part of a DynamoDB key (2,048 bytes for a partition key, 1,024 for a
    sort key): no item can have it, so a read finds nothing and a write is refused (R25)."""

    code = "value_too_long"

    def __init__(self, field: str, *, size: int, limit: int) -> None:
        super().__init__(
            f"{field} is too long to be stored: its key would be {size:,} bytes (at most {limit:,})",
            field=field,
            size=size,
            limit=limit,
        )
        self.size = size
        self.limit = limit


class CredentialsMismatch(InvalidInput):
    """A credentials body that does not fit the provider's catalogue entry: every missing,
    misplaced (a secret under ``settings``, a setting under ``secrets``) and unknown field, by
    name (never a value)."""

    code = "invalid_credentials"

    def __init__(
        self,
        provider: str,
        summary: str,
        *,
        method: str,
        missing: list[str],
        misplaced: list[dict[str, str]],
        unknown: list[str],
    ) -> None:
        super().__init__(
            f"the credentials do not fit {provider}'s {method} connection: {summary}",
            field="credentials",
            provider=provider,
            method=method,
            missing=missing,
            misplaced=misplaced,
            unknown=unknown,
        )
        self.provider = provider


class CredentialsRejected(InvalidInput):
    """R32: the HR system refused the credentials a connection is being made with (a 4xx: the
    admin fixes what they entered). The message says what the HR system said, never a secret."""

    code = "credentials_rejected"

    def __init__(self, provider: str, vendor_message: str | None) -> None:
        said = f": {vendor_message}" if vendor_message else " (it gave no reason)"
        super().__init__(
            f"{provider} refused the credentials{said}",
            field="credentials",
            provider=provider,
            hr_system_message=vendor_message,
        )
        self.provider = provider
        self.vendor_message = vendor_message


# --- infrastructure --------------------------------------------------------------------------


class Throttled(HrisSyncError):
    """AWS kept throttling after the adapter's bounded retries: safe to retry later (503/429)."""

    code = "throttled"
    http_status = 503

    def __init__(self, operation: str) -> None:
        super().__init__(f"{operation} was throttled; retry later", operation=operation)
        self.operation = operation


class CorruptItem(HrisSyncError):
    """A stored item cannot be read back as its model: named by its key, never defaulted silently."""

    code = "corrupt_item"

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"stored item {key} is corrupt: {reason}", key=key)
        self.key = key
        self.reason = reason


class WorkflowNotStarted(HrisSyncError):
    """Step Functions did not start a run's execution: the run is closed (failed, with the reason)
    and the connection's lock is free again, so asking again is safe (503: retry later)."""

    code = "workflow_not_started"
    http_status = 503

    def __init__(self, run_id: str, reason: str, *, run: SyncRun) -> None:
        super().__init__(f"{reason}; run {run_id!r} is closed", run_id=run_id)
        self.run_id = run_id
        self.reason = reason
        # The closed run, for callers that answer with it instead of the error.
        self.run = run


# --- email (SES) -------------------------------------------------------------------------------


class EmailNotSent(HrisSyncError):
    """SES did not take an email. A sync never fails for it (the run records a warning and
    ``EmailsNotSent`` counts it); an admin's own action answers with it (502), after its change."""

    code = "email_not_sent"
    http_status = 502
    # True when every later email would get the same answer now (throttled, sending paused).
    stops_sending = False

    def __init__(self, template: str, aws_code: str) -> None:
        super().__init__(
            f"the {template} email was not sent: SES answered {aws_code}",
            template=template,
            aws_code=aws_code,
        )
        self.template = template
        self.aws_code = aws_code


class EmailRejected(EmailNotSent):
    """SES refused this message (sandbox: an unverified recipient or sender; a bad address)."""

    code = "email_rejected"


class EmailThrottled(EmailNotSent):
    """SES kept throttling after the client's retries (sending rate or daily quota)."""

    code = "email_throttled"
    http_status = 503
    stops_sending = True


class EmailSendingPaused(EmailNotSent):
    """The account or configuration set cannot send now (paused, suspended, sender not set up)."""

    code = "email_sending_paused"
    stops_sending = True


class ProviderFailure(HrisSyncError):
    """The HR system could not be reached or refused us (wraps a provider error for the API: 502)."""

    code = "provider_failure"
    http_status = 502


class ProviderCredentialsRejected(ProviderFailure):
    """The HR system refused the connection's credentials (wrong, expired, revoked)."""

    code = "provider_credentials_rejected"
