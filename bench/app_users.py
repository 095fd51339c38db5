"""R34's bulk import of the app's users: 1,000 users in one call, then the same call again.

Runs ``shared.services.app_users.import_users`` (what ``POST /v1/members/import`` runs after
validating each user) on the real adapters: the table on DynamoDB Local (as the local stack runs
it), EventBridge on moto in-process. Prints DynamoDB requests per operation and wall time for a
first call (1,000 created) and a repeat (1,000 existing, nothing written); API Gateway gives a
request 29 s. Wall time on DynamoDB Local is its speed on this machine, not DynamoDB's: read it as
a regression signal only.

    .venv/bin/python bench/app_users.py
    BENCH_USERS=500 .venv/bin/python bench/app_users.py
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
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
from moto import mock_aws  # noqa: E402

from infra.local.dynamodb_local import DynamoDBLocal  # noqa: E402
from shared.adapters.clients import client_config  # noqa: E402
from shared.adapters.factory import AwsAdapters, AwsResources  # noqa: E402
from shared.adapters.table_schema import create_table  # noqa: E402
from shared.services.app_users import MAX_USERS_PER_CALL, AppUser, Outcome, import_users  # noqa: E402
from tests.support.world import World  # noqa: E402

USERS = int(os.environ.get("BENCH_USERS", str(MAX_USERS_PER_CALL)))
TENANT = "tenant-bench"


class Requests:
    """DynamoDB requests by operation."""

    def __init__(self, client: Any) -> None:
        self.count: Counter[str] = Counter()
        client.meta.events.register("provide-client-params.dynamodb.*", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.count[model.name] += 1


def main() -> None:
    engine = DynamoDBLocal().start()
    try:
        with mock_aws():
            _bench(engine)
    finally:
        engine.stop()


def _bench(engine: DynamoDBLocal) -> None:
    region = os.environ["AWS_DEFAULT_REGION"]
    clients: dict[str, Any] = {
        "events": boto3.client("events", region_name=region, config=client_config("events"))
    }
    clients["dynamodb"] = engine.client(config=client_config("dynamodb"))
    create_table(clients["dynamodb"], "hris-sync")
    clients["events"].create_event_bus(Name="hris-sync")
    adapters = AwsAdapters(
        AwsResources(table_name="hris-sync", bucket="unused", mail_sender="sync@example.com"),
        clients=clients,
    )
    requests = Requests(clients["dynamodb"])
    world = World(
        members=adapters.members,  # type: ignore[arg-type]
        audit=adapters.audit,  # type: ignore[arg-type]
        events=adapters.events,  # type: ignore[arg-type]
    )
    users = [
        AppUser(
            email=f"user{n:05d}@app.example",
            first_name=f"First{n}",
            last_name="Last",
            external_id=f"auth0|{n:024x}",
        )
        for n in range(USERS)
    ]
    print(f"{USERS} app users in one call, table on DynamoDB Local")
    for label in ("First call", "Same call again"):
        requests.count.clear()
        started = time.perf_counter()
        results = import_users(world.ports, TENANT, users, admin_id="admin-bench")
        elapsed = time.perf_counter() - started
        outcomes = Counter(r.outcome.value for r in results)
        print(
            f"{label}: {elapsed:.2f} s; outcomes {dict(outcomes)}; DynamoDB requests "
            + ", ".join(f"{op} {n}" for op, n in sorted(requests.count.items()))
        )
        if label == "First call" and outcomes[Outcome.CREATED.value] != USERS:
            raise SystemExit("the first call did not create every user")


if __name__ == "__main__":
    main()
