"""Connections: draft (R32), activate, connect, edit (R19), disconnect (R20), status, directory,
preview and match (R05).

A connection starts as a **draft** (``create_draft``): its credentials are checked with one call to
the HR system and stored, and it has a directory, a preview and settings, but no schedule, no run
and no email; nothing is created, invited or deactivated. ``activate`` takes a slot (R22, checked
atomically with the write), schedules it (R28) and starts the first import, the first complete
sync of which claims the tenant's HRIS-managed members (R21). ``connect`` is both in one call.
A draft stays until it is activated or disconnected (DELETE), at most ``max_drafts`` per tenant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from shared.domain.models import (
    Actor,
    Connection,
    ConnectionStatus,
    Employee,
    LinkMember,
    Member,
    Plan,
    Scope,
    ScopeLabel,
    ScopeMode,
    Snapshot,
)
from shared.domain.reconciler import scope_counts
from shared.domain.records import RunTrigger, SyncRun
from shared.errors import (
    ConnectionNotActive,
    CredentialsMismatch,
    CredentialsRejected,
    DraftLimitReached,
    EmptyScope,
    HrisSyncError,
    InvalidInput,
    InvalidState,
    LockHeld,
    ProviderCredentialsRejected,
    ProviderFailure,
    ProviderNotFound,
    UnknownScopeIds,
    VersionConflict,
    WorkflowNotStarted,
)
from shared.providers.base import (
    Credentials,
    Directory,
    DirectoryEntry,
    EventQueue,
    Provider,
    ProviderAuthError,
    ProviderError,
    ProviderSettingsError,
)
from shared.providers.catalogue import credential_problems
from shared.schedule_expressions import next_fire, validate_schedule_expression, validate_timezone
from shared.services import subscriptions
from shared.services.context import (
    WithAudit,
    WithClock,
    WithConnections,
    WithEvents,
    WithIds,
    WithLock,
    WithMailer,
    WithMembers,
    WithPollSchedules,
    WithProviders,
    WithRuns,
    WithScheduler,
    WithSecrets,
    WithSettings,
    WithTasks,
    WithTokenLock,
    WithWorkflow,
)
from shared.services.full_sync import request_sync
from shared.services.member_writes import MemberGroup, Origin, apply_groups
from shared.services.planning import make_plan
from shared.services.tokens import provider_for


class ConnectPorts(
    WithConnections,
    WithRuns,
    WithLock,
    WithSecrets,
    WithScheduler,
    WithPollSchedules,
    WithWorkflow,
    WithEvents,
    WithClock,
    WithIds,
    WithProviders,
    WithSettings,
    WithTokenLock,
    Protocol,
):
    """A connection created or edited: its credentials, its schedule (R28) and, where its vendor
    keeps an event queue, its poll schedule, its first or scope sync; a new scope is checked against
    the HR system's directory (R33)."""


class DraftPorts(WithConnections, WithSecrets, WithClock, WithIds, WithProviders, WithSettings, Protocol):
    """A draft created (R32): its credentials checked with the HR system and stored."""


class StatusPorts(WithRuns, WithProviders, WithClock, WithSettings, Protocol):
    """A connection's status: its last run, its next scheduled one, its effective schedule (R28)."""


class DisconnectPorts(
    WithConnections, WithSecrets, WithScheduler, WithPollSchedules, WithClock, WithProviders, Protocol
):
    """A connection disconnected: its vendor subscription removed, its schedules (sync and event
    poll) and credentials deleted (R20)."""


class DirectoryPorts(
    WithConnections, WithTokenLock, WithSecrets, WithClock, WithIds, WithProviders, WithSettings, Protocol
):
    """A connection's HR system read now."""


class PreviewPorts(
    WithConnections,
    WithMembers,
    WithTokenLock,
    WithSecrets,
    WithClock,
    WithIds,
    WithProviders,
    WithSettings,
    Protocol,
):
    """A plan made now, from the HR system and the members."""


class MatchPorts(
    WithConnections,
    WithMembers,
    WithTasks,
    WithAudit,
    WithTokenLock,
    WithSecrets,
    WithMailer,
    WithEvents,
    WithClock,
    WithIds,
    WithProviders,
    WithSettings,
    Protocol,
):
    """A plan made now and applied (or only counted, in a dry run)."""


class SchedulePorts(WithScheduler, WithSettings, Protocol):
    """A connection's schedule (R28)."""


# How often a connection's vendor event queue is drained (its poller's own window then long-polls
# within each minute: ``shared.settings.EventPollerSettings``).
EVENT_POLL_SCHEDULE = "rate(1 minute)"

# What an admin may set on a connection (everything else is the service's bookkeeping).
EDITABLE_FIELDS = frozenset(Connection.model_fields) - {
    "connection_id",
    "tenant_id",
    "provider",
    "status",
    "first_complete_sync_at",
    "created_at",
    "updated_at",
    "version",
    "connected_by",
    "connected_by_email",
    "activated_at",
}


def _provider(ports: WithProviders, name: str) -> Provider:
    try:
        return ports.providers(name)
    except ProviderNotFound as exc:
        raise InvalidInput(f"unknown provider {name[:64]!r}", field="provider") from exc


def _with_options(base: Connection, options: Mapping[str, Any]) -> Connection:
    unknown = sorted(set(options) - EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown or read-only setting(s): {', '.join(unknown)}", field=unknown[0])
    try:
        connection = Connection.model_validate({**base.model_dump(), **options})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"invalid {where}: {first['msg']}", field=where) from exc
    validate_timezone(connection.timezone)
    validate_timezone(connection.schedule.timezone)
    if connection.schedule.expression is not None:
        validate_schedule_expression(connection.schedule.expression)
    for email in connection.admin_emails:
        _check_email(email, "admin_emails")
    return connection


def _check_email(email: str, field: str) -> str:
    if "@" not in email or any(c.isspace() for c in email) or len(email) > 254:
        raise InvalidInput(f"invalid email {email[:64]!r}", field=field)
    return email


def check_options(provider: str, label: str, options: Mapping[str, Any]) -> None:
    """Refuse (``InvalidInput``) settings that connecting with them would refuse, before anything
    is stored (an OAuth connect checks them before the admin leaves for the vendor)."""
    base = Connection(connection_id="unsaved", tenant_id="unsaved", provider=provider, label="-")
    require_selection(_with_options(base, {"label": label.strip(), **options}).scope)  # R33


def _schedule_expression(ports: WithSettings, connection: Connection, provider: Provider) -> str:
    """R28: the connection's own expression, else the provider tier's default."""
    if connection.schedule.expression:
        return validate_schedule_expression(connection.schedule.expression)
    return ports.settings.schedule_for(provider.tier)


def _upsert_schedule(ports: SchedulePorts, connection: Connection, provider: Provider) -> None:
    ports.scheduler.upsert(
        connection.tenant_id,
        connection.connection_id,
        expression=_schedule_expression(ports, connection, provider),
        timezone=connection.schedule.timezone,
        payload={
            "tenant_id": connection.tenant_id,
            "connection_id": connection.connection_id,
            "trigger": RunTrigger.SCHEDULE.value,
            "phase": "fetch",
        },
    )


def _upsert_poll_schedule(ports: WithPollSchedules, connection: Connection, provider: Provider) -> None:
    """Near-real-time for a vendor that keeps an event queue we pull (ADP): the connection's event
    poller runs every minute (``shared.services.event_queue``). Any other connector gets none."""
    if not isinstance(provider, EventQueue):
        return
    ports.poll_schedules.upsert(
        connection.tenant_id,
        connection.connection_id,
        expression=EVENT_POLL_SCHEDULE,
        timezone="UTC",
        payload={"tenant_id": connection.tenant_id, "connection_id": connection.connection_id},
    )


def get_connection(ports: WithConnections, tenant_id: str, connection_id: str) -> Connection:
    return ports.connections.get(tenant_id, connection_id)


def list_connections(ports: WithConnections, tenant_id: str) -> list[Connection]:
    return ports.connections.list_for_tenant(tenant_id)


@dataclass(frozen=True, slots=True)
class ConnectionStatusView:
    """What an admin sees of a connection's state besides its settings."""

    connection: Connection
    # The newest run of any trigger (None: none yet, as for a draft).
    last_run: SyncRun | None
    # When the schedule next fires (None for a draft, a disconnected connection, or never).
    next_run_at: datetime | None
    # The expression it runs on (or will, once activated): its own, else the provider default
    # (R28); None once disconnected.
    effective_schedule: str | None


def status_of(ports: StatusPorts, connection: Connection) -> ConnectionStatusView:
    """The connection with its last run (one query of one item), next run and effective schedule."""
    latest = ports.runs.list_for_connection(connection.tenant_id, connection.connection_id, limit=1).items
    last_run = latest[0] if latest else None
    if connection.status is ConnectionStatus.DISCONNECTED:
        return ConnectionStatusView(connection, last_run, next_run_at=None, effective_schedule=None)
    try:
        expression = _schedule_expression(ports, connection, ports.providers(connection.provider))
    except (ProviderNotFound, InvalidInput):
        # A provider no longer offered, or an expression stored before today's validation: the
        # status shows what is stored, and no next run it cannot compute.
        return ConnectionStatusView(connection, last_run, None, connection.schedule.expression)
    next_run_at = None
    if connection.status is not ConnectionStatus.DRAFT:
        start = connection.activated_at or connection.created_at
        try:
            next_run_at = next_fire(
                expression, connection.schedule.timezone, ports.clock.now(), created=start
            )
        except ValueError:
            next_run_at = None
    return ConnectionStatusView(connection, last_run, next_run_at, expression)


# ---------------------------------------------------------------------------------------------
# Scope by directory id (R33)
# ---------------------------------------------------------------------------------------------

_SELECTING = (ScopeMode.COMPANIES, ScopeMode.GROUPS, ScopeMode.PEOPLE)


def require_selection(scope: Scope) -> None:
    """R33: a ``companies``, ``groups`` or ``people`` scope selects something (``EmptyScope``)."""
    if scope.mode in _SELECTING and not scope.selection:
        raise EmptyScope(scope.mode.value)


def read_directory(provider: Provider, credentials: Credentials) -> Directory:
    """The HR system's directory now; a refusal or an outage is a typed 502, never an empty list."""
    try:
        return provider.directory(credentials)
    except ProviderAuthError as exc:
        raise ProviderCredentialsRejected("the HR system refused the connection's credentials") from exc
    except ProviderError as exc:
        raise ProviderFailure(f"the HR system did not answer: {type(exc).__name__}") from exc


def scope_in_directory(scope: Scope, found: Directory) -> Scope:
    """R33: ``scope`` with every selected value a directory id, and the labels of the companies and
    groups chosen; ``UnknownScopeIds`` naming every value the directory does not list.

    A company or group *name* (as scopes held before R33) is taken as the ids of every entry so
    named: the same people as the name matched, saved the new way."""
    mode = scope.mode
    if mode not in _SELECTING:
        return scope
    listed: Sequence[DirectoryEntry] = {
        ScopeMode.COMPANIES: found.companies,
        ScopeMode.GROUPS: found.groups,
        ScopeMode.PEOPLE: found.people,
    }[mode]
    by_id = {entry.id: entry for entry in listed}
    by_name: dict[str, list[str]] = {}
    if mode is not ScopeMode.PEOPLE:
        for entry in listed:
            by_name.setdefault(entry.name, []).append(entry.id)
    ids: dict[str, None] = {}
    unknown: list[str] = []
    for value in scope.selection:
        if value in by_id:
            ids[value] = None
        elif value in by_name:
            ids.update(dict.fromkeys(by_name[value]))
        else:
            unknown.append(value)
    if unknown:
        raise UnknownScopeIds(mode.value, unknown)
    labels = (
        {}
        if mode is ScopeMode.PEOPLE
        else {i: ScopeLabel(name=by_id[i].name, kind=by_id[i].kind) for i in ids}
    )
    return scope.model_copy(update={mode.value: tuple(ids), "labels": labels})


def _checked_scope(
    connection: Connection, provider: Provider, credentials: Credentials
) -> tuple[Connection, Credentials | None]:
    """The connection with its scope checked against the directory (one read, only for a scope
    that selects by id), and the credentials a token refresh during the read left to store."""
    require_selection(connection.scope)
    if connection.scope.mode not in _SELECTING:
        return connection, None
    found = read_directory(provider, credentials)
    scope = scope_in_directory(connection.scope, found)
    return connection.model_copy(update={"scope": scope}), found.refreshed_credentials


# ---------------------------------------------------------------------------------------------
# Connect
def require_fitting_credentials(provider: Provider, credentials: Credentials) -> None:
    """Refuse (422) credentials that do not fit the provider's catalogue entry, naming every
    missing, misplaced and unknown field: nothing is stored or sent to the HR system before."""
    problems = credential_problems(provider.info, credentials)
    if problems:
        raise CredentialsMismatch(
            provider.info.id,
            problems.summary(),
            method=problems.method.value,
            missing=list(problems.missing),
            misplaced=[
                {"field": m.name, "given_in": m.given_in, "belongs_in": m.belongs_in}
                for m in problems.misplaced
            ],
            unknown=list(problems.unknown),
        )


def check_credentials(ports: WithProviders, provider_name: str, credentials: Credentials) -> None:
    """R32: one light call to the HR system with these credentials before a connection is made.

    A refusal is ``CredentialsRejected`` (422, with what the HR system said), an unusable company
    domain or host ``InvalidInput``, an HR system that does not answer ``ProviderFailure`` (502)."""
    connector = _provider(ports, provider_name)
    try:
        connector.check_credentials(credentials)
    except ProviderAuthError as exc:
        raise CredentialsRejected(connector.info.name, exc.vendor_message) from exc
    except ProviderSettingsError as exc:
        raise InvalidInput(str(exc), field="credentials") from exc
    except ProviderError as exc:
        raise ProviderFailure(f"the HR system did not answer: {type(exc).__name__}") from exc
    finally:
        close = getattr(connector, "close", None)
        if callable(close):
            close()


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectResult:
    connection: Connection
    run: SyncRun


def _new_connection(
    ports: DraftPorts,
    tenant_id: str,
    *,
    provider: str,
    label: str,
    credentials: Credentials,
    options: Mapping[str, Any] | None,
    connected_by: str | None,
    connected_by_email: str | None,
    status: ConnectionStatus,
) -> tuple[Connection, Provider]:
    """The connection to store (validated, not stored) and its connector."""
    connector = _provider(ports, provider)
    if not credentials.secrets and not credentials.settings:
        raise InvalidInput("credentials are required", field="credentials")
    require_fitting_credentials(connector, credentials)
    if connected_by_email is not None:
        _check_email(connected_by_email, "connected_by_email")
    now = ports.clock.now()
    base = Connection(
        connection_id=ports.ids.new_id("conn"),
        tenant_id=tenant_id,
        provider=provider,
        label=label.strip() or "-",
        status=status,
        connected_by=connected_by,
        connected_by_email=connected_by_email,
        activated_at=None if status is ConnectionStatus.DRAFT else now,
        created_at=now,
        updated_at=now,
        version=1,
    )
    connection = _with_options(base, {"label": label.strip(), **(options or {})})
    _schedule_expression(ports, connection, connector)
    require_selection(connection.scope)  # R33: before anything is sent to the HR system
    return connection, connector


def _store_new(ports: DraftPorts, connection: Connection, credentials: Credentials) -> Connection:
    """Store the secret, then the connection (R22 checked atomically); nothing is left behind
    when the connection cannot be stored."""
    tenant_id, connection_id = connection.tenant_id, connection.connection_id
    ports.secrets.put(tenant_id, connection_id, credentials)
    try:
        ports.connections.create(connection, max_active=ports.settings.max_connections)
    except BaseException:
        ports.secrets.delete(tenant_id, connection_id)
        raise
    return ports.connections.get(tenant_id, connection_id)


def create_draft(
    ports: DraftPorts,
    tenant_id: str,
    *,
    provider: str,
    label: str,
    credentials: Credentials,
    options: Mapping[str, Any] | None = None,
    connected_by: str | None = None,
    connected_by_email: str | None = None,
    check: bool = True,
) -> Connection:
    """R32: a draft connection: settings validated, credentials checked with one call to the HR
    system (``check``; the OAuth callback has just exchanged them itself) and stored. No schedule,
    no run, no email; not counted against ``max_connections`` (R22) until it is activated."""
    connection, connector = _new_connection(
        ports,
        tenant_id,
        provider=provider,
        label=label,
        credentials=credentials,
        options=options,
        connected_by=connected_by,
        connected_by_email=connected_by_email,
        status=ConnectionStatus.DRAFT,
    )
    drafts = sum(
        1 for c in ports.connections.list_for_tenant(tenant_id) if c.status is ConnectionStatus.DRAFT
    )
    if drafts >= ports.settings.max_drafts:
        raise DraftLimitReached(ports.settings.max_drafts)
    if check:
        check_credentials(ports, provider, credentials)
    connection, refreshed = _checked_scope(connection, connector, credentials)
    return _store_new(ports, connection, refreshed or credentials)


def activate(
    ports: ConnectPorts,
    tenant_id: str,
    connection_id: str,
    *,
    expected_version: int | None = None,
    notification_base_url: str | None = None,
) -> ConnectResult:
    """R32: the draft becomes active: it takes a slot (R22, refused atomically past the limit),
    is scheduled (R28) and its first import starts; that import's first complete sync claims the
    tenant's HRIS-managed members (R21).

    ``expected_version`` refuses (409) to activate a draft changed since the admin read it.
    Activating an active connection again changes nothing and answers with its latest run (a
    retried request gets the answer of the first); should a crash have left an active connection
    without any run, that answer starts its first import.

    ``notification_base_url``: the API's public URL as this request reached it, under which the
    vendor's change notifications arrive (``subscriptions.ensure``).
    """
    current = ports.connections.get(tenant_id, connection_id)
    if current.status is ConnectionStatus.DISCONNECTED:
        raise InvalidState("a disconnected connection cannot be activated", connection_id=connection_id)
    connector = _provider(ports, current.provider)
    if current.status is ConnectionStatus.DRAFT:
        if expected_version is not None and expected_version != current.version:
            raise VersionConflict("connection", connection_id, expected_version)
        now = ports.clock.now()
        active = current.model_copy(
            update={
                "status": ConnectionStatus.ACTIVE,
                "activated_at": now,
                "version": current.version + 1,
                "updated_at": now,
            }
        )
        try:
            ports.connections.save(
                active, expected_version=current.version, max_active=ports.settings.max_connections
            )
        except VersionConflict:
            # Changed meanwhile: by another activation (then answer as it did), or an edit.
            again = ports.connections.get(tenant_id, connection_id)
            if again.status is ConnectionStatus.DRAFT or expected_version is not None:
                raise
            return _already_active(ports, again, connector, notification_base_url)
        return _first_import(ports, active, connector, notification_base_url)
    return _already_active(ports, current, connector, notification_base_url)


def _already_active(
    ports: ConnectPorts, connection: Connection, connector: Provider, notification_base_url: str | None
) -> ConnectResult:
    latest = ports.runs.list_for_connection(connection.tenant_id, connection.connection_id, limit=1).items
    if latest:
        # A retried activation also makes a subscription a failed attempt left missing.
        connection = subscriptions.ensure(ports, connection, base_url=notification_base_url)
        return ConnectResult(connection=connection, run=latest[0])
    return _first_import(ports, connection, connector, notification_base_url)


def _first_import(
    ports: ConnectPorts, connection: Connection, connector: Provider, notification_base_url: str | None
) -> ConnectResult:
    """Schedule the active connection (R28) and its event poll where its vendor keeps an event
    queue, subscribe to its changes where the vendor needs a subscription (a vendor failure leaves
    that to the scheduled sweep) and start its first import."""
    _upsert_schedule(ports, connection, connector)
    _upsert_poll_schedule(ports, connection, connector)
    connection = subscriptions.ensure(ports, connection, base_url=notification_base_url)
    try:
        run = request_sync(ports, connection.tenant_id, connection.connection_id, RunTrigger.FIRST_IMPORT)
    except LockHeld as held:
        # A concurrent activation started it a moment ago: that run is the answer.
        return ConnectResult(connection=connection, run=ports.runs.get(connection.tenant_id, held.holder))
    except WorkflowNotStarted as not_started:
        # The connection stands (its schedule will sync it); the answer shows the closed run
        # with its reason, so nobody connects twice.
        return ConnectResult(connection=connection, run=not_started.run)
    return ConnectResult(connection=connection, run=run)


def connect(
    ports: ConnectPorts,
    tenant_id: str,
    *,
    provider: str,
    label: str,
    credentials: Credentials,
    options: Mapping[str, Any] | None = None,
    connected_by: str | None = None,
    connected_by_email: str | None = None,
    check: bool = True,
    notification_base_url: str | None = None,
) -> ConnectResult:
    """A draft and its activation in one call: validate, check and store the credentials, create
    the connection as active (R22, in the same write: a refused connect leaves nothing behind,
    no draft either), schedule it (R28) and start the first import."""
    connection, connector = _new_connection(
        ports,
        tenant_id,
        provider=provider,
        label=label,
        credentials=credentials,
        options=options,
        connected_by=connected_by,
        connected_by_email=connected_by_email,
        status=ConnectionStatus.ACTIVE,
    )
    if check:
        check_credentials(ports, provider, credentials)
    connection, refreshed = _checked_scope(connection, connector, credentials)
    stored = _store_new(ports, connection, refreshed or credentials)
    return _first_import(ports, stored, connector, notification_base_url)


# ---------------------------------------------------------------------------------------------
# Edit (R19) and disconnect (R20)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EditResult:
    connection: Connection
    # The sync a scope change started (R19) ...
    run: SyncRun | None = None
    # ... or the run already in progress, after which the new scope applies.
    running_run_id: str | None = None


# How often an edit is re-applied after the service itself changed the connection meanwhile.
_EDIT_ATTEMPTS = 3


def edit_connection(
    ports: ConnectPorts,
    tenant_id: str,
    connection_id: str,
    options: Mapping[str, Any],
    *,
    credentials: Credentials | None = None,
    expected_version: int | None = None,
    notification_base_url: str | None = None,
) -> EditResult:
    """Edit scope and quick settings; a new scope syncs at once (R19), except on a draft (R32:
    nothing syncs before its activation, which applies the scope then).

    With ``expected_version`` the caller asked for optimistic concurrency: a stale version is a
    conflict. Without it, a concurrent change by the service itself (a sync recording its first
    complete run, R21) is not the admin's concern: the edit is re-applied on the fresh connection.
    ``notification_base_url`` as for ``activate``: an active connection without its vendor
    subscription gets one (new credentials: a new one).
    """
    # R33: the scope asked for, and what the directory made of it (read once, not per attempt).
    checked: tuple[Scope, Scope] | None = None
    for attempt in range(_EDIT_ATTEMPTS):
        current = ports.connections.get(tenant_id, connection_id)
        if current.status is ConnectionStatus.DISCONNECTED:
            raise InvalidState("a disconnected connection cannot be edited", connection_id=connection_id)
        if expected_version is not None and expected_version != current.version:
            raise VersionConflict("connection", connection_id, expected_version)
        edited = _with_options(current, options)
        connector = _provider(ports, current.provider)
        edited, checked = _with_checked_scope(
            ports, current, edited, connector, credentials=credentials, checked=checked
        )
        if credentials is not None:
            require_fitting_credentials(connector, credentials)
            ports.secrets.put(tenant_id, connection_id, credentials)
        if edited == current:
            return EditResult(connection=_resubscribed(ports, current, credentials, notification_base_url))
        saved = edited.model_copy(update={"version": current.version + 1, "updated_at": ports.clock.now()})
        try:
            ports.connections.save(saved, expected_version=current.version)
        except VersionConflict:
            if expected_version is not None or attempt == _EDIT_ATTEMPTS - 1:
                raise
            continue
        break
    saved = _resubscribed(ports, saved, credentials, notification_base_url)
    if saved.status is ConnectionStatus.DRAFT:
        # R32: a draft has no schedule and never syncs; its scope applies from its activation.
        return EditResult(connection=saved)
    if saved.schedule != current.schedule:
        _upsert_schedule(ports, saved, connector)
    if saved.scope == current.scope:
        return EditResult(connection=saved)
    try:
        run = request_sync(ports, tenant_id, connection_id, RunTrigger.SCOPE_CHANGE)
    except LockHeld as held:
        return EditResult(connection=saved, running_run_id=held.holder)
    except WorkflowNotStarted as not_started:
        # The edit is saved; the run it started is closed with the reason (sync again later).
        return EditResult(connection=saved, run=not_started.run)
    return EditResult(connection=saved, run=run)


def _resubscribed(
    ports: ConnectPorts, connection: Connection, credentials: Credentials | None, base_url: str | None
) -> Connection:
    """The vendor subscription made if missing; with new credentials made again with them (its
    secret went with the old)."""
    return subscriptions.ensure(ports, connection, replace=credentials is not None, base_url=base_url)


def _with_checked_scope(
    ports: ConnectPorts,
    current: Connection,
    edited: Connection,
    connector: Provider,
    *,
    credentials: Credentials | None,
    checked: tuple[Scope, Scope] | None,
) -> tuple[Connection, tuple[Scope, Scope] | None]:
    """``edited`` with its scope checked (R33) when it changed, and the (asked, checked) pair that
    spares a second directory read when the edit is re-applied."""
    if edited.scope.model_copy(update={"labels": current.scope.labels}) == current.scope:
        return edited.model_copy(update={"scope": current.scope}), checked
    if checked is None or checked[0] != edited.scope:
        checked = (edited.scope, _new_scope(ports, current, edited, connector, credentials))
    return edited.model_copy(update={"scope": checked[1]}), checked


def _new_scope(
    ports: ConnectPorts,
    current: Connection,
    edited: Connection,
    connector: Provider,
    credentials: Credentials | None,
) -> Scope:
    """R33: an edited scope checked against the directory, read with the credentials the edit
    brings or else the stored ones (a refreshed token is then saved as it is refreshed)."""
    if credentials is None and edited.scope.mode in _SELECTING:
        connector = provider_for(ports, current)
        credentials = ports.secrets.get(current.tenant_id, current.connection_id)
    checked, _ = _checked_scope(edited, connector, credentials or Credentials())
    return checked.scope


def disconnect(ports: DisconnectPorts, tenant_id: str, connection_id: str) -> Connection:
    """R20: remove the schedules and the credentials (webhooks are refused from now on, their
    signing secret being part of the credentials); no member changes, links are kept.

    The event poll schedule is deleted whatever the connector (a delete of none is nothing): a
    connector no longer registered, or one that stopped being an ``EventQueue``, leaves none behind."""
    current = ports.connections.get(tenant_id, connection_id)
    ports.scheduler.delete(tenant_id, connection_id)
    ports.poll_schedules.delete(tenant_id, connection_id)
    if current.subscription is not None:
        try:
            held = ports.secrets.get(tenant_id, connection_id)
        except HrisSyncError:
            held = None
        subscriptions.remove(ports, current, held)
    ports.secrets.delete(tenant_id, connection_id)
    if current.status is ConnectionStatus.DISCONNECTED:
        return current
    gone = current.model_copy(
        update={
            "status": ConnectionStatus.DISCONNECTED,
            "subscription": None,
            "version": current.version + 1,
            "updated_at": ports.clock.now(),
        }
    )
    ports.connections.save(gone, expected_version=current.version)
    return gone


# ---------------------------------------------------------------------------------------------
# Reading the HR system: directory, preview, match
# ---------------------------------------------------------------------------------------------


def _readable(ports: WithConnections, tenant_id: str, connection_id: str) -> Connection:
    """A connection whose HR system may be read now: active, failing, or a draft (R32)."""
    connection = ports.connections.get(tenant_id, connection_id)
    if connection.status is ConnectionStatus.DISCONNECTED:
        raise InvalidState("the connection is disconnected", connection_id=connection_id)
    return connection


def directory(ports: DirectoryPorts, tenant_id: str, connection_id: str) -> Directory:
    """The HR system's companies, groups and people, for picking a scope (R01)."""
    connection = _readable(ports, tenant_id, connection_id)
    provider = provider_for(ports, connection)  # a refreshed token is saved as it is refreshed
    return read_directory(provider, ports.secrets.get(tenant_id, connection_id))


def fetch_snapshot(ports: WithSettings, provider: Provider, credentials: Credentials) -> Snapshot:
    """Every page at once (preview and match); a failure makes the snapshot incomplete (R09)."""
    employees: list[Employee] = []
    cursor: str | None = None
    for page in range(ports.settings.max_pages):
        try:
            result = provider.list_employees(credentials, cursor)
        except ProviderAuthError as exc:
            raise ProviderCredentialsRejected("the HR system refused the connection's credentials") from exc
        except ProviderError as exc:
            reason = f"page {page}: {type(exc).__name__}: {str(exc)[:200]}"
            return Snapshot(employees=tuple(employees), complete=False, reasons=(reason,))
        if result.refreshed_credentials is not None:
            credentials = result.refreshed_credentials  # the next page's (saved when refreshed)
        employees.extend(result.employees)
        cursor = result.next_cursor
        if cursor is None:
            return Snapshot(employees=tuple(employees), complete=True)
    reason = f"stopped after {ports.settings.max_pages} pages"
    return Snapshot(employees=tuple(employees), complete=False, reasons=(reason,))


def _plan_now(
    ports: PreviewPorts, connection: Connection, members: Sequence[Member]
) -> tuple[Plan, Snapshot]:
    """Fetch every page now and plan over them with the fields these credentials supply (R15)."""
    provider = provider_for(ports, connection)  # a refreshed token is saved as it is refreshed
    credentials = ports.secrets.get(connection.tenant_id, connection.connection_id)
    snapshot = fetch_snapshot(ports, provider, credentials)
    plan = make_plan(
        ports, snapshot, members, connection, capabilities=provider.capabilities_for(credentials)
    )
    return plan, snapshot


@dataclass(frozen=True, slots=True)
class ScopeCount:
    """R33: one value of the scope's selection and how many people (not terminated) it selects."""

    id: str
    name: str
    kind: str | None
    people: int


@dataclass(frozen=True, slots=True)
class Preview:
    plan: Plan
    # One per value of the scope's selection, in the scope's order (empty for everyone, manual).
    scope_counts: tuple[ScopeCount, ...]


def _scope_counts(scope: Scope, snapshot: Snapshot) -> tuple[ScopeCount, ...]:
    counts = scope_counts(scope, snapshot.employees)
    names: dict[str, str] = {}
    if scope.mode is ScopeMode.PEOPLE:
        names = {
            e.hris_id: " ".join(p for p in (e.first_name, e.last_name) if p) or e.email or e.hris_id
            for e in snapshot.employees
            if e.hris_id in counts
        }
    result = []
    for value, people in counts.items():
        label = scope.labels.get(value)
        name = label.name if label is not None else names.get(value, value)
        kind = label.kind if label is not None else None
        result.append(ScopeCount(id=value, name=name, kind=kind, people=people))
    return tuple(result)


def preview(ports: PreviewPorts, tenant_id: str, connection_id: str) -> Preview:
    """The plan a full sync would apply now, and how many people each scope choice selects (R33);
    applies nothing. On a draft (R32) it is the plan of its first import: its claims (R21) are
    shown, and nothing records a sync, so the claim window stays open until the first complete
    sync after activation."""
    connection = _readable(ports, tenant_id, connection_id)
    members = list(ports.members.iter_all(tenant_id))
    plan, snapshot = _plan_now(ports, connection, members)
    return Preview(plan=plan, scope_counts=_scope_counts(connection.scope, snapshot))


@dataclass(frozen=True, slots=True)
class MatchPair:
    hris_id: str
    member_id: str
    matched_by: str  # "link" | "email"


@dataclass(frozen=True, slots=True)
class MatchResult:
    pairs: tuple[MatchPair, ...]
    dry_run: bool
    linked: int


def match(
    ports: MatchPorts, tenant_id: str, connection_id: str, *, dry_run: bool, admin_id: str
) -> MatchResult:
    """R05 alone: pair employees with existing members (stored link, then email, case-insensitive);
    ``dry_run`` shows the pairs; otherwise the new links are stored and nothing else changes
    (not on a draft, R32: it links nobody before its activation)."""
    connection = _readable(ports, tenant_id, connection_id)
    if not dry_run and connection.status is ConnectionStatus.DRAFT:
        raise ConnectionNotActive(connection_id, "link members")
    members = list(ports.members.iter_all(tenant_id))
    plan, _ = _plan_now(ports, connection, members)
    links = [a for a in plan.actions if isinstance(a, LinkMember)]
    by_id = {m.member_id: m for m in members}
    pairs = [MatchPair(a.hris_id, a.member_id, a.matched_by) for a in links]
    # Members already linked to this connection are pairs too (matched by their stored link).
    linked_ids = {a.member_id for a in links}
    pairs.extend(
        MatchPair(m.hris_id, m.member_id, "link")
        for m in members
        if m.connection_id == connection_id and m.hris_id and m.member_id not in linked_ids
    )
    if dry_run or not links:
        return MatchResult(pairs=tuple(pairs), dry_run=dry_run, linked=0)
    groups = [MemberGroup(a.member_id, by_id.get(a.member_id), (a,)) for a in links if a.member_id in by_id]
    origin = Origin(
        actor=Actor.ADMIN,
        key=f"adm:{ports.ids.new_id('req')}",
        connection=connection,
        actor_id=admin_id,
        audit_action="match",
    )
    report = apply_groups(ports, tenant_id, groups, origin)
    return MatchResult(pairs=tuple(pairs), dry_run=False, linked=report.counts.get("linked", 0))
