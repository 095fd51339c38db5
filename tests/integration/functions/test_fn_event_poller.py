"""``functions/event_poller`` in-process on moto: a connection whose connector keeps an event queue
(a stand-in: BambooHR given ``EventQueue``'s two methods, so the real registry, settings and AWS
adapters are used) drained into the real SQS webhook queue, each message acknowledged after it is
there; an unreadable one starts a full sync on the state machine; bad input is answered, not raised;
a disconnected connection's poll schedule is deleted from the real schedule group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from functions.event_poller import handler as poller
from infra.catalog import EVENT_POLLER
from shared.adapters.scheduler import EVENT_POLL_SCHEDULES, EventBridgeScheduler
from shared.domain.models import ConnectionStatus
from shared.providers.adp import AdpWorkforceNow
from shared.providers.bamboohr import BambooHR
from shared.providers.base import Credentials, EventQueue, QueuedMessage, WebhookEvent, WebhookKind
from shared.services.webhook_ingest import QueuedWebhook
from shared.settings import EventPollerSettings
from tests.support.events import EVENT_TENANT, connection_of
from tests.support.lambda_stack import Stack, add_connection, aws_ports

CONNECTION = connection_of("bamboohr")


class VendorQueue:
    """The vendor's queue the stand-in connector reads: head first, kept until acknowledged."""

    def __init__(self) -> None:
        self.messages: list[QueuedMessage] = []
        self.acknowledged: list[str] = []
        self.queue_depth_at_ack: list[int] = []
        self.stack: Stack | None = None

    def next_message(self, _credentials: Credentials) -> QueuedMessage | None:
        return self.messages[0] if self.messages else None

    def acknowledge(self, _credentials: Credentials, message_id: str) -> None:
        assert self.stack is not None
        sqs = self.stack.client("sqs")
        depth = sqs.get_queue_attributes(
            QueueUrl=self.stack.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        self.queue_depth_at_ack.append(int(depth))
        self.acknowledged.append(message_id)
        self.messages = [m for m in self.messages if m.message_id != message_id]


@pytest.fixture
def vendor(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[VendorQueue]:
    queue = VendorQueue()
    queue.stack = stack
    # Methods of every BambooHR the registry builds (the connector itself is not under test here).
    monkeypatch.setattr(BambooHR, "next_message", lambda _self, c: queue.next_message(c), raising=False)
    monkeypatch.setattr(BambooHR, "acknowledge", lambda _self, c, m: queue.acknowledge(c, m), raising=False)
    monkeypatch.setenv("EVENT_POLL_WINDOW_SECONDS", "0")
    stack.client("scheduler").create_schedule_group(Name="hris-sync-test")
    poller.root.cache_clear()
    yield queue
    poller.root.cache_clear()


def _poll(stack: Stack, event: Any) -> dict[str, Any]:
    return poller.handler(event, stack.context)


def test_the_stand_in_connector_is_an_event_queue(vendor: VendorQueue) -> None:
    assert isinstance(BambooHR(), EventQueue)


def test_r24_messages_reach_the_webhook_queue_before_they_are_acknowledged(
    stack: Stack, vendor: VendorQueue
) -> None:
    add_connection(aws_ports(), "bamboohr")
    hire = WebhookEvent(kind=WebhookKind.CREATED, employee_ids=("e-1",), delivery_id="evt-1")
    vendor.messages = [
        QueuedMessage("msg-1", hire),
        QueuedMessage("msg-2", WebhookEvent(kind=WebhookKind.PING, employee_ids=(), delivery_id="p")),
        QueuedMessage("msg-3", None, problem="no worker named"),
    ]

    answer = _poll(stack, {"tenant_id": EVENT_TENANT, "connection_id": CONNECTION})

    assert answer == {
        "tenant_id": EVENT_TENANT,
        "connection_id": CONNECTION,
        "polled": True,
        "stopped": None,
        "received": 3,
        "queued": 1,
        "acknowledged": 3,
        "ignored": 1,
        "full_syncs": 1,
    }
    assert vendor.acknowledged == ["msg-1", "msg-2", "msg-3"]
    assert vendor.queue_depth_at_ack[0] == 1  # the hire was on SQS when ADP was told to drop it
    (sent,) = stack.queued()
    message = QueuedWebhook.model_validate_json(sent["Body"])
    assert (message.connection_id, message.employee_ids, message.delivery_id) == (
        CONNECTION,
        ("e-1",),
        "evt-1",
    )
    assert len(stack.executions()) == 1  # the full sync the unreadable message called for


@pytest.mark.parametrize(
    "event",
    [{}, {"tenant_id": EVENT_TENANT}, {"tenant_id": "", "connection_id": "c"}, ["not", "an", "object"], None],
)
def test_a_malformed_poll_request_is_answered_not_raised(
    stack: Stack, vendor: VendorQueue, event: Any
) -> None:
    answer = _poll(stack, event)
    assert answer["polled"] is False and answer["error"] == "invalid_request"


def test_r20_a_disconnected_connections_poll_schedule_is_deleted_by_its_poller(
    stack: Stack, vendor: VendorQueue
) -> None:
    ports = aws_ports()
    connection = add_connection(ports, "bamboohr")
    ports.connections.save(
        connection.model_copy(update={"status": ConnectionStatus.DISCONNECTED, "version": 2}),
        expected_version=1,
    )
    # As the admin API made it at activation.
    schedules = EventBridgeScheduler(
        group_name="hris-sync-test",
        target_arn="arn:aws:lambda:eu-west-1:123456789012:function:hris-sync-test-event_poller",
        role_arn="arn:aws:iam::123456789012:role/scheduler",
        dead_letter_arn=None,
        client=stack.client("scheduler"),
        kind=EVENT_POLL_SCHEDULES,
    )
    schedules.upsert(
        EVENT_TENANT,
        CONNECTION,
        expression="rate(1 minute)",
        timezone="UTC",
        payload={"tenant_id": EVENT_TENANT, "connection_id": CONNECTION},
    )
    vendor.messages = [QueuedMessage("msg-1", None)]

    answer = _poll(stack, {"tenant_id": EVENT_TENANT, "connection_id": CONNECTION})

    assert (answer["polled"], answer["stopped"]) == (False, "disconnected")
    assert stack.client("scheduler").list_schedules(GroupName="hris-sync-test")["Schedules"] == []
    assert vendor.acknowledged == [] and stack.queued() == []


def test_the_connectors_of_a_poll_run_wait_on_the_vendor_within_the_functions_timeout(
    stack: Stack, vendor: VendorQueue
) -> None:
    # The connectors' default budget (120 s a call) would honour a Retry-After past the function's
    # timeout once the window (up to 55 s) is spent: the poller's own connectors leave it to the
    # next run, a minute later.
    connector = poller.root().ports.providers("adp_workforce_now")
    assert isinstance(connector, AdpWorkforceNow)
    assert connector.http.policy == poller.VENDOR_RETRIES
    longest_window = EventPollerSettings.model_fields["event_poll_window_seconds"].metadata
    window = max(m.le for m in longest_window if hasattr(m, "le"))
    # A last message: its head read and its acknowledgement, each waiting out its whole budget,
    # with time left for the requests themselves.
    assert window + 2 * poller.VENDOR_RETRIES.max_total <= EVENT_POLLER.timeout.to_seconds() - 15
