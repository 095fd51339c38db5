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
    connections, manual and archived members. Archived members (R14) are never written: an
    employee that would match one is skipped (``archived_member``). A manual member (R13: the
    app's own user, R34) is linked only by an employee this sync would create (in scope, eligible):
    it keeps its member id and external id and is HRIS-managed from then on; an employee out of
    scope, terminated or not yet started never touches it, nor does a claim (R21).
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

import gc
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
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
    Scope,
    ScopeMode,
    SendInvite,
    SetFlag,
    SkipRecord,
    Snapshot,
    Targeted,
    TaskType,
    UnknownStatus,
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


class Judgement(Enum):
    """How an employee is judged (see the module docstring; first match wins)."""

    TERMINATED = "terminated"  # R03
    OUT_OF_SCOPE = "out_of_scope"  # R01, R11
    ON_LEAVE = "on_leave"  # R04
    NOT_STARTED = "not_started"  # R02
    ELIGIBLE = "eligible"


_REASON_FOR = {
    Judgement.TERMINATED: DeactivationReason.TERMINATED,
    Judgement.OUT_OF_SCOPE: DeactivationReason.OUT_OF_SCOPE,
    Judgement.ON_LEAVE: DeactivationReason.ON_LEAVE,
}
# How much of an unknown status value a plan keeps (R04: the value is for an admin to recognise).
_RAW_STATUS_KEPT = 100
_WARNING_CODES = (
    ("unknown status", "unknown_status"),
    ("no status", "unknown_status"),
    ("malformed", "malformed_date"),
)


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
    # The cyclic collector is paused while planning: a plan builds lists and dicts of every
    # employee and member, and each young collection during it walks them (at 100,000 people,
    # 76 collections and 37 ms, 5 % of the plan, nearly all cache misses: bench/reconcile.py).
    # Reference counting frees what a plan drops; its one cycle (the mapper's closure) waits for
    # the next collection after it. Resumed only if it ran (a caller's pause stands).
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        run = _Run(connection, today, capabilities, frozenset(resync), source)
        run.index(members)
        run.judge_all(source.employees)
        run.warn_unmatched_scope()
        run.settle_linked()
        run.match_unlinked()
        run.deactivate_absent()
        run.approvers()
        return run.build_plan()
    finally:
        if paused:
            gc.enable()


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


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_AppValues = tuple[tuple[str, ...], str | None, str | None, str | None]


def _fields_of(names: Sequence[str]) -> Callable[[Employee | Profile], tuple[Any, ...]]:
    """A fast getter of several attributes, always returning a tuple."""
    if len(names) == 1:
        only = names[0]
        return lambda value: (getattr(value, only),)
    if not names:
        return lambda _value: ()
    getter: Callable[[Employee | Profile], tuple[Any, ...]] = attrgetter(*names)
    return getter


class _Run:
    """One planning run. A plan touches every field of 100,000 employees and members
    (bench/reconcile.py): hot loops bind what they use to locals once."""

    def __init__(
        self,
        connection: Connection,
        today: date | datetime,
        capabilities: frozenset[str] | None,
        resync: frozenset[str],
        source: Snapshot | Targeted,
    ) -> None:
        self.connection = connection
        self.resync = resync
        self.source = source
        self.warnings: list[PlanWarning] = []
        self.unknown_statuses: list[UnknownStatus] = []
        self.now: datetime | None = None
        if isinstance(today, datetime):
            if today.tzinfo is None:
                raise ValueError("plan(today=...) takes a date or an aware datetime, not a naive one")
            self.now = today
            self.today = local_today(today, connection.timezone)
            try:
                ZoneInfo(connection.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self._warn("invalid_timezone", f"unknown time zone {connection.timezone[:60]!r}; used UTC")
        else:
            self.today = today
        # R08: an invite has expired when it expires at or before the cutoff: now, or with a plain
        # date the end of the previous day (UTC).
        self.expiry_cutoff = (
            self.now
            if self.now is not None
            else datetime.combine(self.today, time.min, tzinfo=UTC) - timedelta(microseconds=1)
        )
        self.full = isinstance(source, Snapshot)
        self.complete = isinstance(source, Snapshot) and source.complete
        # R09: an incomplete snapshot deactivates nobody; a targeted plan may, for a reason.
        self.may_deactivate = self.complete or not self.full
        self.manual_scope = connection.scope.mode is ScopeMode.MANUAL
        self.claiming = self.complete and connection.first_complete_sync_at is None and not self.manual_scope
        self.fields = (
            SYNCED_FIELDS if capabilities is None else tuple(f for f in SYNCED_FIELDS if f in capabilities)
        )
        self.profile_values = _fields_of(self.fields)
        self.email_at = self.fields.index("email") if "email" in self.fields else -1
        self.manager_known = "manager_hris_id" in self.fields
        self.hris_wins = connection.field_policy is FieldPolicy.HRIS_WINS
        self.mapper = _Mapper(connection, self.fields)
        self.actions: dict[str, list[Any]] = {kind: [] for kind in KIND_ORDER}
        self._init_state()

    def _init_state(self) -> None:
        # Members.
        self.members: Sequence[Member] = ()
        self.ours: dict[str, Member] = {}  # hris_id -> member linked to this connection
        # The members of ``ours`` whose HR id no employee of the source has (R09's absent).
        self.unseen: dict[str, Member] = {}
        self.claimable: list[Member] = []  # R21
        self.active_members = 0
        self._by_email: dict[str, list[Member]] | None = None
        self._member_ids: set[str] | None = None
        # Employees.
        self.employees: Sequence[Employee] = ()
        self.source_ids: set[str] = set()
        self.duplicate_emails: set[str] = set()  # shared by in-scope employees (R25)
        self._all_email_count: Counter[str] | None = None
        # Linked employees as parallel lists (no tuple per employee: less memory, no GC work).
        self.linked_employees: list[Employee] = []
        self.linked_members: list[Member] = []
        self.linked_judgements: list[Judgement] = []
        self.linked_keys: list[str | None] = []
        self.unlinked: list[tuple[Employee, Judgement, str | None]] = []
        self.relinked_away: set[str] = set()  # hris ids whose member was relinked by email
        self.claimed: set[str] = set()  # member ids linked by email in this plan
        self.created: dict[str, str] = {}  # hris_id -> member id created by this plan
        # Employees whose member syncs (linked or created), as parallel lists: the member's id, its
        # status after this plan, and what R17 compares, read while the member is being settled
        # (a second visit to 100,000 members costs more than the lists): its approver and whether
        # it has the ``no_approver`` flag (None: a member this plan creates).
        self.pair_employees: list[Employee] = []
        self.pair_ids: list[str] = []
        self.pair_statuses: list[MemberStatus] = []
        self.pair_approvers: list[str | None] = []
        self.pair_flagged: list[bool | None] = []
        # Outcome.
        self.final_status: dict[str, MemberStatus] = {}
        self.changes: dict[str, tuple[dict[str, FieldChange], list[str]]] = {}
        self.live_deactivations = 0

    # -- members ---------------------------------------------------------------------------------

    def index(self, members: Sequence[Member]) -> None:
        cid = self.connection.connection_id
        ours = self.ours
        live = LIVE_STATUSES
        hris = MemberSource.HRIS
        archived = MemberStatus.ARCHIVED
        claiming = self.claiming
        active = 0
        for member in members:
            hris_id = member.hris_id
            if member.connection_id == cid and hris_id is not None:
                previous = ours.get(hris_id)
                if previous is None or _precedence(member) < _precedence(previous):
                    ours[hris_id] = member
                if member.status in live:
                    active += 1
            elif claiming and member.source is hris and member.status is not archived:
                self.claimable.append(member)
                if member.status in live:
                    active += 1
        self.members = members
        self.active_members = active

    def by_email(self) -> dict[str, list[Member]]:
        """Members by email key, for the emails of unlinked employees only (one scan, built once)."""
        if self._by_email is None:
            wanted = {key for _, _, key in self.unlinked if key is not None}
            index: dict[str, list[Member]] = {}
            if wanted:
                for member in self.members:
                    email = member.profile.email
                    if email:
                        key = email.strip()
                        if not (key.isascii() and key.islower()):
                            key = key.lower()
                        if key in wanted:
                            index.setdefault(key, []).append(member)
            self._by_email = index
        return self._by_email

    def member_ids(self) -> set[str]:
        if self._member_ids is None:
            self._member_ids = {m.member_id for m in self.members}
        return self._member_ids

    # -- judging employees -----------------------------------------------------------------------

    def judge_all(self, employees: Sequence[Employee]) -> None:
        """Judge every employee (see the module docstring) and pair them with linked members."""
        connection = self.connection
        everyone = connection.scope.mode is ScopeMode.EVERYONE
        in_scope = _scope_test(connection)
        judge = _judge(connection, self.today)
        manual_scope = self.manual_scope
        # Each HR id is looked up once: what is left over is absent (no second scan of members).
        self.unseen = unseen = self.ours.copy()
        take_linked = unseen.pop
        seen = self.source_ids
        scoped_seen: set[str] = set()
        duplicates = self.duplicate_emails
        linked_employees, linked_members = self.linked_employees, self.linked_members
        linked_judgements, linked_keys = self.linked_judgements, self.linked_keys
        unlinked = self.unlinked
        for employee in employees:
            hris_id = employee.hris_id
            if hris_id in seen:
                self._warn("duplicate_hris_id", "a second record with this HR id was ignored", hris_id)
                continue
            seen.add(hris_id)
            if employee.warnings:
                for text in employee.warnings:
                    self._warn(_warning_code(text), text, hris_id)
            if employee.status_unknown:  # R04: kept active, and listed on the run
                raw = employee.raw_status
                self.unknown_statuses.append(
                    UnknownStatus(hris_id=hris_id, raw_status=None if raw is None else raw[:_RAW_STATUS_KEPT])
                )
            member = take_linked(hris_id, None)
            scoped_in = (member is not None) if manual_scope else (everyone or in_scope(employee))
            judgement = judge(employee, scoped_in)
            email = employee.email
            # The email lower-cased (R05), without a copy when it is already (most are): 100,000
            # new strings are 8 MB to write and free.
            key = (email if email.isascii() and email.islower() else email.lower()) if email else None
            if key is not None and scoped_in:
                if key in scoped_seen:
                    duplicates.add(key)
                else:
                    scoped_seen.add(key)
            if member is None:
                unlinked.append((employee, judgement, key))
            else:
                linked_employees.append(employee)
                linked_members.append(member)
                linked_judgements.append(judgement)
                linked_keys.append(key)
        self.employees = employees

    def settle_linked(self) -> None:
        self._settle_all(
            zip(
                self.linked_employees,
                self.linked_members,
                self.linked_judgements,
                self.linked_keys,
                strict=True,
            )
        )

    def _settle(self, employee: Employee, member: Member, judgement: Judgement, key: str | None) -> None:
        self._settle_all(((employee, member, judgement, key),))

    def _settle_all(self, linked: Iterable[tuple[Employee, Member, Judgement, str | None]]) -> None:
        """Status (R03, R04, R08, R10-R12) and fields (R15, R16, R18, R25) of linked members.

        The common case (a live member whose employee stays, nothing changed) runs inline with
        locals bound once: this loop sees every employee of a sync. Its profile is proven
        unchanged by ``_same_synced_values`` (every synced field equal, so the supplied ones
        are); only when that fails are the supplied fields compared one by one.
        """
        archived, invited = MemberStatus.ARCHIVED, MemberStatus.INVITED
        live = LIVE_STATUSES
        settled = (Judgement.ELIGIBLE, Judgement.NOT_STARTED)
        manual_scope = self.manual_scope
        cutoff = self.expiry_cutoff
        duplicates = self.duplicate_emails
        profile_values = self.profile_values
        values_for = self.mapper.values_for
        email_ok = _EMAIL.match
        same_synced_values = _same_synced_values
        pair_employees, pair_ids, pair_statuses = self.pair_employees, self.pair_ids, self.pair_statuses
        pair_approvers, pair_flagged = self.pair_approvers, self.pair_flagged
        final_status_get = self.final_status.get
        no_approver = MemberFlag.NO_APPROVER
        for employee, member, judgement, key in linked:
            status = member.status
            if status is archived:
                continue  # R14
            if manual_scope:
                pass  # R01: fields only
            elif status not in live or judgement not in settled:
                self._status_change(member, judgement)
            elif (
                status is invited and (expires := member.invite_expires_at) is not None and expires <= cutoff
            ):
                self._maybe_resend(member, judgement)
            profile = member.profile
            email = employee.email
            keep_email = (
                key is None
                or (duplicates and key in duplicates)
                or (email != profile.email and not email_ok(email or ""))
            ) and not self._email_ok_for(employee, member, key)
            app_now: _AppValues = (member.groups, member.location, member.role, member.region)
            app_wanted = values_for(employee, app_now)
            if app_wanted != app_now or member.overrides or not same_synced_values(employee, profile):
                wanted = profile_values(employee)
                current = profile_values(profile)
                if keep_email:
                    wanted = self._with_current_email(wanted, current)
                if wanted != current or app_wanted != app_now or member.overrides:
                    self._record_changes(member, wanted, current, app_wanted, app_now)
            # Nothing after settling changes a settled member's status (the absent and the claimed
            # but unmatched, deactivated later, are never settled).
            member_id = member.member_id
            pair_employees.append(employee)
            pair_ids.append(member_id)
            pair_statuses.append(final_status_get(member_id, status))
            pair_approvers.append(member.approver_member_id)
            pair_flagged.append(no_approver in member.flags)

    def _with_current_email(self, wanted: tuple[Any, ...], current: tuple[Any, ...]) -> tuple[Any, ...]:
        """R25: the wanted profile values with the member's own email (the HR one is unusable)."""
        at = self.email_at
        if at < 0:
            return wanted
        return (*wanted[:at], current[at], *wanted[at + 1 :])

    def _email_ok_for(self, employee: Employee, member: Member, key: str | None) -> bool:
        """R25 for a linked member: a missing, shared or invalid email never replaces its email."""
        problem = None
        if key is None:
            problem = "missing_email"
        elif key in self.duplicate_emails:
            problem = "duplicate_email"
        elif employee.email != member.profile.email and not _EMAIL.match(employee.email or ""):
            problem = "invalid_email"
        if problem is None:
            return True
        self._warn(problem, "kept the member's current email", employee.hris_id)
        return False

    def _status_change(self, member: Member, judgement: Judgement) -> None:
        member_id = member.member_id
        if member.status in LIVE_STATUSES:
            reason = _REASON_FOR.get(judgement)
            if reason is not None and self.may_deactivate:
                self._deactivate(member, reason)
            return
        # Deactivated.
        if member.deactivated_by is Actor.ADMIN or member.deactivation_reason not in SYNC_REASONS:
            return  # R10: an admin's deactivation sticks
        if judgement is Judgement.ELIGIBLE:
            to_status = member.status_before_deactivation
            if to_status is None or to_status not in LIVE_STATUSES:
                to_status = initial_status(self.connection)
            self.actions["reactivate"].append(ReactivateMember(member_id=member_id, to_status=to_status))
            self.final_status[member_id] = to_status
            if to_status is MemberStatus.INVITED:
                self._invite_on_return(member)
        elif (
            judgement is Judgement.TERMINATED
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
        return expires is not None and expires <= self.expiry_cutoff

    def _maybe_resend(self, member: Member, judgement: Judgement) -> None:
        """R08: re-send an expired invite of a member still in scope."""
        email = member.profile.email
        if (
            judgement is Judgement.ELIGIBLE
            and self.connection.resend_expired_invites
            and email
            and self._expired(member)
        ):
            self.actions["resend_invite"].append(ResendInvite(member_id=member.member_id, email=email))

    def _invite_on_return(self, member: Member) -> None:
        email = member.profile.email
        if not email:
            return
        if member.invite_sent_at is None:
            self.actions["send_invite"].append(SendInvite(member_id=member.member_id, email=email))
        elif self._expired(member) and self.connection.resend_expired_invites:
            self.actions["resend_invite"].append(ResendInvite(member_id=member.member_id, email=email))

    # -- fields ----------------------------------------------------------------------------------

    def _record_changes(
        self,
        member: Member,
        wanted: tuple[Any, ...],
        current: tuple[Any, ...],
        app_wanted: _AppValues,
        app_now: _AppValues,
    ) -> None:
        """R15, R16, R18: record the synced and mapped fields of a member that change."""
        overrides = member.overrides
        drop = self.hris_wins or member.member_id in self.resync
        changes: dict[str, FieldChange] = {}
        cleared: list[str] = []
        names = (*self.fields, *APP_FIELDS)
        for name, after, before in zip(names, (*wanted, *app_wanted), (*current, *app_now), strict=True):
            if name in overrides:
                if not drop:
                    continue  # R16 manual_wins: the admin's value stays
                cleared.append(name)
            if after != before:
                changes[name] = FieldChange(before=before, after=after)
        if changes or cleared:
            self.changes[member.member_id] = (changes, cleared)

    # -- matching and creating -------------------------------------------------------------------

    def match_unlinked(self) -> None:
        """R05, R06, R13, R14, R21, R25 for employees no member is linked to yet."""
        if self.manual_scope:
            return
        for employee, judgement, key in sorted(self.unlinked, key=lambda item: item[0].hris_id):
            would_create = judgement is Judgement.ELIGIBLE
            if not (would_create or self.claiming):
                continue
            problem = self._email_problem(employee, key, would_create)
            if problem is not None:
                if would_create:
                    self._skip(employee.hris_id, problem, _SKIP_DETAIL[problem])
                continue
            candidate = self._candidate(key or "")
            if candidate is None:
                if would_create:
                    self._create(employee)
                continue
            verdict = self._may_link(candidate, would_create=would_create)
            if verdict is None:
                self._link(employee, candidate, judgement, key)
            elif would_create:
                self._skip(employee.hris_id, verdict, f"member {candidate.member_id}")

    def _email_problem(self, employee: Employee, key: str | None, would_create: bool) -> str | None:
        """None when an unlinked employee's email may be matched or used, else the reason (R25)."""
        if key is None:
            return "missing_email"
        if employee.email_key is None:
            return "invalid_email"
        if key in self.duplicate_emails:
            return "duplicate_email"
        if not would_create:
            # Claiming for an employee out of scope: only when no other employee has the email.
            if self._all_email_count is None:
                self._all_email_count = Counter(e.email.lower() for e in self.employees if e.email)
            if self._all_email_count[key] > 1:
                return "duplicate_email"
        return None

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

    def _may_link(self, member: Member, *, would_create: bool) -> str | None:
        """None when the email match may link ``member``, else the skip reason."""
        reason: str | None = None
        if member.status is MemberStatus.ARCHIVED:
            reason = "archived_member"  # R14
        elif member.source is not MemberSource.HRIS:
            # R13, R34: the app's user is linked (R05) by the employee this sync would create in
            # its place, and by nothing else (a claim, an employee out of scope or gone).
            if member.member_id in self.claimed:
                reason = "email_in_use"
            elif not would_create:
                reason = "manual_member"
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

    def _link(self, employee: Employee, member: Member, judgement: Judgement, key: str | None) -> None:
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
        self._settle(employee, member, judgement, key)

    def _create(self, employee: Employee) -> None:
        connection = self.connection
        member_id = member_id_for(connection.tenant_id, connection.connection_id, employee.hris_id)
        if member_id in self.member_ids():
            self._skip(employee.hris_id, "member_id_conflict", f"member {member_id} exists unlinked")
            return
        status = initial_status(connection)
        self.final_status[member_id] = status
        self.created[employee.hris_id] = member_id
        self.pair_employees.append(employee)
        self.pair_ids.append(member_id)
        self.pair_statuses.append(status)
        self.pair_approvers.append(None)
        self.pair_flagged.append(None)
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
        ours = self.ours
        for hris_id, member in self.unseen.items():
            # Still linked: a member relinked by email (``_link``) is no longer ours.
            if ours.get(hris_id) is member and member.status in LIVE_STATUSES:
                self._deactivate(member, DeactivationReason.LEFT_HRIS)
        for member in self.claimable:
            if member.member_id not in self.claimed and member.status in LIVE_STATUSES:
                self._deactivate(member, DeactivationReason.OUT_OF_SCOPE)

    # -- approvers and creates -------------------------------------------------------------------

    def approvers(self) -> None:
        """R17 for every pair (the approver and ``no_approver`` flag), and the creates' records."""
        live = LIVE_STATUSES
        deactivated = MemberStatus.DEACTIVATED
        known = self.manager_known
        ours_get = self.ours.get
        created_get = self.created.get
        status_get = self.final_status.get
        for employee, member_id, final, current, has_flag in zip(
            self.pair_employees,
            self.pair_ids,
            self.pair_statuses,
            self.pair_approvers,
            self.pair_flagged,
            strict=True,
        ):
            # The live member linked to the employee's manager, after this plan.
            approver: str | None = None
            manager = employee.manager_hris_id
            if known and manager is not None and manager != employee.hris_id:
                manager_member = ours_get(manager)
                if manager_member is None:
                    approver = created_get(manager)
                else:
                    approver = manager_member.member_id
                    if status_get(approver, manager_member.status) not in live:
                        approver = None
            if has_flag is None:
                self._create_record(employee, member_id, approver)
                continue
            if final not in live or not known:
                if has_flag and final is deactivated:
                    self._flag(member_id, on=False)
                continue
            if approver != current:
                change = FieldChange(before=current, after=approver)
                self.changes.setdefault(member_id, ({}, []))[0]["approver_member_id"] = change
            if (approver is None) != has_flag:
                self._flag(member_id, on=approver is None)

    def _flag(self, member_id: str, *, on: bool) -> None:
        self.actions["flag"].append(SetFlag(member_id=member_id, flag=MemberFlag.NO_APPROVER, on=on))

    def _create_record(self, employee: Employee, member_id: str, approver: str | None) -> None:
        groups, location, role, region = self.mapper.values_for(employee, None)
        flags = (
            frozenset({MemberFlag.NO_APPROVER}) if self.manager_known and approver is None else frozenset()
        )
        self.actions["create"].append(
            CreateMember(
                member_id=member_id,
                hris_id=employee.hris_id,
                status=self.final_status[member_id],
                profile=Profile(**{name: getattr(employee, name) for name in self.fields}),
                groups=groups,
                location=location,
                role=role,
                region=region,
                approver_member_id=approver,
                flags=flags,
            )
        )

    def warn_unmatched_scope(self) -> None:
        """R33: a saved scope value that a complete snapshot no longer carries (a deleted group)
        selects nobody; the run says so once per value."""
        scope = self.connection.scope
        if not (self.full and self.complete) or not scope.selection:
            return
        for value in _unmatched_scope_values(scope, self.employees):
            label = scope.labels.get(value)
            shown = f"{label.name!r} ({value})" if label is not None and label.name != value else repr(value)
            self._warn(
                "scope_value_unmatched",
                f"scope {scope.mode.value} {shown[:200]} selects nobody: the HR system no longer lists it",
            )

    # -- the plan --------------------------------------------------------------------------------

    def _warn(self, code: str, message: str, hris_id: str | None = None) -> None:
        self.warnings.append(PlanWarning(code=code, message=message, hris_id=hris_id))

    def build_plan(self) -> Plan:
        for member_id, (changes, cleared) in self.changes.items():
            self.actions["update"].append(
                UpdateMember(member_id=member_id, changes=changes, clear_overrides=tuple(cleared))
            )
        for role, count in sorted(self.mapper.unmapped_roles.items()):
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
        guard = GuardVerdict(
            hold=self.connection.safety.exceeded_by(deactivations, active),
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
            unknown_statuses=tuple(sorted(self.unknown_statuses, key=lambda u: u.hris_id)),
            counts=counts,
            guard=guard,
        )


_SKIP_DETAIL = {
    "missing_email": "the HR record has no email",
    "invalid_email": "the HR record's email is not a valid address",
    "duplicate_email": "another in-scope employee has the same email",
}


def _same_synced_values(employee: Employee, profile: Profile) -> bool:
    """Every synced field (``SYNCED_FIELDS``, written out) of ``employee`` equals ``profile``'s.

    The quick proof that a linked member's profile is current (a plan asks it for every linked
    employee): attribute reads compiled inline take half the time of building and comparing two
    tuples of them. False says nothing about the fields a provider supplies; they are then
    compared one by one."""
    return (
        employee.first_name == profile.first_name
        and employee.last_name == profile.last_name
        and employee.email == profile.email
        and employee.employee_number == profile.employee_number
        and employee.avatar_url == profile.avatar_url
        and employee.job_title == profile.job_title
        and employee.department == profile.department
        and employee.company == profile.company
        and employee.groups == profile.groups
        and employee.office_location == profile.office_location
        and employee.home_country == profile.home_country
        and employee.birthday == profile.birthday
        and employee.start_date == profile.start_date
        and employee.termination_date == profile.termination_date
        and employee.manager_hris_id == profile.manager_hris_id
    )


def _precedence(member: Member) -> tuple[int, str]:
    """Which of several members linked to one HR id counts: a non-archived one, then the lowest id."""
    return (1 if member.status is MemberStatus.ARCHIVED else 0, member.member_id)


def _warning_code(text: str) -> str:
    # A connector's warning names its vendor first ("personio: unknown status ...").
    vendor, _, rest = text.partition(": ")
    for prefix, code in _WARNING_CODES:
        if text.startswith(prefix) or (rest.startswith(prefix) and " " not in vendor):
            return code
    return "employee_warning"


def _judge(connection: Connection, today: date) -> Callable[[Employee, bool], Judgement]:
    """How an employee is judged: see the module docstring."""
    gating = connection.start_date_gating
    leave_deactivates = connection.deactivate_on_leave
    terminated, on_leave, pending = EmployeeStatus.TERMINATED, EmployeeStatus.ON_LEAVE, EmployeeStatus.PENDING

    def judge(employee: Employee, scoped_in: bool) -> Judgement:
        termination = employee.termination_date
        status = employee.status
        if status is terminated or (termination is not None and termination <= today):
            return Judgement.TERMINATED  # R03
        if not scoped_in:
            return Judgement.OUT_OF_SCOPE  # R01, R11
        if status is on_leave and leave_deactivates:
            return Judgement.ON_LEAVE  # R04
        start = employee.start_date
        if gating and ((start is not None and start > today) or (status is pending and start is None)):
            return Judgement.NOT_STARTED  # R02
        return Judgement.ELIGIBLE

    return judge


def _scope_test(connection: Connection) -> Callable[[Employee], bool]:
    """R01, R33: is an employee in the connection's scope?

    Scope values are directory ids (``Employee.company_id``, ``group_ids``, ``hris_id``); the
    company and group names that scopes saved before R33 hold still match, as they always did
    (a value is an id or a name, never both in practice: ids are UUIDs, numbers or ``kind:key``).
    Each test is one frozenset built here, once per plan."""
    scope = connection.scope
    mode = scope.mode
    if mode is ScopeMode.EVERYONE:
        return lambda _employee: True
    if mode is ScopeMode.COMPANIES:
        companies = frozenset(scope.companies)
        return lambda employee: employee.company_id in companies or employee.company in companies
    if mode is ScopeMode.GROUPS:
        groups = frozenset(scope.groups)
        return lambda employee: (
            not groups.isdisjoint(employee.group_ids)
            or employee.department in groups
            or not groups.isdisjoint(employee.groups)
        )
    if mode is ScopeMode.PEOPLE:
        people = frozenset(scope.people)
        return lambda employee: employee.hris_id in people
    return lambda _employee: False  # manual: nobody by scope; linked members only


def scope_values_of(employee: Employee, mode: ScopeMode) -> tuple[str | None, ...]:
    """Every scope value of ``mode`` that selects ``employee`` (ids, and names saved before R33)."""
    if mode is ScopeMode.COMPANIES:
        return (employee.company_id, employee.company)
    if mode is ScopeMode.GROUPS:
        return (*employee.group_ids, employee.department, *employee.groups)
    if mode is ScopeMode.PEOPLE:
        return (employee.hris_id,)
    return ()


def scope_counts(scope: Scope, employees: Iterable[Employee]) -> dict[str, int]:
    """R33: how many employees, not terminated, each value of the scope's selection selects
    (the preview shows it per choice; a value selecting nobody counts 0)."""
    counts = dict.fromkeys(scope.selection, 0)
    if not counts:
        return counts
    mode = scope.mode
    terminated = EmployeeStatus.TERMINATED
    for employee in employees:
        if employee.status is terminated:
            continue
        for value in set(scope_values_of(employee, mode)):
            if value is not None and value in counts:
                counts[value] += 1
    return counts


def _unmatched_scope_values(scope: Scope, employees: Iterable[Employee]) -> list[str]:
    """The values of the scope's selection that no employee of a complete snapshot carries: a
    group or company the HR system deleted (the scope stands and selects nobody from it)."""
    left = set(scope.selection)
    mode = scope.mode
    for employee in employees:
        if not left:
            break
        left.difference_update(scope_values_of(employee, mode))
    return sorted(left)


class _Mapper:
    """R18: HR values -> app values (groups, location, role, region), cached per distinct input."""

    def __init__(self, connection: Connection, fields: tuple[str, ...]) -> None:
        mappings = connection.mappings
        self.groups_map = mappings.groups
        self.locations = mappings.locations
        self.roles = mappings.roles
        self.regions = mappings.regions
        self.additive = connection.mapping_mode is MappingMode.ADDITIVE
        self.default_role = connection.default_role
        self.groups_known = "groups" in fields or "department" in fields
        self.location_known = "office_location" in fields
        self.region_known = "home_country" in fields
        self.report_roles = bool(self.roles)
        self.unmapped_roles: Counter[str] = Counter()
        self._group_cache: dict[tuple[tuple[str, ...], str | None], tuple[str, ...]] = {}
        self.values_for = self._fast_values_for()

    def _groups(self, department: str | None, groups: tuple[str, ...]) -> tuple[str, ...]:
        key = (groups, department)
        cached = self._group_cache.get(key)
        if cached is None:
            names = [department] if department else []
            names.extend(groups)
            cached = tuple(dict.fromkeys(self.groups_map.get(name, name) for name in names))
            self._group_cache[key] = cached
        return cached

    def _fast_values_for(self) -> Callable[[Employee, _AppValues | None], _AppValues]:
        """``values_for``: the app values of an employee (see ``_values_for``), as a closure over
        the settings, since it runs once per employee of every sync."""
        slow = self._values_for
        additive = self.additive
        groups_known, location_known, region_known = self.groups_known, self.location_known, self.region_known
        group_cache_get = self._group_cache.get
        groups_of = self._groups
        locations_get, regions_get, roles_get = self.locations.get, self.regions.get, self.roles.get
        report_roles = self.report_roles
        unmapped = self.unmapped_roles

        def values_for(employee: Employee, current: _AppValues | None) -> _AppValues:
            if current is None or additive:
                return slow(employee, current)
            groups, location, role, region = current
            if groups_known:
                department, hris_groups = employee.department, employee.groups
                groups = group_cache_get((hris_groups, department)) or groups_of(department, hris_groups)
            if location_known:
                office = employee.office_location
                location = locations_get(office, office) if office else None
            if region_known:
                country = employee.home_country
                region = regions_get(country, country) if country else None
            hris_role = employee.hris_role
            if hris_role is not None:
                mapped_role = roles_get(hris_role)
                if mapped_role is not None:
                    role = mapped_role
                elif report_roles:
                    unmapped[hris_role] += 1
            return groups, location, role, region

        return values_for

    def _values_for(self, employee: Employee, current: _AppValues | None) -> _AppValues:
        """The app values ``employee`` maps to; ``current`` None for a new member (default role).

        A value the connection does not manage (field not supplied, no HR role, unmapped role)
        stays as it is; with ``additive`` a member's groups are only added to, and its location,
        role and region only filled when empty.
        """
        groups, location, role, region = current if current is not None else ((), None, None, None)
        additive = self.additive and current is not None
        if self.groups_known:
            mapped = self._groups(employee.department, employee.groups)
            if not additive:
                groups = mapped
            elif not set(mapped).issubset(groups):
                groups = tuple(dict.fromkeys((*groups, *mapped)))
        if self.location_known and not (additive and location):
            office = employee.office_location
            location = self.locations.get(office, office) if office else None
        if self.region_known and not (additive and region):
            country = employee.home_country
            region = self.regions.get(country, country) if country else None
        hris_role = employee.hris_role
        mapped_role = self.roles.get(hris_role) if hris_role is not None else None
        if mapped_role is None and hris_role is not None and self.report_roles:
            self.unmapped_roles[hris_role] += 1
        if mapped_role is not None and not (additive and role):
            role = mapped_role
        if current is None and role is None:
            role = self.default_role
        return groups, location, role, region
