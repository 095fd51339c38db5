"""A stand-in for functions/webhook_ingest: enqueues the body for the worker (no verification)."""

from __future__ import annotations

import os
from typing import Any

import boto3

_CLIENT: list[Any] = []


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not _CLIENT:
        _CLIENT.append((boto3.client("sqs"), os.environ["WEBHOOK_QUEUE_URL"]))
    sqs, url = _CLIENT[0]
    sqs.send_message(QueueUrl=url, MessageBody=event["body"] or "{}")
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": '{"queued": true}'}
