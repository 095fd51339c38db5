"""Members, invites, tasks and audit entries as the API takes and shows them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from functions.admin_api.models.common import NEXT_CURSOR_DESCRIPTION, RequestModel, ResponseModel
from shared.codecs import to_plain
from shared.domain.ids import EXTERNAL_ID_PATTERN, ID_PATTERN, MAX_EXTERNAL_ID_LENGTH, MAX_ID_LENGTH
from shared.domain.models import (
    Actor,
    DeactivationReason,
    Member,
    MemberFlag,
    MemberSource,
    MemberStatus,
    Profile,
    TaskType,
)
from shared.domain.records import AuditEntry, Task, TaskStatus
from shared.services.app_users import MAX_USERS_PER_CALL, AppUser, Outcome, UserResult
from shared.services.members import MAX_INVITES_PER_CALL, InviteResult

Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MemberId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
EmailAddress = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)]
EXTERNAL_ID_DESCRIPTION = (
    "The app's own user id (R34): any characters but control characters, no surrounding spaces, "
    f"1 to {MAX_EXTERNAL_ID_LENGTH} characters; unique in the tenant, compared exactly"
)
ExternalId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_EXTERNAL_ID_LENGTH, pattern=EXTERNAL_ID_PATTERN),
]


class ProfileOut(ResponseModel):
    first_name: str | None
    last_name: str | None
    email: str | None
    employee_number: str | None
    avatar_url: str | None
    job_title: str | None
    department: str | None
    company: str | None
    groups: list[str] = Field(description="The HR system's groups (department, team ...)")
    office_location: str | None
    home_country: str | None
    birthday: date | None
    start_date: date | None
    termination_date: date | None
    manager_hris_id: str | None

    @classmethod
    def of(cls, p: Profile) -> ProfileOut:
        return cls.model_validate({**to_plain(p, mode="python"), "groups": list(p.groups)})


class MemberOut(ResponseModel):
    id: str
    external_id: str | None = Field(description=EXTERNAL_ID_DESCRIPTION)
    source: MemberSource
    connection_id: str | None = Field(description="The HR connection this member is linked to (R05)")
    hris_id: str | None
    status: MemberStatus
    deactivation_reason: DeactivationReason | None
    deactivated_by: Actor | None
    profile: ProfileOut
    overridden_fields: list[str] = Field(description="Profile fields an admin edited by hand (R16)")
    approver_member_id: str | None
    groups: list[str] = Field(description="The app's groups, through the connection's mappings (R18)")
    location: str | None
    role: str | None
    region: str | None
    flags: list[MemberFlag]
    invite_sent_at: datetime | None
    invite_expires_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    version: int

    @classmethod
    def of(cls, m: Member) -> MemberOut:
        return cls(
            id=m.member_id,
            external_id=m.external_id,
            source=m.source,
            connection_id=m.connection_id,
            hris_id=m.hris_id,
            status=m.status,
            deactivation_reason=m.deactivation_reason,
            deactivated_by=m.deactivated_by,
            profile=ProfileOut.of(m.profile),
            overridden_fields=sorted(m.overrides),
            approver_member_id=m.approver_member_id,
            groups=list(m.groups),
            location=m.location,
            role=m.role,
            region=m.region,
            flags=sorted(m.flags),
            invite_sent_at=m.invite_sent_at,
            invite_expires_at=m.invite_expires_at,
            created_at=m.created_at,
            updated_at=m.updated_at,
            version=m.version,
        )


class MemberList(ResponseModel):
    items: list[MemberOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DESCRIPTION)


class AppUserIn(RequestModel):
    """One of the app's own users, brought in as a manual member (R34)."""

    email: EmailAddress
    first_name: Text | None = None
    last_name: Text | None = None
    external_id: ExternalId | None = Field(default=None, description=EXTERNAL_ID_DESCRIPTION)
    role: Text | None = Field(default=None, description="The member's permission level in the app")
    groups: list[Text] = Field(default_factory=list, max_length=100, description="The app's groups")
    location: Text | None = None

    def user(self) -> AppUser:
        return AppUser(
            email=self.email,
            first_name=self.first_name,
            last_name=self.last_name,
            external_id=self.external_id,
            role=self.role,
            groups=tuple(self.groups),
            location=self.location,
        )


class AppUserImportRequest(RequestModel):
    """Up to 1,000 app users. Each is validated on its own: a user that does not validate is
    reported ``invalid`` and writes nothing, the others are taken (see the route)."""

    users: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_USERS_PER_CALL,
        description=f"1 to {MAX_USERS_PER_CALL} users, each an `AppUserIn`",
        json_schema_extra={"items": {"$ref": "#/components/schemas/AppUserIn"}},
    )


class FieldProblemOut(ResponseModel):
    location: list[str]
    type: str
    message: str


class ImportedUserOut(ResponseModel):
    index: int = Field(description="The user's position in `users`, from 0")
    outcome: Outcome = Field(
        description="created; existing (nothing changed); updated (the member with this email had "
        "no external id and got this one); invalid (nothing written, see `reason`); conflict "
        "(nothing written: the external id and the email are different members', see `member_ids`)"
    )
    member_id: str | None
    external_id: str | None
    email: str | None
    reason: str | None = Field(
        description="invalid: invalid_fields, duplicate_email, duplicate_external_id, "
        "<field>_too_long; conflict: external_id_and_email_of_different_members, "
        "email_of_a_member_with_another_external_id, concurrent_change"
    )
    detail: str | None
    member_ids: list[str] = Field(description="conflict: the members involved")
    problems: list[FieldProblemOut] = Field(description="invalid_fields: what does not validate")

    @classmethod
    def of(cls, r: UserResult) -> ImportedUserOut:
        m = r.member
        return cls(
            index=r.index,
            outcome=r.outcome,
            member_id=m.member_id if m else None,
            external_id=m.external_id if m else None,
            email=m.profile.email if m else None,
            reason=r.reason,
            detail=r.detail or None,
            member_ids=list(r.member_ids),
            problems=[],
        )

    @classmethod
    def invalid(cls, index: int, problems: list[FieldProblemOut]) -> ImportedUserOut:
        return cls(
            index=index,
            outcome=Outcome.INVALID,
            member_id=None,
            external_id=None,
            email=None,
            reason="invalid_fields",
            detail="the user does not validate; nothing was written for it",
            member_ids=[],
            problems=problems,
        )


class ImportResultOut(ResponseModel):
    counts: dict[Outcome, int] = Field(description="Users per outcome")
    results: list[ImportedUserOut] = Field(description="One per user, in the order sent")

    @classmethod
    def of(cls, results: list[ImportedUserOut]) -> ImportResultOut:
        counts = dict.fromkeys(Outcome, 0)
        for r in results:
            counts[r.outcome] += 1
        return cls(counts=counts, results=results)


class MemberEditRequest(RequestModel):
    """Profile fields to change; null clears a field. For an HR-managed member every edited field
    becomes an override that syncs respect until a resync (R16)."""

    first_name: Text | None = None
    last_name: Text | None = None
    email: EmailAddress | None = None
    employee_number: Text | None = None
    avatar_url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None
    job_title: Text | None = None
    department: Text | None = None
    company: Text | None = None
    groups: list[Text] = Field(default_factory=list, max_length=100)
    office_location: Text | None = None
    home_country: Text | None = None
    birthday: date | None = None
    start_date: date | None = None
    termination_date: date | None = None
    manager_hris_id: Text | None = None

    @model_validator(mode="after")
    def _something(self) -> MemberEditRequest:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class InviteRequest(RequestModel):
    member_ids: list[MemberId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_INVITES_PER_CALL,
        description="The queued members to invite",
    )
    all: bool = Field(default=False, description="Invite every queued member instead")

    @model_validator(mode="after")
    def _one_of(self) -> InviteRequest:
        if self.all == (self.member_ids is not None):
            raise ValueError("send either `member_ids` or `all: true`")
        return self


class NotSentOut(ResponseModel):
    member_id: str
    reason: str = Field(
        description="not_found, not_queued, missing_email or conflict; or SES's refusal: "
        "email_rejected (the member is invited, its email did not go), email_throttled or "
        "email_sending_paused (SES takes no email now: the first such member is invited without "
        "one, the rest stay queued)"
    )


class InviteResultOut(ResponseModel):
    sent: list[str]
    not_sent: list[NotSentOut]

    @classmethod
    def of(cls, r: InviteResult) -> InviteResultOut:
        return cls(
            sent=list(r.sent), not_sent=[NotSentOut(member_id=m, reason=reason) for m, reason in r.not_sent]
        )


class TaskOut(ResponseModel):
    id: str
    member_id: str
    type: TaskType
    status: TaskStatus
    reason: str = Field(description="Why it opened: created, left_hris, terminated, offboarded ...")
    connection_id: str | None
    run_id: str | None
    opened_at: datetime
    completed_at: datetime | None
    completed_by: str | None

    @classmethod
    def of(cls, t: Task) -> TaskOut:
        return cls(
            id=t.task_id,
            member_id=t.member_id,
            type=t.type,
            status=t.status,
            reason=t.reason,
            connection_id=t.connection_id,
            run_id=t.run_id,
            opened_at=t.opened_at,
            completed_at=t.completed_at,
            completed_by=t.completed_by,
        )


class TaskList(ResponseModel):
    items: list[TaskOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DESCRIPTION)


class AuditEntryOut(ResponseModel):
    id: str
    member_id: str
    at: datetime
    actor: Actor
    actor_id: str | None = Field(description="The admin's id, or the run (or webhook) that acted")
    action: str
    before: dict[str, Any]
    after: dict[str, Any]
    run_id: str | None
    connection_id: str | None

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls(
            id=e.entry_id,
            member_id=e.member_id,
            at=e.at,
            actor=e.actor,
            actor_id=e.actor_id,
            action=e.action,
            before=dict(e.before),
            after=dict(e.after),
            run_id=e.run_id,
            connection_id=e.connection_id,
        )


class AuditList(ResponseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DESCRIPTION)
