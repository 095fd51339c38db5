"""Every route of DESIGN.md's admin API, happy path and its own error cases, through the real
handler (API Gateway proxy events) on the in-memory ports."""

from __future__ import annotations

from typing import Any

from admin_api_client import Client
from admin_api_scenarios import STRICT_GUARD, Tenant, connect_body, connected, held_run

from shared.domain.models import ConnectionStatus, Employee, EmployeeStatus, MemberStatus
from shared.domain.records import RunStatus
from shared.providers.common import build_employee
from shared.providers.personio import STATUSES as PERSONIO_STATUSES
from shared.services import webhook_apply
from tests.support.world import World, employee, hire

# --- connections -------------------------------------------------------------------------------


def test_connect_answers_202_with_the_connection_and_its_first_run(world: World, api: Client) -> None:
    hire(world, "dan", groups=("Engineering",))
    answer = api.post(
        "/v1/connections",
        connect_body(
            scope={"mode": "groups", "groups": ["Engineering"]},
            invites="later",
            approval="admin",
            schedule={"expression": "rate(12 hours)", "timezone": "Europe/Berlin"},
        ),
    )
    assert answer.status == 202, answer.text
    connection = answer.json["connection"]
    assert connection["provider"] == "fakehr"
    assert connection["scope"] == {"mode": "groups", "companies": [], "groups": ["Engineering"], "people": []}
    assert (connection["invites"], connection["approval"]) == ("later", "admin")
    assert connection["schedule"] == {"expression": "rate(12 hours)", "timezone": "Europe/Berlin"}
    assert connection["webhook_path"] == f"/webhooks/{connection['id']}"
    assert "tenant_id" not in connection and "credentials" not in connection
    assert answer.json["run"]["trigger"] == "first_import"
    assert answer.json["run"]["status"] == "running"
    stored = world.connections.get("tenant-a", connection["id"])
    assert stored.schedule.timezone == "Europe/Berlin"
    assert world.workflow.executions[answer.json["run"]["id"]]["connection_id"] == connection["id"]


def test_connect_refuses_an_unknown_provider_and_stores_nothing(world: World, api: Client) -> None:
    answer = api.post("/v1/connections", connect_body(provider="nosuchhr"))
    assert answer.status == 422
    assert answer.json["error"]["details"]["field"] == "provider"
    assert world.connections.list_for_tenant("tenant-a") == []


def test_connect_refuses_an_invalid_schedule_expression(world: World, api: Client) -> None:
    answer = api.post("/v1/connections", connect_body(schedule={"expression": "every tuesday"}))
    assert answer.status == 422
    assert answer.error_code == "invalid_input"
    assert world.connections.list_for_tenant("tenant-a") == []


def test_r22_a_second_active_connection_is_a_conflict(world: World, api: Client) -> None:
    connected(world, api)
    answer = api.post("/v1/connections", connect_body())
    assert answer.status == 409
    assert answer.error_code == "connection_limit_reached"
    assert answer.json["error"]["details"] == {"limit": 1}


def test_list_and_get_connections(world: World, api: Client) -> None:
    tenant = connected(world, api)
    listed = api.get("/v1/connections")
    assert listed.status == 200
    assert [c["id"] for c in listed.json["items"]] == [tenant.connection_id]
    assert listed.json["next_cursor"] is None
    one = api.get(f"/v1/connections/{tenant.connection_id}")
    assert one.status == 200
    assert one.json["first_complete_sync_at"] is not None
    assert api.get("/v1/connections/conn_missing").error_code == "connection_not_found"


def test_r19_editing_the_scope_starts_a_sync(world: World, api: Client) -> None:
    tenant = connected(world, api)
    answer = api.patch(
        f"/v1/connections/{tenant.connection_id}",
        {"scope": {"mode": "people", "people": ["ann"]}, "label": "Acme people", "expected_version": 2},
    )
    assert answer.status == 200, answer.text
    assert answer.json["connection"]["label"] == "Acme people"
    assert answer.json["connection"]["scope"]["people"] == ["ann"]
    assert answer.json["run"]["trigger"] == "scope_change"
    assert answer.json["running_run_id"] is None


def test_editing_quick_settings_starts_no_sync(world: World, api: Client) -> None:
    tenant = connected(world, api)
    answer = api.patch(f"/v1/connections/{tenant.connection_id}", {"invites": "later", "invite_ttl_days": 7})
    assert answer.status == 200
    assert answer.json["run"] is None
    assert (answer.json["connection"]["invites"], answer.json["connection"]["invite_ttl_days"]) == (
        "later",
        7,
    )


def test_hibob_require_signature_is_a_connection_setting_off_by_default(world: World, api: Client) -> None:
    tenant = connected(world, api)
    path = f"/v1/connections/{tenant.connection_id}"
    assert api.get(path).json["require_signature"] is False
    edited = api.patch(path, {"require_signature": True})
    assert edited.status == 200, edited.text
    assert edited.json["connection"]["require_signature"] is True
    assert edited.json["run"] is None  # a setting, not a scope: no sync
    assert world.connections.get(api.tenant, tenant.connection_id).require_signature is True
    assert api.patch(path, {"require_signature": "yes please"}).status == 422


def test_edit_with_a_stale_version_is_a_conflict(world: World, api: Client) -> None:
    tenant = connected(world, api)
    answer = api.patch(f"/v1/connections/{tenant.connection_id}", {"label": "x", "expected_version": 1})
    assert answer.status == 409
    assert answer.error_code == "version_conflict"


def test_edit_replaces_the_credentials_without_showing_them(world: World, api: Client) -> None:
    tenant = connected(world, api)
    answer = api.patch(
        f"/v1/connections/{tenant.connection_id}",
        {"credentials": {"secrets": {"api_key": "sk-rotated-value"}}},
    )
    assert answer.status == 200
    assert "sk-rotated-value" not in answer.text
    stored = world.secrets.get("tenant-a", tenant.connection_id)
    assert stored.secrets["api_key"].reveal() == "sk-rotated-value"


def test_r20_disconnect_removes_schedule_and_credentials_and_keeps_members(world: World, api: Client) -> None:
    tenant = connected(world, api)
    answer = api.delete(f"/v1/connections/{tenant.connection_id}")
    assert answer.status == 200
    assert answer.json["status"] == ConnectionStatus.DISCONNECTED.value
    assert ("tenant-a", tenant.connection_id) not in world.scheduler.items
    assert len(api.get("/v1/members").json["items"]) == 3
    again = api.delete(f"/v1/connections/{tenant.connection_id}")
    assert again.status == 200
    edited = api.patch(f"/v1/connections/{tenant.connection_id}", {"label": "back"})
    assert (edited.status, edited.error_code) == (409, "invalid_state")


def test_directory_lists_companies_groups_and_pages_people(world: World, api: Client) -> None:
    hire(world, "dan", "eve", groups=("Engineering",), company="Acme GmbH")
    tenant = connected(world, api, "ann", "bob", "cyd")
    first = api.get(f"/v1/connections/{tenant.connection_id}/directory", query={"limit": "2"})
    assert first.status == 200, first.text
    assert first.json["companies"] == [
        {"id": "Acme GmbH", "name": "Acme GmbH", "kind": "company", "count": None}
    ]
    assert first.json["groups"] == [
        {"id": "Engineering", "name": "Engineering", "kind": "group", "count": None}
    ]
    assert first.json["people_total"] == 5
    assert len(first.json["people"]) == 2
    rest = api.get(
        f"/v1/connections/{tenant.connection_id}/directory",
        query={"limit": "2", "cursor": first.json["next_cursor"]},
    )
    last = api.get(
        f"/v1/connections/{tenant.connection_id}/directory",
        query={"limit": "2", "cursor": rest.json["next_cursor"]},
    )
    names = [p["name"] for p in first.json["people"] + rest.json["people"] + last.json["people"]]
    assert names == sorted(names, key=str.casefold) and len(names) == 5
    assert last.json["next_cursor"] is None
    found = api.get(f"/v1/connections/{tenant.connection_id}/directory", query={"q": "EVE"})
    assert [p["id"] for p in found.json["people"]] == ["eve"]


def test_preview_shows_the_plan_and_applies_nothing(world: World, api: Client) -> None:
    tenant = connected(world, api)
    hire(world, "dee")
    world.hr.remove("bob")
    before = {m.member_id: m for m in world.members.iter_all("tenant-a")}
    answer = api.post(f"/v1/connections/{tenant.connection_id}/preview", query={"limit": "1"})
    assert answer.status == 200, answer.text
    assert answer.json["complete"] is True
    assert answer.json["counts"]["created"] == 1
    assert answer.json["counts"]["deactivated"] == 1
    assert answer.json["actions_total"] > 1 and len(answer.json["actions"]) == 1
    assert {m.member_id: m for m in world.members.iter_all("tenant-a")} == before


def test_r05_match_dry_run_shows_pairs_and_links_nothing(world: World, api: Client) -> None:
    tenant = connected(world, api)
    answer = api.post(f"/v1/connections/{tenant.connection_id}/match", {"dry_run": True})
    assert answer.status == 200, answer.text
    assert answer.json["dry_run"] is True
    assert answer.json["linked"] == 0
    assert {p["hris_id"] for p in answer.json["pairs"]} == {"ann", "bob", "cyd"}
    assert answer.json["pairs_total"] == 3
    without_body = api.post(f"/v1/connections/{tenant.connection_id}/match")
    assert without_body.status == 200 and without_body.json["dry_run"] is True


def test_sync_now_starts_a_run_and_r29_a_second_is_a_conflict(world: World, api: Client) -> None:
    tenant = connected(world, api)
    first = api.post(f"/v1/connections/{tenant.connection_id}/sync")
    assert first.status == 202
    assert (first.json["trigger"], first.json["status"]) == ("manual", "running")
    second = api.post(f"/v1/connections/{tenant.connection_id}/sync")
    assert second.status == 409
    assert second.error_code == "sync_running"
    assert second.json["error"]["details"]["holder"] == first.json["id"]


def test_runs_of_a_connection_newest_first_and_one_run(world: World, api: Client) -> None:
    tenant = connected(world, api)
    later = api.post(f"/v1/connections/{tenant.connection_id}/sync").json["id"]
    listed = api.get(f"/v1/connections/{tenant.connection_id}/runs")
    assert listed.status == 200
    assert [r["id"] for r in listed.json["items"]] == [later, tenant.run_id]
    assert "skipped" not in listed.json["items"][0]
    run = api.get(f"/v1/runs/{tenant.run_id}")
    assert run.status == 200
    assert run.json["status"] == "completed"
    assert run.json["applied"]["created"] == 3
    assert run.json["skipped"] == []
    assert "plan_key" not in run.json and "chunks_done" not in run.json
    assert api.get("/v1/runs/run_missing").error_code == "run_not_found"
    assert api.get("/v1/connections/conn_missing/runs").error_code == "connection_not_found"


def test_a_run_shows_skipped_records_with_reasons(world: World, api: Client) -> None:
    hire(world, "nomail", email=None)
    tenant = connected(world, api, "ann")
    run = api.get(f"/v1/runs/{tenant.run_id}").json
    assert run["skipped"] == [
        {"hris_id": "nomail", "reason": "missing_email", "detail": run["skipped"][0]["detail"]}
    ]
    assert run["planned"]["skipped"] == 1


def test_r04_a_null_or_unknown_status_stays_active_and_is_listed_on_the_runs_report(
    world: World, api: Client
) -> None:
    def mapped(hris_id: str, raw_status: str | None) -> Employee:  # as the Personio connector maps it
        return build_employee(
            hris_id=hris_id, mapped=PERSONIO_STATUSES.map(raw_status), raw={}, email=f"{hris_id}@acme.test"
        )

    world.hr.set(mapped("nostatus", None), mapped("paused", "paused"))
    tenant = connected(world, api, "ann", "cyd")
    first = api.get(f"/v1/runs/{tenant.run_id}").json
    assert first["unknown_statuses"] == [
        {"hris_id": "nostatus", "raw_status": None},
        {"hris_id": "paused", "raw_status": "paused"},
    ]
    assert first["unknown_statuses_total"] == 2
    assert first["applied"]["created"] == 4  # kept active: created like everyone else

    world.hr.set(mapped("cyd", "sabbatical"))  # a linked member's status turns unknown
    later = api.post(f"/v1/connections/{tenant.connection_id}/sync").json["id"]
    world.drive(world.runs.get("tenant-a", later))
    run = api.get(f"/v1/runs/{later}").json
    assert run["status"] == "completed"
    assert run["applied"]["deactivated"] == 0
    assert run["unknown_statuses_total"] == 3
    assert {"hris_id": "cyd", "raw_status": "sabbatical"} in run["unknown_statuses"]
    assert (
        world.member_by_hris("tenant-a", tenant.connection_id, "cyd").status is not MemberStatus.DEACTIVATED
    )


def test_r23_confirm_applies_a_held_plan(world: World, api: Client) -> None:
    tenant = connected(world, api, **STRICT_GUARD)
    run_id = held_run(world, tenant, "bob")
    assert api.get(f"/v1/runs/{run_id}").json["status"] == "blocked"
    answer = api.post(f"/v1/runs/{run_id}/confirm")
    assert answer.status == 202, answer.text
    assert (answer.json["status"], answer.json["decided_by"]) == ("running", "admin-a")
    again = api.post(f"/v1/runs/{run_id}/confirm")
    assert (again.status, again.error_code) == (409, "invalid_state")


def test_r23_a_held_plans_deactivations_are_listed_by_name_with_their_reason(
    world: World, api: Client
) -> None:
    tenant = connected(world, api, **STRICT_GUARD)
    run_id = held_run(world, tenant, "bob")
    bob = world.member_by_hris("tenant-a", tenant.connection_id, "bob")

    answer = api.get(f"/v1/runs/{run_id}/actions", query={"type": "deactivate", "limit": "1"})

    assert answer.status == 200, answer.text
    [shown] = answer.json["items"]
    assert answer.json["total"] == 1 and answer.json["next_cursor"] is None
    assert shown["kind"] == "deactivate" and shown["member_id"] == bob.member_id
    assert (shown["hris_id"], shown["reason"]) == ("bob", "left_hris")  # gone from the HR system
    assert shown["name"] == f"{bob.profile.first_name} {bob.profile.last_name}"
    assert shown["email"] == bob.profile.email
    everything = api.get(f"/v1/runs/{run_id}/actions").json
    assert everything["total"] >= 1 and shown in everything["items"]
    assert api.get(f"/v1/runs/{run_id}/actions", query={"type": "create"}).json == {
        "items": [],
        "total": 0,
        "next_cursor": None,
    }
    assert api.get(f"/v1/runs/{run_id}/actions", query={"type": "explode"}).status == 422
    assert api.get("/v1/runs/run_missing/actions").error_code == "run_not_found"


def test_r23_discard_drops_a_held_plan(world: World, api: Client) -> None:
    tenant = connected(world, api, **STRICT_GUARD)
    run_id = held_run(world, tenant, "bob")
    answer = api.post(f"/v1/runs/{run_id}/discard")
    assert answer.status == 200
    assert answer.json["status"] == RunStatus.DISCARDED.value
    bob = world.member_by_hris("tenant-a", tenant.connection_id, "bob")
    assert bob.status is not MemberStatus.DEACTIVATED
    assert api.post(f"/v1/runs/{run_id}/discard").status == 409


# R30: at most one webhook deactivation in the window (and 10%), the rest are held.
WEBHOOK_GUARD = {"safety": {"max_deactivations": 1, "max_deactivation_pct": 10, "webhook_window_minutes": 30}}


def _held_by_webhooks(world: World, api: Client, *leavers: str) -> tuple[Tenant, dict[str, Any]]:
    """Each leaver's termination arrives as a webhook; the guard holds all but the first."""
    tenant = connected(world, api, "ann", "bob", "cyd", "dan", **WEBHOOK_GUARD)
    for hris_id in leavers:
        world.hr.set(employee(hris_id, status=EmployeeStatus.TERMINATED))
        webhook_apply.apply_webhook(
            world.ports, api.tenant, tenant.connection_id, [hris_id], f"term-{hris_id}"
        )
    runs = api.get(f"/v1/connections/{tenant.connection_id}/runs").json["items"]
    [held] = [r for r in runs if r["trigger"] == "webhook_guard"]
    return tenant, held


def _status(world: World, api: Client, tenant: Tenant, hris_id: str) -> MemberStatus:
    return world.member_by_hris(api.tenant, tenant.connection_id, hris_id).status


def test_r30_held_webhook_deactivations_are_listed_and_confirm_applies_them(
    world: World, api: Client
) -> None:
    tenant, held = _held_by_webhooks(world, api, "ann", "bob", "cyd")
    assert api.get(f"/v1/connections/{tenant.connection_id}").json["safety"]["webhook_window_minutes"] == 30
    assert (held["status"], held["planned"]["deactivated"]) == ("blocked", 2)
    assert _status(world, api, tenant, "ann") is MemberStatus.DEACTIVATED
    assert _status(world, api, tenant, "bob") is not MemberStatus.DEACTIVATED
    assert len(world.emails("webhook_guard")) == 1  # one email, not one per webhook

    answer = api.post(f"/v1/runs/{held['id']}/confirm")

    assert answer.status == 202, answer.text
    assert (answer.json["status"], answer.json["decided_by"]) == ("completed", "admin-a")
    assert answer.json["applied"]["deactivated"] == 2
    assert _status(world, api, tenant, "bob") is MemberStatus.DEACTIVATED
    assert _status(world, api, tenant, "cyd") is MemberStatus.DEACTIVATED
    assert _status(world, api, tenant, "dan") is not MemberStatus.DEACTIVATED
    again = api.post(f"/v1/runs/{held['id']}/confirm")
    assert (again.status, again.error_code) == (409, "invalid_state")


def test_r30_discard_drops_the_held_webhook_deactivations(world: World, api: Client) -> None:
    tenant, held = _held_by_webhooks(world, api, "ann", "bob", "cyd")

    answer = api.post(f"/v1/runs/{held['id']}/discard")

    assert answer.status == 200, answer.text
    assert (answer.json["status"], answer.json["decided_by"]) == ("discarded", "admin-a")
    assert _status(world, api, tenant, "bob") is not MemberStatus.DEACTIVATED
    assert _status(world, api, tenant, "cyd") is not MemberStatus.DEACTIVATED
    assert api.get(f"/v1/runs/{held['id']}").json["status"] == "discarded"
    assert api.post(f"/v1/runs/{held['id']}/confirm").status == 409
    assert len(world.emails("webhook_guard")) == 1


# --- members -----------------------------------------------------------------------------------


def test_list_members_filters_by_status_and_source(world: World, api: Client) -> None:
    connected(world, api, approval="admin")
    pending = api.get("/v1/members", query={"status": "pending_approval", "source": "hris"})
    assert pending.status == 200
    assert len(pending.json["items"]) == 3
    member = pending.json["items"][0]
    assert member["status"] == "pending_approval" and member["source"] == "hris"
    assert "tenant_id" not in member and "status_before_deactivation" not in member
    assert api.get("/v1/members", query={"status": "active"}).json["items"] == []
    assert api.get("/v1/members", query={"flag": "no_approver"}).status == 200


def test_get_member(world: World, api: Client) -> None:
    tenant = connected(world, api)
    member_id = tenant.member_id(world, "ann")
    answer = api.get(f"/v1/members/{member_id}")
    assert answer.status == 200
    assert answer.json["id"] == member_id
    assert answer.json["profile"]["email"] == "ann@acme.test"
    assert answer.json["hris_id"] == "ann"
    assert api.get("/v1/members/mem_missing").error_code == "member_not_found"


def test_r16_editing_a_synced_field_records_an_override(world: World, api: Client) -> None:
    tenant = connected(world, api)
    member_id = tenant.member_id(world, "ann")
    answer = api.patch(f"/v1/members/{member_id}", {"job_title": "Staff Engineer", "birthday": "1990-04-01"})
    assert answer.status == 200, answer.text
    assert answer.json["profile"]["job_title"] == "Staff Engineer"
    assert answer.json["profile"]["birthday"] == "1990-04-01"
    assert answer.json["overridden_fields"] == ["birthday", "job_title"]
    cleared = api.patch(f"/v1/members/{member_id}", {"job_title": None})
    assert cleared.json["profile"]["job_title"] is None


def test_editing_to_a_taken_email_is_a_conflict(world: World, api: Client) -> None:
    tenant = connected(world, api)
    answer = api.patch(f"/v1/members/{tenant.member_id(world, 'ann')}", {"email": "bob@acme.test"})
    assert answer.status == 409
    assert answer.error_code == "email_taken"


def test_an_edit_with_no_field_or_an_unknown_field_is_422(world: World, api: Client) -> None:
    tenant = connected(world, api)
    member_id = tenant.member_id(world, "ann")
    assert api.patch(f"/v1/members/{member_id}", {}).status == 422
    unknown = api.patch(f"/v1/members/{member_id}", {"status": "active"})
    assert unknown.status == 422
    assert unknown.json["error"]["details"]["errors"][0]["location"] == ["body", "status"]


def test_r07_approve_and_reject(world: World, api: Client) -> None:
    tenant = connected(world, api, approval="admin")
    approved = api.post(f"/v1/members/{tenant.member_id(world, 'ann')}/approve")
    assert approved.status == 200, approved.text
    assert approved.json["status"] == "invited"
    assert approved.json["invite_sent_at"] is not None
    rejected = api.post(f"/v1/members/{tenant.member_id(world, 'bob')}/reject")
    assert rejected.json["status"] == "deactivated"
    assert rejected.json["deactivation_reason"] == "rejected"
    twice = api.post(f"/v1/members/{tenant.member_id(world, 'ann')}/approve")
    assert (twice.status, twice.error_code) == (409, "invalid_state")


def test_r10_deactivate_then_reactivate(world: World, api: Client) -> None:
    tenant = connected(world, api)
    member_id = tenant.member_id(world, "ann")
    before = api.get(f"/v1/members/{member_id}").json["status"]
    deactivated = api.post(f"/v1/members/{member_id}/deactivate")
    assert (deactivated.json["status"], deactivated.json["deactivated_by"]) == ("deactivated", "admin")
    reactivated = api.post(f"/v1/members/{member_id}/reactivate")
    assert reactivated.status == 200
    assert reactivated.json["status"] == before
    assert api.post(f"/v1/members/{member_id}/reactivate").status == 409


def test_r27_offboard_deactivates_and_opens_a_task_that_can_be_completed(world: World, api: Client) -> None:
    tenant = connected(world, api)
    member_id = tenant.member_id(world, "ann")
    offboarded = api.post(f"/v1/members/{member_id}/offboard")
    assert offboarded.status == 200
    assert offboarded.json["deactivation_reason"] == "offboarded"
    tasks = api.get("/v1/tasks", query={"type": "offboarding", "status": "open"})
    assert tasks.status == 200
    [task] = tasks.json["items"]
    assert (task["member_id"], task["reason"]) == (member_id, "offboarded")
    done = api.post(f"/v1/tasks/{task['id']}/complete")
    assert done.status == 200
    assert (done.json["status"], done.json["completed_by"]) == ("done", "admin-a")
    assert api.get("/v1/tasks", query={"status": "open", "type": "offboarding"}).json["items"] == []
    assert api.post("/v1/tasks/task_missing/complete").error_code == "task_not_found"


def test_r16_resync_drops_overrides_and_takes_the_hr_values(world: World, api: Client) -> None:
    tenant = connected(world, api)
    member_id = tenant.member_id(world, "ann")
    api.patch(f"/v1/members/{member_id}", {"first_name": "Annie"})
    answer = api.post(f"/v1/members/{member_id}/resync")
    assert answer.status == 200, answer.text
    assert answer.json["profile"]["first_name"] == "Ann"
    assert answer.json["overridden_fields"] == []


def test_r14_archive(world: World, api: Client) -> None:
    tenant = connected(world, api)
    member_id = tenant.member_id(world, "ann")
    answer = api.post(f"/v1/members/{member_id}/archive")
    assert answer.json["status"] == "archived"
    assert api.post(f"/v1/members/{member_id}/deactivate").error_code == "invalid_state"


def test_r08_send_some_or_all_queued_invites(world: World, api: Client) -> None:
    tenant = connected(world, api, invites="later")
    ann = tenant.member_id(world, "ann")
    some = api.post("/v1/invites/send", {"member_ids": [ann, "mem_missing"]})
    assert some.status == 200, some.text
    assert some.json == {"sent": [ann], "not_sent": [{"member_id": "mem_missing", "reason": "not_found"}]}
    rest = api.post("/v1/invites/send", {"all": True})
    assert sorted(rest.json["sent"]) == sorted(
        [tenant.member_id(world, "bob"), tenant.member_id(world, "cyd")]
    )
    assert api.post("/v1/invites/send", {"all": True, "member_ids": [ann]}).status == 422
    assert api.post("/v1/invites/send", {}).status == 422


def test_audit_of_the_tenant_and_of_one_member(world: World, api: Client) -> None:
    tenant = connected(world, api)
    member_id = tenant.member_id(world, "ann")
    api.post(f"/v1/members/{member_id}/deactivate")
    trail = api.get("/v1/audit", query={"member_id": member_id})
    assert trail.status == 200
    newest = trail.json["items"][0]
    assert (newest["action"], newest["actor"], newest["actor_id"]) == ("deactivate", "admin", "admin-a")
    assert newest["after"]["status"] == "deactivated"
    assert {e["member_id"] for e in trail.json["items"]} == {member_id}
    everyone = api.get("/v1/audit", query={"limit": "200"})
    assert len({e["member_id"] for e in everyone.json["items"]}) == 3
    assert api.get("/v1/audit", query={"member_id": "mem_missing"}).status == 404


# --- R33: scope by directory id ------------------------------------------------------------------


def test_r33_connect_and_edit_with_nothing_selected_are_422(world: World, api: Client) -> None:
    answer = api.post("/v1/connections", connect_body(scope={"mode": "groups", "groups": []}))
    assert answer.status == 422, answer.text
    assert "groups" in answer.text
    assert world.connections.list_for_tenant("tenant-a") == []
    tenant = connected(world, api)
    edit = api.patch(f"/v1/connections/{tenant.connection_id}", {"scope": {"mode": "people"}})
    assert edit.status == 422, edit.text


def test_r33_a_scope_of_ids_the_directory_does_not_list_is_422_naming_them(world: World, api: Client) -> None:
    tenant = connected(world, api)
    answer = api.patch(
        f"/v1/connections/{tenant.connection_id}", {"scope": {"mode": "companies", "companies": ["c-gone"]}}
    )
    assert answer.status == 422, answer.text
    assert answer.error_code == "unknown_scope_ids"
    assert answer.json["error"]["details"] == {"values": ["c-gone"], "field": "scope.companies"}


def test_r33_directory_lists_are_searched_and_paged_by_kind(world: World, api: Client) -> None:
    hire(world, "dan", groups=("Sales",), group_ids=("g-sales",))
    hire(world, "eve", groups=("Ops",), group_ids=("g-ops",))
    hire(world, "fay", groups=("Ops Support",), group_ids=("g-ops-support",))
    tenant = connected(world, api)
    path = f"/v1/connections/{tenant.connection_id}/directory/groups"

    first = api.get(path, query={"q": "ops", "limit": "1"})
    rest = api.get(path, query={"q": "ops", "limit": "1", "cursor": first.json["next_cursor"]})

    assert first.status == 200, first.text
    assert first.json["total"] == 2
    assert first.json["items"] == [{"id": "g-ops", "name": "Ops", "kind": "group", "count": None}]
    assert [i["id"] for i in rest.json["items"]] == ["g-ops-support"] and rest.json["next_cursor"] is None
    assert api.get(f"/v1/connections/{tenant.connection_id}/directory/teams").status == 422


def test_r33_preview_shows_how_many_people_each_scope_choice_selects(world: World, api: Client) -> None:
    hire(world, "dan", "eve", groups=("Sales",), group_ids=("g-sales",))
    tenant = connected(world, api, "ann", scope={"mode": "groups", "groups": ["g-sales"]})

    answer = api.post(f"/v1/connections/{tenant.connection_id}/preview", {})

    assert answer.status == 200, answer.text
    assert answer.json["scope_counts"] == [{"id": "g-sales", "name": "Sales", "kind": "group", "people": 2}]
