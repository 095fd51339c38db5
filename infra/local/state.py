"""Keeping the local stack's data between runs (``hris-sync local up``; ``--reset`` starts clean).

moto keeps everything in memory, so on stop the data the service owns is written under
``.local/state/`` and loaded into the fresh moto on the next start: every table item (DynamoDB's
own attribute-value form), every object of the blob bucket, the connections' secrets and the
schedules. The outbox (``.eml``) and the event log are files already. Not kept: messages still
queued when the stack stopped, and state machine executions (a run that was in flight shows as
running until its lease expires; sync again).

Secrets stay on this machine: the state folder is readable by its owner only.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

from infra.local.resources import LocalResources

_VERSION = 1


def save(folder: Path, resources: LocalResources, clients: Any) -> dict[str, int]:
    """Write the stack's data to ``folder`` (replacing what was there); counts per kind."""
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    tmp.chmod(0o700)
    counts = {"items": 0, "blobs": 0, "secrets": 0, "schedules": 0}

    with (tmp / "table.jsonl").open("w", encoding="utf-8") as out:
        for page in clients("dynamodb").get_paginator("scan").paginate(TableName=resources.table_name):
            for item in page.get("Items", []):
                out.write(json.dumps(item, default=_bytes) + "\n")
                counts["items"] += 1

    s3 = clients("s3")
    blobs: list[dict[str, str]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=resources.bucket_name):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=resources.bucket_name, Key=entry["Key"])["Body"].read()
            blobs.append({"key": entry["Key"], "body": base64.b64encode(body).decode()})
    (tmp / "blobs.json").write_text(json.dumps(blobs))
    counts["blobs"] = len(blobs)

    manager = clients("secretsmanager")
    secrets: list[dict[str, Any]] = []
    for page in manager.get_paginator("list_secrets").paginate():
        for entry in page.get("SecretList", []):
            value = manager.get_secret_value(SecretId=entry["ARN"])
            secrets.append(
                {"name": entry["Name"], "value": value.get("SecretString"), "tags": entry.get("Tags", [])}
            )
    (tmp / "secrets.json").write_text(json.dumps(secrets))
    (tmp / "secrets.json").chmod(0o600)
    counts["secrets"] = len(secrets)

    scheduler = clients("scheduler")
    schedules: list[dict[str, Any]] = []
    for page in scheduler.get_paginator("list_schedules").paginate(GroupName=resources.schedule_group):
        for entry in page.get("Schedules", []):
            got = scheduler.get_schedule(Name=entry["Name"], GroupName=resources.schedule_group)
            schedules.append(
                {
                    key: got[key]
                    for key in (
                        "Name",
                        "Description",
                        "ScheduleExpression",
                        "ScheduleExpressionTimezone",
                        "FlexibleTimeWindow",
                        "State",
                        "Target",
                    )
                    if key in got
                }
            )
    (tmp / "schedules.json").write_text(json.dumps(schedules, default=str))
    counts["schedules"] = len(schedules)
    (tmp / "version.json").write_text(json.dumps({"version": _VERSION, "counts": counts}))

    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return counts


def load(folder: Path, resources: LocalResources, clients: Any) -> dict[str, int] | None:
    """Load what ``save`` wrote into the fresh stack; None when there is nothing (or another format)."""
    marker = folder / "version.json"
    if not marker.is_file() or json.loads(marker.read_text()).get("version") != _VERSION:
        return None
    counts = {"items": 0, "blobs": 0, "secrets": 0, "schedules": 0}
    dynamodb = clients("dynamodb")
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        pending: dict[str, Any] = {resources.table_name: [{"PutRequest": {"Item": i}} for i in batch]}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        batch.clear()

    with (folder / "table.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            batch.append(_unbytes(json.loads(line)))
            counts["items"] += 1
            if len(batch) == 25:
                flush()
    if batch:
        flush()

    s3 = clients("s3")
    for blob in json.loads((folder / "blobs.json").read_text()):
        s3.put_object(Bucket=resources.bucket_name, Key=blob["key"], Body=base64.b64decode(blob["body"]))
        counts["blobs"] += 1

    manager = clients("secretsmanager")
    for secret in json.loads((folder / "secrets.json").read_text()):
        kwargs: dict[str, Any] = {"Name": secret["name"], "SecretString": secret["value"] or ""}
        if secret.get("tags"):
            kwargs["Tags"] = secret["tags"]
        manager.create_secret(**kwargs)
        counts["secrets"] += 1

    scheduler = clients("scheduler")
    for schedule in json.loads((folder / "schedules.json").read_text()):
        try:
            scheduler.create_schedule(GroupName=resources.schedule_group, **schedule)
        except scheduler.exceptions.ConflictException:
            continue  # one of the stack's own (the renewal sweep): created with the resources
        counts["schedules"] += 1
    return counts


def _bytes(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"__b64__": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _unbytes(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {k: _unbytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unbytes(v) for v in value]
    return value
