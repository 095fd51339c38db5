"""Draft connections and their activation (R32), with R21's claim and R22's limit; the connection's
status (last run, next run, effective schedule, R28); the connecting admin's emails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.models import Connection, ConnectionStatus, LinkMember, MemberSource, MemberStatus
from shared.domain.records import RunStatus, RunTrigger
from shared.errors import (
    ConnectionLimitReached,
    ConnectionNotActive,
    CredentialsRejected,
    DraftLimitReached,
    InvalidInput,
    InvalidState,
    SecretNotFound,
    VersionConflict,
)
from shared.ports import MailTemplate
from shared.providers.base import Credentials, ProviderAuthError, Secret
from shared.services import connections, full_sync, notify, webhook_apply
from shared.services.context import ServiceSettings
from tests.support.memory import ProviderRegistry
from tests.support.world import (
    CREDENTIALS,
    FakeHR,
    T,
    World,
    connect,
    employee,
    hire,
    imported,
    manual_member,
)

ADMIN = "admin-7"
ADMIN_EMAIL = "Ada@Acme.test"


def draft(world: World, tenant: str = T, **options: object) -> Connection:
    return connections.create_draft(
        world.ports,
        tenant,
        provider="fakehr",
        label="Acme HR",
        credentials=CREDENTIALS,
        options=options,
        connected_by=ADMIN,
        connected_by_email=ADMIN_EMAIL,
    )


class CheckingHR(FakeHR):
    """An HR system that answers the one light credentials call (and refuses a wrong key)."""

    def __init__(self) -> None:
        super().__init__()
        self.checked: list[Credentials] = []

    def check_credentials(self, credentials: Credentials) -> None:
        self.checked.append(credentials)
        if credentials.secrets["api_key"].reveal() != "sk-very-secret":
            raise ProviderAuthError("401 Unauthorized", vendor_message="API key not recognised")


@pytest.fixture
def checking(world: World) -> CheckingHR:
    hr = CheckingHR()
    world.hr = hr
    return hr


# --- the draft ---------------------------------------------------------------------------------


def test_r32_a_draft_stores_its_secret_but_has_no_schedule_no_run_and_no_email(world: World) -> None:
    hire(world, "ann")
    conn = draft(world)
    assert conn.status is ConnectionStatus.DRAFT and conn.version == 1
    assert conn.connected_by == ADMIN and conn.connected_by_email == ADMIN_EMAIL
    assert conn.activated_at is None and conn.first_complete_sync_at is None
    assert world.secrets.get(T, conn.connection_id) == CREDENTIALS
    assert world.scheduler.items == {}
    assert world.runs.list_for_connection(T, conn.connection_id).items == ()
    assert world.workflow.executions == {}
    assert world.mailer.sent == [] and world.members.items == {}


def test_r32_credentials_are_checked_at_once_and_a_refusal_is_a_4xx_leaving_nothing(
    world: World, checking: CheckingHR
) -> None:
    wrong = Credentials(secrets={"api_key": Secret("sk-wrong-key-123")}, settings={"company_domain": "acme"})
    with pytest.raises(CredentialsRejected) as refused:
        connections.create_draft(world.ports, T, provider="fakehr", label="Acme", credentials=wrong)
    assert 400 <= refused.value.http_status < 500
    assert "API key not recognised" in refused.value.message  # the HR system's own words
    assert "sk-wrong-key-123" not in refused.value.message + repr(refused.value.details)
    assert world.secrets.items == {} and world.connections.items == {}
    # The one-call connect checks them too, and right ones pass with one light call.
    with pytest.raises(CredentialsRejected):
        connections.connect(world.ports, T, provider="fakehr", label="Acme", credentials=wrong)
    conn = draft(world)
    assert checking.checked[-1] == CREDENTIALS and conn.status is ConnectionStatus.DRAFT


def test_r32_the_oauth_callback_skips_the_check_it_has_just_made(world: World, checking: CheckingHR) -> None:
    conn = connections.create_draft(
        world.ports, T, provider="fakehr", label="Acme", credentials=CREDENTIALS, check=False
    )
    assert checking.checked == [] and conn.status is ConnectionStatus.DRAFT


def test_r32_a_draft_needs_valid_settings_credentials_and_connecting_email(world: World) -> None:
    with pytest.raises(InvalidInput):
        draft(world, scope={"mode": "nonsense"})
    with pytest.raises(InvalidInput):
        connections.create_draft(world.ports, T, provider="fakehr", label="x", credentials=Credentials())
    with pytest.raises(InvalidInput):
        connections.create_draft(
            world.ports, T, provider="fakehr", label="x", credentials=CREDENTIALS, connected_by_email="no at"
        )
    with pytest.raises(InvalidInput):
        draft(world, connected_by="someone-else")  # bookkeeping, not a setting
    assert world.secrets.items == {} and world.connections.items == {}


def test_r32_directory_preview_and_settings_work_on_a_draft_and_a_scope_edit_starts_no_sync(
    world: World,
) -> None:
    world.hr.set(employee("ann", company="North"), employee("bob", company="South"))
    conn = draft(world)
    found = connections.directory(world.ports, T, conn.connection_id)
    assert [c.id for c in found.companies] == ["North", "South"]
    plan = connections.preview(world.ports, T, conn.connection_id).plan
    assert plan.counts.created == 2
    edited = connections.edit_connection(
        world.ports, T, conn.connection_id, {"scope": {"mode": "companies", "companies": ["North"]}}
    )
    assert edited.run is None and edited.running_run_id is None
    assert edited.connection.scope.companies == ("North",)
    assert edited.connection.status is ConnectionStatus.DRAFT
    # A schedule chosen on a draft is stored, and scheduled only from the activation.
    connections.edit_connection(
        world.ports, T, conn.connection_id, {"schedule": {"expression": "rate(1 hour)"}}
    )
    assert world.scheduler.items == {} and world.workflow.executions == {}
    assert connections.preview(world.ports, T, conn.connection_id).plan.counts.created == 1
    assert world.members.items == {} and world.mailer.sent == []


def test_r32_sync_now_and_linking_on_a_draft_are_a_typed_409_naming_activation(world: World) -> None:
    world.members.seed(
        manual_member(
            T, "m-ann", "ann@acme.test", source=MemberSource.HRIS, connection_id="conn_old", hris_id="old-ann"
        )
    )
    hire(world, "ann")
    conn = draft(world)
    with pytest.raises(ConnectionNotActive) as refused:
        full_sync.request_sync(world.ports, T, conn.connection_id)
    assert refused.value.http_status == 409 and refused.value.code == "connection_not_active"
    assert "activate" in refused.value.message
    with pytest.raises(ConnectionNotActive):
        connections.match(world.ports, T, conn.connection_id, dry_run=False, admin_id=ADMIN)
    # A dry run only shows the pairs: allowed.
    shown = connections.match(world.ports, T, conn.connection_id, dry_run=True, admin_id=ADMIN)
    assert [p.member_id for p in shown.pairs] == ["m-ann"]
    assert world.members.get(T, "m-ann").connection_id == "conn_old"
    assert world.runs.items == {} and world.lock.current(T, conn.connection_id, world.clock.now()) is None


def test_r32_a_webhook_for_a_draft_applies_nothing(world: World) -> None:
    hire(world, "ann")
    conn = draft(world)
    result = webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["ann"], "d-1")
    assert result.ignored and world.members.items == {}
    assert ("get", ("ann",)) not in world.hr.calls


def test_r32_disconnecting_a_draft_deletes_its_secret(world: World) -> None:
    conn = draft(world)
    gone = connections.disconnect(world.ports, T, conn.connection_id)
    assert gone.status is ConnectionStatus.DISCONNECTED
    with pytest.raises(SecretNotFound):
        world.secrets.get(T, conn.connection_id)
    with pytest.raises(InvalidState):
        connections.activate(world.ports, T, conn.connection_id)


def test_r32_drafts_are_bounded_per_tenant_and_a_disconnected_one_frees_its_place(world: World) -> None:
    world.settings = ServiceSettings(chunk_size=2, max_drafts=2)
    first, _ = draft(world), draft(world)
    with pytest.raises(DraftLimitReached) as refused:
        draft(world)
    assert refused.value.http_status == 409 and len(world.secrets.items) == 2
    connections.disconnect(world.ports, T, first.connection_id)
    draft(world)


# --- activation --------------------------------------------------------------------------------


def test_r32_activate_schedules_and_starts_the_first_import(world: World) -> None:
    hire(world, "ann")
    conn = draft(world)
    world.clock.advance(timedelta(minutes=5))
    result = connections.activate(world.ports, T, conn.connection_id, expected_version=conn.version)
    active = result.connection
    assert active.status is ConnectionStatus.ACTIVE and active.version == conn.version + 1
    assert active.activated_at == world.clock.now()
    assert world.scheduler.items[(T, conn.connection_id)].expression == "rate(6 hours)"
    assert result.run.trigger is RunTrigger.FIRST_IMPORT and result.run.status is RunStatus.RUNNING
    done = world.drive(result.run)
    assert done.status is RunStatus.COMPLETED and done.applied.created == 1


def test_r32_activating_twice_is_harmless_and_answers_with_the_first_import(world: World) -> None:
    conn = draft(world)
    first = connections.activate(world.ports, T, conn.connection_id)
    again = connections.activate(world.ports, T, conn.connection_id, expected_version=conn.version)
    assert again.run == first.run and again.connection == first.connection
    assert len(world.runs.items) == 1 and len(world.workflow.executions) == 1


def test_r32_two_activations_racing_start_one_first_import(world: World) -> None:
    conn = draft(world)
    store = world.connections
    original_save = store.save
    raced: list[str] = []

    def activate_meanwhile(
        connection: Connection, *, expected_version: int, max_active: int | None = None
    ) -> None:
        if not raced:
            raced.append("the other request")
            connections.activate(world.ports, T, conn.connection_id)
        original_save(connection, expected_version=expected_version, max_active=max_active)

    store.save = activate_meanwhile  # type: ignore[method-assign]
    result = connections.activate(world.ports, T, conn.connection_id)
    # The losing request answers with the run the winning one started.
    assert raced and len(world.runs.items) == 1 and len(world.workflow.executions) == 1
    assert result.run == world.last_run(T, conn.connection_id)


def test_r32_an_active_connection_left_without_a_run_gets_its_first_import_on_a_retry(world: World) -> None:
    conn = draft(world)
    # A crash right after the activation was saved: active, no schedule, no run.
    stored = world.connections.get(T, conn.connection_id)
    active = stored.model_copy(update={"status": ConnectionStatus.ACTIVE, "version": stored.version + 1})
    world.connections.save(active, expected_version=stored.version, max_active=1)
    result = connections.activate(world.ports, T, conn.connection_id)
    assert result.run.trigger is RunTrigger.FIRST_IMPORT
    assert (T, conn.connection_id) in world.scheduler.items


def test_r32_activate_refuses_a_draft_changed_since_the_admin_read_it(world: World) -> None:
    conn = draft(world)
    connections.edit_connection(world.ports, T, conn.connection_id, {"label": "renamed"})
    with pytest.raises(VersionConflict):
        connections.activate(world.ports, T, conn.connection_id, expected_version=conn.version)
    assert world.connections.get(T, conn.connection_id).status is ConnectionStatus.DRAFT
    assert world.scheduler.items == {} and world.runs.items == {}


def test_r22_drafts_take_no_slot_and_activation_enforces_the_limit(world: World) -> None:
    first, second = draft(world), draft(world)
    connections.activate(world.ports, T, first.connection_id)
    with pytest.raises(ConnectionLimitReached) as refused:
        connections.activate(world.ports, T, second.connection_id)
    assert refused.value.limit == 1
    still = world.connections.get(T, second.connection_id)
    assert still.status is ConnectionStatus.DRAFT and still.version == second.version
    assert (T, second.connection_id) not in world.scheduler.items
    assert world.runs.list_for_connection(T, second.connection_id).items == ()
    # A one-call connect is refused as before, and leaves no draft behind.
    with pytest.raises(ConnectionLimitReached):
        connect(world)
    assert len(world.connections.items) == 2 and len(world.secrets.items) == 2
    # Disconnecting the active one frees its slot for the draft.
    connections.disconnect(world.ports, T, first.connection_id)
    assert (
        connections.activate(world.ports, T, second.connection_id).connection.status
        is ConnectionStatus.ACTIVE
    )


def test_r21_r32_a_drafts_preview_leaves_the_claim_to_the_first_import_after_activation(world: World) -> None:
    # Given members made by an earlier HR system's connection, now disconnected (a switch of HRIS)
    hire(world, "ann", email="ann@acme.test")
    hire(world, "bob", email="bob@acme.test")
    old = imported(world)
    connections.disconnect(world.ports, T, old.connection_id)
    before = {m.member_id for m in world.members.items.values()}
    # When the new one is a draft, browsed and previewed, in groups the admin picks
    world.hr.employees.clear()
    world.hr.set(employee("h-ann", email="ANN@acme.test", groups=("Sales",)))
    world.hr.set(employee("h-bob", email="bob@acme.test", groups=("Ops",)))
    conn = draft(world)
    plan = connections.preview(world.ports, T, conn.connection_id).plan
    assert {a.hris_id for a in plan.actions if isinstance(a, LinkMember)} == {"h-ann", "h-bob"}
    connections.edit_connection(
        world.ports, T, conn.connection_id, {"scope": {"mode": "groups", "groups": ["Sales"]}}
    )
    # Then nothing recorded a sync: the claim window is still open at activation
    assert world.connections.get(T, conn.connection_id).first_complete_sync_at is None
    run = world.drive(connections.activate(world.ports, T, conn.connection_id).run)
    assert run.status is RunStatus.COMPLETED
    # And the first import claims the old members: the one in scope linked, the other deactivated
    ann = world.member_by_hris(T, conn.connection_id, "h-ann")
    assert ann.member_id in before and ann.status is not MemberStatus.DEACTIVATED
    bob = next(m for m in world.members.items.values() if m.profile.email == "bob@acme.test")
    assert bob.status is MemberStatus.DEACTIVATED
    assert world.connections.get(T, conn.connection_id).first_complete_sync_at is not None


def test_the_one_call_connect_still_answers_active_with_its_first_import(world: World) -> None:
    result = connections.connect(
        world.ports,
        T,
        provider="fakehr",
        label="Acme",
        credentials=CREDENTIALS,
        connected_by=ADMIN,
        connected_by_email=ADMIN_EMAIL,
    )
    assert result.connection.status is ConnectionStatus.ACTIVE
    assert result.connection.activated_at == result.connection.created_at
    assert result.connection.connected_by_email == ADMIN_EMAIL
    assert result.run.trigger is RunTrigger.FIRST_IMPORT


# --- the connecting admin's emails -------------------------------------------------------------


def test_r32_the_completion_email_goes_to_the_connecting_admin_and_admin_emails_once_each(
    world: World,
) -> None:
    hire(world, "ann")
    conn = draft(world, admin_emails=("ada@acme.test", "ops@acme.test"))
    world.drive(connections.activate(world.ports, T, conn.connection_id).run)
    (email,) = world.emails(MailTemplate.IMPORT_COMPLETE.value)
    assert email.to == (ADMIN_EMAIL, "ops@acme.test")


def test_the_failing_email_goes_to_the_connecting_admin_even_without_admin_emails(world: World) -> None:
    conn = draft(world)
    world.hr.fail_pages[0] = ProviderAuthError("401")
    run = world.drive(connections.activate(world.ports, T, conn.connection_id).run)
    assert run.status is RunStatus.FAILED
    (email,) = world.emails(MailTemplate.CONNECTION_FAILING.value)
    assert email.to == (ADMIN_EMAIL,)


def test_recipients_without_a_connecting_admin_are_the_admin_emails() -> None:
    conn = Connection(connection_id="c", tenant_id=T, provider="fakehr", label="x", admin_emails=("a@x.io",))
    assert notify.recipients(conn) == ("a@x.io",)
    assert notify.recipients(conn.model_copy(update={"admin_emails": ()})) == ()


# --- status ------------------------------------------------------------------------------------


def test_r28_status_of_a_draft_has_no_run_and_no_next_run_but_its_effective_schedule(world: World) -> None:
    conn = draft(world)
    view = connections.status_of(world.ports, conn)
    assert view.last_run is None and view.next_run_at is None
    assert view.effective_schedule == "rate(6 hours)"  # the provider default (R28)


def test_r28_status_shows_the_last_run_and_when_the_schedule_next_fires(world: World) -> None:
    hire(world, "ann")
    conn = draft(world, schedule={"expression": "cron(0 8 ? * MON-FRI *)", "timezone": "Europe/Berlin"})
    run = world.drive(connections.activate(world.ports, T, conn.connection_id).run)
    active = world.connections.get(T, conn.connection_id)
    view = connections.status_of(world.ports, active)
    assert view.last_run == run and view.last_run.applied.created == 1
    assert view.effective_schedule == "cron(0 8 ? * MON-FRI *)"
    # The fixed clock is Monday 2026-03-02 09:00 UTC (10:00 in Berlin): the next weekday 08:00 in
    # Berlin is Tuesday, 07:00 UTC.
    assert view.next_run_at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)


def test_r28_a_rate_counts_from_the_activation_and_a_disconnected_connection_has_no_schedule(
    world: World,
) -> None:
    conn = draft(world)
    world.clock.advance(timedelta(minutes=10))
    activated = connections.activate(world.ports, T, conn.connection_id).connection
    world.clock.advance(timedelta(hours=7))
    view = connections.status_of(world.ports, activated)
    assert activated.activated_at is not None
    assert view.next_run_at == activated.activated_at + timedelta(hours=12)
    gone = connections.disconnect(world.ports, T, conn.connection_id)
    view = connections.status_of(world.ports, gone)
    assert view.next_run_at is None and view.effective_schedule is None
    assert view.last_run is not None  # its history stays


def test_status_of_a_connection_whose_provider_is_gone_shows_what_is_stored(world: World) -> None:
    conn = draft(world)
    world.lookup = ProviderRegistry({})
    view = connections.status_of(world.ports, conn)
    assert view.effective_schedule is None and view.next_run_at is None


def test_connection_emails_name_the_hr_system_as_its_catalogue_does() -> None:
    # "The first import of Acme HR from BambooHR", never the provider id; an id the catalogue no
    # longer lists is shown as it is.
    assert notify.provider_name("bamboohr") == "BambooHR"
    assert notify.provider_name("employment_hero") == "Employment Hero"
    assert notify.provider_name("retired_vendor") == "retired_vendor"
