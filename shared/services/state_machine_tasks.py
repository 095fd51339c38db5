"""The full-sync state machine's tasks: small typed states in, small typed states out.

Every task of the machine (``infra/constructs/sync.py``, docs/state-machine.md) invokes the
``sync_steps`` function with ``{"step": <name>, "state": <the state>}`` and takes its answer as the
new state. ``STEPS`` maps each name to a thin call into ``shared.services.full_sync``; the payloads stay
small (a cursor, a page number, chunk numbers): snapshot pages and plan chunks live in S3.

- ``start``: the execution input (``ExecutionInput``) -> ``SyncState``. A run started by
  ``sync_trigger`` or the admin API already holds the lock (``run_id`` given: the lease is renewed);
  ``phase = "apply"`` (a confirmed held plan) returns the chunks still to apply.
- ``fetch_page`` -> the state with the next ``cursor``/``page`` and ``has_more``. One call fetches
  many pages (``full_sync.fetch_pages``: up to a page count and a time budget); the step keeps its name
  so executions already running when a new version deploys go on calling it.
- ``plan`` -> the state with ``verdict`` (``apply`` | ``blocked`` | ``nothing``) and ``chunks``
  (the plan is held, the admins told and the lock freed by the service when ``blocked``, R23).
- ``apply_chunk`` (one Map item, ``ChunkInput``) -> ``ChunkResult`` (discarded by the machine).
- ``finish`` -> ``FinishResult``; ``fail`` (the state plus the caught ``error``) -> ``FailResult``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.models import PlanCounts
from shared.domain.records import RunStatus, RunTrigger
from shared.errors import InvalidInput, LockHeld
from shared.services import full_sync
from shared.services.full_sync import SyncPorts

_MAX_ERROR = 500


class _Model(BaseModel):
    # The machine adds fields of its own ($.error, $.fail_error): a step reads what it knows.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ExecutionInput(_Model):
    """What starts an execution (``full_sync.workflow_input``; a schedule's payload has no run)."""

    tenant_id: str = Field(min_length=1)
    connection_id: str = Field(min_length=1)
    run_id: str | None = None
    trigger: RunTrigger = RunTrigger.SCHEDULE
    phase: Literal["fetch", "apply"] = "fetch"


class SyncState(_Model):
    tenant_id: str = Field(min_length=1)
    connection_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    trigger: RunTrigger
    phase: Literal["fetch", "apply"]
    page: int = Field(default=0, ge=0)
    cursor: str | None = None
    has_more: bool = True
    verdict: Literal["apply", "blocked", "nothing"] | None = None
    chunks: tuple[int, ...] = ()


class ChunkInput(_Model):
    tenant_id: str = Field(min_length=1)
    connection_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    chunk: int = Field(ge=0)


class ChunkResult(_Model):
    run_id: str
    chunk: int
    counts: PlanCounts


class FinishResult(_Model):
    run_id: str
    status: RunStatus
    duration_seconds: float
    applied: PlanCounts


class CaughtError(_Model):
    """What a Catch puts at ``$.error``: the error name and its cause (Lambda's JSON error)."""

    Error: str = "States.ALL"
    Cause: str | None = None

    def summary(self) -> str:
        """``<error type>: <message>``, never the stack trace (it is shown on the run)."""
        message = ""
        if self.Cause:
            try:
                cause: Any = json.loads(self.Cause)
            except ValueError:
                cause = None
            message = str(cause.get("errorMessage", "")) if isinstance(cause, dict) else self.Cause
        text = f"{self.Error}: {message}" if message else self.Error
        return text[:_MAX_ERROR]


class FailInput(_Model):
    tenant_id: str = Field(min_length=1)
    connection_id: str = Field(min_length=1)
    # None when the execution failed before a run existed (the lock was held by another run).
    run_id: str | None = None
    error: CaughtError = Field(default_factory=CaughtError)


class FailResult(_Model):
    run_id: str | None
    status: RunStatus | None
    error: str


def start(ports: SyncPorts, state: Mapping[str, Any]) -> SyncState:
    given = ExecutionInput.model_validate(state)
    started = full_sync.start_run(ports, given.tenant_id, given.connection_id, given.trigger, given.run_id)
    if started.run is None:
        assert started.running is not None  # noqa: S101 - start_run returns one or the other
        raise LockHeld(given.connection_id, started.running.holder, started.running.expires_at)
    run = started.run
    chunks = full_sync.held_chunks(ports, run.tenant_id, run.run_id) if given.phase == "apply" else ()
    return SyncState(
        tenant_id=run.tenant_id,
        connection_id=run.connection_id,
        run_id=run.run_id,
        trigger=run.trigger,
        phase=given.phase,
        chunks=chunks,
        has_more=given.phase == "fetch",
    )


def fetch_page(ports: SyncPorts, state: Mapping[str, Any]) -> SyncState:
    current = SyncState.model_validate(state)
    fetched = full_sync.fetch_pages(
        ports,
        current.tenant_id,
        current.connection_id,
        current.run_id,
        page=current.page,
        cursor=current.cursor,
    )
    return current.model_copy(
        update={
            "page": current.page + fetched.pages,
            "cursor": fetched.next_cursor,
            "has_more": not fetched.done,
        }
    )


def plan(ports: SyncPorts, state: Mapping[str, Any]) -> SyncState:
    current = SyncState.model_validate(state)
    planned = full_sync.plan_run(ports, current.tenant_id, current.connection_id, current.run_id)
    if planned.outcome not in ("apply", "blocked", "nothing"):  # pragma: no cover - the service's contract
        raise InvalidInput(f"unknown plan outcome {planned.outcome!r}", field="outcome")
    return current.model_copy(update={"verdict": planned.outcome, "chunks": planned.chunks, "cursor": None})


def apply_chunk(ports: SyncPorts, state: Mapping[str, Any]) -> ChunkResult:
    item = ChunkInput.model_validate(state)
    counts = full_sync.apply_chunk(ports, item.tenant_id, item.connection_id, item.run_id, item.chunk)
    return ChunkResult(run_id=item.run_id, chunk=item.chunk, counts=counts)


def finish(ports: SyncPorts, state: Mapping[str, Any]) -> FinishResult:
    current = SyncState.model_validate(state)
    run = full_sync.finish_run(ports, current.tenant_id, current.connection_id, current.run_id)
    ended = run.finished_at or ports.clock.now()
    return FinishResult(
        run_id=run.run_id,
        status=run.status,
        duration_seconds=max(0.0, (ended - run.started_at).total_seconds()),
        applied=run.applied,
    )


def fail(ports: SyncPorts, state: Mapping[str, Any]) -> FailResult:
    given = FailInput.model_validate(state)
    reason = given.error.summary()
    if given.run_id is None:
        return FailResult(run_id=None, status=None, error=reason)
    run = full_sync.fail_run(ports, given.tenant_id, given.connection_id, given.run_id, reason)
    return FailResult(run_id=run.run_id, status=run.status, error=reason)


Step = Callable[[SyncPorts, Mapping[str, Any]], BaseModel]

# The `step` names the state machine sends (infra/constructs/sync.py imports nothing from here;
# tests/infra checks the two lists are the same).
STEPS: dict[str, Step] = {
    "start": start,
    "fetch_page": fetch_page,
    "plan": plan,
    "apply_chunk": apply_chunk,
    "finish": finish,
    "fail": fail,
}
