"""A full sync, as the separate steps the state machine calls, plus runs and held plans (R23).

start -> fetch pages (many per call, within a page and time budget) -> plan (guard) -> apply chunks
(a Map) -> finish; any failure -> fail. Every step is safe to repeat: pages overwrite their blob, a
recorded chunk is not applied twice, finish and fail do nothing the second time.

Workflow input (the state machine's execution input; also the schedules' payload without a run):
``{"tenant_id", "connection_id", "trigger", "run_id"?, "phase": "fetch" | "apply"}``. With
``phase = "apply"`` (a confirmed held plan) the machine skips fetching and planning and applies the
stored chunks of ``run_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

from shared.domain.models import (
    Action,
    Actor,
    Connection,
    ConnectionStatus,
    DeactivateMember,
    DeactivationReason,
    Member,
    PlanCounts,
    Snapshot,
)
from shared.domain.records import RunPhase, RunStatus, RunTrigger, SkippedRecord, SyncRun
from shared.errors import (
    ConnectionNotActive,
    HrisSyncError,
    InvalidInput,
    InvalidState,
    LockHeld,
    ProviderCredentialsRejected,
    RunNotFound,
    VersionConflict,
    WorkflowNotStarted,
)
from shared.ports import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    SYNC_BLOCKED,
    SYNC_COMPLETED,
    SYNC_FAILED,
    DomainEvent,
    Email,
    Lease,
    MailTemplate,
    Page,
)
from shared.providers.base import ProviderAuthError, ProviderError
from shared.services import notify, run_records, webhook_apply, webhook_guard
from shared.services.context import (
    WithAudit,
    WithBlobs,
    WithClock,
    WithConnections,
    WithEvents,
    WithIds,
    WithLock,
    WithMailer,
    WithMembers,
    WithPending,
    WithProviders,
    WithRuns,
    WithSecrets,
    WithSettings,
    WithTasks,
    WithTokenLock,
    WithWebhookGuard,
    WithWorkflow,
)
from shared.services.member_writes import MemberGroup, Origin, apply_groups
from shared.services.planning import (
    chunk_key,
    dump_employees,
    dump_groups,
    group_actions,
    load_employees,
    load_groups,
    make_plan,
    page_key,
    plan_prefix,
)
from shared.services.tokens import provider_for
from shared.services.webhook_apply import WebhookPorts
from shared.services.webhook_guard import GuardPorts


class LeasePorts(WithLock, WithClock, WithSettings, Protocol):
    """A full sync's lease on its connection (R29)."""


class StartPorts(WithConnections, WithRuns, WithLock, WithClock, WithIds, WithSettings, Protocol):
    """A run recorded and the connection's lock taken for it."""


class TriggerPorts(
    WithConnections, WithRuns, WithLock, WithWorkflow, WithEvents, WithClock, WithIds, WithSettings, Protocol
):
    """A full sync requested: its run started and the state machine started (or the run closed)."""


class SyncPorts(
    WithConnections,
    WithMembers,
    WithTasks,
    WithAudit,
    WithRuns,
    WithLock,
    WithPending,
    WithWebhookGuard,
    WithTokenLock,
    WithBlobs,
    WithSecrets,
    WithMailer,
    WithEvents,
    WithClock,
    WithIds,
    WithProviders,
    WithSettings,
    Protocol,
):
    """The full sync's steps: pages fetched to the bucket, planned, applied, finished or failed."""


class ReportPorts(WithRuns, WithMailer, Protocol):
    """An email to the connection's admins, and those SES did not take recorded on the run."""


class RunListPorts(WithConnections, WithRuns, Protocol):
    """A connection's runs."""


class HeldPlanPorts(
    WithConnections,
    WithMembers,
    WithTasks,
    WithAudit,
    WithRuns,
    WithLock,
    WithPending,
    WithWebhookGuard,
    WithWorkflow,
    WithMailer,
    WithEvents,
    WithClock,
    WithIds,
    WithSettings,
    Protocol,
):
    """An admin's decision on a held plan (R30): applied by the state machine, or discarded."""


_MAX_ERROR = 500
_MAX_WARNINGS = 200


def workflow_input(run: SyncRun, phase: str = "fetch") -> dict[str, Any]:
    return {
        "tenant_id": run.tenant_id,
        "connection_id": run.connection_id,
        "run_id": run.run_id,
        "trigger": run.trigger.value,
        "phase": phase,
    }


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_LIMIT}", field="limit")
    return limit


# ---------------------------------------------------------------------------------------------
# Reading runs
# ---------------------------------------------------------------------------------------------


def get_run(ports: WithRuns, tenant_id: str, run_id: str) -> SyncRun:
    return ports.runs.get(tenant_id, run_id)


def list_runs(
    ports: RunListPorts,
    tenant_id: str,
    connection_id: str,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
) -> Page[SyncRun]:
    ports.connections.get(tenant_id, connection_id)
    return ports.runs.list_for_connection(tenant_id, connection_id, cursor=cursor, limit=check_limit(limit))


def _run_of(ports: WithRuns, tenant_id: str, connection_id: str, run_id: str) -> SyncRun:
    run = ports.runs.get(tenant_id, run_id)
    if run.connection_id != connection_id:
        raise RunNotFound(run_id, tenant_id=tenant_id)
    return run


def _renew(ports: LeasePorts, run: SyncRun) -> Lease:
    now = ports.clock.now()
    lease = Lease(run.tenant_id, run.connection_id, run.run_id, now)
    return ports.lock.renew(lease, now, ports.settings.lock_ttl)


def _release(ports: LeasePorts, run: SyncRun) -> None:
    ports.lock.release(Lease(run.tenant_id, run.connection_id, run.run_id, ports.clock.now()))


def _drain_webhooks(ports: WebhookPorts, run: SyncRun) -> None:
    """R29: the webhooks that met this sync are applied now that it has let go of the lock
    (completed, partial, failed or held). A failure leaves them listed, for the next webhook or
    the next sync's end, and says so on the run; it never changes how the run ended."""
    try:
        webhook_apply.drain_pending(ports, run.tenant_id, run.connection_id)
    except HrisSyncError as error:
        note = f"webhook_updates_waiting: {error.code}: {error.message}"[:_MAX_ERROR]
        run_records.mutate_run(
            ports,
            run.tenant_id,
            run.run_id,
            lambda r: {"warnings": (*r.warnings, note)[:_MAX_WARNINGS]},
        )


def _admin_email(
    connection: Connection, template: MailTemplate, run: SyncRun, **data: str | int | None
) -> Email:
    return Email(
        template=template,
        to=notify.recipients(connection),
        data={
            "connection_id": connection.connection_id,
            "connection_label": connection.label,
            "provider": notify.provider_name(connection.provider),
            "run_id": run.run_id,
            **data,
        },
    )


def _notify_admins(ports: ReportPorts, run: SyncRun, email: Email) -> SyncRun:
    """Email the admins; an email SES refuses is recorded on the run, never fails it."""
    unsent = notify.send_all(ports, [email])
    return run_records.record_unsent(ports, run, unsent)


# ---------------------------------------------------------------------------------------------
# Start
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartResult:
    """Either the run that now holds the lock, or the lease of the full sync already running."""

    run: SyncRun | None
    running: Lease | None = None


def start_run(
    ports: StartPorts, tenant_id: str, connection_id: str, trigger: RunTrigger, run_id: str | None = None
) -> StartResult:
    """Create a run and take the connection's lock (R29); report the running sync instead."""
    connection = ports.connections.get(tenant_id, connection_id)
    now = ports.clock.now()
    if run_id is not None:
        run = _run_of(ports, tenant_id, connection_id, run_id)
        if run.status is not RunStatus.RUNNING:
            raise InvalidState(
                f"run {run_id!r} is {run.status.value}", run_id=run_id, status=run.status.value
            )
        ports.lock.acquire(tenant_id, connection_id, run_id, now, ports.settings.lock_ttl)
        return StartResult(run=run)
    if connection.status is ConnectionStatus.DISCONNECTED:
        raise InvalidState("the connection is disconnected", connection_id=connection_id)
    if connection.status is ConnectionStatus.DRAFT:
        raise ConnectionNotActive(connection_id, "sync it")  # R32: no run before activation
    new_id = ports.ids.new_id("run")
    try:
        ports.lock.acquire(tenant_id, connection_id, new_id, now, ports.settings.lock_ttl)
    except LockHeld as held:
        return StartResult(run=None, running=Lease(tenant_id, connection_id, held.holder, held.expires_at))
    run = SyncRun(
        run_id=new_id,
        tenant_id=tenant_id,
        connection_id=connection_id,
        trigger=trigger,
        started_at=now,
        version=1,
    )
    ports.runs.create(run)
    return StartResult(run=run)


def request_sync(
    ports: TriggerPorts, tenant_id: str, connection_id: str, trigger: RunTrigger = RunTrigger.MANUAL
) -> SyncRun:
    """Sync now (API, connect, scope edit): start a run and its state machine execution.

    Raises ``LockHeld`` (naming the running run) when a full sync is already running (R29).
    """
    started = start_run(ports, tenant_id, connection_id, trigger)
    if started.run is None:
        assert started.running is not None  # noqa: S101 - start_run returns one or the other
        raise LockHeld(connection_id, started.running.holder, started.running.expires_at)
    run = started.run
    try:
        ports.workflow.start(run.run_id, workflow_input(run))
    except BaseException as error:
        # Nothing will drive this run: close it with the reason and free the lock (else both
        # would wait for the lease to expire), then report the error.
        closed = _close_unstarted(ports, run, _start_failure(error))
        if isinstance(error, HrisSyncError):
            raise WorkflowNotStarted(run.run_id, closed.error or "", run=closed) from error
        raise
    return run


def request_missed_sync(ports: TriggerPorts, tenant_id: str, connection_id: str) -> str:
    """A full sync for changes that may have been missed (R09's complete snapshot is the remedy):
    the id of the run started, else of the one already running, else of the one whose machine
    could not start (closed with its reason; the schedule syncs later)."""
    try:
        return request_sync(ports, tenant_id, connection_id, RunTrigger.NOTIFICATIONS_MISSED).run_id
    except LockHeld as held:
        return held.holder
    except WorkflowNotStarted as not_started:
        return not_started.run.run_id


def _start_failure(error: BaseException) -> str:
    """Why an execution did not start, without AWS's message (typed errors carry the code)."""
    detail = error.message if isinstance(error, HrisSyncError) else type(error).__name__
    return f"the sync workflow could not be started: {detail}"[:_MAX_ERROR]


def _close_unstarted(ports: TriggerPorts, run: SyncRun, reason: str) -> SyncRun:
    """The run failed before its machine ran: failed with the reason, the lock freed (even when
    recording fails), ``sync.failed`` emitted. The connection is not marked failing: its HR
    system was never called."""
    try:
        closed = run_records.mutate_run(
            ports,
            run.tenant_id,
            run.run_id,
            lambda r: {
                "status": RunStatus.FAILED,
                "finished_at": ports.clock.now(),
                "error": reason,
                "progress": r.progress.model_copy(update={"phase": RunPhase.DONE}),
            },
        )
    finally:
        _release(ports, run)
    ports.events.publish(
        [
            DomainEvent(
                SYNC_FAILED,
                {
                    "tenant_id": run.tenant_id,
                    "connection_id": run.connection_id,
                    "run_id": run.run_id,
                    "error": reason,
                },
            )
        ]
    )
    return closed


# ---------------------------------------------------------------------------------------------
# Fetch
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchResult:
    page: int
    employees: int
    next_cursor: str | None
    # True when there is nothing more to fetch (last page, or the snapshot became incomplete).
    done: bool


def fetch_page(
    ports: SyncPorts, tenant_id: str, connection_id: str, run_id: str, *, page: int, cursor: str | None
) -> FetchResult:
    """Fetch one page from the HR system and store it; a failure makes the snapshot incomplete
    with the reason (R09), so planning goes on without deactivating anyone for being absent.

    Rejected credentials raise ``ProviderCredentialsRejected`` (the machine then fails the run).
    """
    if page < 0:
        raise InvalidInput("page must be at least 0", field="page")
    run = _run_of(ports, tenant_id, connection_id, run_id)
    if run.status is not RunStatus.RUNNING:
        raise InvalidState(f"run {run_id!r} is {run.status.value}", run_id=run_id)
    _renew(ports, run)
    connection = ports.connections.get(tenant_id, connection_id)
    if page >= ports.settings.max_pages:
        _mark_incomplete(ports, run, f"stopped after {ports.settings.max_pages} pages")
        return FetchResult(page=page, employees=0, next_cursor=None, done=True)
    provider = provider_for(ports, connection)  # a refreshed token is saved as it is refreshed
    credentials = ports.secrets.get(tenant_id, connection_id)
    try:
        result = provider.list_employees(credentials, cursor)
    except ProviderAuthError as exc:
        _mark_incomplete(ports, run, f"page {page}: the HR system refused the credentials")
        raise ProviderCredentialsRejected("the HR system refused the connection's credentials") from exc
    except ProviderError as exc:
        _mark_incomplete(ports, run, f"page {page}: {type(exc).__name__}: {str(exc)[:200]}")
        return FetchResult(page=page, employees=0, next_cursor=None, done=True)
    employees = list(result.employees)
    ports.blobs.put(page_key(tenant_id, connection_id, run_id, page), dump_employees(employees))
    supplied = provider.capabilities_for(credentials)

    def progress(current: SyncRun) -> dict[str, Any]:
        sizes = list(current.page_sizes[:page]) + [0] * max(0, page - len(current.page_sizes))
        sizes.append(len(employees))
        recorded = current.capabilities
        return {
            "page_sizes": tuple(sizes),
            # R15: a field some page could not supply is not synced from this snapshot.
            "capabilities": supplied if recorded is None else recorded & supplied,
            "progress": current.progress.model_copy(
                update={"pages_fetched": len(sizes), "employees_fetched": sum(sizes)}
            ),
        }

    run_records.mutate_run(ports, tenant_id, run_id, progress)
    done = result.next_cursor is None
    return FetchResult(page=page, employees=len(employees), next_cursor=result.next_cursor, done=done)


@dataclass(frozen=True, slots=True)
class FetchBatch:
    pages: int  # pages this call fetched (the next call starts at the page after them)
    employees: int
    next_cursor: str | None
    done: bool


def fetch_pages(
    ports: SyncPorts, tenant_id: str, connection_id: str, run_id: str, *, page: int, cursor: str | None
) -> FetchBatch:
    """``fetch_page`` from ``page``/``cursor`` on, until the last page, or until this call has
    fetched ``settings.pages_per_task`` pages or run for ``settings.fetch_budget``, whichever
    comes first; the caller goes on from the returned cursor.

    One call is one task of the state machine, so its history grows by one loop turn per call
    instead of per page (Step Functions keeps at most 25,000 events per execution). A call that
    stops early has run for the whole budget, which bounds the calls a run can make
    (docs/state-machine.md).
    """
    settings = ports.settings
    if settings.pages_per_task < 1:
        raise InvalidInput("pages_per_task must be at least 1", field="pages_per_task")
    started = ports.clock.now()
    fetched = employees = 0
    while True:
        result = fetch_page(ports, tenant_id, connection_id, run_id, page=page + fetched, cursor=cursor)
        fetched += 1
        employees += result.employees
        cursor = result.next_cursor
        if (
            result.done
            or fetched >= settings.pages_per_task
            or ports.clock.now() - started >= settings.fetch_budget
        ):
            return FetchBatch(pages=fetched, employees=employees, next_cursor=cursor, done=result.done)


def _mark_incomplete(ports: SyncPorts, run: SyncRun, reason: str) -> None:
    run_records.mutate_run(
        ports,
        run.tenant_id,
        run.run_id,
        lambda r: {
            "snapshot_complete": False,
            "incomplete_reasons": (*r.incomplete_reasons, reason)
            if reason not in r.incomplete_reasons
            else r.incomplete_reasons,
        },
    )


def load_snapshot(ports: WithBlobs, run: SyncRun) -> Snapshot:
    employees = []
    for page in range(len(run.page_sizes)):
        employees.extend(load_employees(ports, page_key(run.tenant_id, run.connection_id, run.run_id, page)))
    return Snapshot(
        employees=tuple(employees), complete=run.snapshot_complete, reasons=run.incomplete_reasons
    )


def snapshot_capabilities(ports: WithProviders, connection: Connection, run: SyncRun) -> frozenset[str]:
    """The fields the run's pages supply (R15), as recorded when they were fetched.

    A run that recorded none (no page stored) plans with what every connection of the provider
    supplies: never more than the pages could hold, so nothing is blanked for want of a field.
    """
    if run.capabilities is not None:
        return run.capabilities
    return ports.providers(connection.provider).capabilities


# ---------------------------------------------------------------------------------------------
# Plan and guard
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanResult:
    # "apply": apply ``chunks``; "blocked": held by the guard (R23); "nothing": no change (R24).
    outcome: str
    chunks: tuple[int, ...]
    counts: PlanCounts


def plan_run(ports: SyncPorts, tenant_id: str, connection_id: str, run_id: str) -> PlanResult:
    """Plan over the stored pages; store the plan in chunks; hold it when the guard says so.

    A repeated call (a retried step) returns the plan already stored instead of planning again.
    """
    run = _run_of(ports, tenant_id, connection_id, run_id)
    if run.plan_key is not None:
        total = run.progress.chunks_total
        outcome = "blocked" if run.status is RunStatus.BLOCKED else ("apply" if total else "nothing")
        return PlanResult(outcome=outcome, chunks=tuple(range(total)), counts=run.planned)
    if run.status is not RunStatus.RUNNING:
        raise InvalidState(f"run {run_id!r} is {run.status.value}", run_id=run_id)
    _renew(ports, run)
    connection = ports.connections.get(tenant_id, connection_id)
    members = list(ports.members.iter_all(tenant_id))
    plan = make_plan(
        ports,
        load_snapshot(ports, run),
        members,
        connection,
        capabilities=snapshot_capabilities(ports, connection, run),
    )
    groups = group_actions(plan.actions, {m.member_id: m for m in members})
    # At most max_chunks chunks (each one is a Map item of the machine, and its events count).
    size = max(ports.settings.chunk_size, -(-len(groups) // ports.settings.max_chunks))
    chunks = [groups[i : i + size] for i in range(0, len(groups), size)]
    prefix = plan_prefix(tenant_id, connection_id, run_id)
    for index, chunk in enumerate(chunks):
        ports.blobs.put(chunk_key(prefix, index), dump_groups(chunk))
    skipped = [
        SkippedRecord(hris_id=a.hris_id, reason=a.reason, detail=a.detail)
        for a in plan.actions
        if a.kind == "skip"
    ]
    warnings = tuple(f"{w.code}: {w.message}" for w in plan.warnings)[:_MAX_WARNINGS]
    held = plan.guard.hold and bool(groups)
    outcome = "blocked" if held else ("apply" if groups else "nothing")

    def planned(current: SyncRun) -> dict[str, Any]:
        return {
            "planned": plan.counts,
            "skipped": tuple(skipped[: ports.settings.max_skipped_kept]),
            "warnings": warnings,
            "unknown_statuses": plan.unknown_statuses[: ports.settings.max_skipped_kept],
            "unknown_statuses_total": len(plan.unknown_statuses),
            "plan_key": prefix,
            "status": RunStatus.BLOCKED if held else current.status,
            "progress": current.progress.model_copy(
                update={
                    "phase": RunPhase.PLANNING if held else RunPhase.APPLYING,
                    "chunks_total": len(chunks),
                    "actions_total": sum(len(g.actions) for g in groups),
                }
            ),
        }

    run = run_records.mutate_run(ports, tenant_id, run_id, planned)
    _supersede_held_plans(ports, run)
    if held:
        _hold(ports, connection, run, plan.guard.deactivations, plan.guard.active_members)
    return PlanResult(outcome=outcome, chunks=tuple(range(len(chunks))), counts=plan.counts)


def _supersede_held_plans(ports: SyncPorts, run: SyncRun) -> None:
    """A newer plan replaces any plan still held for the connection: confirming an older one
    would apply a stale snapshot."""
    recent = ports.runs.list_for_connection(run.tenant_id, run.connection_id, limit=DEFAULT_PAGE_LIMIT)
    now = ports.clock.now()
    for older in recent.items:
        if (
            older.run_id != run.run_id
            and older.status is RunStatus.BLOCKED
            and older.trigger is not RunTrigger.WEBHOOK_GUARD  # R30's held run is not a plan
        ):
            run_records.mutate_run(
                ports,
                run.tenant_id,
                older.run_id,
                lambda r: {
                    "status": RunStatus.DISCARDED,
                    "decided_by": f"superseded by {run.run_id}",
                    "finished_at": now,
                    "progress": r.progress.model_copy(update={"phase": RunPhase.DONE}),
                },
            )


def _hold(ports: SyncPorts, connection: Connection, run: SyncRun, deactivations: int, active: int) -> None:
    """R23: nothing is applied; the admins are told; the lock is freed until someone decides
    (and the webhooks that waited for the sync are applied, R29)."""
    _release(ports, run)
    _drain_webhooks(ports, run)
    _notify_admins(
        ports,
        run,
        _admin_email(
            connection,
            MailTemplate.SYNC_BLOCKED,
            run,
            deactivations=deactivations,
            active_members=active,
            pct=round(100 * deactivations / active) if active else 100,
        ),
    )
    ports.events.publish(
        [
            DomainEvent(
                SYNC_BLOCKED,
                {
                    "tenant_id": run.tenant_id,
                    "connection_id": run.connection_id,
                    "run_id": run.run_id,
                    "deactivations": deactivations,
                    "active_members": active,
                },
            )
        ]
    )


# ---------------------------------------------------------------------------------------------
# Apply
# ---------------------------------------------------------------------------------------------


def apply_chunk(ports: SyncPorts, tenant_id: str, connection_id: str, run_id: str, chunk: int) -> PlanCounts:
    """Apply one stored chunk of the plan; repeating a chunk changes nothing twice."""
    run = _run_of(ports, tenant_id, connection_id, run_id)
    if chunk in run.chunks_done:
        return PlanCounts()
    if run.status is not RunStatus.RUNNING or run.plan_key is None:
        raise InvalidState(f"run {run_id!r} has no plan to apply ({run.status.value})", run_id=run_id)
    if not 0 <= chunk < run.progress.chunks_total:
        raise InvalidInput(f"chunk {chunk} is not part of run {run_id!r}", field="chunk")
    _renew(ports, run)
    connection = ports.connections.get(tenant_id, connection_id)
    groups = load_groups(ports, chunk_key(run.plan_key, chunk))

    def replan(member_ids: Sequence[str]) -> dict[str, MemberGroup]:
        members = list(ports.members.iter_all(tenant_id))
        fresh_connection = ports.connections.get(tenant_id, connection_id)
        plan = make_plan(
            ports,
            load_snapshot(ports, run),
            members,
            fresh_connection,
            capabilities=snapshot_capabilities(ports, fresh_connection, run),
        )
        wanted = set(member_ids)
        by_id = {m.member_id: m for m in members}
        return {
            g.member_id: g
            for g in group_actions(
                (a for a in plan.actions if a.kind != "skip" and a.member_id in wanted), by_id
            )
        }

    origin = Origin(
        actor=Actor.SYNC, key=f"{run_id}:c{chunk}", connection=connection, run_id=run_id, actor_id=run_id
    )
    report = apply_groups(ports, tenant_id, groups, origin, replan)
    if report.skipped or report.unsent:
        run_records.mutate_run(
            ports,
            tenant_id,
            run_id,
            lambda r: {
                "skipped": (*r.skipped, *report.skipped)[: ports.settings.max_skipped_kept],
                "emails_not_sent": notify.merge(r.emails_not_sent, report.unsent),
            },
        )
    counts = report.plan_counts()
    ports.runs.record_chunk(tenant_id, run_id, chunk, counts)
    return counts


def _changed_anything(counts: PlanCounts) -> bool:
    return any(value for name, value in counts.model_dump().items() if name not in ("skipped", "warnings"))


# ---------------------------------------------------------------------------------------------
# Finish, fail
# ---------------------------------------------------------------------------------------------


def finish_run(ports: SyncPorts, tenant_id: str, connection_id: str, run_id: str) -> SyncRun:
    """Close the run: ``completed`` (or ``partial`` after an incomplete snapshot, R09); R21's first
    complete sync is recorded; the lock is released; the first import emails the admins; a
    ``sync.completed`` event unless nothing changed (R24)."""
    run = _run_of(ports, tenant_id, connection_id, run_id)
    if run.status.finished:
        return run
    if run.status is RunStatus.BLOCKED:
        raise InvalidState(f"run {run_id!r} is held by the guard", run_id=run_id)
    if run.progress.chunks_applied < run.progress.chunks_total:
        raise InvalidState(
            f"run {run_id!r} has {run.progress.chunks_total - run.progress.chunks_applied} chunk(s) to apply",
            run_id=run_id,
        )
    now = ports.clock.now()
    status = RunStatus.COMPLETED if run.snapshot_complete else RunStatus.PARTIAL
    # The connection first: whoever sees the run finished sees the connection as it left it.
    connection = _connection_after_success(ports, tenant_id, connection_id, complete=run.snapshot_complete)
    run = run_records.mutate_run(
        ports,
        tenant_id,
        run_id,
        lambda r: {
            "status": status,
            "finished_at": now,
            "progress": r.progress.model_copy(update={"phase": RunPhase.DONE}),
        },
    )
    _release(ports, run)
    _drain_webhooks(ports, run)
    if run.trigger is RunTrigger.FIRST_IMPORT:
        run = _notify_admins(
            ports,
            run,
            _admin_email(
                connection,
                MailTemplate.IMPORT_COMPLETE,
                run,
                status=status.value,
                created=run.applied.created,
                linked=run.applied.linked,
                updated=run.applied.updated,
                reactivated=run.applied.reactivated,
                deactivated=run.applied.deactivated,
                skipped=len(run.skipped),
            ),
        )
    if _changed_anything(run.applied):
        ports.events.publish(
            [
                DomainEvent(
                    SYNC_COMPLETED,
                    {
                        "tenant_id": tenant_id,
                        "connection_id": connection_id,
                        "run_id": run_id,
                        "status": status.value,
                        "counts": run.applied.model_dump(),
                    },
                )
            ]
        )
    return run


def _connection_after_success(
    ports: SyncPorts, tenant_id: str, connection_id: str, *, complete: bool
) -> Connection:
    for _ in range(5):
        connection = ports.connections.get(tenant_id, connection_id)
        update: dict[str, Any] = {}
        if complete and connection.first_complete_sync_at is None:
            update["first_complete_sync_at"] = ports.clock.now()  # R21
        if connection.status is ConnectionStatus.FAILING:
            update["status"] = ConnectionStatus.ACTIVE
        if not update:
            return connection
        updated = connection.model_copy(
            update={**update, "version": connection.version + 1, "updated_at": ports.clock.now()}
        )
        try:
            ports.connections.save(updated, expected_version=connection.version)
        except VersionConflict:
            continue
        return updated
    raise VersionConflict("connection", connection_id, None)


class FailingPorts(WithConnections, WithClock, Protocol):
    pass


def mark_failing(ports: FailingPorts, tenant_id: str, connection_id: str) -> Connection:
    """The connection (as read) marked failing when it is active; its next complete sync clears it.
    A concurrent edit wins: the next failure marks it again."""
    connection = ports.connections.get(tenant_id, connection_id)
    if connection.status is ConnectionStatus.ACTIVE:
        failing = connection.model_copy(
            update={
                "status": ConnectionStatus.FAILING,
                "version": connection.version + 1,
                "updated_at": ports.clock.now(),
            }
        )
        with suppress(VersionConflict):
            ports.connections.save(failing, expected_version=connection.version)
    return connection


def fail_run(ports: SyncPorts, tenant_id: str, connection_id: str, run_id: str, error: str) -> SyncRun:
    """The machine caught an error: the run fails, the lock is freed, the connection is marked
    failing, the admins are told and ``sync.failed`` is emitted (once). A run that already
    finished stays as it is."""
    run = _run_of(ports, tenant_id, connection_id, run_id)
    if run.status.finished:
        # Already failed (a repeated catch), or finished before the error: nothing to undo.
        return run
    now = ports.clock.now()
    reason = (error or "unknown error")[:_MAX_ERROR]
    run = run_records.mutate_run(
        ports, tenant_id, run_id, lambda _r: {"status": RunStatus.FAILED, "finished_at": now, "error": reason}
    )
    _release(ports, run)
    _drain_webhooks(ports, run)
    connection = mark_failing(ports, tenant_id, connection_id)
    run = _notify_admins(
        ports, run, _admin_email(connection, MailTemplate.CONNECTION_FAILING, run, reason=reason)
    )
    ports.events.publish(
        [
            DomainEvent(
                SYNC_FAILED,
                {"tenant_id": tenant_id, "connection_id": connection_id, "run_id": run_id, "error": reason},
            )
        ]
    )
    return run


# ---------------------------------------------------------------------------------------------
# Held plans (R23)
# ---------------------------------------------------------------------------------------------


def confirm_held_plan(ports: HeldPlanPorts, tenant_id: str, run_id: str, admin_id: str) -> SyncRun:
    """Apply a plan the guard held: take the lock again and run the machine's apply phase.
    Webhook deactivations held by the webhook guard (R30) are applied at once instead."""
    run = ports.runs.get(tenant_id, run_id)
    if run.status is not RunStatus.BLOCKED:
        raise InvalidState(f"run {run_id!r} is {run.status.value}, not blocked", run_id=run_id)
    if run.trigger is RunTrigger.WEBHOOK_GUARD:
        return webhook_guard.confirm_held(ports, run, admin_id)
    now = ports.clock.now()
    ports.lock.acquire(tenant_id, run.connection_id, run_id, now, ports.settings.lock_ttl)
    run = run_records.mutate_run(
        ports,
        tenant_id,
        run_id,
        lambda r: {
            "status": RunStatus.RUNNING,
            "decided_by": admin_id,
            "progress": r.progress.model_copy(update={"phase": RunPhase.APPLYING}),
        },
    )
    try:
        ports.workflow.start(f"{run_id}-confirmed", workflow_input(run, phase="apply"))
    except BaseException as error:
        # The plan is still held: back to blocked (the admin may confirm again), the lock freed.
        reason = _start_failure(error)
        try:
            held = run_records.mutate_run(
                ports,
                tenant_id,
                run_id,
                lambda r: {
                    "status": RunStatus.BLOCKED,
                    "decided_by": None,
                    "progress": r.progress.model_copy(update={"phase": RunPhase.PLANNING}),
                    "warnings": (*r.warnings, f"workflow_not_started: {reason}")[-_MAX_WARNINGS:],
                },
            )
        finally:
            _release(ports, run)
        if isinstance(error, HrisSyncError):
            raise WorkflowNotStarted(run_id, reason, run=held) from error
        raise
    return run


def discard_held_plan(ports: GuardPorts, tenant_id: str, run_id: str, admin_id: str) -> SyncRun:
    """Drop a held plan (or the webhook guard's held deactivations, R30): nothing of it is applied."""
    run = ports.runs.get(tenant_id, run_id)
    if run.status is not RunStatus.BLOCKED:
        raise InvalidState(f"run {run_id!r} is {run.status.value}, not blocked", run_id=run_id)
    if run.trigger is RunTrigger.WEBHOOK_GUARD:
        return webhook_guard.discard_held(ports, run, admin_id)
    now = ports.clock.now()
    return run_records.mutate_run(
        ports,
        tenant_id,
        run_id,
        lambda r: {
            "status": RunStatus.DISCARDED,
            "decided_by": admin_id,
            "finished_at": now,
            "progress": r.progress.model_copy(update={"phase": RunPhase.DONE}),
        },
    )


class RunActionPorts(WithRuns, WithBlobs, WithPending, WithMembers, Protocol):
    """A run's planned actions: its stored plan, or the webhook guard's held entries (R30)."""


@dataclass(frozen=True)
class RunAction:
    """One action of a run's plan, with the member it concerns as the plan saw them (None for a
    member the plan creates)."""

    action: Action
    member: Member | None


def run_actions(
    ports: RunActionPorts, tenant_id: str, run_id: str, kind: str | None = None
) -> list[RunAction]:
    """The actions of a run's plan (of ``kind`` when given), in plan order: what a held plan would
    do (R23) or a finished one did. A run still fetching has none yet. The webhook guard's held
    run (R30) holds deactivations only, each with the member and the HR system's reason."""
    run = ports.runs.get(tenant_id, run_id)
    if run.trigger is RunTrigger.WEBHOOK_GUARD:
        if kind not in (None, "deactivate"):
            return []
        entries = webhook_guard.held_entries(ports, tenant_id, run.connection_id, run_id)
        named = {e.member_id: e for e in entries if e.member_id is not None}
        found = ports.members.get_many(tenant_id, list(named))
        return [
            RunAction(
                action=DeactivateMember(
                    member_id=member_id,
                    reason=DeactivationReason(entry.reason or DeactivationReason.TERMINATED.value),
                ),
                member=found.get(member_id),
            )
            for member_id, entry in named.items()
        ]
    if run.plan_key is None:
        return []
    found_actions: list[RunAction] = []
    for chunk in range(run.progress.chunks_total):
        for group in load_groups(ports, chunk_key(run.plan_key, chunk)):
            found_actions.extend(
                RunAction(action=a, member=group.base) for a in group.actions if kind in (None, a.kind)
            )
    return found_actions


def held_chunks(ports: WithRuns, tenant_id: str, run_id: str) -> tuple[int, ...]:
    """The chunks a confirmed plan still has to apply (the machine's ``apply`` phase)."""
    run = ports.runs.get(tenant_id, run_id)
    return tuple(i for i in range(run.progress.chunks_total) if i not in run.chunks_done)
