"""The full-sync state machine on Step Functions: start an execution with a name (unique per run).

Every refusal is typed: throttling is ``Throttled``, a missing state machine, a refused
permission or anything else an ``AwsServiceError`` naming the code (``full_sync.request_sync`` then
closes the run with that reason and frees the lock).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.aws_errors import error_code, typed
from shared.adapters.clients import aws_client
from shared.errors import AlreadyExists, InvalidInput

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


class StepFunctionsWorkflow:
    """``Workflow`` on one Step Functions state machine."""

    def __init__(self, state_machine_arn: str, *, client: Any | None = None) -> None:
        self._arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("stepfunctions")
        return self._client

    def execution_arn(self, name: str) -> str:
        prefix, _, machine = self._arn.partition(":stateMachine:")
        return f"{prefix}:execution:{machine}:{name}"

    def start(self, name: str, input: Mapping[str, Any]) -> str:
        if not _NAME.match(name):
            raise InvalidInput("an execution name is 1-80 letters, digits, '-' or '_'", field="name")
        body = json.dumps(dict(input), sort_keys=True, default=str)
        try:
            response = self.client.start_execution(stateMachineArn=self._arn, name=name, input=body)
        except ClientError as error:
            if error_code(error) == "ExecutionAlreadyExists":
                return self._existing(name, body)
            raise typed(error, "StartExecution", f"execution {name!r}") from None
        return str(response["executionArn"])

    def _existing(self, name: str, body: str) -> str:
        """Starting the same name with the same input again is the same execution."""
        arn = self.execution_arn(name)
        try:
            described = self.client.describe_execution(executionArn=arn)
        except ClientError as error:
            raise typed(error, "DescribeExecution", f"execution {name!r}") from None
        if json.loads(described.get("input") or "{}") != json.loads(body):
            raise AlreadyExists("execution", name)
        return arn
