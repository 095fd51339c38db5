"""Admin actions on members, webhooks, tasks and audit, through the services."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared.domain.models import (
    Actor,
    Connection,
    DeactivationReason,
    EmployeeStatus,
    MemberFlag,
    MemberSource,
    MemberStatus,
    TaskType,
)
from shared.domain.records import TaskStatus
from shared.errors import (
    ConnectionDisconnected,
    ConnectionNotFound,
    EmailTaken,
    InvalidInput,
    InvalidState,
    MemberNotFound,
    TaskNotFound,
)
from shared.ports import MemberQuery
from shared.providers.base import WebhookRejected, WebhookUnparseable
from shared.services import connections, members, webhook_apply
from tests.support.world import T, World, employee, hire, imported, manual_member


def _member(world: World, conn: Connection, hris_id: str) -> Any:
    return world.member_by_hris(T, conn.connection_id, hris_id)


# ---------------------------------------------------------------------------------------------
# R07 approval
# ---------------------------------------------------------------------------------------------


def test_r07_approval_mode_creates_pending_members_and_requests_approval(world: World) -> None:
    hire(world, "ann")
    conn = imported(world, approval="admin")
    ann = _member(world, conn, "ann")
    assert ann.status is MemberStatus.PENDING_APPROVAL
    assert "member.approval_requested" in world.events.types()
    assert world.emails("member_invite") == []


def test_r07_approving_sends_the_invite_when_invites_are_now(world: World) -> None:
    hire(world, "ann")
    conn = imported(world, approval="admin")
    ann = members.approve(world.ports, T, _member(world, conn, "ann").member_id, "admin-1")
    assert ann.status is MemberStatus.INVITED
    assert ann.invite_expires_at is not None
    [invite] = world.emails("member_invite")
    assert invite.to == ("ann@acme.test",)
    assert world.events.types()[-2:] == ["member.updated", "member.invited"]
    [entry] = [e for e in world.audit.all() if e.action == "approve"]
    assert entry.actor is Actor.ADMIN and entry.actor_id == "admin-1"
    assert entry.before["status"] == "pending_approval" and entry.after["status"] == "invited"


def test_r07_approving_queues_when_invites_are_later(world: World) -> None:
    hire(world, "ann")
    conn = imported(world, approval="admin", invites="later")
    ann = members.approve(world.ports, T, _member(world, conn, "ann").member_id, "admin-1")
    assert ann.status is MemberStatus.QUEUED
    assert world.emails("member_invite") == []


def test_r07_rejected_member_is_deactivated_by_admin_and_later_syncs_leave_it(world: World) -> None:
    hire(world, "ann")
    conn = imported(world, approval="admin")
    ann = members.reject(world.ports, T, _member(world, conn, "ann").member_id, "admin-1")
    assert ann.status is MemberStatus.DEACTIVATED and ann.deactivated_by is Actor.ADMIN
    world.sync_now(T, conn.connection_id)
    assert world.members.get(T, ann.member_id).status is MemberStatus.DEACTIVATED
    with pytest.raises(InvalidState):
        members.approve(world.ports, T, ann.member_id, "admin-1")


# ---------------------------------------------------------------------------------------------
# R08 invites
# ---------------------------------------------------------------------------------------------


def test_r08_queued_invites_are_sent_for_some_or_all(world: World) -> None:
    hire(world, "ann", "bob", "cid")
    conn = imported(world, invites="later")
    ann, bob = _member(world, conn, "ann"), _member(world, conn, "bob")
    assert ann.status is MemberStatus.QUEUED
    assert world.emails("member_invite") == []

    some = members.send_invites(world.ports, T, "admin-1", [ann.member_id, "m_nope"])
    assert some.sent == (ann.member_id,)
    assert some.not_sent == (("m_nope", "not_found"),)
    again = members.send_invites(world.ports, T, "admin-1", [ann.member_id])
    assert again.not_sent == ((ann.member_id, "not_queued"),)

    rest = members.send_invites(world.ports, T, "admin-1")
    assert set(rest.sent) == {bob.member_id, _member(world, conn, "cid").member_id}
    assert len(world.emails("member_invite")) == 3
    assert world.members.query(T, MemberQuery(status=MemberStatus.QUEUED)).items == ()


def test_r08_send_invites_rejects_an_empty_or_huge_selection(world: World) -> None:
    with pytest.raises(InvalidInput):
        members.send_invites(world.ports, T, "admin-1", [])
    with pytest.raises(InvalidInput):
        members.send_invites(world.ports, T, "admin-1", [f"m{i}" for i in range(501)])


# ---------------------------------------------------------------------------------------------
# R10 manual deactivation, R27 offboarding, R14 archive
# ---------------------------------------------------------------------------------------------


def test_r10_manual_deactivation_is_never_undone_by_a_sync(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    ann = members.deactivate(world.ports, T, _member(world, conn, "ann").member_id, "admin-1")
    assert ann.deactivated_by is Actor.ADMIN
    world.hr.set(employee("ann", job_title="still here"))
    world.sync_now(T, conn.connection_id)
    assert world.members.get(T, ann.member_id).status is MemberStatus.DEACTIVATED


def test_r10_only_an_admin_reactivates_and_the_earlier_status_returns(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    ann = _member(world, conn, "ann")
    members.deactivate(world.ports, T, ann.member_id, "admin-1")
    back = members.reactivate(world.ports, T, ann.member_id, "admin-1")
    assert back.status is MemberStatus.INVITED
    assert back.deactivation_reason is None
    assert world.events.types()[-1] == "member.reactivated"
    with pytest.raises(InvalidState):
        members.reactivate(world.ports, T, ann.member_id, "admin-1")


def test_r27_offboard_now_deactivates_by_admin_and_opens_an_offboarding_task(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    ann = members.offboard(world.ports, T, _member(world, conn, "ann").member_id, "admin-1")
    assert ann.status is MemberStatus.DEACTIVATED
    assert ann.deactivated_by is Actor.ADMIN
    assert ann.deactivation_reason is DeactivationReason.OFFBOARDED
    tasks = [t for t in world.tasks.items.values() if t.type is TaskType.OFFBOARDING]
    assert [t.member_id for t in tasks] == [ann.member_id]
    assert world.events.types()[-2:] == ["member.deactivated", "task.opened"]
    # Offboarding twice opens no second task; later syncs never bring the member back (R10).
    members.offboard(world.ports, T, ann.member_id, "admin-1")
    assert len([t for t in world.tasks.items.values() if t.type is TaskType.OFFBOARDING]) == 1
    world.sync_now(T, conn.connection_id)
    assert world.members.get(T, ann.member_id).status is MemberStatus.DEACTIVATED


def test_r14_an_archived_member_is_never_changed_by_a_sync(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    ann = members.archive(world.ports, T, _member(world, conn, "ann").member_id, "admin-1")
    world.hr.set(employee("ann", job_title="New title", status=EmployeeStatus.TERMINATED))
    world.sync_now(T, conn.connection_id)
    stored = world.members.get(T, ann.member_id)
    assert stored == ann
    with pytest.raises(InvalidState):
        members.edit_member(world.ports, T, ann.member_id, "admin-1", {"job_title": "x"})


# ---------------------------------------------------------------------------------------------
# R16 overrides and resync
# ---------------------------------------------------------------------------------------------


def test_r16_admin_edit_is_an_override_overwritten_by_the_next_sync_with_hris_wins(world: World) -> None:
    hire(world, "ann", job_title="Engineer")
    conn = imported(world)
    ann = members.edit_member(
        world.ports, T, _member(world, conn, "ann").member_id, "admin-1", {"job_title": "Boss"}
    )
    assert ann.overrides == {"job_title": "Boss"}
    world.sync_now(T, conn.connection_id)
    after = world.members.get(T, ann.member_id)
    assert after.profile.job_title == "Engineer"
    assert after.overrides == {}


def test_r16_with_manual_wins_the_override_stays_until_an_admin_resyncs(world: World) -> None:
    hire(world, "ann", job_title="Engineer")
    conn = imported(world, field_policy="manual_wins")
    ann = members.edit_member(
        world.ports, T, _member(world, conn, "ann").member_id, "admin-1", {"job_title": "Boss"}
    )
    world.hr.set(employee("ann", job_title="Staff Engineer"))
    world.sync_now(T, conn.connection_id)
    assert world.members.get(T, ann.member_id).profile.job_title == "Boss"
    world.clock.advance(timedelta(minutes=1))

    resynced = members.resync_member(world.ports, T, ann.member_id, "admin-1")

    assert resynced.profile.job_title == "Staff Engineer"
    assert resynced.overrides == {}
    assert next(e.action for e in world.audit.query(T, member_id=ann.member_id).items) == "resync"


def test_r16_edit_of_a_manual_member_records_no_override_and_a_taken_email_is_refused(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    world.members.seed(manual_member(T, "m_manual", "carol@acme.test"))
    carol = members.edit_member(world.ports, T, "m_manual", "admin-1", {"last_name": "Smith"})
    assert carol.overrides == {}
    with pytest.raises(EmailTaken):
        members.edit_member(world.ports, T, "m_manual", "admin-1", {"email": "ANN@acme.test"})
    with pytest.raises(InvalidInput):
        members.edit_member(world.ports, T, "m_manual", "admin-1", {"status": "active"})
    with pytest.raises(InvalidInput):
        members.edit_member(world.ports, T, "m_manual", "admin-1", {"birthday": "not a date"})
    assert _member(world, conn, "ann").profile.email == "ann@acme.test"


def test_r16_resync_of_a_manual_member_is_refused(world: World) -> None:
    world.members.seed(manual_member(T, "m_manual", "carol@acme.test"))
    with pytest.raises(InvalidState):
        members.resync_member(world.ports, T, "m_manual", "admin-1")


# ---------------------------------------------------------------------------------------------
# R13 manual members, R05 linking
# ---------------------------------------------------------------------------------------------


def test_r13_a_sync_never_touches_a_manual_member(world: World) -> None:
    world.members.seed(manual_member(T, "m_manual", "carol@acme.test"))
    hire(world, "ann")
    imported(world)
    assert world.members.get(T, "m_manual").version == 1
    assert world.members.get(T, "m_manual").source is MemberSource.MANUAL


def test_r34_a_first_import_links_the_apps_user_by_email_keeping_its_ids(world: World) -> None:
    world.members.seed(
        manual_member(T, "m_app_ann", "ANN@acme.test", external_id="app|ann"),
        manual_member(T, "m_app_zed", "zed@elsewhere.test", external_id="app|zed"),
    )
    hire(world, "ann", "bob")

    conn = imported(world)

    ann = world.members.get(T, "m_app_ann")
    assert (ann.member_id, ann.external_id) == ("m_app_ann", "app|ann")
    assert (ann.source, ann.connection_id, ann.hris_id) == (MemberSource.HRIS, conn.connection_id, "ann")
    assert world.members.get(T, "m_app_zed") == manual_member(
        T, "m_app_zed", "zed@elsewhere.test", external_id="app|zed"
    )
    assert len(list(world.members.iter_all(T))) == 3  # bob created; no second ann
    linked = [e for e in world.events.published if e.detail.get("member_id") == "m_app_ann"]
    assert linked and all(e.detail["external_id"] == "app|ann" for e in linked)


# ---------------------------------------------------------------------------------------------
# Webhooks (R09 targeted, R24 replay; R29 and R30 in test_services_webhooks.py)
# ---------------------------------------------------------------------------------------------


def test_webhook_applies_a_targeted_plan_for_the_named_employees_only(world: World) -> None:
    hire(world, "ann", "bob")
    conn = imported(world)
    world.hr.set(employee("ann", job_title="Director"), employee("new", first_name="Nia"))
    world.hr.remove("bob")  # absent, but a webhook never deactivates the absent (R09)
    writes = world.members.write_calls

    result = webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["ann", "new"], "dlv-1")

    assert result.counts.updated == 1 and result.counts.created == 1
    assert _member(world, conn, "ann").profile.job_title == "Director"
    assert _member(world, conn, "new").status is MemberStatus.INVITED
    assert _member(world, conn, "bob").status is MemberStatus.INVITED
    assert world.members.write_calls == writes + 1
    assert ("get", ("ann", "new")) in world.hr.calls


def test_r24_a_replayed_webhook_changes_nothing(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    world.hr.set(employee("ann", job_title="Director"))
    webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["ann"], "dlv-1")
    writes, events, emails = world.members.write_calls, len(world.events.published), len(world.mailer.sent)

    result = webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["ann"], "dlv-1")

    assert result.counts.updated == 0
    assert (world.members.write_calls, len(world.events.published), len(world.mailer.sent)) == (
        writes,
        events,
        emails,
    )


def test_r20_a_webhook_for_a_disconnected_connection_is_ignored(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    connections.disconnect(world.ports, T, conn.connection_id)
    result = webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["ann"], "dlv-3")
    assert result.ignored


def test_webhook_bad_input_is_refused(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    with pytest.raises(InvalidInput):
        webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["ann"], "")
    with pytest.raises(InvalidInput):
        webhook_apply.apply_webhook(world.ports, T, conn.connection_id, [f"e{i}" for i in range(101)], "d")


# ---------------------------------------------------------------------------------------------
# R26 tasks, audit, listing
# ---------------------------------------------------------------------------------------------


def test_r26_tasks_are_listed_by_type_and_status_and_completed(world: World) -> None:
    hire(world, "ann", "bob")
    conn = imported(world)
    members.offboard(world.ports, T, _member(world, conn, "bob").member_id, "admin-1")
    onboarding = members.list_tasks(world.ports, T, type=TaskType.ONBOARDING).items
    assert len(onboarding) == 2
    [off] = members.list_tasks(world.ports, T, type=TaskType.OFFBOARDING, status=TaskStatus.OPEN).items

    done = members.complete_task(world.ports, T, off.task_id, "admin-1")

    assert done.status is TaskStatus.DONE and done.completed_by == "admin-1"
    assert members.list_tasks(world.ports, T, type=TaskType.OFFBOARDING, status=TaskStatus.OPEN).items == ()
    with pytest.raises(TaskNotFound):
        members.complete_task(world.ports, T, "task_nope", "admin-1")
    with pytest.raises(TaskNotFound):
        members.complete_task(world.ports, "tenant-b", off.task_id, "admin-1")


def test_audit_trail_of_a_member_is_newest_first_with_before_and_after(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    ann = _member(world, conn, "ann")
    world.clock.advance(timedelta(minutes=1))
    members.deactivate(world.ports, T, ann.member_id, "admin-1")
    trail = members.list_audit(world.ports, T, member_id=ann.member_id).items
    assert trail[0].action == "deactivate"
    assert trail[0].before["status"] == "invited" and trail[0].after["status"] == "deactivated"
    [created] = [e for e in trail if e.action == "create"]
    assert created.actor is Actor.SYNC and created.run_id is not None
    assert created.before == {} and created.after["status"] == "invited"
    with pytest.raises(MemberNotFound):
        members.list_audit(world.ports, T, member_id="m_nope")


def test_members_are_listed_by_status_flag_and_source_with_cursor_paging(world: World) -> None:
    hire(world, "ann", "bob", "cid")
    imported(world)
    world.members.seed(manual_member(T, "m_manual", "carol@acme.test"))
    first = members.list_members(world.ports, T, limit=2)
    assert len(first.items) == 2 and first.next_cursor is not None
    rest = members.list_members(world.ports, T, limit=2, cursor=first.next_cursor)
    assert len(rest.items) == 2 and rest.next_cursor is None
    assert len(members.list_members(world.ports, T, source=MemberSource.MANUAL).items) == 1
    no_approver = members.list_members(world.ports, T, flag=MemberFlag.NO_APPROVER).items
    assert all(MemberFlag.NO_APPROVER in m.flags for m in no_approver)
    with pytest.raises(InvalidInput):
        members.list_members(world.ports, T, limit=0)
    with pytest.raises(InvalidInput):
        members.list_members(world.ports, T, limit=201)
    with pytest.raises(InvalidInput):
        members.list_members(world.ports, T, cursor="garbage!")


def test_unknown_member_is_a_typed_not_found_in_every_admin_action(world: World) -> None:
    for action in (
        members.approve,
        members.reject,
        members.deactivate,
        members.reactivate,
        members.offboard,
        members.archive,
        members.resync_member,
    ):
        with pytest.raises(MemberNotFound):
            action(world.ports, T, "m_nope", "admin-1")
    with pytest.raises(MemberNotFound):
        members.get_member(world.ports, T, "m_nope")


def test_tenant_isolation_admin_actions_cannot_reach_another_tenants_member(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    ann = _member(world, conn, "ann")
    with pytest.raises(MemberNotFound):
        members.deactivate(world.ports, "tenant-b", ann.member_id, "admin-1")
    assert world.members.get(T, ann.member_id).status is MemberStatus.INVITED


def test_an_admin_change_racing_another_write_is_decided_again(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    ann = _member(world, conn, "ann")
    raced = {"done": False}

    def race(w: Any) -> None:
        if not raced["done"]:
            raced["done"] = True
            stored = world.members.items[(T, ann.member_id)]
            world.members.items[(T, ann.member_id)] = replace(
                stored, version=stored.version + 1, role="owner"
            )

    world.members.before_write = race
    after = members.deactivate(world.ports, T, ann.member_id, "admin-1")
    assert after.status is MemberStatus.DEACTIVATED
    assert after.role == "owner"


def _delivery(ids: list[str], kind: str = "updated") -> bytes:
    return json.dumps({"kind": kind, "ids": ids, "delivery": "dlv-9"}).encode()


def _receive(
    world: World, connection_id: str, headers: dict[str, str], body: bytes
) -> webhook_apply.WebhookReceipt:
    ports = world.ports
    return webhook_apply.receive_webhook(
        connection_id,
        headers,
        body,
        connections=ports.connections,
        providers=ports.providers,
        secrets=ports.secrets,
        clock=ports.clock,
    )


def test_receive_webhook_finds_the_tenant_verifies_and_parses(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    receipt = _receive(world, conn.connection_id, {"x-signature": "whsec-1"}, _delivery(["ann"]))
    assert receipt.tenant_id == T
    assert receipt.should_enqueue
    assert receipt.message() == {
        "tenant_id": T,
        "connection_id": conn.connection_id,
        "employee_ids": ["ann"],
        "delivery_id": "dlv-9",
    }
    ping = _receive(world, conn.connection_id, {"x-signature": "whsec-1"}, _delivery([], "ping"))
    assert not ping.should_enqueue


def test_receive_webhook_refuses_bad_signatures_bodies_and_unknown_connections(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    with pytest.raises(WebhookRejected):
        _receive(world, conn.connection_id, {"x-signature": "nope"}, _delivery(["ann"]))
    with pytest.raises(WebhookUnparseable):
        _receive(world, conn.connection_id, {"x-signature": "whsec-1"}, b"{oops")
    with pytest.raises(ConnectionNotFound):
        _receive(world, "conn_nope", {"x-signature": "whsec-1"}, _delivery(["ann"]))


def test_r20_after_a_disconnect_webhooks_are_refused_as_gone(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    connections.disconnect(world.ports, T, conn.connection_id)
    with pytest.raises(ConnectionDisconnected):
        _receive(world, conn.connection_id, {"x-signature": "whsec-1"}, _delivery(["ann"]))


# ---------------------------------------------------------------------------------------------
# The invite's link (deploy-time invite_url_template)
# ---------------------------------------------------------------------------------------------
INVITE_TEMPLATE = "https://app.acme.test/t/{tenant_id}/invites/{member_id}?user={external_id}"


def test_an_invite_carries_the_link_built_from_the_deploy_time_template(world: World) -> None:
    world.settings = replace(world.settings, invite_url_template=INVITE_TEMPLATE)
    hire(world, "ann")
    conn = imported(world, approval="admin")
    pending = _member(world, conn, "ann")
    world.members.seed(replace(pending, external_id="app/u 7"))  # the app's own id (R34)
    members.approve(world.ports, T, pending.member_id, "admin-1")
    [invite] = world.emails("member_invite")
    assert invite.data["invite_url"] == (
        f"https://app.acme.test/t/{T}/invites/{pending.member_id}?user=app%2Fu%207"
    )


def test_an_invite_of_a_member_without_an_external_id_leaves_that_placeholder_empty(world: World) -> None:
    world.settings = replace(world.settings, invite_url_template=INVITE_TEMPLATE)
    hire(world, "ann")
    conn = imported(world)
    ann = _member(world, conn, "ann")
    [invite] = world.emails("member_invite")
    assert invite.data["invite_url"] == f"https://app.acme.test/t/{T}/invites/{ann.member_id}?user="


def test_without_a_template_an_invite_has_no_link(world: World) -> None:
    hire(world, "ann")
    imported(world)
    [invite] = world.emails("member_invite")
    assert invite.data.get("invite_url") is None
