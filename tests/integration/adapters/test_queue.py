"""The webhook queue adapter on moto's SQS."""

from __future__ import annotations

import json

import boto3
import pytest
from adapters_support import ScriptedAws

from shared.adapters.aws_errors import AwsServiceError
from shared.adapters.clients import DEFAULT_MAX_ATTEMPTS
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


def test_a_throttled_send_is_retried_by_botocore_then_throttled(botocore_waits: list[float]) -> None:
    aws = ScriptedAws("sqs", "SendMessage", ["ThrottlingException", {"MessageId": "m-1"}])
    assert SqsQueue("https://sqs.eu-west-1.amazonaws.com/1/q", client=aws.client).send({"a": 1}) == "m-1"
    assert aws.sends == 2
    assert len(botocore_waits) == 1

    aws.answers, aws.sends = ["ThrottlingException"] * DEFAULT_MAX_ATTEMPTS, 0
    with pytest.raises(Throttled):
        SqsQueue("https://sqs.eu-west-1.amazonaws.com/1/q", client=aws.client).send({"a": 1})
    assert aws.sends == DEFAULT_MAX_ATTEMPTS


def test_a_missing_queue_is_a_typed_error_without_awss_message(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/nope"
    with pytest.raises(AwsServiceError) as raised:
        SqsQueue(url, client=sqs).send({"a": 1})
    assert raised.value.operation == "SendMessage"
