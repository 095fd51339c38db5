"""The webhook queue on SQS: one JSON message per verified delivery (botocore retries a throttled
or failed send; what outlasts its retries is ``Throttled`` or another typed error)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from shared.adapters.aws_errors import typed
from shared.adapters.clients import aws_client
from shared.errors import InvalidInput

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# SQS refuses bodies over 256 KiB; a queued webhook is a few hundred bytes.
MAX_MESSAGE_BYTES = 262_144


class SqsQueue:
    """``MessageQueue`` on one SQS queue (standard: the worker is idempotent, R24)."""

    def __init__(self, queue_url: str, *, client: SQSClient | None = None) -> None:
        self._url = queue_url
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            self._client = cast("SQSClient", aws_client("sqs"))
        return self._client

    def send(self, body: Mapping[str, Any]) -> str:
        text = json.dumps(dict(body), sort_keys=True, separators=(",", ":"), default=str)
        if len(text.encode()) > MAX_MESSAGE_BYTES:
            raise InvalidInput("a queued message is at most 256 KiB", field="body")
        try:
            response = self.client.send_message(QueueUrl=self._url, MessageBody=text)
        except ClientError as error:
            raise typed(error, "SendMessage", "the webhook queue") from None
        return response["MessageId"]
