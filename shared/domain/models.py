"""The domain's data: employees as HR systems report them, members of the app, connections and plans.

No I/O, no clock. The values a sync handles by the hundred thousand (``Employee``, ``Profile``,
``Member``) are plain slotted dataclasses: they validate nothing themselves; ``shared.codecs``
validates outside data (HR records, stored items) into them. Connections, plans and their
actions are frozen pydantic models. Everything that crosses a boundary (provider, table, API) is
mapped to and from these on purpose (see docs/decisions.md, "Separate models").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# ---------------------------------------------------------------------------------------------
# Employees (what a provider reports, normalised)
# ---------------------------------------------------------------------------------------------


class EmployeeStatus(StrEnum):
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    TERMINATED = "terminated"
    PENDING = "pending"


# The fields that sync from an HR system onto a member's profile (R15), in a fixed order.
SYNCED_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "employee_number",
    "avatar_url",
    "job_title",
    "department",
    "company",
    "groups",
    "office_location",
    "home_country",
    "birthday",
    "start_date",
    "termination_date",
    "manager_hris_id",
)
_DATE_FIELDS = ("birthday", "start_date", "termination_date")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Frozen(BaseModel):
    """Base of the domain's pydantic models (connections, plans): immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True, kw_only=True)
class Employee:
    """One person as an HR system reports them, normalised by a provider connector.

    A plain immutable value: the providers build it (``shared.providers.common.build_employee``)
    through ``shared.codecs.employee_from``, which is lenient on purpose (R04, R25): a malformed
    date becomes ``None`` and an unknown status becomes ``active``, each recorded in ``warnings``
    so the run reports it; nothing there raises for data an HR system really sends.
    """

    hris_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    employee_number: str | None = None
    avatar_url: str | None = None
    job_title: str | None = None
    department: str | None = None
    company: str | None = None
    # Department, team, division ... names this employee belongs to (scope by groups, R01).
    groups: tuple[str, ...] = ()
    office_location: str | None = None
    home_country: str | None = None
    birthday: date | None = None
    start_date: date | None = None
    termination_date: date | None = None
    manager_hris_id: str | None = None
    # The HR system's role or permission label, for role mappings (R18).
    hris_role: str | None = None
    status: EmployeeStatus = EmployeeStatus.ACTIVE
    # The vendor's own status value, kept for troubleshooting.
    raw_status: str | None = None
    # R04: the HR record had no status, or one the connector does not know; ``status`` is then the
    # lenient ``active`` and the run lists the employee with ``raw_status`` for an admin to see.
    status_unknown: bool = False
    # Data problems found while normalising (unknown status, malformed date ...).
    warnings: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    # --- scope (R33): the ids the connection's directory lists for this employee's company and
    # groups (department, team, division ...), exactly as it lists them; names stay above.
    company_id: str | None = None
    group_ids: tuple[str, ...] = ()

    @property
    def email_key(self) -> str | None:
        """The email as used for matching (R05): trimmed, lower-case; ``None`` when unusable."""
        if self.email is None or not _EMAIL.match(self.email):
            return None
        return self.email.lower()


def lenient_employee_fields(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """An HR record's normalised fields, before they are typed (R04, R25): malformed dates become
    ``None`` and unknown statuses ``active`` (each with a warning); emails are trimmed."""
    warnings: list[str] = list(data.get("warnings") or ())
    fixed: dict[str, Any] | None = None
    for name in _DATE_FIELDS:
        value = data.get(name)
        if value is None or isinstance(value, date):
            continue
        parsed = _parse_date(value)
        if parsed is None:
            fixed = fixed if fixed is not None else dict(data)
            fixed[name] = None
            warnings.append(f"malformed {name} {str(value)[:40]!r} ignored")
        elif not isinstance(value, str) or parsed.isoformat() != value:
            fixed = fixed if fixed is not None else dict(data)
            fixed[name] = parsed
    status = data.get("status")
    if status is not None and not isinstance(status, EmployeeStatus):
        try:
            EmployeeStatus(status)
        except ValueError:
            fixed = fixed if fixed is not None else dict(data)
            fixed["status"] = EmployeeStatus.ACTIVE
            fixed.setdefault("raw_status", str(status))
            fixed["status_unknown"] = True
            warnings.append(f"unknown status {str(status)[:40]!r} treated as active")
    email = data.get("email")
    if isinstance(email, str):
        stripped = email.strip()
        if stripped != email or not stripped:
            fixed = fixed if fixed is not None else dict(data)
            fixed["email"] = stripped or None
    if fixed is None:
        return data
    fixed["warnings"] = tuple(warnings)
    return fixed


def _parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or text.startswith("0000"):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Members (people in the app)
# ---------------------------------------------------------------------------------------------


class MemberSource(StrEnum):
    HRIS = "hris"
    MANUAL = "manual"


class MemberStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    QUEUED = "queued"
    INVITED = "invited"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    ARCHIVED = "archived"


class DeactivationReason(StrEnum):
    TERMINATED = "terminated"  # R03
    LEFT_HRIS = "left_hris"  # R09
    OUT_OF_SCOPE = "out_of_scope"  # R11
    ON_LEAVE = "on_leave"  # R04
    ADMIN = "admin"  # R10: an admin deactivated the member
    REJECTED = "rejected"  # R07
    OFFBOARDED = "offboarded"  # R27


# Reasons a sync may undo (R12); any other reason is an admin's and sticks (R10).
SYNC_REASONS: frozenset[DeactivationReason] = frozenset(
    {
        DeactivationReason.TERMINATED,
        DeactivationReason.LEFT_HRIS,
        DeactivationReason.OUT_OF_SCOPE,
        DeactivationReason.ON_LEAVE,
    }
)


class Actor(StrEnum):
    SYNC = "sync"
    ADMIN = "admin"


class MemberFlag(StrEnum):
    NO_APPROVER = "no_approver"  # R17


# A member without flags (most of them): one shared empty set, also as read from storage.
NO_FLAGS: frozenset[MemberFlag] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """The synced fields of a member (R15): the HR values as last applied, or an admin's edits."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    employee_number: str | None = None
    avatar_url: str | None = None
    job_title: str | None = None
    department: str | None = None
    company: str | None = None
    groups: tuple[str, ...] = ()
    office_location: str | None = None
    home_country: str | None = None
    birthday: date | None = None
    start_date: date | None = None
    termination_date: date | None = None
    manager_hris_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A person in the app (a plain immutable value; ``shared.codecs`` reads and writes it)."""

    member_id: str
    tenant_id: str
    source: MemberSource
    # The link to an employee (R05): set for HRIS-managed members, kept after a disconnect (R20).
    connection_id: str | None = None
    hris_id: str | None = None
    status: MemberStatus
    # The status a deactivated member had, so a reactivation (R12) can restore it.
    status_before_deactivation: MemberStatus | None = None
    deactivation_reason: DeactivationReason | None = None
    deactivated_by: Actor | None = None
    profile: Profile = field(default_factory=Profile)
    # Fields an admin edited by hand, with the admin's value (R16).
    overrides: dict[str, Any] = field(default_factory=dict)
    approver_member_id: str | None = None
    # App-side values derived through the connection's mappings (R18).
    groups: tuple[str, ...] = ()
    location: str | None = None
    role: str | None = None
    region: str | None = None
    flags: frozenset[MemberFlag] = NO_FLAGS
    invite_sent_at: datetime | None = None
    invite_expires_at: datetime | None = None
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # --- users (R34) ---
    # The app's own user id for this member (``shared.domain.ids.is_external_id``); unique in the
    # tenant, set when the app brings its users in; a link (R05) never changes it.
    external_id: str | None = None

    @property
    def email_key(self) -> str | None:
        email = self.profile.email
        return email.strip().lower() if email else None

    @property
    def is_hris_managed(self) -> bool:
        return self.source is MemberSource.HRIS and self.connection_id is not None


# ---------------------------------------------------------------------------------------------
# Connections (one tenant's link to one HR system, with its settings)
# ---------------------------------------------------------------------------------------------


class ScopeMode(StrEnum):
    EVERYONE = "everyone"
    COMPANIES = "companies"
    GROUPS = "groups"
    PEOPLE = "people"
    MANUAL = "manual"


class ScopeLabel(_Frozen):
    """How the directory showed a selected id when the scope was saved (display only, R33)."""

    name: str
    kind: str | None = None


class Scope(_Frozen):
    """R01, R33: who is in scope. ``companies``, ``groups`` and ``people`` hold the ids the
    connection's directory lists; scopes saved before R33 may hold company and group names, which
    still match (``shared.domain.reconciler``)."""

    mode: ScopeMode = ScopeMode.EVERYONE
    companies: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    # Selected id -> its name and kind in the directory when the scope was saved.
    labels: dict[str, ScopeLabel] = Field(default_factory=dict)

    @property
    def selection(self) -> tuple[str, ...]:
        """The values the scope's mode selects by (empty for everyone and manual)."""
        if self.mode is ScopeMode.COMPANIES:
            return self.companies
        if self.mode is ScopeMode.GROUPS:
            return self.groups
        if self.mode is ScopeMode.PEOPLE:
            return self.people
        return ()


class InviteMode(StrEnum):
    NOW = "now"
    LATER = "later"


class ApprovalMode(StrEnum):
    AUTO = "auto"
    ADMIN = "admin"


class FieldPolicy(StrEnum):
    HRIS_WINS = "hris_wins"
    MANUAL_WINS = "manual_wins"


class MappingMode(StrEnum):
    REPLACE = "replace"
    ADDITIVE = "additive"


# R30: the longest rolling window a connection may set (the guard's log keeps two of them).
MAX_WEBHOOK_WINDOW_MINUTES = 24 * 60


class Mappings(_Frozen):
    """HR values -> app values (R18). Keys are compared as the HR system spells them."""

    groups: dict[str, str] = Field(default_factory=dict)  # department / team / division -> group
    locations: dict[str, str] = Field(default_factory=dict)  # office location -> location
    roles: dict[str, str] = Field(default_factory=dict)  # HR role -> permission level
    regions: dict[str, str] = Field(default_factory=dict)  # home country -> region


class SafetyThresholds(_Frozen):
    """R23: a plan is held when it deactivates more than both thresholds. R30: so are webhook
    deactivations once those of the last ``webhook_window_minutes`` exceed both."""

    max_deactivations: int = Field(default=50, ge=0)
    max_deactivation_pct: float = Field(default=20.0, ge=0, le=100)
    webhook_window_minutes: int = Field(default=60, ge=1, le=MAX_WEBHOOK_WINDOW_MINUTES)

    def exceeded_by(self, deactivations: int, active_members: int) -> bool:
        """Both thresholds exceeded (R23): more than ``max_deactivations`` and more than
        ``max_deactivation_pct`` of ``active_members`` (percentages rounded to 2 places)."""
        pct = round(100.0 * deactivations / active_members, 2) if active_members else 0.0
        return deactivations > self.max_deactivations and pct > self.max_deactivation_pct

    def webhook_allowance(self, window_deactivations: int, wanted: int, active_members: int) -> int:
        """R30: how many of ``wanted`` webhook deactivations may be applied after
        ``window_deactivations`` in the current window. The denominator is the connection's active
        members before the window's webhook deactivations (``active_members`` now plus them)."""
        before = active_members + window_deactivations
        allowed = 0
        while allowed < wanted and not self.exceeded_by(window_deactivations + allowed + 1, before):
            allowed += 1
        return allowed


class Schedule(_Frozen):
    """R28: a rate or cron expression (EventBridge Scheduler syntax); None = the provider default."""

    expression: str | None = None
    timezone: str = "UTC"


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    FAILING = "failing"
    DISCONNECTED = "disconnected"
    # R32: credentials checked, settings and preview open; no schedule, no run, no email until
    # activated. Not counted against ``max_connections`` (R22) until then.
    DRAFT = "draft"


class WatchSubscription(_Frozen):
    """A vendor-side subscription to changes held for a connection (a Graph subscription, a
    Google ``users.watch`` channel): its id, when it lapses, what it watches. Its secret pieces
    (Graph's clientState, Google's channel token) live in the connection's credentials."""

    id: str = Field(min_length=1, max_length=512)
    expires_at: AwareDatetime
    resource: str = Field(default="", max_length=512)


class Connection(_Frozen):
    connection_id: str = Field(min_length=1)
    tenant_id: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    label: str = Field(min_length=1, max_length=120)
    status: ConnectionStatus = ConnectionStatus.ACTIVE
    scope: Scope = Field(default_factory=Scope)
    invites: InviteMode = InviteMode.NOW
    approval: ApprovalMode = ApprovalMode.AUTO
    field_policy: FieldPolicy = FieldPolicy.HRIS_WINS
    mapping_mode: MappingMode = MappingMode.REPLACE
    mappings: Mappings = Field(default_factory=Mappings)
    default_role: str = "member"
    start_date_gating: bool = True
    deactivate_on_leave: bool = False
    resend_expired_invites: bool = True
    invite_ttl_days: int = Field(default=30, ge=1, le=365)
    safety: SafetyThresholds = Field(default_factory=SafetyThresholds)
    schedule: Schedule = Field(default_factory=Schedule)
    # The tenant's time zone, for start-date gating (R02).
    timezone: str = "UTC"
    # Who receives this connection's emails (import finished, sync blocked, connection failing).
    admin_emails: tuple[str, ...] = ()
    # Refuse webhook deliveries without the vendor's signature (401) where signing is optional
    # (HiBob); the other vendors' deliveries are always signed and always verified.
    require_signature: bool = False
    # Set when the first complete sync was applied; until then the sync claims every
    # HRIS-managed member of the tenant by email (R21).
    first_complete_sync_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = Field(default=0, ge=0)
    # --- draft part (issue 12, R32): who connected it, and when it was activated ---
    # The admin who made the connection (the token's subject) and their email (the token's
    # ``email`` claim): completion, blocked and failing emails go to it besides ``admin_emails``.
    connected_by: str | None = None
    connected_by_email: str | None = None
    # When the draft became active (its schedule's start); None for a draft.
    activated_at: datetime | None = None
    # --- change notifications (issue 14): the vendor-side subscription, for the connectors that
    # need one (``Subscribes``); None: none made (yet), or the connector needs none.
    subscription: WatchSubscription | None = None
    # The full URL the vendor notifies (``<API base>/webhooks/<connection_id>``), fixed when the
    # connection is activated or edited through the API (its own public URL, or the deployment's
    # ``notification_base_url``), so a scheduled renewal or a new subscription needs no request.
    notification_url: str | None = Field(default=None, max_length=2048)

    @property
    def in_subscription_sweep(self) -> bool:
        """Whether the scheduled renewal sweep looks after it: it holds a vendor subscription or
        wants one (its notification URL is known), and is neither a draft nor disconnected."""
        wants = self.subscription is not None or self.notification_url is not None
        return wants and self.status not in (ConnectionStatus.DRAFT, ConnectionStatus.DISCONNECTED)


# ---------------------------------------------------------------------------------------------
# Snapshots and plans
# ---------------------------------------------------------------------------------------------


class Snapshot(_Frozen):
    """The employees fetched in one full sync. Only a complete snapshot may deactivate (R09)."""

    employees: tuple[Employee, ...]
    complete: bool
    # Why it is incomplete (a page failed, a rate limit gave up ...).
    reasons: tuple[str, ...] = ()


class Targeted(_Frozen):
    """Employees named by a webhook, fetched alone: never a reason to deactivate the absent (R09)."""

    employees: tuple[Employee, ...]


class TaskType(StrEnum):
    ONBOARDING = "onboarding"
    OFFBOARDING = "offboarding"


class FieldChange(_Frozen):
    before: Any = None
    after: Any = None


class CreateMember(_Frozen):
    kind: Literal["create"] = "create"
    member_id: str
    hris_id: str
    status: MemberStatus
    profile: Profile
    groups: tuple[str, ...] = ()
    location: str | None = None
    role: str | None = None
    region: str | None = None
    approver_member_id: str | None = None
    flags: frozenset[MemberFlag] = frozenset()


class LinkMember(_Frozen):
    kind: Literal["link"] = "link"
    member_id: str
    hris_id: str
    connection_id: str
    matched_by: Literal["link", "email"]


class UpdateMember(_Frozen):
    kind: Literal["update"] = "update"
    member_id: str
    # Field name -> before/after. Profile fields by name; app fields as "app_groups" (the
    # member's own ``groups``, not the profile's HR groups), "location", "role", "region",
    # "approver_member_id".
    changes: dict[str, FieldChange]
    # Overrides this update drops (R16, hris_wins).
    clear_overrides: tuple[str, ...] = ()


class DeactivateMember(_Frozen):
    kind: Literal["deactivate"] = "deactivate"
    member_id: str
    reason: DeactivationReason
    # Who deactivates: a sync's plans always say ``sync``; services reuse the action for admin
    # deactivations (R10, R27) with ``admin``, which later syncs never undo.
    by: Actor = Actor.SYNC


class ReactivateMember(_Frozen):
    kind: Literal["reactivate"] = "reactivate"
    member_id: str
    to_status: MemberStatus


class SendInvite(_Frozen):
    kind: Literal["send_invite"] = "send_invite"
    member_id: str
    email: str


class ResendInvite(_Frozen):
    kind: Literal["resend_invite"] = "resend_invite"
    member_id: str
    email: str


class OpenTask(_Frozen):
    kind: Literal["open_task"] = "open_task"
    member_id: str
    task_type: TaskType
    reason: str


class SetFlag(_Frozen):
    kind: Literal["flag"] = "flag"
    member_id: str
    flag: MemberFlag
    on: bool


class SkipRecord(_Frozen):
    kind: Literal["skip"] = "skip"
    hris_id: str
    reason: str  # a stable code: missing_email, duplicate_email, invalid_email, ...
    detail: str = ""


Action = Annotated[
    CreateMember
    | LinkMember
    | UpdateMember
    | DeactivateMember
    | ReactivateMember
    | SendInvite
    | ResendInvite
    | OpenTask
    | SetFlag
    | SkipRecord,
    Field(discriminator="kind"),
]


class PlanWarning(_Frozen):
    code: str  # unknown_status, malformed_date, unmapped_role, ...
    message: str
    hris_id: str | None = None


class UnknownStatus(_Frozen):
    """R04: an employee whose HR status was missing or unknown; kept active, listed on the run."""

    hris_id: str
    # The vendor's value (its first 100 characters); None when the record had no status.
    raw_status: str | None = None


class PlanCounts(_Frozen):
    created: int = 0
    linked: int = 0
    updated: int = 0
    deactivated: int = 0
    reactivated: int = 0
    invites: int = 0
    invite_resends: int = 0
    tasks: int = 0
    flags: int = 0
    skipped: int = 0
    warnings: int = 0


class GuardVerdict(_Frozen):
    """R23 as a verdict on a plan: ``hold`` when both thresholds are exceeded."""

    hold: bool
    deactivations: int
    active_members: int
    pct: float


class Plan(_Frozen):
    tenant_id: str
    connection_id: str
    # Full sync (snapshot) or webhook (targeted).
    mode: Literal["full", "targeted"]
    complete: bool
    actions: tuple[Action, ...] = ()
    warnings: tuple[PlanWarning, ...] = ()
    # R04: every employee of the source whose status was missing or unknown, by HR id.
    unknown_statuses: tuple[UnknownStatus, ...] = ()
    counts: PlanCounts = Field(default_factory=PlanCounts)
    guard: GuardVerdict

    @property
    def writes(self) -> tuple[Action, ...]:
        """Actions that change something (everything but skips)."""
        return tuple(a for a in self.actions if a.kind != "skip")

    @property
    def is_empty(self) -> bool:
        return not self.writes
