"""Sync runs and plans as the API shows them (never blob keys, chunk bookkeeping or versions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from functions.admin_api.models.common import NEXT_CURSOR_DESCRIPTION, ResponseModel
from shared.domain.models import (
    Action,
    CreateMember,
    DeactivateMember,
    GuardVerdict,
    LinkMember,
    Member,
    MemberStatus,
    OpenTask,
    PlanCounts,
    PlanWarning,
    ReactivateMember,
    ResendInvite,
    SendInvite,
    SetFlag,
    SkipRecord,
    UpdateMember,
)
from shared.domain.records import RunPhase, RunStatus, RunTrigger, SyncRun, UnsentEmails
from shared.services.connections import MatchResult, Preview, ScopeCount


class CountsOut(ResponseModel):
    created: int
    linked: int
    updated: int
    deactivated: int
    reactivated: int
    invites: int
    invite_resends: int
    tasks: int
    flags: int
    skipped: int
    warnings: int

    @classmethod
    def of(cls, c: PlanCounts) -> CountsOut:
        return cls.model_validate(c.model_dump())


class ProgressOut(ResponseModel):
    phase: RunPhase
    pages_fetched: int
    employees_fetched: int
    chunks_total: int
    chunks_applied: int
    actions_total: int


class SkippedOut(ResponseModel):
    hris_id: str
    reason: str = Field(description="Stable code: missing_email, duplicate_email, invalid_email ...")
    detail: str


class UnknownStatusOut(ResponseModel):
    hris_id: str = Field(description="The employee's id in the HR system")
    raw_status: str | None = Field(
        description="The status value the HR system sent (its first 100 characters); null: it sent none"
    )


class UnsentEmailsOut(ResponseModel):
    """Emails of one template SES did not take during the run (the run went on without them)."""

    template: str = Field(description="member_invite, import_complete, sync_blocked or connection_failing")
    reason: str = Field(description="email_rejected, email_throttled or email_sending_paused")
    aws_code: str = Field(description="SES's error code (MessageRejected, TooManyRequestsException ...)")
    count: int
    member_ids: list[str] = Field(description="Invites: the members who did not get theirs (the first 20)")

    @classmethod
    def of(cls, u: UnsentEmails) -> UnsentEmailsOut:
        return cls(
            template=u.template,
            reason=u.reason,
            aws_code=u.aws_code,
            count=u.count,
            member_ids=list(u.member_ids),
        )


class RunSummaryOut(ResponseModel):
    """A run in a list (the skipped records and warnings are on the run itself)."""

    id: str
    connection_id: str
    trigger: RunTrigger
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    progress: ProgressOut
    planned: CountsOut = Field(description="What the plan intends")
    applied: CountsOut = Field(description="What was applied so far")
    snapshot_complete: bool
    error: str | None
    decided_by: str | None = Field(description="The admin who confirmed or discarded a held plan")

    @classmethod
    def _fields(cls, r: SyncRun) -> dict[str, Any]:
        return {
            "id": r.run_id,
            "connection_id": r.connection_id,
            "trigger": r.trigger,
            "status": r.status,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "progress": ProgressOut.model_validate(r.progress.model_dump()),
            "planned": CountsOut.of(r.planned),
            "applied": CountsOut.of(r.applied),
            "snapshot_complete": r.snapshot_complete,
            "error": r.error,
            "decided_by": r.decided_by,
        }

    @classmethod
    def of(cls, r: SyncRun) -> RunSummaryOut:
        return cls(**cls._fields(r))


class RunOut(RunSummaryOut):
    skipped: list[SkippedOut] = Field(description="Employees skipped, with reasons (the first 1,000)")
    warnings: list[str] = Field(
        description="`<code>: <message>` lines: the plan's warnings, then one `email_not_sent` line "
        "per entry of `emails_not_sent`"
    )
    emails_not_sent: list[UnsentEmailsOut] = Field(
        description="Emails SES refused or throttled during the run, by template and answer"
    )
    incomplete_reasons: list[str] = Field(description="Why the snapshot was incomplete (R09)")
    unknown_statuses: list[UnknownStatusOut] = Field(
        description="Employees whose HR status was missing or unknown, kept active (R04; the first 1,000)"
    )
    unknown_statuses_total: int = Field(description="How many employees had a missing or unknown status")

    @classmethod
    def of(cls, r: SyncRun) -> RunOut:
        return cls(
            **cls._fields(r),
            skipped=[SkippedOut(hris_id=s.hris_id, reason=s.reason, detail=s.detail) for s in r.skipped],
            warnings=[*r.warnings, *(u.summary() for u in r.emails_not_sent)],
            emails_not_sent=[UnsentEmailsOut.of(u) for u in r.emails_not_sent],
            incomplete_reasons=list(r.incomplete_reasons),
            unknown_statuses=[
                UnknownStatusOut(hris_id=u.hris_id, raw_status=u.raw_status) for u in r.unknown_statuses
            ],
            unknown_statuses_total=r.unknown_statuses_total,
        )


class RunList(ResponseModel):
    items: list[RunSummaryOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DESCRIPTION)


# --- preview (a plan, applied nowhere) and match -----------------------------------------------


class FieldChangeOut(ResponseModel):
    before: Any
    after: Any


class ActionOut(ResponseModel):
    """One planned change; the fields that do not apply to its ``kind`` are null."""

    kind: str = Field(
        description="create, link, update, deactivate, reactivate, send_invite, resend_invite, "
        "open_task, flag, skip"
    )
    member_id: str | None
    hris_id: str | None
    status: MemberStatus | None = Field(description="create: the new member's status; reactivate: to")
    reason: str | None = Field(description="deactivate, open_task, skip: why")
    changes: dict[str, FieldChangeOut] | None = Field(description="update: field -> before/after")
    detail: str | None = Field(description="link: matched_by; open_task: task type; flag: flag on/off")
    name: str | None = Field(
        description="The person's name: the new member's (create), else the member's as the plan saw "
        "them; null when not known (a skipped record)"
    )
    email: str | None = Field(description="The person's email, as for `name`")

    @classmethod
    def of(cls, a: Action, member: Member | None = None) -> ActionOut:
        profile = member.profile if member is not None else None
        fields: dict[str, Any] = {
            "kind": a.kind,
            "member_id": getattr(a, "member_id", None),
            "hris_id": getattr(a, "hris_id", None) or (member.hris_id if member is not None else None),
            "status": None,
            "reason": None,
            "changes": None,
            "detail": None,
        }
        match a:
            case CreateMember():
                fields["status"] = a.status
                profile = a.profile
            case ReactivateMember():
                fields["status"] = a.to_status
            case DeactivateMember():
                fields["reason"] = a.reason.value
            case SkipRecord():
                fields["reason"] = a.reason
                fields["detail"] = a.detail or None
            case OpenTask():
                fields["reason"] = a.reason
                fields["detail"] = a.task_type.value
            case UpdateMember():
                fields["changes"] = {
                    k: FieldChangeOut(before=v.before, after=v.after) for k, v in a.changes.items()
                }
            case LinkMember():
                fields["detail"] = a.matched_by
            case SetFlag():
                fields["detail"] = f"{a.flag.value}:{'on' if a.on else 'off'}"
            case SendInvite() | ResendInvite():
                pass
        name = " ".join(p for p in (profile.first_name, profile.last_name) if p) if profile else ""
        return cls(**fields, name=name or None, email=profile.email if profile else None)


class RunActionPage(ResponseModel):
    items: list[ActionOut] = Field(description="One page of the plan's actions, in plan order")
    total: int = Field(description="The plan's actions of the asked kind, over all pages")
    next_cursor: str | None = Field(description=NEXT_CURSOR_DESCRIPTION)


class GuardOut(ResponseModel):
    hold: bool = Field(description="The plan would be held for an admin's decision (R23)")
    deactivations: int
    active_members: int
    pct: float

    @classmethod
    def of(cls, g: GuardVerdict) -> GuardOut:
        return cls(hold=g.hold, deactivations=g.deactivations, active_members=g.active_members, pct=g.pct)


class PlanWarningOut(ResponseModel):
    code: str
    message: str
    hris_id: str | None

    @classmethod
    def of(cls, w: PlanWarning) -> PlanWarningOut:
        return cls(code=w.code, message=w.message, hris_id=w.hris_id)


class ScopeCountOut(ResponseModel):
    id: str = Field(description="A value of the scope's selection (a directory id)")
    name: str
    kind: str | None
    people: int = Field(
        description="People it selects who are not terminated (0: nobody, e.g. a deleted group)"
    )

    @classmethod
    def of(cls, c: ScopeCount) -> ScopeCountOut:
        return cls(id=c.id, name=c.name, kind=c.kind, people=c.people)


class PreviewOut(ResponseModel):
    complete: bool = Field(description="Every page was fetched; only a complete snapshot deactivates (R09)")
    counts: CountsOut
    guard: GuardOut
    actions: list[ActionOut] = Field(description="The first `limit` actions")
    actions_total: int
    warnings: list[PlanWarningOut] = Field(description="The first `limit` warnings")
    warnings_total: int
    scope_counts: list[ScopeCountOut] = Field(
        description="R33: per company, group or person the scope selects, how many people it selects now"
    )

    @classmethod
    def of(cls, preview: Preview, limit: int) -> PreviewOut:
        plan = preview.plan
        return cls(
            complete=plan.complete,
            counts=CountsOut.of(plan.counts),
            guard=GuardOut.of(plan.guard),
            actions=[ActionOut.of(a) for a in plan.actions[:limit]],
            actions_total=len(plan.actions),
            warnings=[PlanWarningOut.of(w) for w in plan.warnings[:limit]],
            warnings_total=len(plan.warnings),
            scope_counts=[ScopeCountOut.of(c) for c in preview.scope_counts],
        )


class MatchPairOut(ResponseModel):
    hris_id: str
    member_id: str
    matched_by: str = Field(description="link (already linked) or email (R05)")


class MatchOut(ResponseModel):
    dry_run: bool
    linked: int = Field(description="Links stored by this call (0 on a dry run)")
    pairs: list[MatchPairOut] = Field(description="The first `limit` pairs")
    pairs_total: int

    @classmethod
    def of(cls, m: MatchResult, limit: int) -> MatchOut:
        return cls(
            dry_run=m.dry_run,
            linked=m.linked,
            pairs=[
                MatchPairOut(hris_id=p.hris_id, member_id=p.member_id, matched_by=p.matched_by)
                for p in m.pairs[:limit]
            ],
            pairs_total=len(m.pairs),
        )
