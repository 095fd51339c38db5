"""Graph's lifecycle notifications (``reauthorizationRequired``, ``subscriptionRemoved``,
``missed``) are verified like changes, queued (not answered as a ping and dropped) and acted on by
the webhook worker: the subscription renewed or made again, and the full sync a missed or removed
subscription calls for started (one already running is the answer)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from functions.webhook_worker import handler as worker
from shared.domain.records import RunTrigger
from shared.providers.base import LifecycleNotifications
from shared.services import subscriptions
from shared.services.context import ServiceSettings
from shared.services.webhook_ingest import IntakePorts, QueuedWebhook, intake
from tests.support.subscribing import SubscribingHR
from tests.support.world import T, World, connect, imported

BASE = "https://api.acme.example/prod"


class LifecycleHR(SubscribingHR):
    """A vendor whose deliveries may carry lifecycle notifications (``"lifecycle": [[event, id]]``)."""

    def lifecycle_events(self, raw_body: bytes) -> tuple[tuple[str, str], ...]:
        body = json.loads(raw_body)
        return tuple((str(e), str(s)) for e, s in body.get("lifecycle", []))


class ListQueue:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, message: Mapping[str, Any]) -> None:
        self.sent.append(dict(message))


def _world() -> tuple[World, LifecycleHR]:
    hr = LifecycleHR()
    w = World(hr=hr, settings=ServiceSettings(chunk_size=2, notification_base_url=BASE))
    hr.now = w.clock.now()
    return w, hr


def _delivery(*lifecycle: tuple[str, str], ids: tuple[str, ...] = ()) -> bytes:
    kind = "updated" if ids else "ping"
    return json.dumps(
        {"kind": kind, "ids": list(ids), "delivery": "d-1", "lifecycle": [list(e) for e in lifecycle]}
    ).encode()


def _intake(w: World, connection_id: str, body: bytes) -> tuple[str, list[dict[str, Any]]]:
    queue = ListQueue()
    ports = IntakePorts(
        connections=w.connections, secrets=w.secrets, providers=w.ports.providers, clock=w.clock, queue=queue
    )
    secret = w.secrets.get(T, connection_id).secrets["webhook_secret"].reveal()
    outcome = intake(
        ports,
        connection_id,
        headers={"x-signature": secret},
        query={},
        raw_body=body,
        received_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    return outcome.status, queue.sent


def test_the_scripted_vendor_sends_lifecycle_notifications() -> None:
    assert isinstance(LifecycleHR(), LifecycleNotifications)


def test_a_lifecycle_only_delivery_is_queued_not_answered_as_a_ping() -> None:
    w, _ = _world()
    cid = imported(w).connection_id

    status, sent = _intake(w, cid, _delivery(("missed", "sub-1"), ("missed", "sub-1")))

    assert status == "queued"
    (message,) = [QueuedWebhook.model_validate(m) for m in sent]
    assert message.employee_ids == ()
    assert [(e.event, e.subscription_id) for e in message.lifecycle] == [("missed", "sub-1")]


def test_lifecycle_notifications_beside_changes_ride_with_the_first_part() -> None:
    w, _ = _world()
    cid = imported(w).connection_id

    status, sent = _intake(w, cid, _delivery(("reauthorizationRequired", "sub-1"), ids=("e1",)))

    assert status == "queued"
    (message,) = [QueuedWebhook.model_validate(m) for m in sent]
    assert message.employee_ids == ("e1",) and len(message.lifecycle) == 1


def test_a_plain_ping_is_still_answered_without_queueing() -> None:
    w, _ = _world()
    cid = imported(w).connection_id
    assert _intake(w, cid, _delivery()) == ("ping", [])


def test_missed_starts_a_full_sync_through_the_worker() -> None:
    w, hr = _world()
    cid = imported(w).connection_id
    status, sent = _intake(w, cid, _delivery(("missed", "sub-1")))
    assert status == "queued"

    answer = worker._apply_message(cast("worker.WebhookWorkerPorts", w.ports), sent[0])

    run = w.runs.get(T, answer["full_sync_run_id"])
    assert run.trigger is RunTrigger.NOTIFICATIONS_MISSED
    assert answer["lifecycle"] == ["missed"] and hr.renewed == [] and len(hr.made) == 1


def test_subscription_removed_subscribes_again_and_syncs_in_full() -> None:
    w, hr = _world()
    cid = imported(w).connection_id
    hr.live.clear()

    result = subscriptions.handle_lifecycle(w.ports, T, cid, [("subscriptionRemoved", "sub-1")])

    assert result.connection.subscription is not None and result.connection.subscription.id == "sub-2"
    assert result.run_id is not None
    assert w.runs.get(T, result.run_id).trigger is RunTrigger.NOTIFICATIONS_MISSED


def test_while_a_full_sync_runs_it_is_the_answer_and_nothing_else_starts() -> None:
    w, _ = _world()
    first = connect(w)  # its first import holds the lock
    executions = len(w.workflow.executions)

    result = subscriptions.handle_lifecycle(w.ports, T, first.connection.connection_id, [("missed", "sub-1")])

    assert result.run_id == first.run.run_id and len(w.workflow.executions) == executions


def test_reauthorization_required_renews_without_a_full_sync() -> None:
    w, hr = _world()
    cid = imported(w).connection_id
    executions = len(w.workflow.executions)

    result = subscriptions.handle_lifecycle(w.ports, T, cid, [("reauthorizationRequired", "sub-1")])

    assert hr.renewed == ["sub-1"] and result.run_id is None
    assert len(w.workflow.executions) == executions
