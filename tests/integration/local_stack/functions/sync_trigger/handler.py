"""A stand-in for functions/sync_trigger: starts the full sync with the schedule's payload."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import boto3

FIRED: list[dict[str, Any]] = []


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    FIRED.append(event)
    boto3.client("stepfunctions").start_execution(
        stateMachineArn=os.environ["STATE_MACHINE_ARN"],
        name=f"scheduled-{uuid.uuid4().hex[:12]}",
        input=json.dumps({**event, "script": {"pages": 1, "chunks": 1}}),
    )
    return {"started": True}
