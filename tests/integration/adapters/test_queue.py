"""The webhook queue adapter on moto's SQS."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from shared.adapters.aws_errors import AwsServiceError
from shared.adapters.queue import SqsQueue
from shared.errors import InvalidInput, Throttled

REGION = "eu-west-1"


def test_a_sent_message_is_on_the_queue_as_json(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
    queue = SqsQueue(url, client=sqs)
    message_id = queue.send({"connection_id": "c1", "delivery_id": "d1", "employee_ids": ["42"]})
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["MessageId"] for m in got] == [message_id]
    assert json.loads(got[0]["Body"]) == {"connection_id": "c1", "delivery_id": "d1", "employee_ids": ["42"]}


def test_an_oversized_message_is_refused_before_the_call(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
    with pytest.raises(InvalidInput):
        SqsQueue(url, client=sqs).send({"x": "a" * 300_000})


class _Failing:
    def __init__(self, code: str) -> None:
        self.code = code
        self.calls = 0

    def send_message(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "SendMessage")


def test_throttling_is_retried_then_typed() -> None:
    client = _Failing("ThrottlingException")
    with pytest.raises(Throttled):
        SqsQueue("https://sqs/q", client=client, attempts=3).send({"a": 1})
    assert client.calls == 3


def test_a_missing_queue_is_a_typed_error_without_awss_message(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/nope"
    with pytest.raises(AwsServiceError) as raised:
        SqsQueue(url, client=sqs).send({"a": 1})
    assert raised.value.operation == "SendMessage"
