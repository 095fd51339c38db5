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
from shared.domain.models import EmployeeStatus, MemberStatus
from shared.domain.records import RunTrigger
from shared.providers.base import (
    ChangesSince,
    Credentials,
    IncrementalChanges,
    LifecycleNotifications,
    ProviderError,
    ProviderResponseError,
    Secret,
)
from shared.services import subscriptions
from shared.services.context import ServiceSettings
from shared.services.webhook_ingest import IntakePorts, QueuedWebhook, intake
from tests.support.subscribing import SubscribingHR
from tests.support.world import T, World, connect, employee, hire, imported

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


# -- a ``missed`` caught up from what changed (``IncrementalChanges``: Graph's delta) ------------


class DeltaHR(LifecycleHR):
    """A scripted vendor that reads what changed since a starting point kept in the credentials
    (secret ``delta_link``): ``changed`` and ``gone`` (deleted at the vendor) name what the next
    read returns; ``fail_delta`` makes the read fail."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: list[str] = []
        self.gone: list[str] = []
        self.fail_delta: ProviderError | None = None
        self.reads: list[str | None] = []  # the starting point of each read

    def changes_since(self, credentials: Credentials) -> ChangesSince:
        held = credentials.secrets.get("delta_link")
        self.reads.append(held.reveal() if held is not None else None)
        if self.fail_delta is not None:
            raise self.fail_delta
        ids = sorted(self.employees) if held is None else [*self.changed, *self.gone]
        self.set(*(employee(i, status=EmployeeStatus.TERMINATED) for i in self.gone))  # read back as left
        self.changed, self.gone = [], []
        link = Secret(f"link-{len(self.reads)}")
        return ChangesSince(
            tuple(ids),
            Credentials(secrets={**credentials.secrets, "delta_link": link}, settings=credentials.settings),
            baseline=held is None,
        )


def _delta_world(*hires: str) -> tuple[World, DeltaHR, str]:
    hr = DeltaHR()
    w = World(hr=hr, settings=ServiceSettings(chunk_size=2, notification_base_url=BASE))
    hr.now = w.clock.now()
    hire(w, *hires)
    return w, hr, imported(w).connection_id


def _keep_link(w: World, cid: str, link: str) -> None:
    held = w.secrets.get(T, cid)
    w.secrets.put(T, cid, Credentials({**held.secrets, "delta_link": Secret(link)}, held.settings))


def _link(w: World, cid: str) -> str | None:
    held = w.secrets.get(T, cid).secrets.get("delta_link")
    return held.reveal() if held is not None else None


def test_the_scripted_vendor_reads_what_changed() -> None:
    assert isinstance(DeltaHR(), IncrementalChanges)


def test_missed_with_a_kept_link_applies_a_targeted_plan_of_what_changed() -> None:
    w, hr, cid = _delta_world("e1", "e2", "e3")
    _keep_link(w, cid, "link-0")
    hr.set(employee("e1", last_name="Renamed"))
    hr.changed, hr.gone = ["e1"], ["e3"]
    executions, hr.calls = len(w.workflow.executions), []
    untouched = w.member_by_hris(T, cid, "e2")

    result = subscriptions.handle_lifecycle(w.ports, T, cid, [("missed", "sub-1")])

    assert result.run_id is None and not result.full_sync_needed and len(w.workflow.executions) == executions
    assert result.caught_up is not None
    assert result.caught_up.counts.updated == 1 and result.caught_up.counts.deactivated == 1
    assert hr.reads == ["link-0"] and _link(w, cid) == "link-1"
    assert hr.calls == [("get", ("e1", "e3"))]  # exactly the delta's ids, nobody listed
    assert w.member_by_hris(T, cid, "e1").profile.last_name == "Renamed"
    # R09: the explicitly removed one leaves; the one the delta did not name is untouched.
    assert w.member_by_hris(T, cid, "e3").status is MemberStatus.DEACTIVATED
    assert w.member_by_hris(T, cid, "e2") == untouched


def test_missed_without_a_kept_link_sets_one_and_syncs_in_full() -> None:
    w, hr, cid = _delta_world("e1", "e2")

    result = subscriptions.handle_lifecycle(w.ports, T, cid, [("missed", "sub-1")])

    assert result.caught_up is None and result.run_id is not None
    assert w.runs.get(T, result.run_id).trigger is RunTrigger.NOTIFICATIONS_MISSED
    assert hr.reads == [None] and _link(w, cid) == "link-1"


def test_missed_when_the_delta_read_fails_syncs_in_full_and_keeps_the_link() -> None:
    w, hr, cid = _delta_world("e1")
    _keep_link(w, cid, "link-0")
    hr.fail_delta = ProviderResponseError("graph down")

    result = subscriptions.handle_lifecycle(w.ports, T, cid, [("missed", "sub-1")])

    assert result.caught_up is None and result.run_id is not None
    assert w.runs.get(T, result.run_id).trigger is RunTrigger.NOTIFICATIONS_MISSED
    assert hr.reads == ["link-0"] and _link(w, cid) == "link-0"


def test_a_removed_subscription_syncs_in_full_even_with_a_kept_link() -> None:
    w, hr, cid = _delta_world("e1")
    hr.live.clear()

    result = subscriptions.handle_lifecycle(
        w.ports, T, cid, [("missed", "sub-1"), ("subscriptionRemoved", "sub-1")]
    )

    assert result.run_id is not None and result.caught_up is None and hr.reads == []


def test_missed_is_caught_up_through_the_worker() -> None:
    w, hr, cid = _delta_world("e1")
    _keep_link(w, cid, "link-0")
    hr.gone = ["e1"]
    status, sent = _intake(w, cid, _delivery(("missed", "sub-1")))
    assert status == "queued"

    answer = worker._apply_message(cast("worker.WebhookWorkerPorts", w.ports), sent[0])

    assert answer["caught_up"] is True and answer["full_sync_run_id"] is None
    assert w.member_by_hris(T, cid, "e1").status is MemberStatus.DEACTIVATED
