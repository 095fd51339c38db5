"""AWS refusing the sync's side work: a workflow that does not start (the run is closed with the
reason and the lock freed, R29) and emails SES does not take (never a failed sync: a warning on
the run and the ``EmailsNotSent`` metric)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared import observability
from shared.adapters.aws_errors import AwsServiceError
from shared.domain.models import MemberStatus
from shared.domain.records import RunStatus, UnsentEmails
from shared.errors import EmailRejected, EmailSendingPaused, EmailThrottled, Throttled, WorkflowNotStarted
from shared.ports import Email, MailTemplate, MemberQuery
from shared.services import connections, full_sync, members, notify, webhook_apply
from tests.support.world import T, World, connect, hire, imported

MISSING_MACHINE = AwsServiceError("StartExecution", "StateMachineDoesNotExist", "execution 'run_x'")


@pytest.fixture(autouse=True)
def metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A Powertools metric buffer of the test's own (``_counted`` reads it), gone afterwards: the
    services count refused emails, and a buffer left behind would be flushed by the next test's
    handler under whatever namespace its ``Metrics`` was first built with."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "hris-sync-test")
    observability.metrics.clear_metrics()
    yield
    observability.metrics.clear_metrics()


def _counted() -> float:
    """What ``EmailsNotSent`` received during the test."""
    metric = observability.metrics.metric_set.get(observability.EMAILS_NOT_SENT)
    return float(sum(metric["Value"])) if metric else 0.0


# ---------------------------------------------------------------------------------------------
# A workflow that does not start (R29: the lock is not held for nothing)
# ---------------------------------------------------------------------------------------------


def test_r29_a_sync_whose_workflow_does_not_start_is_failed_with_the_reason_and_frees_the_lock(
    world: World,
) -> None:
    hire(world, "ann")
    conn = imported(world)
    world.workflow.refusal = MISSING_MACHINE

    with pytest.raises(WorkflowNotStarted) as caught:
        full_sync.request_sync(world.ports, T, conn.connection_id)

    run = world.last_run(T, conn.connection_id)
    assert caught.value.run_id == run.run_id and caught.value.__cause__ is MISSING_MACHINE
    assert run.status is RunStatus.FAILED
    assert run.finished_at == world.clock.now()
    assert run.error is not None and "StateMachineDoesNotExist" in run.error
    assert world.lock.current(T, conn.connection_id, world.clock.now()) is None
    assert world.events.published[-1].detail_type == "sync.failed"
    assert world.events.published[-1].detail["run_id"] == run.run_id
    # The connection's HR system was never called: it is not marked failing, nobody is emailed.
    assert world.connections.get(T, conn.connection_id).status.value == "active"
    assert world.emails("connection_failing") == []

    world.workflow.refusal = None
    again = full_sync.request_sync(world.ports, T, conn.connection_id)  # no 15-minute wait for the lease
    assert again.run_id != run.run_id and again.status is RunStatus.RUNNING


def test_r29_connect_whose_first_import_does_not_start_keeps_the_connection_and_answers_the_closed_run(
    world: World,
) -> None:
    hire(world, "ann")
    world.workflow.refusal = Throttled("StartExecution")

    result = connect(world)

    assert result.run.status is RunStatus.FAILED
    assert result.run.error is not None and "throttled" in result.run.error
    assert world.connections.get(T, result.connection.connection_id) == result.connection
    assert world.scheduler.items  # the schedule will sync it
    assert world.lock.current(T, result.connection.connection_id, world.clock.now()) is None
    world.workflow.refusal = None
    assert world.sync_now(T, result.connection.connection_id).status is RunStatus.COMPLETED


def test_r19_a_scope_edit_whose_sync_does_not_start_is_saved_and_answers_the_closed_run(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    world.workflow.refusal = MISSING_MACHINE

    edited = connections.edit_connection(world.ports, T, conn.connection_id, {"scope": {"mode": "manual"}})

    assert edited.connection.scope.mode.value == "manual"
    assert edited.run is not None and edited.run.status is RunStatus.FAILED
    assert world.lock.current(T, conn.connection_id, world.clock.now()) is None


def test_r23_confirming_a_held_plan_whose_workflow_does_not_start_keeps_it_held_and_frees_the_lock(
    world: World,
) -> None:
    hire(world, *(f"e{i:02d}" for i in range(10)))
    conn = imported(world, safety={"max_deactivations": 2, "max_deactivation_pct": 20})
    world.hr.remove("e00", "e01", "e02", "e03", "e04")
    held = world.sync_now(T, conn.connection_id)
    assert held.status is RunStatus.BLOCKED
    world.workflow.refusal = MISSING_MACHINE

    with pytest.raises(WorkflowNotStarted):
        full_sync.confirm_held_plan(world.ports, T, held.run_id, "admin-1")

    run = world.runs.get(T, held.run_id)
    assert run.status is RunStatus.BLOCKED and run.decided_by is None
    assert any(
        w.startswith("workflow_not_started:") and "StateMachineDoesNotExist" in w for w in run.warnings
    )
    assert world.lock.current(T, conn.connection_id, world.clock.now()) is None
    world.workflow.refusal = None
    confirmed = full_sync.confirm_held_plan(world.ports, T, held.run_id, "admin-1")
    assert world.drive(confirmed, phase="apply").applied.deactivated == 5


# ---------------------------------------------------------------------------------------------
# Emails SES refuses never fail a sync
# ---------------------------------------------------------------------------------------------


def test_invites_ses_rejects_during_a_sync_complete_the_run_with_a_warning_and_a_metric(
    world: World, metrics: None
) -> None:
    hire(world, "ann", "bob", "cid")
    world.mailer.refuse(EmailRejected("member_invite", "MessageRejected"), to="bob@acme.test")
    world.mailer.refuse(EmailRejected("member_invite", "MessageRejected"), to="cid@acme.test")

    result = connect(world)
    run = world.drive(result.run)

    assert run.status is RunStatus.COMPLETED
    invited = world.members.query(T, MemberQuery(status=MemberStatus.INVITED)).items
    assert {m.hris_id for m in invited} == {"ann", "bob", "cid"}
    assert [e.to for e in world.emails("member_invite")] == [("ann@acme.test",)]
    by_hris = {m.hris_id: m.member_id for m in invited}
    [unsent] = run.emails_not_sent
    assert unsent == UnsentEmails(
        template="member_invite",
        reason="email_rejected",
        aws_code="MessageRejected",
        count=2,
        member_ids=unsent.member_ids,
    )
    assert sorted(unsent.member_ids) == sorted([by_hris["bob"], by_hris["cid"]])
    assert unsent.summary().startswith("email_not_sent: 2 member_invite email(s) not sent")
    assert _counted() == 2
    assert world.emails("import_complete")  # the admins still hear the import finished


def test_throttled_or_paused_sending_stops_trying_the_rest_of_the_batch(world: World, metrics: None) -> None:
    hire(world, "ann", "bob", "cid", "dan")
    world.mailer.refuse(EmailThrottled("member_invite", "TooManyRequestsException"))

    run = world.drive(connect(world).run)

    assert run.status is RunStatus.COMPLETED
    assert run.applied.created == 4
    # chunk_size 2: one email tried per chunk, the other counted with the same answer.
    assert [e.template.value for e in world.mailer.refused] == [
        "member_invite",
        "member_invite",
        "import_complete",
    ]
    # The import_complete email is refused too: one entry per template.
    by_template = {u.template: u for u in run.emails_not_sent}
    assert by_template["member_invite"].count == 4
    assert by_template["member_invite"].reason == "email_throttled"
    assert by_template["import_complete"].count == 1
    assert _counted() == 5


def test_r23_a_held_plan_whose_email_ses_refuses_is_still_held_with_the_warning(world: World) -> None:
    hire(world, *(f"e{i:02d}" for i in range(10)))
    conn = imported(world, safety={"max_deactivations": 2, "max_deactivation_pct": 20})
    world.hr.remove("e00", "e01", "e02", "e03", "e04")
    world.mailer.refuse(EmailSendingPaused("sync_blocked", "SendingPausedException"))

    run = world.sync_now(T, conn.connection_id)

    assert run.status is RunStatus.BLOCKED
    [unsent] = run.emails_not_sent
    assert (unsent.template, unsent.reason, unsent.count) == ("sync_blocked", "email_sending_paused", 1)
    assert world.events.types()[-1] == "sync.blocked"
    assert world.lock.current(T, conn.connection_id, world.clock.now()) is None


def test_a_failing_sync_whose_email_ses_refuses_is_failed_for_its_own_reason(world: World) -> None:
    hire(world, "ann")
    conn = imported(world)
    run = full_sync.request_sync(world.ports, T, conn.connection_id)
    world.mailer.refuse(EmailRejected("connection_failing", "MessageRejected"))

    failed = full_sync.fail_run(world.ports, T, conn.connection_id, run.run_id, "ProviderFailure: 500")

    assert failed.status is RunStatus.FAILED and failed.error == "ProviderFailure: 500"
    assert [u.template for u in failed.emails_not_sent] == ["connection_failing"]
    assert world.events.types()[-1] == "sync.failed"
    assert world.lock.current(T, conn.connection_id, world.clock.now()) is None


def test_a_webhook_hire_whose_invite_ses_refuses_is_applied(world: World, metrics: None) -> None:
    hire(world, "ann")
    conn = imported(world)
    hire(world, "ann", "new")
    world.mailer.refuse(EmailRejected("member_invite", "MessageRejected"), to="new@acme.test")

    result = webhook_apply.apply_webhook(world.ports, T, conn.connection_id, ["new"], "dlv-1")

    assert result.counts.created == 1
    assert world.member_by_hris(T, conn.connection_id, "new").status is MemberStatus.INVITED
    assert _counted() == 1


def test_an_admins_invites_ses_refuses_are_listed_with_the_code(world: World) -> None:
    hire(world, "ann", "bob", "cid")
    conn = imported(world, invites="later")
    queued = sorted(
        m.member_id for m in world.members.query(T, MemberQuery(status=MemberStatus.QUEUED)).items
    )
    first = world.members.get(T, queued[0])
    assert first.profile.email is not None
    world.mailer.refuse(EmailRejected("member_invite", "MessageRejected"), to=first.profile.email)

    result = members.send_invites(world.ports, T, "admin-1")

    assert result.not_sent == ((queued[0], "email_rejected"),)
    assert sorted(result.sent) == queued[1:]
    assert conn.connection_id


def test_an_admins_invites_stop_when_ses_pauses_sending_and_the_rest_stay_queued(world: World) -> None:
    hire(world, "ann", "bob", "cid")
    imported(world, invites="later")
    queued = [m.member_id for m in world.members.query(T, MemberQuery(status=MemberStatus.QUEUED)).items]
    world.mailer.refuse(EmailSendingPaused("member_invite", "SendingPausedException"))

    result = members.send_invites(world.ports, T, "admin-1", queued)

    assert result.sent == ()
    assert result.not_sent == tuple((m, "email_sending_paused") for m in queued)
    assert len(world.mailer.refused) == 1
    still = world.members.get_many(T, queued[1:])
    assert all(m.status is MemberStatus.QUEUED for m in still.values())


def test_merge_sums_refusals_per_template_and_answer_and_keeps_the_first_member_ids() -> None:
    rejected = EmailRejected("member_invite", "MessageRejected")
    unsent = [
        notify.Unsent(Email(MailTemplate.MEMBER_INVITE, ("x@a.test",), {"member_id": f"m{i}"}), rejected)
        for i in range(25)
    ]
    once = notify.merge((), unsent[:10])
    twice = notify.merge(once, unsent[10:])
    [entry] = twice
    assert entry.count == 25
    assert entry.member_ids == tuple(f"m{i}" for i in range(20))
    assert entry.summary().endswith(", ...)")
