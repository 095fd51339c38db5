"""The reconciler: what a sync does to a tenant's members, as one pure function (RULES.md).

``plan(source, members, connection, today)`` compares what an HR system reports (a full
``Snapshot`` or the ``Targeted`` employees a webhook named) with every member of the tenant and
returns a ``Plan`` of typed actions. It reads no clock, no network and no environment; applying the
plan is ``shared.domain.apply.apply_plan``'s job, and applying it then planning again yields an
empty plan (R24).

How an employee is judged (first match wins):
  ``terminated`` (R03: status terminated, or a termination date on or before today),
  ``out_of_scope`` (R01), ``on_leave`` (R04, only with ``deactivate_on_leave``),
  ``not_started`` (R02: start date after today, or ``pending`` without a start date, only with
  ``start_date_gating``), else ``eligible``.

Members (``members`` is every member of the tenant):
  - *ours*: linked to this connection (``connection_id`` + ``hris_id``), found by the stored link;
  - unlinked employees are matched by email, case-insensitive (R05), against members of other
    connections, manual and archived members. Manual (R13) and archived (R14) members are never
    written: an employee that would match one is skipped (``manual_member``, ``archived_member``).
    A member of another connection is linked when it is deactivated (it is coming back, R12) or
    while this connection claims the tenant (R21); an active one is skipped
    (``linked_to_other_connection``).
  - R21: until ``connection.first_complete_sync_at`` is set, a *complete* snapshot claims every
    HRIS-managed member (``source = hris``) of the tenant, from any connection: matched ones are
    linked, unmatched live ones are deactivated with reason ``out_of_scope`` (not ``left_hris``:
    switching HR systems proves nobody left, so no offboarding task opens; they come back by
    email, R12).

Deactivations happen only for a reason the employee gives (R03, R04, R11) or, with a complete
snapshot, for being absent (R09, ``left_hris``). An incomplete snapshot deactivates nobody at all
(R09); targeted plans never deactivate the absent. Scope mode ``manual`` creates, links,
deactivates and reactivates nobody: it keeps linked members' fields current.

R23: ``Plan.guard`` counts deactivations of *live* members (status ``pending_approval``,
``queued``, ``invited`` or ``active``) against the connection's *active members*: the live members
linked to this connection before the plan, plus, while claiming (R21), the live HRIS-managed
members of the tenant it claims. The plan is held when the count exceeds
``safety.max_deactivations`` and the percentage exceeds ``safety.max_deactivation_pct``.

Output order (deterministic, independent of the order of ``members``; of the employees too except
which of two records with the same HR id counts): actions are grouped by kind, in the order
skip, link, create, reactivate, update, flag, deactivate, send_invite, resend_invite, open_task;
within a kind by member id (skips by HR id, then reason). Warnings come sorted by code, HR id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.ids import member_id_for
from shared.domain.models import (
    SYNC_REASONS,
    SYNCED_FIELDS,
    Action,
    Actor,
    ApprovalMode,
    Connection,
    CreateMember,
    DeactivateMember,
    DeactivationReason,
    Employee,
    EmployeeStatus,
    FieldChange,
    FieldPolicy,
    GuardVerdict,
    InviteMode,
    LinkMember,
    MappingMode,
    Member,
    MemberFlag,
    MemberSource,
    MemberStatus,
    OpenTask,
    Plan,
    PlanCounts,
    PlanWarning,
    Profile,
    ReactivateMember,
    ResendInvite,
    ScopeMode,
    SendInvite,
    SetFlag,
    SkipRecord,
    Snapshot,
    Targeted,
    TaskType,
    UpdateMember,
)

# Statuses of a member who is in the app (or on the way in): the ones a deactivation affects.
LIVE_STATUSES: frozenset[MemberStatus] = frozenset(
    {MemberStatus.PENDING_APPROVAL, MemberStatus.QUEUED, MemberStatus.INVITED, MemberStatus.ACTIVE}
)
# Member fields derived through the connection's mappings (R18), as keyed in updates and
# overrides ("app_groups" is ``Member.groups``; "groups" is the profile's HR groups).
APP_FIELDS: tuple[str, ...] = ("app_groups", "location", "role", "region")
# Deactivation reasons that open an offboarding task (R26).
OFFBOARDING_REASONS: frozenset[DeactivationReason] = frozenset(
    {DeactivationReason.TERMINATED, DeactivationReason.LEFT_HRIS}
)
# The order of action kinds in a plan.
KIND_ORDER: tuple[str, ...] = (
    "skip",
    "link",
    "create",
    "reactivate",
    "update",
    "flag",
    "deactivate",
    "send_invite",
    "resend_invite",
    "open_task",
)

# How an employee is judged (see the module docstring).
_TERMINATED = "terminated"
_OUT_OF_SCOPE = "out_of_scope"
_ON_LEAVE = "on_leave"
_NOT_STARTED = "not_started"
_ELIGIBLE = "eligible"
_REASON_FOR = {
    _TERMINATED: DeactivationReason.TERMINATED,
    _OUT_OF_SCOPE: DeactivationReason.OUT_OF_SCOPE,
    _ON_LEAVE: DeactivationReason.ON_LEAVE,
}
_WARNING_CODES = (("unknown status", "unknown_status"), ("malformed", "malformed_date"))


def plan(
    source: Snapshot | Targeted,
    members: Sequence[Member],
    connection: Connection,
    today: date | datetime,
    *,
    capabilities: frozenset[str] | None = None,
    resync: Collection[str] = (),
) -> Plan:
    """What this sync does to the tenant's members (every decision rule of RULES.md).

    ``today``: a ``date`` is taken as the tenant's local date; an aware ``datetime`` is converted
    to ``connection.timezone`` first (R02) and also dates invite expiry exactly (R08; with a plain
    date an invite counts as expired from the day after its expiry date).
    ``capabilities``: the synced fields (names of ``SYNCED_FIELDS``) the provider supplies; a field
    outside it is never written, so a provider never blanks what it does not know (R15).
    ``None`` means every synced field. Without ``manager_hris_id`` approvers and the
    ``no_approver`` flag are left alone (R17).
    ``resync``: member ids an admin resyncs (R16): their overrides are dropped and the HR values
    taken at once, whatever the field policy.
    """
    run = _Run(connection, today, capabilities, frozenset(resync), source)
    run.index(members)
    run.judge_all(source.employees)
    run.match_unlinked()
    run.deactivate_absent()
    run.sync_fields()
    return run.build_plan()


def local_today(now: datetime, timezone: str) -> date:
    """Today's date in ``timezone`` (an IANA name) for the aware instant ``now``; UTC if unknown."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def initial_status(connection: Connection) -> MemberStatus:
    """A new member's first status (R06)."""
    if connection.approval is ApprovalMode.ADMIN:
        return MemberStatus.PENDING_APPROVAL
    return MemberStatus.INVITED if connection.invites is InviteMode.NOW else MemberStatus.QUEUED


def active_member_count(members: Iterable[Member], connection_id: str) -> int:
    """R23's denominator outside a claim: live members linked to the connection."""
    return sum(1 for m in members if m.connection_id == connection_id and m.status in LIVE_STATUSES)


@dataclass(slots=True)
class _Pair:
    """An employee and the member that is (or will be) linked to them."""

    employee: Employee
    member: Member | None  # None: created by this plan
    member_id: str
    judgement: str
    email_ok: bool


def _tuple_getter(names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    if not names:
        return lambda _obj: ()
    getter: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
    return getter


@dataclass(slots=True)
class _Run:
    connection: Connection
    today_arg: date | datetime
    capabilities: frozenset[str] | None
    resync: frozenset[str]
    source: Snapshot | Targeted
    # Derived settings.
    today: date = field(init=False)
    now: datetime | None = field(init=False)
    full: bool = field(init=False)
    complete: bool = field(init=False)
    claiming: bool = field(init=False)
    manual_scope: bool = field(init=False)
    fields: tuple[str, ...] = field(init=False)
    # Members.
    members: list[Member] = field(default_factory=list)
    ours: dict[str, Member] = field(default_factory=dict)  # hris_id -> member of this connection
    claimable: list[Member] = field(default_factory=list)  # R21
    active_members: int = 0
    _by_email: dict[str, list[Member]] | None = None
    _member_ids: set[str] | None = None
    # Employees.
    source_ids: set[str] = field(default_factory=set)
    scoped_email_count: dict[str, int] = field(default_factory=dict)
    all_email_count: dict[str, int] = field(default_factory=dict)
    pairs: list[_Pair] = field(default_factory=list)
    unlinked: list[tuple[Employee, str]] = field(default_factory=list)
    relinked_away: set[str] = field(default_factory=set)  # hris ids whose member moved
    claimed: set[str] = field(default_factory=set)  # member ids linked by email in this plan
    # Outcome.
    final_status: dict[str, MemberStatus] = field(default_factory=dict)
    actions: dict[str, list[Any]] = field(default_factory=dict)
    warnings: list[PlanWarning] = field(default_factory=list)
    unmapped_roles: Counter[str] = field(default_factory=Counter)
    live_deactivations: int = 0
    may_deactivate: bool = field(init=False)

    def __post_init__(self) -> None:
        connection = self.connection
        if isinstance(self.today_arg, datetime):
            if self.today_arg.tzinfo is None:
                raise ValueError("plan(today=...) takes a date or an aware datetime, not a naive one")
            self.now = self.today_arg
            self.today = local_today(self.today_arg, connection.timezone)
            try:
                ZoneInfo(connection.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self._warn("invalid_timezone", f"unknown time zone {connection.timezone[:60]!r}; used UTC")
        else:
            self.now = None
            self.today = self.today_arg
        self.full = isinstance(self.source, Snapshot)
        self.complete = isinstance(self.source, Snapshot) and self.source.complete
        # R09: an incomplete snapshot deactivates nobody; a targeted plan may, for a reason.
        self.may_deactivate = self.complete or not self.full
        self.manual_scope = connection.scope.mode is ScopeMode.MANUAL
        self.claiming = self.complete and connection.first_complete_sync_at is None and not self.manual_scope
        caps = self.capabilities
        self.fields = SYNCED_FIELDS if caps is None else tuple(f for f in SYNCED_FIELDS if f in caps)
        self.actions = {kind: [] for kind in KIND_ORDER}

    # -- members ---------------------------------------------------------------------------------

    def index(self, members: Sequence[Member]) -> None:
        cid = self.connection.connection_id
        ours = self.ours
        live = LIVE_STATUSES
        hris = MemberSource.HRIS
        archived = MemberStatus.ARCHIVED
        active = 0
        for member in members:
            if member.connection_id == cid and member.hris_id is not None:
                previous = ours.get(member.hris_id)
                if previous is None or _precedence(member) < _precedence(previous):
                    ours[member.hris_id] = member
                if member.status in live:
                    active += 1
            elif self.claiming and member.source is hris and member.status is not archived:
                self.claimable.append(member)
                if member.status in live:
                    active += 1
        self.members = list(members)
        self.active_members = active

    def by_email(self) -> dict[str, list[Member]]:
        if self._by_email is None:
            index: dict[str, list[Member]] = {}
            for member in self.members:
                email = member.profile.email
                if email:
                    index.setdefault(email.strip().lower(), []).append(member)
            self._by_email = index
        return self._by_email

    def member_ids(self) -> set[str]:
        if self._member_ids is None:
            self._member_ids = {m.member_id for m in self.members}
        return self._member_ids

    # -- judging employees -----------------------------------------------------------------------

    def judge_all(self, employees: Sequence[Employee]) -> None:
        connection = self.connection
        scope = connection.scope
        in_scope = _scope_test(connection)
        today = self.today
        gating = connection.start_date_gating
        leave_deactivates = connection.deactivate_on_leave
        terminated_status = EmployeeStatus.TERMINATED
        on_leave_status = EmployeeStatus.ON_LEAVE
        pending_status = EmployeeStatus.PENDING
        manual_scope = scope.mode is ScopeMode.MANUAL
        ours = self.ours
        seen = self.source_ids
        scoped = self.scoped_email_count
        everyone = self.all_email_count
        linked: list[tuple[Employee, Member, str]] = []
        for employee in employees:
            hris_id = employee.hris_id
            if hris_id in seen:
                self._warn("duplicate_hris_id", "a second record with this HR id was ignored", hris_id)
                continue
            seen.add(hris_id)
            if employee.warnings:
                for text in employee.warnings:
                    self._warn(_warning_code(text), text, hris_id)
            member = ours.get(hris_id)
            scoped_in = (member is not None) if manual_scope else in_scope(employee)
            termination = employee.termination_date
            status = employee.status
            if status is terminated_status or (termination is not None and termination <= today):
                judgement = _TERMINATED
            elif not scoped_in:
                judgement = _OUT_OF_SCOPE
            elif status is on_leave_status and leave_deactivates:
                judgement = _ON_LEAVE
            elif gating and (
                (employee.start_date is not None and employee.start_date > today)
                or (status is pending_status and employee.start_date is None)
            ):
                judgement = _NOT_STARTED
            else:
                judgement = _ELIGIBLE
            email = employee.email
            if email:
                key = email.lower()
                everyone[key] = everyone.get(key, 0) + 1
                if scoped_in:
                    scoped[key] = scoped.get(key, 0) + 1
            if member is None:
                self.unlinked.append((employee, judgement))
            else:
                linked.append((employee, member, judgement))
        for employee, member, judgement in linked:
            self._take(employee, member, judgement)

    def _email_ok(self, employee: Employee) -> str | None:
        """None when the employee's email may be used, else the skip reason (R25)."""
        email = employee.email
        if not email:
            return "missing_email"
        if employee.email_key is None:
            return "invalid_email"
        if self.scoped_email_count.get(email.lower(), 0) > 1:
            return "duplicate_email"
        return None

    def _take(self, employee: Employee, member: Member, judgement: str) -> None:
        """Decide the status of a member linked to ``employee`` (R03, R04, R08, R10, R11, R12)."""
        problem = self._email_ok(employee)
        if problem is not None:
            self._warn(problem, "kept the member's current email", employee.hris_id)
        self.pairs.append(_Pair(employee, member, member.member_id, judgement, problem is None))
        if member.status is MemberStatus.ARCHIVED or self.manual_scope:
            return
        member_id = member.member_id
        if member.status in LIVE_STATUSES:
            reason = _REASON_FOR.get(judgement)
            if reason is not None and self.may_deactivate:
                self._deactivate(member, reason)
            else:
                self._maybe_resend(member, judgement)
            return
        # Deactivated.
        if member.deactivated_by is Actor.ADMIN or member.deactivation_reason not in SYNC_REASONS:
            return  # R10: an admin's deactivation sticks
        if judgement is _ELIGIBLE:
            to_status = member.status_before_deactivation
            if to_status not in LIVE_STATUSES or to_status is None:
                to_status = initial_status(self.connection)
            self.actions["reactivate"].append(ReactivateMember(member_id=member_id, to_status=to_status))
            self.final_status[member_id] = to_status
            if to_status is MemberStatus.INVITED:
                self._invite_on_return(member)
        elif (
            judgement is _TERMINATED
            and member.deactivation_reason not in OFFBOARDING_REASONS
            and self.may_deactivate
        ):
            # On leave or out of scope, and now terminated: offboard (R26).
            self._deactivate(member, DeactivationReason.TERMINATED)

    def _deactivate(self, member: Member, reason: DeactivationReason) -> None:
        member_id = member.member_id
        self.actions["deactivate"].append(DeactivateMember(member_id=member_id, reason=reason))
        if member.status in LIVE_STATUSES:
            self.live_deactivations += 1
        self.final_status[member_id] = MemberStatus.DEACTIVATED
        if reason in OFFBOARDING_REASONS:
            self.actions["open_task"].append(
                OpenTask(member_id=member_id, task_type=TaskType.OFFBOARDING, reason=reason.value)
            )

    def _expired(self, member: Member) -> bool:
        expires = member.invite_expires_at
        if expires is None:
            return False
        if self.now is not None:
            return expires <= self.now
        return expires.date() < self.today

    def _maybe_resend(self, member: Member, judgement: str) -> None:
        """R08: re-send an expired invite of a member still in scope."""
        if (
            member.status is MemberStatus.INVITED
            and judgement is _ELIGIBLE
            and self.connection.resend_expired_invites
            and member.profile.email
            and self._expired(member)
        ):
            self.actions["resend_invite"].append(
                ResendInvite(member_id=member.member_id, email=member.profile.email)
            )

    def _invite_on_return(self, member: Member) -> None:
        email = member.profile.email
        if not email:
            return
        if member.invite_sent_at is None:
            self.actions["send_invite"].append(SendInvite(member_id=member.member_id, email=email))
        elif self._expired(member) and self.connection.resend_expired_invites:
            self.actions["resend_invite"].append(ResendInvite(member_id=member.member_id, email=email))

    # -- matching and creating -------------------------------------------------------------------

    def match_unlinked(self) -> None:
        """R05, R06, R13, R14, R21, R25 for employees no member is linked to yet."""
        if self.manual_scope:
            return
        for employee, judgement in sorted(self.unlinked, key=lambda pair: pair[0].hris_id):
            would_create = judgement is _ELIGIBLE
            if not (would_create or self.claiming):
                continue
            problem = self._email_ok(employee)
            if (
                problem is None
                and not would_create
                and self.all_email_count.get(employee.email_key or "", 0) > 1
            ):
                problem = "duplicate_email"
            if problem is not None:
                if would_create:
                    self._skip(employee.hris_id, problem, _SKIP_DETAIL[problem])
                continue
            candidate = self._candidate(employee.email_key or "")
            if candidate is None:
                if would_create:
                    self._create(employee)
                continue
            verdict = self._may_link(candidate)
            if verdict is None:
                self._link(employee, candidate, judgement)
            elif would_create:
                self._skip(employee.hris_id, verdict, f"member {candidate.member_id}")

    def _candidate(self, key: str) -> Member | None:
        found = self.by_email().get(key)
        if not found:
            return None
        return min(found, key=self._candidate_rank)

    def _candidate_rank(self, member: Member) -> tuple[int, int, str]:
        if member.status is MemberStatus.ARCHIVED:
            rank = 3
        elif member.source is not MemberSource.HRIS:
            rank = 2
        elif member.connection_id == self.connection.connection_id:
            rank = 0
        else:
            rank = 1
        return (rank, 0 if member.status in LIVE_STATUSES else 1, member.member_id)

    def _may_link(self, member: Member) -> str | None:
        """None when the email match may link ``member``, else the skip reason."""
        reason: str | None = None
        if member.status is MemberStatus.ARCHIVED:
            reason = "archived_member"  # R14
        elif member.source is not MemberSource.HRIS:
            reason = "manual_member"  # R13: an admin links it with the match operation
        elif member.member_id in self.claimed:
            reason = "email_in_use"
        elif member.connection_id == self.connection.connection_id:
            # Linked to another of our employees: relink only when that one is gone (full sync).
            old = member.hris_id
            if not self.complete or old in self.source_ids or old in self.relinked_away:
                reason = "email_in_use"
        elif not self.claiming and member.status in LIVE_STATUSES:
            # Neither claiming (R21) nor a member coming back (R12).
            reason = "linked_to_other_connection"
        return reason

    def _link(self, employee: Employee, member: Member, judgement: str) -> None:
        if member.connection_id == self.connection.connection_id and member.hris_id is not None:
            self.relinked_away.add(member.hris_id)
            self.ours.pop(member.hris_id, None)
        self.claimed.add(member.member_id)
        self.ours[employee.hris_id] = member
        self.actions["link"].append(
            LinkMember(
                member_id=member.member_id,
                hris_id=employee.hris_id,
                connection_id=self.connection.connection_id,
                matched_by="email",
            )
        )
        self._take(employee, member, judgement)

    def _create(self, employee: Employee) -> None:
        connection = self.connection
        member_id = member_id_for(connection.tenant_id, connection.connection_id, employee.hris_id)
        if member_id in self.member_ids():
            self._skip(employee.hris_id, "member_id_conflict", f"member {member_id} exists unlinked")
            return
        status = initial_status(connection)
        self.final_status[member_id] = status
        self.pairs.append(_Pair(employee, None, member_id, _ELIGIBLE, email_ok=True))
        if status is MemberStatus.INVITED and employee.email:
            self.actions["send_invite"].append(SendInvite(member_id=member_id, email=employee.email))
        self.actions["open_task"].append(
            OpenTask(member_id=member_id, task_type=TaskType.ONBOARDING, reason="created")
        )

    def _skip(self, hris_id: str, reason: str, detail: str) -> None:
        self.actions["skip"].append(SkipRecord(hris_id=hris_id, reason=reason, detail=detail))

    # -- leaving ---------------------------------------------------------------------------------

    def deactivate_absent(self) -> None:
        """R09 (absent from a complete snapshot) and R21 (claimed members not matched)."""
        if not self.complete or self.manual_scope:
            return
        present = self.source_ids
        for hris_id, member in self.ours.items():
            if hris_id not in present and member.status in LIVE_STATUSES:
                if member.member_id in self.final_status:
                    continue
                self._deactivate(member, DeactivationReason.LEFT_HRIS)
        for member in self.claimable:
            if member.member_id not in self.claimed and member.status in LIVE_STATUSES:
                self._deactivate(member, DeactivationReason.OUT_OF_SCOPE)

    # -- fields, mappings, approvers -------------------------------------------------------------

    def sync_fields(self) -> None:
        """R15, R16, R17, R18 for every pair, and the creates' full records."""
        mapper = _Mapper(self.connection, self.fields)
        approvers = _Approvers(self)
        sync = _ProfileSync(self.fields, self.connection.field_policy is FieldPolicy.HRIS_WINS, self.resync)
        updates = self.actions["update"]
        for pair in self.pairs:
            member = pair.member
            if member is None:
                self._create_record(pair, mapper, approvers.approver_of(pair.employee), approvers.known)
                continue
            if member.status is MemberStatus.ARCHIVED:
                continue
            changes, cleared = sync.changes(pair.employee, member, pair.email_ok)
            mapper.member_changes(pair.employee, member, changes, cleared, sync.drops_overrides(member))
            self._approver_changes(approvers, pair.employee, member, changes)
            if changes or cleared:
                updates.append(
                    UpdateMember(member_id=member.member_id, changes=changes, clear_overrides=tuple(cleared))
                )
        self.unmapped_roles = mapper.unmapped_roles

    def _approver_changes(
        self, approvers: _Approvers, employee: Employee, member: Member, changes: dict[str, FieldChange]
    ) -> None:
        """R17: the approver and the ``no_approver`` flag of a member that stays or becomes live."""
        has_flag = MemberFlag.NO_APPROVER in member.flags
        final = self.final_status.get(member.member_id, member.status)
        if final is MemberStatus.DEACTIVATED or not approvers.known:
            if has_flag and final is MemberStatus.DEACTIVATED:
                self._flag(member.member_id, on=False)
            return
        approver = approvers.approver_of(employee)
        if approver != member.approver_member_id:
            changes["approver_member_id"] = FieldChange(before=member.approver_member_id, after=approver)
        if (approver is None) != has_flag:
            self._flag(member.member_id, on=approver is None)

    def _flag(self, member_id: str, *, on: bool) -> None:
        self.actions["flag"].append(SetFlag(member_id=member_id, flag=MemberFlag.NO_APPROVER, on=on))

    def _create_record(self, pair: _Pair, mapper: _Mapper, approver: str | None, manager_known: bool) -> None:
        employee = pair.employee
        values = {name: getattr(employee, name) for name in self.fields}
        groups, location, role, region = mapper.new_member(employee)
        flags = frozenset({MemberFlag.NO_APPROVER}) if manager_known and approver is None else frozenset()
        self.actions["create"].append(
            CreateMember(
                member_id=pair.member_id,
                hris_id=employee.hris_id,
                status=self.final_status[pair.member_id],
                profile=Profile(**values),
                groups=groups,
                location=location,
                role=role,
                region=region,
                approver_member_id=approver,
                flags=flags,
            )
        )

    # -- the plan --------------------------------------------------------------------------------

    def _warn(self, code: str, message: str, hris_id: str | None = None) -> None:
        self.warnings.append(PlanWarning(code=code, message=message, hris_id=hris_id))

    def build_plan(self) -> Plan:
        for role, count in sorted(self.unmapped_roles.items()):
            noun = "employee" if count == 1 else "employees"
            self._warn("unmapped_role", f"HR role {role[:60]!r} has no mapping ({count} {noun})")
        if isinstance(self.source, Snapshot) and not self.source.complete:
            reasons = "; ".join(self.source.reasons) or "snapshot incomplete"
            self._warn("incomplete_snapshot", f"nobody was deactivated: {reasons}"[:500])
        ordered: list[Action] = []
        for kind in KIND_ORDER:
            batch = self.actions[kind]
            if kind == "skip":
                batch.sort(key=lambda a: (a.hris_id, a.reason))
            else:
                batch.sort(key=lambda a: a.member_id)
            ordered.extend(batch)
        deactivations = self.live_deactivations
        active = self.active_members
        pct = round(100.0 * deactivations / active, 2) if active else 0.0
        safety = self.connection.safety
        guard = GuardVerdict(
            hold=deactivations > safety.max_deactivations and pct > safety.max_deactivation_pct,
            deactivations=deactivations,
            active_members=active,
            pct=pct,
        )
        self.warnings.sort(key=lambda w: (w.code, w.hris_id or "", w.message))
        actions = self.actions
        counts = PlanCounts(
            created=len(actions["create"]),
            linked=len(actions["link"]),
            updated=len(actions["update"]),
            deactivated=len(actions["deactivate"]),
            reactivated=len(actions["reactivate"]),
            invites=len(actions["send_invite"]),
            invite_resends=len(actions["resend_invite"]),
            tasks=len(actions["open_task"]),
            flags=len(actions["flag"]),
            skipped=len(actions["skip"]),
            warnings=len(self.warnings),
        )
        return Plan(
            tenant_id=self.connection.tenant_id,
            connection_id=self.connection.connection_id,
            mode="full" if self.full else "targeted",
            complete=self.complete,
            actions=tuple(ordered),
            warnings=tuple(self.warnings),
            counts=counts,
            guard=guard,
        )


_SKIP_DETAIL = {
    "missing_email": "the HR record has no email",
    "invalid_email": "the HR record's email is not a valid address",
    "duplicate_email": "another in-scope employee has the same email",
}


def _precedence(member: Member) -> tuple[int, str]:
    """Which of several members linked to one HR id counts: a non-archived one, then the lowest id."""
    return (1 if member.status is MemberStatus.ARCHIVED else 0, member.member_id)


def _warning_code(text: str) -> str:
    for prefix, code in _WARNING_CODES:
        if text.startswith(prefix):
            return code
    return "employee_warning"


def _scope_test(connection: Connection) -> Callable[[Employee], bool]:
    """R01: is an employee in the connection's scope?"""
    scope = connection.scope
    mode = scope.mode
    if mode is ScopeMode.EVERYONE:
        return lambda _employee: True
    if mode is ScopeMode.COMPANIES:
        companies = frozenset(scope.companies)
        return lambda employee: employee.company in companies
    if mode is ScopeMode.GROUPS:
        groups = frozenset(scope.groups)
        return lambda employee: employee.department in groups or not groups.isdisjoint(employee.groups)
    if mode is ScopeMode.PEOPLE:
        people = frozenset(scope.people)
        return lambda employee: employee.hris_id in people
    return lambda _employee: False  # manual: nobody by scope; linked members only


class _Approvers:
    """R17: who approves for an employee, after the plan (live members linked to the manager)."""

    def __init__(self, run: _Run) -> None:
        self.known = "manager_hris_id" in run.fields
        self.link = {
            hris_id: member.member_id
            for hris_id, member in run.ours.items()
            if member.status is not MemberStatus.ARCHIVED
        }
        self.status = {member.member_id: member.status for member in run.ours.values()}
        for pair in run.pairs:
            if pair.member is None:
                self.link[pair.employee.hris_id] = pair.member_id
        self.status.update(run.final_status)

    def approver_of(self, employee: Employee) -> str | None:
        manager = employee.manager_hris_id
        if not self.known or manager is None or manager == employee.hris_id:
            return None
        approver = self.link.get(manager)
        if approver is None or self.status.get(approver) not in LIVE_STATUSES:
            return None
        return approver


class _ProfileSync:
    """R15, R16: which synced fields of a member change, and which overrides are dropped."""

    def __init__(self, fields: tuple[str, ...], hris_wins: bool, resync: frozenset[str]) -> None:
        self.fields = fields
        self.get = _tuple_getter(fields)
        self.email_at = fields.index("email") if "email" in fields else -1
        self.hris_wins = hris_wins
        self.resync = resync

    def drops_overrides(self, member: Member) -> bool:
        return self.hris_wins or member.member_id in self.resync

    def changes(
        self, employee: Employee, member: Member, email_ok: bool
    ) -> tuple[dict[str, FieldChange], list[str]]:
        wanted = self.get(employee)
        current = self.get(member.profile)
        if self.email_at >= 0 and not email_ok:
            at = self.email_at
            wanted = (*wanted[:at], current[at], *wanted[at + 1 :])
        changes: dict[str, FieldChange] = {}
        cleared: list[str] = []
        overrides = member.overrides
        if wanted == current and not overrides:
            return changes, cleared
        drop = self.drops_overrides(member)
        for name, after, before in zip(self.fields, wanted, current, strict=True):
            if name in overrides:
                if not drop:
                    continue
                cleared.append(name)
            if after != before:
                changes[name] = FieldChange(before=before, after=after)
        return changes, cleared


class _Mapper:
    """R18: HR values -> app values (groups, location, role, region), with caches for speed."""

    def __init__(self, connection: Connection, fields: tuple[str, ...]) -> None:
        self.mappings = connection.mappings
        self.additive = connection.mapping_mode is MappingMode.ADDITIVE
        self.default_role = connection.default_role
        self.groups_known = "groups" in fields or "department" in fields
        self.location_known = "office_location" in fields
        self.region_known = "home_country" in fields
        self.report_roles = bool(self.mappings.roles)
        self.unmapped_roles: Counter[str] = Counter()
        self._group_cache: dict[tuple[tuple[str, ...], str | None], tuple[str, ...]] = {}

    def groups_for(self, employee: Employee) -> tuple[str, ...]:
        key = (employee.groups, employee.department)
        cached = self._group_cache.get(key)
        if cached is None:
            mapping = self.mappings.groups
            names = [employee.department] if employee.department else []
            names.extend(employee.groups)
            cached = tuple(dict.fromkeys(mapping.get(name, name) for name in names))
            self._group_cache[key] = cached
        return cached

    def role_for(self, employee: Employee) -> str | None:
        """The mapped role, or None (unmapped roles are counted for the report)."""
        hris_role = employee.hris_role
        if hris_role is None:
            return None
        role = self.mappings.roles.get(hris_role)
        if role is None and self.report_roles:
            self.unmapped_roles[hris_role] += 1
        return role

    def new_member(self, employee: Employee) -> tuple[tuple[str, ...], str | None, str | None, str | None]:
        mappings = self.mappings
        groups = self.groups_for(employee) if self.groups_known else ()
        office = employee.office_location if self.location_known else None
        country = employee.home_country if self.region_known else None
        location = mappings.locations.get(office, office) if office else None
        region = mappings.regions.get(country, country) if country else None
        return groups, location, self.role_for(employee) or self.default_role, region

    def member_changes(
        self,
        employee: Employee,
        member: Member,
        changes: dict[str, FieldChange],
        cleared: list[str],
        drop_overrides: bool,
    ) -> None:
        """Add the app-field changes of an existing member to ``changes`` (R16, R18)."""
        mappings = self.mappings
        additive = self.additive
        overrides = member.overrides
        wanted: dict[str, Any] = {}
        if self.groups_known:
            groups = self.groups_for(employee)
            if additive:
                groups = tuple(dict.fromkeys((*member.groups, *groups)))
            wanted["app_groups"] = groups
        if self.location_known:
            office = employee.office_location
            location = mappings.locations.get(office, office) if office else None
            wanted["location"] = member.location if additive and member.location else location
        if self.region_known:
            country = employee.home_country
            region = mappings.regions.get(country, country) if country else None
            wanted["region"] = member.region if additive and member.region else region
        role = self.role_for(employee)
        if role is not None:
            wanted["role"] = member.role if additive and member.role else role
        for name, after in wanted.items():
            if name in overrides:
                if not drop_overrides:
                    continue
                cleared.append(name)
            before = member.groups if name == "app_groups" else getattr(member, name)
            if after != before:
                changes[name] = FieldChange(before=before, after=after)
