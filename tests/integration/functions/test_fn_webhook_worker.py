"""``functions/webhook_worker`` in-process on moto against a fake BambooHR (loopback HTTP)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest

from functions.sync_steps import handler as steps
from functions.sync_trigger import handler as trigger
from functions.webhook_ingest import handler as ingest
from functions.webhook_worker import handler as worker
from infra.local.fake_hris import FakeHRServer
from shared.services.context import Ports
from tests.support.events import EVENT_TENANT, connection_of, load_event
from tests.support.lambda_stack import REGION, Stack, add_connection, aws_ports, fake_credentials, fixed_clock

CONNECTION = connection_of("bamboohr")


@pytest.fixture
def ready(stack: Stack, bamboohr: FakeHRServer) -> Iterator[tuple[Stack, Ports]]:
    ports = aws_ports()
    add_connection(ports, "bamboohr", credentials=fake_credentials(bamboohr))
    yield stack, ports


def _members(ports: Ports) -> dict[str, Any]:
    return {m.hris_id: m for m in ports.members.iter_all(EVENT_TENANT)}


def _failures(response: dict[str, Any]) -> list[str]:
    return sorted(item["itemIdentifier"] for item in response["batchItemFailures"])


def _idempotency_records(stack: Stack) -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    name = stack.environment.idempotency_table_name
    return list(ddb.scan(TableName=name)["Items"])


def _lambda_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """What the SQS event source hands the worker for messages received from the queue."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def test_the_sample_batch_applies_each_named_employee(ready: tuple[Stack, Ports]) -> None:
    stack, ports = ready
    response = worker.handler(load_event("webhook_worker/sqs_batch"), stack.context)

    assert _failures(response) == []
    members = _members(ports)
    assert {"1001", "1002"} <= set(members)
    assert len(members) == 2  # a webhook touches only the people it names (R09)
    records = _idempotency_records(stack)
    assert len(records) == 2
    assert {r["status"]["S"] for r in records} == {"COMPLETED"}


def test_r24_duplicates_and_replays_change_nothing(ready: tuple[Stack, Ports]) -> None:
    stack, ports = ready
    event = load_event("webhook_worker/sqs_batch")
    worker.handler(event, stack.context)
    before = {k: (m.version, m.updated_at) for k, m in _members(ports).items()}
    audit_before = len(ports.audit.query(EVENT_TENANT, limit=200).items)

    replay = copy.deepcopy(event)
    duplicate = copy.deepcopy(event["Records"][0])
    duplicate["messageId"] = "a-second-delivery-of-the-same-webhook"
    replay["Records"].append(duplicate)
    response = worker.handler(replay, stack.context)

    assert _failures(response) == []
    assert {k: (m.version, m.updated_at) for k, m in _members(ports).items()} == before
    assert len(ports.audit.query(EVENT_TENANT, limit=200).items) == audit_before
    assert len(_idempotency_records(stack)) == 2


def _step(name: str, state: dict[str, Any], stack: Stack) -> dict[str, Any]:
    """One task of the full-sync state machine, through the real ``sync_steps`` handler."""
    event = load_event(f"sync_steps/{name}")
    event["state"] = state
    return steps.handler(event, stack.context)


def test_r29_a_webhook_during_a_sync_longer_than_the_queues_retry_budget_is_applied_after_it(
    ready: tuple[Stack, Ports], bamboohr: FakeHRServer
) -> None:
    """The delivery goes through the real queue while a full sync holds the lock: the worker
    acknowledges it at once (never retried, never dead-lettered) and the sync's finish applies it."""
    stack, ports = ready
    started = trigger.handler(load_event("sync_trigger/schedule"), stack.context)
    state = _step(
        "start",
        {
            "tenant_id": EVENT_TENANT,
            "connection_id": CONNECTION,
            "run_id": started["run_id"],
            "trigger": "schedule",
        },
        stack,
    )
    while state["has_more"]:
        state = _step("fetch_page", state, stack)
    bamboohr.update(1001, last_name="Renamed")  # after the snapshot: only the webhook carries it
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])["Attributes"]
    max_receives = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
    sqs.send_message(
        QueueUrl=stack.queue_url, MessageBody=load_event("webhook_worker/sqs_batch")["Records"][0]["body"]
    )

    receives = 0
    for _ in range(max_receives + 1):  # the queue's whole retry budget, and one more look
        messages = sqs.receive_message(QueueUrl=stack.queue_url, VisibilityTimeout=0).get("Messages", [])
        if not messages:
            break
        receives += 1
        failed = set(
            _failures(worker.handler(_lambda_event(messages, attributes["QueueArn"]), stack.context))
        )
        for message in messages:  # what the event source does with the records not reported failed
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=stack.queue_url, ReceiptHandle=message["ReceiptHandle"])

    assert receives == 1
    assert sqs.receive_message(QueueUrl=stack.dlq_url).get("Messages", []) == []
    assert _members(ports) == {}  # nothing is applied during the sync

    state = _step("plan", state, stack)
    for chunk in state["chunks"]:
        _step(
            "apply_chunk",
            {**{k: state[k] for k in ("tenant_id", "connection_id", "run_id")}, "chunk": chunk},
            stack,
        )
    finished = _step("finish", state, stack)

    assert finished["status"] == "completed"
    assert _members(ports)["1001"].profile.last_name == "Renamed"


def test_partial_batch_failure_returns_only_the_bad_records(ready: tuple[Stack, Ports]) -> None:
    stack, ports = ready
    event = load_event("webhook_worker/sqs_batch")
    good = event["Records"][0]
    not_json = {**copy.deepcopy(good), "messageId": "poison-not-json", "body": "{not json"}
    unknown = copy.deepcopy(good)
    unknown["messageId"] = "poison-unknown-connection"
    body = json.loads(unknown["body"])
    unknown["body"] = json.dumps({**body, "connection_id": "conn-gone", "delivery_id": "d-9"})
    no_delivery = copy.deepcopy(good)
    no_delivery["messageId"] = "poison-no-delivery-id"
    no_delivery["body"] = json.dumps({k: v for k, v in body.items() if k != "delivery_id"})
    event["Records"] = [not_json, good, unknown, no_delivery]

    response = worker.handler(event, stack.context)

    assert _failures(response) == sorted(
        ["poison-not-json", "poison-unknown-connection", "poison-no-delivery-id"]
    )
    assert set(_members(ports)) == {"1001"}


def test_nothing_is_lost_from_the_webhook_to_the_member(
    ready: tuple[Stack, Ports], bamboohr: FakeHRServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample BambooHR webhook through the ingest, the queue and the worker."""
    stack, ports = ready
    root = ingest.root()
    signed = root._replace(ports=replace(root.ports, clock=fixed_clock()))
    monkeypatch.setattr(ingest, "root", lambda: signed)
    bamboohr.update(1001, last_name="Renamed")

    accepted = ingest.handler(load_event("webhook_ingest/bamboohr"), stack.context)
    assert accepted["statusCode"] == 202

    messages = stack.queued()
    assert len(messages) == 1
    sqs = stack.client("sqs")
    queue_arn = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    response = worker.handler(_lambda_event(messages, queue_arn), stack.context)

    assert _failures(response) == []
    assert _members(ports)["1001"].profile.last_name == "Renamed"


def test_a_poison_message_moves_to_the_dlq_after_the_queues_max_receives(ready: tuple[Stack, Ports]) -> None:
    stack, _ = ready
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])["Attributes"]
    max_receives = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
    sqs.send_message(QueueUrl=stack.queue_url, MessageBody='{"tenant_id": "t", "connection_id": "c"}')

    for _ in range(max_receives):
        (message,) = sqs.receive_message(QueueUrl=stack.queue_url, VisibilityTimeout=0)["Messages"]
        response = worker.handler(_lambda_event([message], attributes["QueueArn"]), stack.context)
        # The event source deletes only the records not reported as failed.
        assert _failures(response) == [message["MessageId"]]

    assert sqs.receive_message(QueueUrl=stack.queue_url).get("Messages", []) == []
    (dead,) = sqs.receive_message(QueueUrl=stack.dlq_url)["Messages"]
    assert json.loads(dead["Body"]) == {"tenant_id": "t", "connection_id": "c"}
