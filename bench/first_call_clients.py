"""What each function's composition root builds on its first invocation: boto3 clients and time.

A fresh interpreter per function and run imports the handler (not timed), sets the variables the
stack sets, then times the root's first call (settings read, adapters and their boto3 clients
built; no network: building a client sends nothing). The admin API's root builds no adapter: a
route's use case builds those of the ports it touches, so its rows add the ports a first request
touches (``TOUCHED``). The figure is the median of several runs.
Run: ``.venv/bin/python bench/first_call_clients.py``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from infra.environment import FunctionEnvironment

RUNS = 7
# The function and the name of its cached composition root.
ROOTS = {
    "webhook_ingest": "root",
    "webhook_worker": "root",
    "sync_steps": "ports",
    "sync_trigger": "ports",
    "admin_api": "ports",
}
# The admin API's first requests: the ports their use cases touch (the root builds none).
TOUCHED = {
    "admin_api GET /v1/members": ("members", "clock"),
    "admin_api POST /v1/connections": ("connections", "runs", "lock", "secrets", "scheduler", "workflow"),
}
# What the stack sets (infra/environment.py), with resource names that reach nothing.
ENVIRONMENT = {
    **FunctionEnvironment(
        stage="bench",
        powertools_service_name="hris-sync-bench",
        powertools_metrics_namespace="HrisSync",
        table_name="tbl",
        bucket_name="bkt",
        secrets_prefix="hris-sync/bench",
        webhook_queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/q",
        idempotency_table_name="idem",
        state_machine_arn="arn:aws:states:eu-west-1:123456789012:stateMachine:m",
        schedule_group="grp",
        schedule_target_arn="arn:aws:lambda:eu-west-1:123456789012:function:t",
        scheduler_role_arn="arn:aws:iam::123456789012:role/r",
        schedule_dead_letter_arn="arn:aws:sqs:eu-west-1:123456789012:hris-sync-bench-schedules-dlq",
        event_bus_name="bus",
        ses_sender="noreply@example.com",
        ses_configuration_set="cfg",
    ).variables(),
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_TRACE_DISABLED": "true",
}

_PROBE = """
import json, os, sys, time
import boto3
from functions.{name} import handler
made = []
real = boto3.client
def client(service, *args, **kwargs):
    made.append(service)
    return real(service, *args, **kwargs)
boto3.client = client
root = getattr(handler, "{root}")
if hasattr(root, "cache_clear"):
    root.cache_clear()
os.environ.update(json.loads(sys.argv[1]))
t = time.perf_counter()
built = root()
for port in {touched!r}:
    getattr(built, port)
print(json.dumps({{"ms": (time.perf_counter() - t) * 1000, "clients": sorted(made)}}))
"""


def _first_call(name: str, root: str, touched: tuple[str, ...] = ()) -> tuple[float, list[str]]:
    samples: list[float] = []
    clients: list[str] = []
    probe = _PROBE.format(name=name, root=root, touched=touched)
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", probe, json.dumps(ENVIRONMENT)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found = json.loads(out.strip().splitlines()[-1])
        samples.append(found["ms"])
        clients = found["clients"]
    return statistics.median(samples), clients


def main() -> None:
    print(f"median of {RUNS} fresh interpreters, Python {sys.version.split()[0]}")
    print(f"{'function':<16} {'root first call':>16}  clients built")
    for name, root in ROOTS.items():
        ms, clients = _first_call(name, root)
        print(f"{name:<16} {ms:>13.1f} ms  {', '.join(clients) or '(none)'}")
    for row, touched in TOUCHED.items():
        name = row.split()[0]
        ms, clients = _first_call(name, ROOTS[name], touched)
        print(f"{row}: {ms:.1f} ms  {', '.join(clients)}")


if __name__ == "__main__":
    main()
