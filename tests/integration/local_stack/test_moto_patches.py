"""moto's server as the local stack runs it (``infra/local/moto_patches.py``): the fixes that make
it fast enough for a whole company must leave SQS's and EventBridge's answers as they were, and
stopping it must give the process back an unpatched moto.

Each test states the AWS behaviour a patch could break: queue counts when asked for, long
polling, deletes, an event delivered through an input path. (The tables run on DynamoDB Local,
which needs no patch.)"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.local.aws import LocalAws


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    local = LocalAws().start()
    try:
        yield local
    finally:
        local.stop()


def _moto_attributes() -> dict[tuple[str, str], Any]:
    """Every function, class and property of every loaded moto module and class, and
    jsonpath_ng.ext's parser (moto's data, such as its instance registries, is left out)."""
    found: dict[tuple[str, str], Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name.startswith("moto") or name == "jsonpath_ng.ext"):
            continue
        for attr, value in list(vars(module).items()):
            if callable(value):
                found[(name, attr)] = value
            if isinstance(value, type) and value.__module__ == name:
                for member, inner in list(vars(value).items()):
                    if callable(inner) or isinstance(inner, property | staticmethod | classmethod):
                        found[(f"{name}.{attr}", member)] = inner
    return found


def test_stopping_gives_back_moto_exactly_as_it_was() -> None:
    """The patches are on while the stack runs and gone after it stops: later moto users in the
    same process (moto's own mock_aws tests) see moto as it ships."""
    LocalAws().start().stop()  # load every module the stack touches, then compare from there
    before = _moto_attributes()
    local = LocalAws().start()
    try:
        during = _moto_attributes()
        changed = {key for key in before if key in during and during[key] is not before[key]}
        assert len(changed) >= 10, changed  # the four fixes are on (13 attributes and more)
    finally:
        local.stop()
    after = _moto_attributes()
    assert {key for key in before if after.get(key) is not before[key]} == set()


def test_a_second_stack_in_the_same_process_cannot_patch_over_the_first(aws: LocalAws) -> None:
    with pytest.raises(RuntimeError, match="already patched"):
        LocalAws().start()


def test_each_event_is_delivered_to_a_queue_whole_with_its_own_values(aws: LocalAws) -> None:
    """moto fills the delivered event through JSONPath input paths whose parsers are now kept
    between deliveries: each event must still carry its own values."""
    events, sqs = aws.client("events"), aws.client("sqs")
    name = f"patches-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["patches"]}))
    events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
    for who in ("ada", "grace"):
        events.put_events(
            Entries=[{"Source": "patches", "DetailType": "t", "Detail": json.dumps({"who": who})}]
        )
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    delivered = sorted((json.loads(m["Body"]) for m in received), key=lambda e: e["detail"]["who"])
    assert [(e["source"], e["detail-type"], e["detail"]) for e in delivered] == [
        ("patches", "t", {"who": "ada"}),
        ("patches", "t", {"who": "grace"}),
    ]
    assert delivered[0]["id"] != delivered[1]["id"]


def test_queue_counts_are_exact_when_asked_for(aws: LocalAws) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"patches-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for body in ("one", "two", "three"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert len(received) == 1
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "2"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])
    asked = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert asked["Attributes"] == {"ApproximateNumberOfMessagesNotVisible": "0"}


def test_a_long_poll_returns_a_message_sent_while_it_waits(aws: LocalAws) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"patches-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sender = threading.Timer(0.3, lambda: sqs.send_message(QueueUrl=url, MessageBody="hello"))
    sender.start()
    received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
    sender.join()
    assert [m["Body"] for m in received] == ["hello"]  # the same call, not a later one


def test_deleting_a_message_twice_is_accepted_and_an_unknown_handle_refused(aws: LocalAws) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"patches-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == ["one", "two"]
    handle = received[0]["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)  # SQS accepts a repeated delete
    with pytest.raises(ClientError) as unknown:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert unknown.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (left["ApproximateNumberOfMessages"], left["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
