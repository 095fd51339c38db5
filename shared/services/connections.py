"""Connections: connect, edit (R19), disconnect (R20), directory, preview and match (R05)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    Snapshot,
)
from shared.domain.records import RunTrigger, SyncRun
from shared.errors import (
    InvalidInput,
    InvalidState,
    LockHeld,
    ProviderCredentialsRejected,
    ProviderFailure,
    ProviderNotFound,
    VersionConflict,
    WorkflowNotStarted,
)
from shared.providers.base import Credentials, Directory, Provider, ProviderAuthError, ProviderError, Tier
from shared.schedule_expressions import validate_schedule_expression, validate_timezone
from shared.services.context import (
    WithAudit,
    WithClock,
    WithConnections,
    WithEvents,
    WithIds,
    WithLock,
    WithMailer,
    WithMembers,
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
    WithWorkflow,
    WithEvents,
    WithClock,
    WithIds,
    WithProviders,
    WithSettings,
    Protocol,
):
    """A connection created or edited: its credentials, its schedule (R28), its first or scope sync."""


class DisconnectPorts(WithConnections, WithSecrets, WithScheduler, WithClock, Protocol):
    """A connection disconnected: its schedule and credentials deleted (R20)."""


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
        if "@" not in email or any(c.isspace() for c in email):
            raise InvalidInput(f"invalid admin email {email[:64]!r}", field="admin_emails")
    return connection


def check_options(provider: str, label: str, options: Mapping[str, Any]) -> None:
    """Refuse (``InvalidInput``) settings that connecting with them would refuse, before anything
    is stored (an OAuth connect checks them before the admin leaves for the vendor)."""
    base = Connection(connection_id="unsaved", tenant_id="unsaved", provider=provider, label="-")
    _with_options(base, {"label": label.strip(), **options})


def _schedule_expression(ports: WithSettings, connection: Connection, provider: Provider) -> str:
    """R28: the connection's own expression, else the provider tier's default."""
    if connection.schedule.expression:
        return validate_schedule_expression(connection.schedule.expression)
    if provider.tier is Tier.FULL:
        return ports.settings.full_tier_schedule
    return ports.settings.basic_tier_schedule


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


def get_connection(ports: WithConnections, tenant_id: str, connection_id: str) -> Connection:
    return ports.connections.get(tenant_id, connection_id)


def list_connections(ports: WithConnections, tenant_id: str) -> list[Connection]:
    return ports.connections.list_for_tenant(tenant_id)


# ---------------------------------------------------------------------------------------------
# Connect
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectResult:
    connection: Connection
    run: SyncRun


def connect(
    ports: ConnectPorts,
    tenant_id: str,
    *,
    provider: str,
    label: str,
    credentials: Credentials,
    options: Mapping[str, Any] | None = None,
) -> ConnectResult:
    """Validate, store the credentials, create the connection (R22), schedule it (R28) and start
    the first full sync. Nothing is left behind when a step before the sync fails."""
    connector = _provider(ports, provider)
    if not credentials.secrets and not credentials.settings:
        raise InvalidInput("credentials are required", field="credentials")
    now = ports.clock.now()
    base = Connection(
        connection_id=ports.ids.new_id("conn"),
        tenant_id=tenant_id,
        provider=provider,
        label=label.strip() or "-",
        created_at=now,
        updated_at=now,
        version=1,
    )
    connection = _with_options(base, {"label": label.strip(), **(options or {})})
    _schedule_expression(ports, connection, connector)
    ports.secrets.put(tenant_id, connection.connection_id, credentials)
    try:
        ports.connections.create(connection, max_active=ports.settings.max_connections)
    except BaseException:
        ports.secrets.delete(tenant_id, connection.connection_id)
        raise
    connection = ports.connections.get(tenant_id, connection.connection_id)
    _upsert_schedule(ports, connection, connector)
    try:
        run = request_sync(ports, tenant_id, connection.connection_id, RunTrigger.FIRST_IMPORT)
    except WorkflowNotStarted as not_started:
        # The connection stands (its schedule will sync it); the answer shows the closed run
        # with its reason, so nobody connects twice.
        return ConnectResult(connection=connection, run=not_started.run)
    return ConnectResult(connection=connection, run=run)


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
) -> EditResult:
    """Edit scope and quick settings; a new scope syncs at once (R19).

    With ``expected_version`` the caller asked for optimistic concurrency: a stale version is a
    conflict. Without it, a concurrent change by the service itself (a sync recording its first
    complete run, R21) is not the admin's concern: the edit is re-applied on the fresh connection.
    """
    for attempt in range(_EDIT_ATTEMPTS):
        current = ports.connections.get(tenant_id, connection_id)
        if current.status is ConnectionStatus.DISCONNECTED:
            raise InvalidState("a disconnected connection cannot be edited", connection_id=connection_id)
        if expected_version is not None and expected_version != current.version:
            raise VersionConflict("connection", connection_id, expected_version)
        edited = _with_options(current, options)
        connector = _provider(ports, current.provider)
        if credentials is not None:
            ports.secrets.put(tenant_id, connection_id, credentials)
        if edited == current:
            return EditResult(connection=current)
        saved = edited.model_copy(update={"version": current.version + 1, "updated_at": ports.clock.now()})
        try:
            ports.connections.save(saved, expected_version=current.version)
        except VersionConflict:
            if expected_version is not None or attempt == _EDIT_ATTEMPTS - 1:
                raise
            continue
        break
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


def disconnect(ports: DisconnectPorts, tenant_id: str, connection_id: str) -> Connection:
    """R20: remove the schedule and the credentials (webhooks are refused from now on, their
    signing secret being part of the credentials); no member changes, links are kept."""
    current = ports.connections.get(tenant_id, connection_id)
    ports.scheduler.delete(tenant_id, connection_id)
    ports.secrets.delete(tenant_id, connection_id)
    if current.status is ConnectionStatus.DISCONNECTED:
        return current
    gone = current.model_copy(
        update={
            "status": ConnectionStatus.DISCONNECTED,
            "version": current.version + 1,
            "updated_at": ports.clock.now(),
        }
    )
    ports.connections.save(gone, expected_version=current.version)
    return gone


# ---------------------------------------------------------------------------------------------
# Reading the HR system: directory, preview, match
# ---------------------------------------------------------------------------------------------


def _active(ports: WithConnections, tenant_id: str, connection_id: str) -> Connection:
    connection = ports.connections.get(tenant_id, connection_id)
    if connection.status is ConnectionStatus.DISCONNECTED:
        raise InvalidState("the connection is disconnected", connection_id=connection_id)
    return connection


def directory(ports: DirectoryPorts, tenant_id: str, connection_id: str) -> Directory:
    """The HR system's companies, groups and people, for picking a scope (R01)."""
    connection = _active(ports, tenant_id, connection_id)
    provider = provider_for(ports, connection)  # a refreshed token is saved as it is refreshed
    credentials = ports.secrets.get(tenant_id, connection_id)
    try:
        return provider.directory(credentials)
    except ProviderAuthError as exc:
        raise ProviderCredentialsRejected("the HR system refused the connection's credentials") from exc
    except ProviderError as exc:
        raise ProviderFailure(f"the HR system did not answer: {type(exc).__name__}") from exc


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


def _plan_now(ports: PreviewPorts, connection: Connection, members: Sequence[Member]) -> Plan:
    """Fetch every page now and plan over them with the fields these credentials supply (R15)."""
    provider = provider_for(ports, connection)  # a refreshed token is saved as it is refreshed
    credentials = ports.secrets.get(connection.tenant_id, connection.connection_id)
    snapshot = fetch_snapshot(ports, provider, credentials)
    return make_plan(
        ports, snapshot, members, connection, capabilities=provider.capabilities_for(credentials)
    )


def preview(ports: PreviewPorts, tenant_id: str, connection_id: str) -> Plan:
    """The plan a full sync would apply now; applies nothing."""
    connection = _active(ports, tenant_id, connection_id)
    members = list(ports.members.iter_all(tenant_id))
    return _plan_now(ports, connection, members)


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
    ``dry_run`` shows the pairs; otherwise the new links are stored and nothing else changes."""
    connection = _active(ports, tenant_id, connection_id)
    members = list(ports.members.iter_all(tenant_id))
    plan = _plan_now(ports, connection, members)
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
