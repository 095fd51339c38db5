"""Applying a first import of 10,000 employees, then a resync in which nothing changed.

Runs the services' real sync steps (``shared.services.full_sync``: start, fetch pages, plan, apply
chunks, finish) on the real AWS adapters: the table on DynamoDB Local (as the local stack runs it),
S3, Secrets Manager, SES v2 and EventBridge on moto in-process; with the generated company of
``infra/local/company.py`` served by the test suite's scriptable HR system. Schedules and the
workflow start use the in-memory fakes (the steps are driven here, as the state machine would).

Prints, for both syncs: DynamoDB requests per operation, the items written by kind (member, email
guard, link guard, audit, task, run/lock/connection), write capacity units (DynamoDB's sizing
rules applied to every item written: 1 WCU per KB, twice that inside a transaction, plus one
write per GSI the item is indexed in, beside what the engine reported) and wall time. Wall time
on DynamoDB Local is its speed on this machine, not DynamoDB's: read it as a regression signal only.

    BENCH_EMPLOYEES=2000 python bench/apply.py     # a smaller run
    BENCH_PARAMETER_VALIDATION=on python bench/apply.py   # botocore's request validation on

The clients are the product's (``shared.adapters.clients.client_config``: botocore's standard
retries; request validation off for DynamoDB only, unless ``BENCH_PARAMETER_VALIDATION`` says).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }
)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto import mock_aws  # noqa: E402

from infra.local.company import generate_company  # noqa: E402
from infra.local.dynamodb_local import DynamoDBLocal  # noqa: E402
from shared.adapters.clients import client_config  # noqa: E402
from shared.adapters.factory import AwsAdapters, AwsResources  # noqa: E402
from shared.adapters.table_schema import TABLE, create_table  # noqa: E402
from shared.domain.records import RunStatus  # noqa: E402
from shared.services.context import ServiceSettings  # noqa: E402
from tests.support.world import FakeHR, World, imported  # noqa: E402

VALIDATION = os.environ.get("BENCH_PARAMETER_VALIDATION")  # None: the product's choice
EMPLOYEES = int(os.environ.get("BENCH_EMPLOYEES", "10000"))
TENANT = "tenant-bench"
KINDS = (
    ("#M#", "member"),
    ("#E#", "email guard"),
    ("#L#", "link guard"),
    ("#AUDIT#", "audit"),
    ("#TASK#", "task"),
)
GSI_KEYS = tuple(g.partition_key.name for g in TABLE.global_indexes)


def kind_of(pk: str) -> str:
    for marker, kind in KINDS:
        if marker in pk:
            return kind
    return "run/lock/connection"


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (strings by UTF-8 length, numbers ~ digits/2)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return math.ceil(len(inner.lstrip("-").replace(".", "")) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    return len(str(inner))


@dataclass
class Meter:
    """Counts DynamoDB requests and written items (by kind) and estimates write capacity units."""

    requests: Counter[str] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)
    member_item_requests: Counter[str] = field(default_factory=Counter)
    wcu: float = 0.0
    wcu_by_kind: Counter[str] = field(default_factory=Counter)
    reported: float = 0.0

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.dynamodb.*", self._request)
        client.meta.events.register("after-call.dynamodb.*", self._response)

    def reset(self) -> None:
        self.requests.clear()
        self.items.clear()
        self.member_item_requests.clear()
        self.wcu_by_kind.clear()
        self.wcu = self.reported = 0.0

    def _response(self, parsed: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity")
        for entry in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            self.reported += float(entry.get("CapacityUnits", 0.0))

    def _request(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        self.requests[operation] += 1
        if operation in _WRITES:  # the engine's own capacity figure, for comparison
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        written = list(_written(operation, params))
        factor = 2 if operation == "TransactWriteItems" else 1
        kinds = set()
        for pk, item in written:
            kind = kind_of(pk)
            kinds.add(kind)
            self.items[kind] += 1
            units = math.ceil(max(item_size(item), 1) / 1024) if item else 1
            indexed = sum(1 for k in GSI_KEYS if item and k in item)
            self.wcu += factor * units + indexed * units
            self.wcu_by_kind[kind] += factor * units + indexed * units
        if "member" in kinds:
            self.member_item_requests[operation] += 1

    @property
    def writes(self) -> int:
        return sum(
            n
            for op, n in self.requests.items()
            if op in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
        )


_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def _written(operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    if operation == "PutItem":
        return [(params["Item"]["pk"]["S"], params["Item"])]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(params["Key"]["pk"]["S"], None)]
    if operation == "BatchWriteItem":
        out: list[tuple[str, dict[str, Any] | None]] = []
        for requests in params["RequestItems"].values():
            for r in requests:
                item = r.get("PutRequest", {}).get("Item")
                out.append(((item or r["DeleteRequest"]["Key"])["pk"]["S"], item))
        return out
    if operation == "TransactWriteItems":
        out = []
        for entry in params["TransactItems"]:
            ((_, body),) = entry.items()
            item = body.get("Item")
            out.append(((item or body["Key"])["pk"]["S"], item))
        return out
    return []


def report(title: str, meter: Meter, seconds: float, run: Any) -> None:
    applied = run.applied
    print(f"\n{title}")
    print(
        f"  run {run.status.value}: created {applied.created}, updated {applied.updated}, "
        f"deactivated {applied.deactivated}, invites {applied.invites}, tasks {applied.tasks}, "
        f"skipped {len(run.skipped)}"
    )
    print(f"  wall time            {seconds:8.1f} s (DynamoDB Local; the rest on moto in-process)")
    print(
        f"  DynamoDB requests    {sum(meter.requests.values()):8d}  "
        + ", ".join(f"{op} {n}" for op, n in sorted(meter.requests.items()))
    )
    print(f"  DynamoDB writes      {meter.writes:8d}  (write requests of any kind)")
    print("  items written        " + ", ".join(f"{k} {n}" for k, n in sorted(meter.items.items())) or "none")
    member_requests = sum(meter.member_item_requests.values())
    print(
        f"  member-item requests {member_requests:8d}  "
        + ", ".join(f"{op} {n}" for op, n in sorted(meter.member_item_requests.items()))
    )
    print(
        f"  write capacity       {meter.wcu:8.0f} WCU estimated (the engine reported {meter.reported:.0f}): "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(meter.wcu_by_kind.items()))
    )


def main() -> None:
    # The table on DynamoDB Local; moto's mock answers every other service (it lets requests to
    # DynamoDB Local's loopback endpoint through).
    engine = DynamoDBLocal().start()
    try:
        with mock_aws():
            _bench(engine)
    finally:
        engine.stop()


def _bench(engine: DynamoDBLocal) -> None:
    region = os.environ["AWS_DEFAULT_REGION"]
    override = Config(parameter_validation=VALIDATION == "on") if VALIDATION else Config()
    clients: dict[str, Any] = {
        name: boto3.client(name, region_name=region, config=client_config(name).merge(override))
        for name in ("s3", "secretsmanager", "sesv2", "events")
    }
    clients["dynamodb"] = engine.client(config=client_config("dynamodb").merge(override))
    create_table(clients["dynamodb"], "hris-sync")
    clients["s3"].create_bucket(
        Bucket="hris-sync-blobs", CreateBucketConfiguration={"LocationConstraint": region}
    )
    clients["sesv2"].create_email_identity(EmailIdentity="sync@example.com")
    clients["events"].create_event_bus(Name="hris-sync")
    adapters = AwsAdapters(
        AwsResources(table_name="hris-sync", bucket="hris-sync-blobs", mail_sender="sync@example.com"),
        clients=clients,
    )
    meter = Meter()
    meter.attach(clients["dynamodb"])
    hr = FakeHR(page_size=500)
    hr.set(*generate_company(EMPLOYEES))
    world = World(
        hr=hr,
        connections=adapters.connections,  # type: ignore[arg-type]
        members=adapters.members,  # type: ignore[arg-type]
        tasks=adapters.tasks,  # type: ignore[arg-type]
        audit=adapters.audit,  # type: ignore[arg-type]
        runs=adapters.runs,  # type: ignore[arg-type]
        lock=adapters.lock,  # type: ignore[arg-type]
        blobs=adapters.blobs,  # type: ignore[arg-type]
        secrets=adapters.secrets,  # type: ignore[arg-type]
        mailer=adapters.mailer,  # type: ignore[arg-type]
        events=adapters.events,  # type: ignore[arg-type]
        settings=ServiceSettings(chunk_size=250),
    )
    print(
        f"{EMPLOYEES} employees (generated company), chunks of 250 members, pages of 500, "
        f"botocore parameter validation {VALIDATION or 'as the product (DynamoDB off)'}"
    )

    started = time.perf_counter()
    connection = imported(world, TENANT, invites="later")
    first = world.last_run(TENANT, connection.connection_id)
    report("First import", meter, time.perf_counter() - started, first)
    creates = first.applied.created
    target = math.ceil(creates / 25)
    member_requests = sum(meter.member_item_requests.values())
    print(
        f"  target for {creates} creates: at most ceil({creates}/25) = {target} (+ a constant) "
        f"requests carrying member items -> {member_requests} "
        f"({'met' if member_requests <= target + 5 else 'MISSED'}; member + email guard + link guard "
        f"= 3 items per create, 33 creates per TransactWriteItems)"
    )

    meter.reset()
    started = time.perf_counter()
    second = world.sync_now(TENANT, connection.connection_id)
    report("Resync, nothing changed", meter, time.perf_counter() - started, second)
    member_writes = sum(n for k, n in meter.items.items() if k != "run/lock/connection")
    print(
        f"  member/guard/audit/task items written: {member_writes} (must be 0); the remaining "
        f"writes are the run's own bookkeeping (run item, lease renewals)"
    )
    if member_writes or second.status is not RunStatus.COMPLETED:
        raise SystemExit("the no-change resync wrote member data")


if __name__ == "__main__":
    main()
