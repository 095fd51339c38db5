"""The webhook queue on SQS: one JSON message per verified delivery."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

from shared.adapters.aws_errors import is_throttling, typed
from shared.errors import InvalidInput, Throttled

# SQS refuses bodies over 256 KiB; a queued webhook is a few hundred bytes.
MAX_MESSAGE_BYTES = 262_144


class SqsQueue:
    """``MessageQueue`` on one SQS queue (standard: the worker is idempotent, R24)."""

    def __init__(self, queue_url: str, *, client: Any | None = None, attempts: int = 3) -> None:
        self._url = queue_url
        self._client = client
        self._attempts = max(1, attempts)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("sqs")
        return self._client

    def send(self, body: Mapping[str, Any]) -> str:
        text = json.dumps(dict(body), sort_keys=True, separators=(",", ":"), default=str)
        if len(text.encode()) > MAX_MESSAGE_BYTES:
            raise InvalidInput("a queued message is at most 256 KiB", field="body")
        for attempt in range(1, self._attempts + 1):
            try:
                response = self.client.send_message(QueueUrl=self._url, MessageBody=text)
            except ClientError as error:
                if is_throttling(error):
                    if attempt < self._attempts:
                        continue
                    raise Throttled("SendMessage") from None
                raise typed(error, "SendMessage", "the webhook queue") from None
            return str(response["MessageId"])
        raise Throttled("SendMessage")  # pragma: no cover - the loop returns or raises
