"""What the service records about its own work: sync runs, tasks and audit entries.

Pure pydantic models beside ``models.py`` (kept apart so the reconciler's file stays about people
and plans). The ports speak these; the stores map them to and from their own item shapes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.models import Actor, PlanCounts, TaskType, UnknownStatus


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------------------------------------
# Sync runs
# ---------------------------------------------------------------------------------------------


class RunStatus(StrEnum):
    RUNNING = "running"
    BLOCKED = "blocked"  # R23: the plan is held until an admin confirms or discards it
    COMPLETED = "completed"
    PARTIAL = "partial"  # R09: the snapshot was incomplete; nobody was deactivated
    FAILED = "failed"
    DISCARDED = "discarded"  # R23: an admin discarded the held plan

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.RUNNING, RunStatus.BLOCKED)


class RunTrigger(StrEnum):
    FIRST_IMPORT = "first_import"
    SCHEDULE = "schedule"
    MANUAL = "manual"
    SCOPE_CHANGE = "scope_change"  # R19
    WEBHOOK_GUARD = "webhook_guard"  # R30: webhook deactivations held for an admin (no fetch, no plan)
    # The vendor said notifications were missed or its subscription was removed (Graph lifecycle).
    NOTIFICATIONS_MISSED = "notifications_missed"


class RunPhase(StrEnum):
    FETCHING = "fetching"
    PLANNING = "planning"
    APPLYING = "applying"
    DONE = "done"


class RunProgress(_Frozen):
    phase: RunPhase = RunPhase.FETCHING
    pages_fetched: int = Field(default=0, ge=0)
    employees_fetched: int = Field(default=0, ge=0)
    chunks_total: int = Field(default=0, ge=0)
    chunks_applied: int = Field(default=0, ge=0)
    actions_total: int = Field(default=0, ge=0)


class SkippedRecord(_Frozen):
    """An employee a run skipped, with a stable reason code (R25) and a human detail."""

    hris_id: str
    reason: str
    detail: str = ""


class UnsentEmails(_Frozen):
    """Emails of one template that SES did not take during a run, by its answer. The run went on
    (an email never fails a sync); the admin sees these on the run."""

    template: str
    # Our error code (email_rejected, email_throttled, email_sending_paused) and SES's own.
    reason: str
    aws_code: str
    count: int = Field(ge=1)
    # The members whose invite was not sent (the first ``MAX_UNSENT_MEMBER_IDS``).
    member_ids: tuple[str, ...] = ()

    def summary(self) -> str:
        """The run warning that says it: ``email_not_sent: 3 member_invite email(s) ...``."""
        who = f" (members {', '.join(self.member_ids)}{', ...' if self.count > len(self.member_ids) else ''})"
        return (
            f"email_not_sent: {self.count} {self.template} email(s) not sent: "
            f"SES answered {self.aws_code} ({self.reason}){who if self.member_ids else ''}"
        )


MAX_UNSENT_MEMBER_IDS = 20


class SyncRun(_Frozen):
    run_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    connection_id: str = Field(min_length=1)
    trigger: RunTrigger
    status: RunStatus = RunStatus.RUNNING
    started_at: datetime
    finished_at: datetime | None = None
    progress: RunProgress = Field(default_factory=RunProgress)
    # What the plan intends (set at planning) and what was applied so far (summed per chunk).
    planned: PlanCounts = Field(default_factory=PlanCounts)
    applied: PlanCounts = Field(default_factory=PlanCounts)
    # Chunk indexes already applied: a repeated chunk is recognised and does nothing twice.
    chunks_done: frozenset[int] = frozenset()
    skipped: tuple[SkippedRecord, ...] = ()
    warnings: tuple[str, ...] = ()
    # R04: employees whose HR status was missing or unknown (kept active): how many, and the first
    # ``max_skipped_kept`` of them by HR id.
    unknown_statuses: tuple[UnknownStatus, ...] = ()
    unknown_statuses_total: int = Field(default=0, ge=0)
    # The snapshot was complete (every page fetched); when not, why (R09).
    snapshot_complete: bool = True
    incomplete_reasons: tuple[str, ...] = ()
    # Blob key of the stored plan; set when the plan is held (R23) or being applied.
    plan_key: str | None = None
    # The employee count of each fetched page, by page index (the pages live in blobs).
    page_sizes: tuple[int, ...] = ()
    # The fields the fetched pages supply (R15): the connector's capabilities for the credentials
    # that fetched them (their intersection, should they change mid-run); None before any page.
    capabilities: frozenset[str] | None = None
    # Why a run failed: a short, credential-free reason.
    error: str | None = None
    # Who confirmed or discarded a held plan.
    decided_by: str | None = None
    # Emails SES refused during the run, by template and answer (the run is not failed for them).
    emails_not_sent: tuple[UnsentEmails, ...] = ()
    version: int = Field(default=0, ge=0)


# ---------------------------------------------------------------------------------------------
# Tasks (R26, R27)
# ---------------------------------------------------------------------------------------------


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class Task(_Frozen):
    # Deterministic for sync-opened tasks (derived from the run and the action), so that opening
    # the same task twice is harmless.
    task_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    member_id: str = Field(min_length=1)
    type: TaskType
    status: TaskStatus = TaskStatus.OPEN
    # Why it opened: "created", "left_hris", "terminated", "offboarded" ...
    reason: str = ""
    connection_id: str | None = None
    run_id: str | None = None
    opened_at: datetime
    completed_at: datetime | None = None
    completed_by: str | None = None


# ---------------------------------------------------------------------------------------------
# Audit (who or what changed a member, when, before and after)
# ---------------------------------------------------------------------------------------------


class AuditEntry(_Frozen):
    # Deterministic for sync actions (run + action), so that a repeated chunk writes it once.
    entry_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    member_id: str = Field(min_length=1)
    at: datetime
    actor: Actor
    # The admin's id for admin actions; the run id (or "webhook:<delivery>") for sync actions.
    actor_id: str | None = None
    # The action: create, link, update, deactivate, reactivate, send_invite, approve, reject,
    # archive, edit, resync, offboard, flag ...
    action: str
    # The member fields the action changed, before and after (JSON-safe values).
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    connection_id: str | None = None
