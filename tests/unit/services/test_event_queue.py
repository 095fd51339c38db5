"""Draining a vendor's event queue (ADP's event notifications) into the webhook queue: each message
made durable on our side before it is acknowledged, so a crash in between replays it, and the
replay changes nothing (R24); pings acknowledged; an unreadable message becomes a full sync (R09);
nothing polled for a draft (R32), a disconnected connection (R20) or an unknown one; the vendor's
refusal stops the run; a long poll within its window, at most so many messages per run.

The schedules: one poll schedule per connection whose connector is an ``EventQueue``, made on
activation (R28), left alone by edits, deleted on disconnect (R20); never one for another connector.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from functions.event_poller.handler import EventPollerPorts
from shared.domain.models import ConnectionStatus, MemberStatus
from shared.domain.records import RunTrigger
from shared.errors import HrisSyncError, Throttled
from shared.providers.base import (
    EventQueue,
    ProviderAuthError,
    ProviderResponseError,
    ProviderUnavailable,
    WebhookEvent,
    WebhookKind,
)
from shared.services import connections, event_queue, full_sync
from shared.services.event_queue import DrainLimits, DrainResult
from shared.services.webhook_apply import apply_webhook
from shared.services.webhook_ingest import QueuedWebhook
from tests.support.memory import ProviderRegistry
from tests.support.world import CREDENTIALS, QueuedHR, T, World, employee

LIMITS = DrainLimits(window=timedelta(0), pause=timedelta(seconds=5), max_messages=100)


class ListQueue:
    """The webhook queue: what was sent, and what to refuse with."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.refusal: HrisSyncError | None = None

    def send(self, body: Mapping[str, Any]) -> str:
        if self.refusal is not None:
            raise self.refusal
        self.sent.append(dict(body))
        return f"m-{len(self.sent)}"


class Setup:
    def __init__(self) -> None:
        self.hr = QueuedHR()
        self.world = World(lookup=ProviderRegistry({"queuedhr": self.hr}))
        self.world.lookup = ProviderRegistry({"queuedhr": self.hr, "fakehr": self.world.hr})
        self.queue = ListQueue()
        self.sleeps: list[float] = []

    @property
    def ports(self) -> EventPollerPorts:
        return self.world.event_poller_ports(self.queue)

    def connect(self, provider: str = "queuedhr") -> str:
        result = connections.connect(
            self.world.ports,
            T,
            provider=provider,
            label="Acme",
            credentials=CREDENTIALS,
            options={"admin_emails": ("boss@acme.test",)},
        )
        self.world.drive(result.run)
        return result.connection.connection_id

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.world.clock.advance(timedelta(seconds=seconds))

    def drain(self, connection_id: str, limits: DrainLimits = LIMITS) -> DrainResult:
        return event_queue.drain(self.ports, T, connection_id, limits=limits, sleep=self.sleep)

    def queued(self) -> list[QueuedWebhook]:
        return [QueuedWebhook.model_validate(m) for m in self.queue.sent]


def _hired(*ids: str, delivery: str = "evt-1") -> WebhookEvent:
    return WebhookEvent(kind=WebhookKind.CREATED, employee_ids=ids, delivery_id=delivery)


PING = WebhookEvent(kind=WebhookKind.PING, employee_ids=(), delivery_id="evt-ping")


@pytest.fixture
def setup() -> Setup:
    return Setup()


def test_the_scripted_vendor_is_an_event_queue() -> None:
    assert isinstance(QueuedHR(), EventQueue)


# --- durable before acknowledged (R24) -------------------------------------------------------


def test_r24_a_message_is_queued_before_it_is_acknowledged(setup: Setup) -> None:
    cid = setup.connect()
    setup.hr.put("msg-1", _hired("e1", delivery="evt-1"))
    queued_at_ack: list[int] = []
    setup.hr.on_ack = lambda _id: queued_at_ack.append(len(setup.queue.sent))

    result = setup.drain(cid)

    assert queued_at_ack == [1]  # on our queue when the vendor was told to drop it
    assert setup.hr.acknowledged == ["msg-1"] and setup.hr.messages == []
    (message,) = setup.queued()
    assert (message.tenant_id, message.connection_id, message.provider) == (T, cid, "queuedhr")
    assert message.employee_ids == ("e1",) and message.kind is WebhookKind.CREATED
    assert message.delivery_id == "evt-1"  # the worker's idempotency key, with the connection
    assert (result.received, result.queued, result.acknowledged, result.ignored) == (1, 1, 1, 0)
    assert result.polled and result.stopped is None


def test_r24_a_message_the_queue_refuses_is_not_acknowledged_and_stays_at_the_vendor(setup: Setup) -> None:
    cid = setup.connect()
    setup.hr.put("msg-1", _hired("e1"))
    setup.hr.put("msg-2", _hired("e2", delivery="evt-2"))
    setup.queue.refusal = Throttled("SendMessage")

    result = setup.drain(cid)

    assert setup.hr.acknowledged == []
    assert [m.message_id for m in setup.hr.messages] == ["msg-1", "msg-2"]
    assert result.stopped == "queue_failed"
    assert (result.received, result.queued, result.acknowledged) == (1, 0, 0)
    assert setup.hr.reads == 1  # the run stops: the same head would only come back


def test_r24_a_message_replayed_after_a_crash_before_its_acknowledgement_changes_nothing(
    setup: Setup,
) -> None:
    cid = setup.connect()
    setup.hr.set(employee("e1"))
    setup.hr.put("msg-1", _hired("e1", delivery="evt-1"))
    setup.hr.fail_ack = ProviderUnavailable("the acknowledgement timed out")

    first = setup.drain(cid)
    setup.hr.fail_ack = None
    second = setup.drain(cid)

    assert first.stopped == "vendor_unavailable" and (first.queued, first.acknowledged) == (1, 0)
    assert (second.queued, second.acknowledged) == (1, 1)
    one, again = setup.queued()
    assert one == again  # the same delivery id: the worker applies it once
    w = setup.world
    applied = apply_webhook(w.ports, T, cid, one.employee_ids, one.delivery_id)
    assert applied.counts.created == 1
    events, emails = len(w.events.published), len(w.mailer.sent)
    replayed = apply_webhook(w.ports, T, cid, again.employee_ids, again.delivery_id)
    assert replayed.counts.model_dump() == {k: 0 for k in replayed.counts.model_dump()}
    assert (len(w.events.published), len(w.mailer.sent)) == (events, emails)
    assert w.member_by_hris(T, cid, "e1").status is MemberStatus.INVITED


def test_a_ping_and_a_message_naming_nobody_are_acknowledged_without_queueing(setup: Setup) -> None:
    cid = setup.connect()
    setup.hr.put("msg-ping", PING)
    setup.hr.put("msg-nobody", WebhookEvent(kind=WebhookKind.UPDATED, employee_ids=(), delivery_id="e"))

    result = setup.drain(cid)

    assert setup.queue.sent == []
    assert setup.hr.acknowledged == ["msg-ping", "msg-nobody"]
    assert (result.received, result.ignored, result.acknowledged, result.queued) == (2, 2, 2, 0)


# --- an unreadable message: a full sync (R09) ---------------------------------------------------


def test_r09_an_unreadable_message_requests_a_full_sync_then_is_acknowledged(setup: Setup) -> None:
    cid = setup.connect()
    w = setup.world
    executions_before = len(w.workflow.executions)
    setup.hr.put("msg-x", None, problem="no worker in the event")
    started_at_ack: list[int] = []
    setup.hr.on_ack = lambda _id: started_at_ack.append(len(w.workflow.executions))

    result = setup.drain(cid)

    assert started_at_ack == [executions_before + 1]  # started before the message was dropped
    assert w.last_run(T, cid).trigger is RunTrigger.NOTIFICATIONS_MISSED
    assert setup.queue.sent == []
    assert (result.full_syncs, result.acknowledged, result.queued) == (1, 1, 0)


def test_r29_an_unreadable_message_during_a_running_full_sync_is_answered_by_that_sync(
    setup: Setup,
) -> None:
    cid = setup.connect()
    w = setup.world
    running = full_sync.request_sync(w.ports, T, cid)
    setup.hr.put("msg-x", None, problem="unreadable")

    result = setup.drain(cid)

    assert w.last_run(T, cid).run_id == running.run_id  # no second run
    assert (result.full_syncs, result.acknowledged) == (1, 1)


def test_an_unreadable_message_whose_full_sync_cannot_be_recorded_is_not_acknowledged(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = setup.connect()
    setup.hr.put("msg-x", None, problem="unreadable")

    def refused(*_args: object, **_kwargs: object) -> None:
        raise Throttled("PutItem")

    monkeypatch.setattr(full_sync, "request_sync", refused)
    result = setup.drain(cid)

    assert result.stopped == "full_sync_failed"
    assert setup.hr.acknowledged == [] and len(setup.hr.messages) == 1


# --- what is not polled ------------------------------------------------------------------------


def test_r32_a_draft_connection_is_not_polled(setup: Setup) -> None:
    draft = connections.create_draft(
        setup.world.ports, T, provider="queuedhr", label="Acme", credentials=CREDENTIALS
    )
    setup.hr.put("msg-1", _hired("e1"))

    result = setup.drain(draft.connection_id)

    assert (result.polled, result.stopped) == (False, "draft")
    assert setup.hr.reads == 0 and setup.queue.sent == []


def test_r20_a_disconnected_connection_is_not_polled_and_loses_a_left_over_poll_schedule(
    setup: Setup,
) -> None:
    cid = setup.connect()
    connections.disconnect(setup.world.ports, T, cid)
    # A schedule a race left behind (an activation finishing after the disconnect).
    setup.world.poll_schedules.upsert(
        T, cid, expression="rate(1 minute)", timezone="UTC", payload={"tenant_id": T, "connection_id": cid}
    )

    result = setup.drain(cid)

    assert (result.polled, result.stopped) == (False, "disconnected")
    assert setup.hr.reads == 0
    assert (T, cid) not in setup.world.poll_schedules.items


def test_an_unknown_connection_is_not_polled_and_its_poll_schedule_is_deleted(setup: Setup) -> None:
    setup.world.poll_schedules.upsert(
        T, "conn_gone", expression="rate(1 minute)", timezone="UTC", payload={"tenant_id": T}
    )

    result = setup.drain("conn_gone")

    assert (result.polled, result.stopped) == (False, "unknown_connection")
    assert (T, "conn_gone") not in setup.world.poll_schedules.items


def test_a_connection_whose_connector_keeps_no_event_queue_is_not_polled(setup: Setup) -> None:
    cid = setup.connect("fakehr")

    result = setup.drain(cid)

    assert (result.polled, result.stopped) == (False, "not_an_event_queue")


# --- the vendor refusing or not answering --------------------------------------------------------


def test_a_refused_credential_stops_the_run_and_marks_the_connection_failing(setup: Setup) -> None:
    cid = setup.connect()
    setup.hr.fail_next = ProviderAuthError("401", vendor_message="invalid_client")
    closed = setup.hr.closed

    result = setup.drain(cid, DrainLimits(timedelta(seconds=50), timedelta(seconds=5), 100))

    assert (result.polled, result.stopped, result.received) == (True, "credentials_refused", 0)
    assert setup.hr.reads == 1 and setup.sleeps == []  # stopped, not retried within the window
    assert setup.world.connections.get(T, cid).status is ConnectionStatus.FAILING
    assert setup.hr.closed == closed + 1  # the connector's HTTP client closed all the same


def test_a_vendor_outage_stops_the_run_without_marking_the_connection(setup: Setup) -> None:
    cid = setup.connect()
    setup.hr.fail_next = ProviderUnavailable("503 after retries")

    result = setup.drain(cid)

    assert result.stopped == "vendor_unavailable"
    assert setup.world.connections.get(T, cid).status is ConnectionStatus.ACTIVE


def test_an_answer_that_cannot_be_used_stops_the_run_saying_so(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    cid = setup.connect()
    setup.hr.fail_next = ProviderResponseError("queuedhr: an event notification without its id")

    result = setup.drain(cid)

    assert (result.stopped, result.acknowledged) == ("vendor_unreadable", 0)
    assert setup.world.connections.get(T, cid).status is ConnectionStatus.ACTIVE
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "an event notification without its id" in warning.__dict__["detail"]


# --- the long poll and the per-run bound -------------------------------------------------------------


def test_a_long_poll_pauses_after_an_empty_queue_and_looks_again_while_the_window_lasts(
    setup: Setup,
) -> None:
    cid = setup.connect()
    # A hire lands at the vendor while the run waits (before its second look).
    setup.hr.on_read = lambda n: setup.hr.put("msg-1", _hired("e1")) if n == 2 else None

    result = setup.drain(cid, DrainLimits(timedelta(seconds=12), timedelta(seconds=5), 100))

    # t=0 empty, pause; t=5 the hire, then empty, pause; t=10 empty: 2 s left, less than a pause.
    assert setup.sleeps == [5.0, 5.0]
    assert setup.hr.reads == 4
    assert (result.received, result.queued, result.acknowledged, result.stopped) == (1, 1, 1, None)


def test_a_zero_window_drains_until_the_queue_is_empty_once(setup: Setup) -> None:
    cid = setup.connect()
    for n in range(3):
        setup.hr.put(f"msg-{n}", _hired(f"e{n}", delivery=f"evt-{n}"))

    result = setup.drain(cid)

    assert setup.sleeps == [] and setup.hr.messages == []
    assert (result.received, result.acknowledged, result.stopped) == (3, 3, None)


def test_a_run_takes_at_most_its_bound_of_messages(setup: Setup) -> None:
    cid = setup.connect()
    for n in range(5):
        setup.hr.put(f"msg-{n}", _hired(f"e{n}", delivery=f"evt-{n}"))

    result = setup.drain(cid, DrainLimits(timedelta(seconds=50), timedelta(seconds=5), 3))

    assert (result.received, result.acknowledged, result.stopped) == (3, 3, "message_bound")
    assert [m.message_id for m in setup.hr.messages] == ["msg-3", "msg-4"]


def test_messages_keep_coming_only_until_the_window_ends(setup: Setup) -> None:
    cid = setup.connect()
    w = setup.world

    def busy(_n: int) -> None:  # every read finds a new message, and takes 20 s
        w.clock.advance(timedelta(seconds=20))
        setup.hr.put(f"msg-{setup.hr.reads}", _hired("e1", delivery=f"evt-{setup.hr.reads}"))

    setup.hr.on_read = busy
    result = setup.drain(cid, DrainLimits(timedelta(seconds=50), timedelta(seconds=5), 100))

    assert result.received == 3 and result.stopped is None  # t=20, 40, 60: past 50 s, no fourth


# --- the poll schedules ----------------------------------------------------------------------------


def test_r28_an_event_queue_connection_gets_a_poll_schedule_every_minute_when_connected(
    setup: Setup,
) -> None:
    cid = setup.connect()

    entry = setup.world.poll_schedules.items[(T, cid)]
    assert entry.expression == "rate(1 minute)"
    assert dict(entry.payload) == {"tenant_id": T, "connection_id": cid}
    assert (T, cid) in setup.world.scheduler.items  # beside its full-sync schedule


def test_r28_no_other_connector_ever_gets_a_poll_schedule(setup: Setup) -> None:
    cid = setup.connect("fakehr")
    connections.edit_connection(setup.world.ports, T, cid, {"schedule": {"expression": "rate(2 hours)"}})

    assert setup.world.poll_schedules.items == {}
    assert setup.world.poll_schedules.write_calls == 0
    assert (T, cid) in setup.world.scheduler.items


def test_r32_a_draft_gets_its_poll_schedule_on_activation_not_before(setup: Setup) -> None:
    w = setup.world
    draft = connections.create_draft(w.ports, T, provider="queuedhr", label="Acme", credentials=CREDENTIALS)
    assert w.poll_schedules.items == {}

    connections.activate(w.ports, T, draft.connection_id)

    assert (T, draft.connection_id) in w.poll_schedules.items


def test_r28_an_edit_leaves_the_poll_schedule_alone(setup: Setup) -> None:
    cid = setup.connect()
    writes = setup.world.poll_schedules.write_calls

    connections.edit_connection(setup.world.ports, T, cid, {"schedule": {"expression": "rate(2 hours)"}})

    assert setup.world.scheduler.items[(T, cid)].expression == "rate(2 hours)"
    assert setup.world.poll_schedules.write_calls == writes
    assert setup.world.poll_schedules.items[(T, cid)].expression == "rate(1 minute)"


def test_r20_disconnecting_deletes_the_poll_schedule_and_again_is_harmless(setup: Setup) -> None:
    cid = setup.connect()

    connections.disconnect(setup.world.ports, T, cid)
    connections.disconnect(setup.world.ports, T, cid)

    assert setup.world.poll_schedules.items == {}
    assert setup.world.scheduler.items == {}
