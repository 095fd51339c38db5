"""A vendor's event queue drained in the local stack, end to end, with a stand-in connector: the
fake BambooHR given ``EventQueue``'s two methods over a queue this test fills (ADP's own connector
and fake come with their e2e test). Connecting makes the connection's poll schedule beside its sync
schedule; what that schedule fires (the event poller, with the local window of one drain) puts a
hire on the webhook queue, the webhook worker applies it as a targeted plan, and the hire is a
member; an unreadable message starts a full sync; disconnecting deletes the poll schedule. Every
AWS call the functions make is allowed by their synthesized IAM (the ``tenant`` fixture checks)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.providers.bamboohr import BambooHR
from shared.providers.base import Credentials, QueuedMessage, WebhookEvent, WebhookKind
from tests.support.local_stack import Tenant, fire, poll_schedule, until


class VendorQueue:
    def __init__(self) -> None:
        self.messages: list[QueuedMessage] = []
        self.acknowledged: list[str] = []

    def next_message(self, _credentials: Credentials) -> QueuedMessage | None:
        return self.messages[0] if self.messages else None

    def acknowledge(self, _credentials: Credentials, message_id: str) -> None:
        self.acknowledged.append(message_id)
        self.messages = [m for m in self.messages if m.message_id != message_id]


@pytest.fixture
def vendor(monkeypatch: pytest.MonkeyPatch) -> Iterator[VendorQueue]:
    queue = VendorQueue()
    # The functions run in this process: every BambooHR they build reads this queue.
    monkeypatch.setattr(BambooHR, "next_message", lambda _self, c: queue.next_message(c), raising=False)
    monkeypatch.setattr(BambooHR, "acknowledge", lambda _self, c, m: queue.acknowledge(c, m), raising=False)
    yield queue


def test_a_hire_on_the_vendors_queue_becomes_a_member_through_the_pollpoll_schedule(
    tenant: Tenant, vendor: VendorQueue
) -> None:
    fake = tenant.fake(employees=5)
    connection_id, run = tenant.connect(fake)
    assert run["status"] == "completed"
    schedule = poll_schedule(tenant.stack, tenant.tenant_id, connection_id)
    assert schedule is not None and schedule["ScheduleExpression"] == "rate(1 minute)"
    assert tenant.stack.functions is not None
    assert schedule["Target"]["Arn"] == tenant.stack.functions.get("event_poller").arn

    # A hire the vendor only tells through its queue (no webhook).
    hired, _ = fake.company.hire("Ada", "Lovelace", email=f"ada@{tenant.tenant_id}.example")
    event = WebhookEvent(kind=WebhookKind.CREATED, employee_ids=(hired.key,), delivery_id="evt-hire-1")
    vendor.messages = [QueuedMessage("msg-1", event), QueuedMessage("msg-2", None, problem="unreadable")]

    answer = fire(tenant.stack, schedule)

    assert (answer["queued"], answer["full_syncs"], answer["acknowledged"]) == (1, 1, 2)
    assert vendor.acknowledged == ["msg-1", "msg-2"]
    until("the queued hire's member", lambda: hired.key in tenant.by_hris(), tenant=tenant)
    runs = tenant.api.runs(connection_id)
    assert runs[0]["trigger"] == "notifications_missed"  # the unreadable message's full sync
    tenant.api.wait_run(runs[0]["id"], timeout=120)

    # A replay of the same message (a crash before its acknowledgement) changes nothing (R24).
    members = tenant.by_hris()
    vendor.messages = [QueuedMessage("msg-1", event)]
    assert fire(tenant.stack, schedule)["queued"] == 1
    tenant.stack.drain()
    assert tenant.by_hris() == members

    tenant.api.disconnect(connection_id)
    assert poll_schedule(tenant.stack, tenant.tenant_id, connection_id) is None
    assert fire(tenant.stack, schedule)["stopped"] == "disconnected"
