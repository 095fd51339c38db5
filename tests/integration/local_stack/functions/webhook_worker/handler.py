"""A stand-in for functions/webhook_worker: reports the records marked to fail as batch item failures."""

from __future__ import annotations

import json
from typing import Any

DONE: list[dict[str, Any]] = []
ATTEMPTS: dict[str, int] = {}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        ATTEMPTS[body["id"]] = ATTEMPTS.get(body["id"], 0) + 1
        if ATTEMPTS[body["id"]] <= body.get("fail_times", 0):
            failures.append({"itemIdentifier": record["messageId"]})
        else:
            DONE.append(body)
    return {"batchItemFailures": failures}
