"""Properties of the reconciler over random companies, member sets and settings (Hypothesis)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reconciler_builders import NOW, TENANT, TODAY, connection, sync

from infra.local.company import generate_company
from shared.codecs import employee_from, to_plain
from shared.domain.apply import apply_plan
from shared.domain.models import (
    Actor,
    ApprovalMode,
    Connection,
    DeactivationReason,
    Employee,
    FieldPolicy,
    InviteMode,
    MappingMode,
    Mappings,
    Member,
    MemberSource,
    MemberStatus,
    Profile,
    Scope,
    ScopeMode,
    Snapshot,
    Targeted,
)
from shared.domain.reconciler import plan

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@dataclass
class World:
    """A tenant before a sync: its members, the connection, and what the HR system reports now."""

    members: list[Member]
    connection: Connection
    source: Snapshot | Targeted

    @property
    def protected(self) -> set[str]:
        """Members a sync must never write: manual (R13) and archived (R14)."""
        return {
            m.member_id
            for m in self.members
            if m.source is MemberSource.MANUAL or m.status is MemberStatus.ARCHIVED
        }


def _scope(rng: random.Random, staff: list[Employee]) -> Scope:
    mode = rng.choice(
        [
            ScopeMode.EVERYONE,
            ScopeMode.EVERYONE,
            ScopeMode.COMPANIES,
            ScopeMode.GROUPS,
            ScopeMode.PEOPLE,
            ScopeMode.MANUAL,
        ]
    )
    if mode is ScopeMode.COMPANIES:
        return Scope(
            mode=mode, companies=tuple(sorted({e.company or "" for e in staff if rng.random() < 0.5}))
        )
    if mode is ScopeMode.GROUPS:
        return Scope(
            mode=mode, groups=tuple(sorted({g for e in staff for g in e.groups if rng.random() < 0.3}))
        )
    if mode is ScopeMode.PEOPLE:
        return Scope(mode=mode, people=tuple(e.hris_id for e in staff if rng.random() < 0.6))
    return Scope(mode=mode)


def _connection(rng: random.Random, staff: list[Employee], claiming: bool) -> Connection:
    return connection(
        scope=_scope(rng, staff),
        approval=rng.choice(list(ApprovalMode)),
        invites=rng.choice(list(InviteMode)),
        field_policy=rng.choice(list(FieldPolicy)),
        mapping_mode=rng.choice(list(MappingMode)),
        mappings=Mappings(
            groups={"Engineering": "eng", "Sales": "sales"},
            locations={"London": "LON"},
            roles={"Manager": "admin"} if rng.random() < 0.5 else {},
            regions={"GB": "EMEA", "DE": "EMEA"},
        ),
        deactivate_on_leave=rng.random() < 0.4,
        start_date_gating=rng.random() < 0.8,
        resend_expired_invites=rng.random() < 0.7,
        invite_ttl_days=rng.choice([1, 7, 30]),
        first_complete_sync_at=None if claiming else NOW,
    )


def _mutate(rng: random.Random, staff: list[Employee]) -> list[Employee]:
    """The HR system, some time later: joiners, leavers, movers, edits and bad records."""
    out: list[Employee] = []
    emails = [e.email for e in staff]
    ids = [e.hris_id for e in staff]
    for e in staff:
        roll = rng.random()
        if roll < 0.08:
            continue  # gone from the HR system
        update: dict[str, Any] = {}
        if roll < 0.14:
            update["status"] = rng.choice(["terminated", "on_leave", "active", "pending", "zombie"])
        elif roll < 0.18:
            update["email"] = rng.choice([None, "broken", rng.choice(emails), (e.email or "x").upper()])
        elif roll < 0.24:
            update["job_title"] = rng.choice(["CTO", None, "Engineer"])
        elif roll < 0.28:
            update["company"] = rng.choice(["Northwind Ltd", "Elsewhere Inc."])
        elif roll < 0.32:
            update["manager_hris_id"] = rng.choice([None, "nobody", *ids[:5]])
        elif roll < 0.35:
            update["termination_date"] = TODAY + timedelta(days=rng.randint(-5, 5))
        elif roll < 0.38:
            update["start_date"] = TODAY + timedelta(days=rng.randint(-3, 3))
        data = to_plain(e, mode="python")
        data.update(update)
        if rng.random() < 0.03:
            data["birthday"] = "not a date"
        out.append(employee_from(data))
    for i in range(rng.randint(0, 3)):
        out.append(
            employee_from(
                {
                    "hris_id": f"new{i}",
                    "email": rng.choice([f"new{i}@northwind.example", None, rng.choice(emails or ["a@b.c"])]),
                    "status": rng.choice(["active", "Active", "pending"]),
                    "start_date": rng.choice([str(TODAY), "2026-13-45", None]),
                    "manager_hris_id": rng.choice([None, *ids[:3]]),
                    "groups": ["Sales"],
                }
            )
        )
    rng.shuffle(out)
    return out


def _tamper(rng: random.Random, members: list[Member]) -> list[Member]:
    """Admins at work: manual members, archives, admin deactivations, edits (overrides)."""
    out: list[Member] = []
    for original in members:
        m = original
        roll = rng.random()
        if roll < 0.05:
            m = replace(m, status=MemberStatus.ARCHIVED)
        elif roll < 0.10:
            m = replace(
                m,
                status=MemberStatus.DEACTIVATED,
                deactivation_reason=DeactivationReason.ADMIN,
                deactivated_by=Actor.ADMIN,
                status_before_deactivation=m.status if m.status is not MemberStatus.DEACTIVATED else None,
            )
        elif roll < 0.15:
            m = replace(
                m,
                profile=replace(m.profile, job_title="Edited"),
                overrides={"job_title": "Edited"},
            )
        elif roll < 0.18 and m.status is MemberStatus.INVITED:
            m = replace(m, invite_expires_at=NOW - timedelta(days=2))
        out.append(m)
    emails = [m.profile.email for m in members if m.profile.email]
    for i in range(rng.randint(0, 3)):
        email = rng.choice([f"manual{i}@northwind.example", *emails[:10]])
        out.append(
            Member(
                member_id=f"manual-{i}",
                tenant_id=TENANT,
                source=MemberSource.MANUAL,
                status=rng.choice([MemberStatus.ACTIVE, MemberStatus.ARCHIVED, MemberStatus.DEACTIVATED]),
                profile=Profile(email=email),
            )
        )
    return out


@st.composite
def worlds(draw: st.DrawFn) -> World:
    seed = draw(st.integers(0, 10_000))
    n = draw(st.integers(0, 40))
    rng = random.Random(seed)
    staff = generate_company(n, seed=seed, today=TODAY - timedelta(days=30))
    # The tenant's history: an import by this connection or by an earlier one (R21), then edits.
    claiming = draw(st.booleans())
    earlier = _connection(rng, staff, claiming=False)
    if claiming:
        earlier = earlier.model_copy(update={"connection_id": "earlier"})
    _, members = sync(Snapshot(employees=tuple(staff), complete=True), [], earlier)
    if draw(st.booleans()):  # a second sync deactivates some, so the next one may bring them back
        _, members = sync(Snapshot(employees=tuple(_mutate(rng, staff)), complete=True), members, earlier)
    members = _tamper(rng, members)
    now = _mutate(rng, staff)
    source_kind = draw(st.sampled_from(["complete", "complete", "incomplete", "targeted"]))
    source: Snapshot | Targeted
    if source_kind == "targeted":
        source = Targeted(employees=tuple(e for e in now if rng.random() < 0.3))
    else:
        source = Snapshot(
            employees=tuple(now), complete=source_kind == "complete", reasons=("page 2 failed",)
        )
    return World(members, _connection(rng, staff, claiming=claiming), source)


@PROPERTY_SETTINGS
@given(worlds())
def test_r24_apply_then_plan_again_is_empty(world: World) -> None:
    first = plan(world.source, world.members, world.connection, TODAY)
    changed = apply_plan(world.members, first, world.connection, NOW)
    after = {m.member_id: m for m in world.members} | changed
    settled = world.connection
    if first.complete:
        settled = settled.model_copy(update={"first_complete_sync_at": NOW})

    second = plan(world.source, list(after.values()), settled, TODAY)

    assert second.writes == (), second.writes


@PROPERTY_SETTINGS
@given(worlds())
def test_r13_r14_manual_and_archived_members_are_never_written(world: World) -> None:
    result = plan(world.source, world.members, world.connection, TODAY)

    # R34: the one write a manual member may get is a link (R05) by an employee this sync would
    # create, with what follows from it; never an archived one, never a deactivation.
    linked = {a.member_id for a in result.actions if a.kind == "link"}
    archived = {m.member_id for m in world.members if m.status is MemberStatus.ARCHIVED}
    written = {a.member_id for a in result.writes}
    assert not written & archived
    assert written & world.protected <= linked - archived
    assert not {a.member_id for a in result.actions if a.kind == "deactivate"} & world.protected
    changed = apply_plan(world.members, result, world.connection, NOW)
    assert set(changed) & world.protected <= linked
    for member_id in set(changed) & world.protected:
        before = next(m for m in world.members if m.member_id == member_id)
        assert (changed[member_id].member_id, changed[member_id].external_id) == (
            member_id,
            before.external_id,
        )


@PROPERTY_SETTINGS
@given(worlds())
def test_r10_admin_deactivated_members_are_never_reactivated(world: World) -> None:
    by_admin = {m.member_id for m in world.members if m.deactivated_by is Actor.ADMIN}

    result = plan(world.source, world.members, world.connection, TODAY)

    assert not {a.member_id for a in result.actions if a.kind == "reactivate"} & by_admin


@PROPERTY_SETTINGS
@given(worlds())
def test_r09_incomplete_snapshot_never_deactivates(world: World) -> None:
    source = world.source
    if isinstance(source, Snapshot):
        source = source.model_copy(update={"complete": False})

    result = plan(source, world.members, world.connection, TODAY)

    assert not [a for a in result.actions if a.kind == "deactivate" and isinstance(source, Snapshot)]
    if isinstance(source, Targeted):  # targeted: only for a reason the employee gives
        named = {e.hris_id for e in source.employees}
        linked = {m.member_id: m.hris_id for m in world.members}
        deactivated = [a.member_id for a in result.actions if a.kind == "deactivate"]
        assert all(linked.get(mid) in named for mid in deactivated)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "hris_id": st.text(min_size=1, max_size=4),
                "email": st.one_of(
                    st.none(), st.text(max_size=12), st.sampled_from(["a@b.co", "A@B.CO", " a@b.co "])
                ),
                "status": st.one_of(
                    st.none(), st.text(max_size=8), st.sampled_from(["terminated", "on_leave"])
                ),
                "start_date": st.one_of(st.none(), st.text(max_size=12), st.dates().map(str)),
                "termination_date": st.one_of(st.none(), st.text(max_size=12), st.dates().map(str)),
                "birthday": st.one_of(st.none(), st.text(max_size=12)),
                "manager_hris_id": st.one_of(st.none(), st.text(min_size=1, max_size=4)),
                "groups": st.lists(st.text(max_size=6), max_size=3),
            }
        ),
        max_size=25,
    ),
    st.booleans(),
)
def test_r25_bad_records_never_crash_a_plan(records: list[dict[str, Any]], complete: bool) -> None:
    staff = [employee_from({k: v for k, v in r.items() if v is not None}) for r in records]
    members = [
        Member(
            member_id="m1",
            tenant_id=TENANT,
            source=MemberSource.HRIS,
            connection_id="c1",
            hris_id=staff[0].hris_id if staff else "x",
            status=MemberStatus.ACTIVE,
            profile=Profile(email="a@b.co"),
        )
    ]
    conn = connection(first_complete_sync_at=None)

    result = plan(Snapshot(employees=tuple(staff), complete=complete), members, conn, TODAY)
    changed = apply_plan(members, result, conn, NOW)

    created = [a for a in result.actions if a.kind == "create"]
    emails = [a.profile.email.lower() for a in created if a.profile.email]
    assert len(emails) == len(set(emails)), "two members created with one email"
    assert len(changed) >= len(created)
