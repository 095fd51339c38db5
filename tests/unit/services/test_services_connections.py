"""Connect, edit (R19), disconnect (R20), limits (R22), schedules (R28), directory, preview, match (R05)."""

from __future__ import annotations

import pytest

from shared.domain.models import (
    Connection,
    ConnectionStatus,
    DeactivationReason,
    MemberSource,
    MemberStatus,
    Scope,
    ScopeLabel,
    ScopeMode,
)
from shared.domain.records import RunStatus, RunTrigger, SyncRun
from shared.errors import (
    ConnectionLimitReached,
    ConnectionNotFound,
    CredentialsMismatch,
    CredentialsRejected,
    InvalidInput,
    InvalidState,
    ProviderCredentialsRejected,
    ProviderFailure,
    SecretNotFound,
)
from shared.ports import MemberQuery
from shared.providers.base import Credentials, ProviderAuthError, ProviderUnavailable, Secret, Tier
from shared.services import connections, full_sync
from shared.services.context import ServiceSettings
from tests.support.world import CREDENTIALS, T, World, connect, employee, hire, imported, manual_member


def test_connect_stores_the_secret_schedules_and_starts_the_first_import(world: World) -> None:
    result = connect(world)
    conn = result.connection
    assert conn.status is ConnectionStatus.ACTIVE and conn.version == 1
    assert world.secrets.get(T, conn.connection_id) == CREDENTIALS
    # The secret never reaches the connection record or its repr.
    assert "sk-very-secret" not in repr(conn) and "sk-very-secret" not in conn.model_dump_json()
    schedule = world.scheduler.items[(T, conn.connection_id)]
    assert schedule.expression == "rate(6 hours)"  # R28, a full HRIS connector
    assert schedule.payload == {
        "tenant_id": T,
        "connection_id": conn.connection_id,
        "trigger": "schedule",
        "phase": "fetch",
    }
    assert result.run.trigger is RunTrigger.FIRST_IMPORT and result.run.status is RunStatus.RUNNING
    assert world.workflow.executions[result.run.run_id] == full_sync.workflow_input(result.run)
    assert world.lock.current(T, conn.connection_id, world.clock.now()) is not None


def test_r28_directory_connectors_default_to_every_24_hours(world: World) -> None:
    world.hr.tier = Tier.BASIC
    conn = connect(world).connection
    assert world.scheduler.items[(T, conn.connection_id)].expression == "rate(24 hours)"


def test_r28_a_given_expression_and_time_zone_replace_the_default(world: World) -> None:
    conn = connect(
        world, schedule={"expression": "cron(0 8 ? * MON-FRI *)", "timezone": "Europe/Berlin"}
    ).connection
    entry = world.scheduler.items[(T, conn.connection_id)]
    assert (entry.expression, entry.timezone) == ("cron(0 8 ? * MON-FRI *)", "Europe/Berlin")


@pytest.mark.parametrize(
    "options",
    [
        {"schedule": {"expression": "every monday"}},
        {"schedule": {"expression": "rate(6 hours)", "timezone": "Nowhere/City"}},
        {"timezone": "Mars/Base"},
        {"invite_ttl_days": 0},
        {"scope": {"mode": "planets"}},
        {"admin_emails": ["not an email"]},
        {"status": "active"},  # read-only
        {"colour": "blue"},  # unknown
    ],
)
def test_connect_with_bad_settings_is_refused_and_leaves_nothing_behind(world: World, options: dict) -> None:
    with pytest.raises(InvalidInput):
        connect(world, **options)
    assert world.connections.items == {}
    assert world.secrets.items == {}
    assert world.scheduler.items == {}
    assert world.workflow.executions == {}


def test_connect_to_an_unknown_provider_or_without_credentials_is_bad_input(world: World) -> None:
    with pytest.raises(InvalidInput) as caught:
        connections.connect(world.ports, T, provider="nohr", label="x", credentials=CREDENTIALS)
    assert caught.value.field == "provider"
    with pytest.raises(InvalidInput):
        connections.connect(world.ports, T, provider="fakehr", label="x", credentials=Credentials())
    with pytest.raises(InvalidInput):
        connections.connect(world.ports, T, provider="fakehr", label="   ", credentials=CREDENTIALS)


def test_r22_one_active_connection_by_default_and_nothing_left_by_a_refused_one(world: World) -> None:
    first = connect(world).connection
    with pytest.raises(ConnectionLimitReached) as caught:
        connect(world)
    assert caught.value.limit == 1
    assert list(world.secrets.items) == [(T, first.connection_id)]
    # Another tenant has its own allowance.
    connect(world, tenant="tenant-b")


def test_r22_the_limit_is_a_setting_and_a_disconnected_connection_frees_its_slot(world: World) -> None:
    world.settings = ServiceSettings(chunk_size=2, max_connections=2)
    first = connect(world).connection
    world.drive(world.last_run(T, first.connection_id))
    second = connect(world).connection
    assert first.connection_id != second.connection_id
    with pytest.raises(ConnectionLimitReached):
        connect(world)
    connections.disconnect(world.ports, T, first.connection_id)
    world.drive(world.last_run(T, second.connection_id))
    connect(world)
    assert len(connections.list_connections(world.ports, T)) == 3


def test_r19_a_scope_edit_syncs_at_once_deactivating_those_now_out_of_scope(world: World) -> None:
    world.hr.set(employee("ann", company="North"), employee("bob", company="South"))
    conn = imported(world)

    edited = connections.edit_connection(
        world.ports, T, conn.connection_id, {"scope": {"mode": "companies", "companies": ["North"]}}
    )

    assert edited.connection.scope == Scope(
        mode=ScopeMode.COMPANIES,
        companies=("North",),
        labels={"North": ScopeLabel(name="North", kind="company")},
    )
    assert edited.connection.version == conn.version + 1
    assert edited.run is not None and edited.run.trigger is RunTrigger.SCOPE_CHANGE
    world.drive(edited.run)
    bob = world.member_by_hris(T, conn.connection_id, "bob")
    assert bob.status is MemberStatus.DEACTIVATED
    assert bob.deactivation_reason is DeactivationReason.OUT_OF_SCOPE
    # R12: widening the scope again brings bob back, same member.
    again = connections.edit_connection(world.ports, T, conn.connection_id, {"scope": {"mode": "everyone"}})
    assert again.run is not None
    world.drive(again.run)
    assert world.members.get(T, bob.member_id).status is MemberStatus.INVITED


def test_r19_quick_settings_do_not_start_a_sync_and_a_no_op_edit_writes_nothing(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    edited = connections.edit_connection(
        world.ports, T, conn.connection_id, {"invites": "later", "label": "HR"}
    )
    assert edited.run is None and edited.connection.label == "HR"
    writes = world.connections.write_calls
    same = connections.edit_connection(world.ports, T, conn.connection_id, {"label": "HR"})
    assert same.connection.version == edited.connection.version
    assert world.connections.write_calls == writes


def test_r19_a_scope_edit_during_a_running_sync_names_that_run(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    running = full_sync.request_sync(world.ports, T, conn.connection_id)
    edited = connections.edit_connection(world.ports, T, conn.connection_id, {"scope": {"mode": "manual"}})
    assert edited.run is None and edited.running_run_id == running.run_id


def test_r28_editing_the_schedule_replaces_it(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    connections.edit_connection(
        world.ports, T, conn.connection_id, {"schedule": {"expression": "rate(1 hour)"}}
    )
    assert world.scheduler.items[(T, conn.connection_id)].expression == "rate(1 hour)"
    with pytest.raises(InvalidInput):
        connections.edit_connection(
            world.ports, T, conn.connection_id, {"schedule": {"expression": "rate(1 hours)"}}
        )


def test_edit_can_rotate_credentials_and_checks_an_expected_version(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    rotated = Credentials(
        secrets={"api_key": CREDENTIALS.secrets["api_key"]}, settings={"company_domain": "acme2"}
    )
    connections.edit_connection(world.ports, T, conn.connection_id, {}, credentials=rotated)
    assert world.secrets.get(T, conn.connection_id) == rotated
    from shared.errors import VersionConflict

    with pytest.raises(VersionConflict):
        connections.edit_connection(world.ports, T, conn.connection_id, {"label": "x"}, expected_version=99)


def test_r20_disconnect_removes_schedule_and_credentials_and_changes_no_member(world: World) -> None:
    hire(world, "ann", "bob")
    conn = imported(world)
    before = {m.member_id: m for m in world.members.query(T, MemberQuery()).items}
    writes = world.members.write_calls

    gone = connections.disconnect(world.ports, T, conn.connection_id)

    assert gone.status is ConnectionStatus.DISCONNECTED
    assert (T, conn.connection_id) not in world.scheduler.items
    with pytest.raises(SecretNotFound):
        world.secrets.get(T, conn.connection_id)
    assert world.members.write_calls == writes
    after = {m.member_id: m for m in world.members.query(T, MemberQuery()).items}
    assert after == before  # links kept
    assert all(m.connection_id == conn.connection_id for m in after.values())
    # Disconnecting again is harmless; a disconnected connection cannot sync or be edited.
    assert connections.disconnect(world.ports, T, conn.connection_id).version == gone.version
    with pytest.raises(InvalidState):
        full_sync.request_sync(world.ports, T, conn.connection_id)
    with pytest.raises(InvalidState):
        connections.edit_connection(world.ports, T, conn.connection_id, {"label": "x"})


def test_unknown_connection_is_a_typed_not_found_everywhere(world: World) -> None:
    for call in (
        lambda: connections.get_connection(world.ports, T, "conn_nope"),
        lambda: connections.edit_connection(world.ports, T, "conn_nope", {"label": "x"}),
        lambda: connections.disconnect(world.ports, T, "conn_nope"),
        lambda: connections.directory(world.ports, T, "conn_nope"),
        lambda: connections.preview(world.ports, T, "conn_nope"),
        lambda: connections.match(world.ports, T, "conn_nope", dry_run=True, admin_id="a"),
        lambda: full_sync.list_runs(world.ports, T, "conn_nope"),
    ):
        with pytest.raises(ConnectionNotFound):
            call()
    conn = connect(world).connection
    with pytest.raises(ConnectionNotFound):
        connections.get_connection(world.ports, "tenant-b", conn.connection_id)


def test_directory_passes_the_hr_systems_companies_groups_and_people_through(world: World) -> None:
    world.hr.set(employee("ann", company="North", groups=("Sales",)), employee("bob", company="South"))
    conn = connect(world).connection
    found = connections.directory(world.ports, T, conn.connection_id)
    assert [c.id for c in found.companies] == ["North", "South"]
    assert [g.id for g in found.groups] == ["Sales"]
    assert {p.id for p in found.people} == {"ann", "bob"}
    world.hr.fail_get = None
    world.hr.directory = _refuse  # type: ignore[method-assign]
    with pytest.raises(ProviderCredentialsRejected):
        connections.directory(world.ports, T, conn.connection_id)


def _refuse(credentials: Credentials) -> None:
    raise ProviderAuthError("401")


def test_preview_returns_the_plan_and_applies_nothing(world: World) -> None:
    hire(world, "ann", "bob")
    conn = imported(world)
    world.hr.remove("bob")
    hire(world, "cid")
    writes, events, emails = world.members.write_calls, len(world.events.published), len(world.mailer.sent)

    plan = connections.preview(world.ports, T, conn.connection_id).plan

    assert plan.counts.created == 1 and plan.counts.deactivated == 1
    assert plan.complete
    assert (world.members.write_calls, len(world.events.published), len(world.mailer.sent)) == (
        writes,
        events,
        emails,
    )


def test_r05_match_dry_run_shows_the_pairs_and_changes_nothing(world: World) -> None:
    world.members.seed(
        manual_member(
            T, "m_ann", "Ann@Acme.test", source=MemberSource.HRIS, connection_id="conn_old", hris_id="old-ann"
        )
    )
    hire(world, "ann")
    conn = connect(world).connection
    writes = world.members.write_calls

    shown = connections.match(world.ports, T, conn.connection_id, dry_run=True, admin_id="admin-1")

    assert [(p.hris_id, p.member_id, p.matched_by) for p in shown.pairs] == [("ann", "m_ann", "email")]
    assert shown.linked == 0
    assert world.members.write_calls == writes
    assert world.members.get(T, "m_ann").connection_id == "conn_old"


def test_r05_match_links_by_email_case_insensitively_without_duplicating(world: World) -> None:
    world.members.seed(
        manual_member(
            T, "m_ann", "Ann@Acme.test", source=MemberSource.HRIS, connection_id="conn_old", hris_id="old-ann"
        )
    )
    hire(world, "ann", "bob")
    conn = connect(world).connection

    done = connections.match(world.ports, T, conn.connection_id, dry_run=False, admin_id="admin-1")

    assert done.linked == 1
    ann = world.members.get(T, "m_ann")
    assert (ann.connection_id, ann.hris_id) == (conn.connection_id, "ann")
    assert world.members.find_by_link(T, conn.connection_id, "bob") is None  # match creates nobody
    [entry] = [e for e in world.audit.all() if e.member_id == "m_ann"]
    assert entry.action == "match" and entry.actor_id == "admin-1"
    # Matching again finds the stored link and links nothing new.
    again = connections.match(world.ports, T, conn.connection_id, dry_run=False, admin_id="admin-1")
    assert again.linked == 0
    assert [(p.member_id, p.matched_by) for p in again.pairs] == [("m_ann", "link")]
    # The first import then uses the link instead of creating a second ann.
    world.drive(world.last_run(T, conn.connection_id))
    assert len([m for m in world.members.query(T, MemberQuery()).items if m.profile.email]) == 2


def test_r19_an_edit_racing_a_service_side_change_is_reapplied_not_refused(world: World) -> None:
    """A sync recording its first complete run (R21) between the admin's read and write must not
    turn the admin's scope edit into a 409: the edit is re-applied on the fresh connection."""
    hire(world, "ann")
    conn = imported(world)
    store = world.connections
    original_get = store.get
    raced = []

    def get_then_race(tenant_id: str, connection_id: str) -> Connection:
        current = original_get(tenant_id, connection_id)
        if not raced:
            raced.append(True)
            bumped = current.model_copy(
                update={"label": "renamed by the service", "version": current.version + 1}
            )
            store.save(bumped, expected_version=current.version)
        return current

    store.get = get_then_race  # type: ignore[method-assign]
    edited = connections.edit_connection(world.ports, T, conn.connection_id, {"scope": {"mode": "manual"}})

    assert raced
    assert edited.connection.scope.mode is ScopeMode.MANUAL
    assert edited.connection.label == "renamed by the service"  # the concurrent change is kept
    assert edited.connection.version == conn.version + 2


def test_r21_a_run_is_seen_finished_only_after_the_connection_recorded_its_first_complete_sync(
    world: World,
) -> None:
    hire(world, "ann")
    seen: list[object] = []
    original_save = world.runs.save

    def save_and_look(run: SyncRun, *, expected_version: int) -> None:
        if run.status is RunStatus.COMPLETED:
            connection = world.connections.get(run.tenant_id, run.connection_id)
            seen.append(connection.first_complete_sync_at)
        original_save(run, expected_version=expected_version)

    world.runs.save = save_and_look  # type: ignore[method-assign]
    imported(world)

    assert seen and all(at is not None for at in seen)


# --- R32: the credentials check the draft connect makes ------------------------------------------


def test_r32_check_credentials_turns_a_refusal_into_a_4xx_with_the_hr_systems_words(world: World) -> None:

    world.hr.fail_check = ProviderAuthError(
        "fakehr GET /me refused the credentials (HTTP 401): Invalid API key", vendor_message="Invalid API key"
    )
    with pytest.raises(CredentialsRejected) as caught:
        connections.check_credentials(world.ports, "fakehr", CREDENTIALS)
    error = caught.value
    assert (error.code, error.http_status) == ("credentials_rejected", 422)
    assert error.message == "Fake HR refused the credentials: Invalid API key"
    assert error.details == {
        "field": "credentials",
        "provider": "Fake HR",
        "hr_system_message": "Invalid API key",
    }
    assert CREDENTIALS.secrets["api_key"].reveal() not in repr(error.details) + error.message


def test_r32_check_credentials_passes_good_ones_and_maps_an_outage_to_502(world: World) -> None:

    connections.check_credentials(world.ports, "fakehr", CREDENTIALS)
    assert world.hr.calls == [("check", None)]
    assert world.hr.credentials_seen == [CREDENTIALS]
    world.hr.fail_check = ProviderUnavailable("fakehr GET /me gave up after 5 attempts (last: HTTP 503)")
    with pytest.raises(ProviderFailure) as caught:
        connections.check_credentials(world.ports, "fakehr", CREDENTIALS)
    assert caught.value.http_status == 502
    with pytest.raises(InvalidInput) as unknown:
        connections.check_credentials(world.ports, "nohr", CREDENTIALS)
    assert unknown.value.field == "provider"


def test_connect_refuses_credentials_that_do_not_fit_the_providers_entry_before_storing(world: World) -> None:

    misplaced = Credentials(
        secrets={"company_domain": Secret("acme")}, settings={"api_key": "sk-x", "colour": "b"}
    )
    with pytest.raises(CredentialsMismatch) as caught:
        connections.connect(world.ports, T, provider="fakehr", label="x", credentials=misplaced)
    details = caught.value.details
    assert details["misplaced"] == [
        {"field": "api_key", "given_in": "settings", "belongs_in": "secrets"},
        {"field": "company_domain", "given_in": "secrets", "belongs_in": "settings"},
    ]
    assert details["unknown"] == ["settings.colour"] and details["missing"] == []
    assert "sk-x" not in caught.value.message
    assert world.secrets.items == {} and world.connections.list_for_tenant(T) == []
