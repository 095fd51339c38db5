"""A first import through the whole local stack: 10,000 and 50,000 employees from a fake BambooHR
on loopback (no artificial latency), connected through the admin API over HTTP, run by the state
machine CDK synthesizes on moto's interpreter with the real step handlers in-process.

Prints the wall time (connect -> run completed), employees per second, and where the time went:
fetch (the fetch_page steps), plan, apply (the Map of apply_chunk steps, wall clock and summed),
start/finish, and orchestration (the execution's time outside every step handler: moto's
interpreter, the Lambda proxy, retries). Figures only; nothing is asserted.

    .venv/bin/python bench/e2e_import.py [N ...]        # default: 10000 50000
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.local.client import AdminClient, fake_credentials
from infra.local.fake_hris import fake_hris
from infra.local.stack import LocalStack


class StepClock:
    """Sums the sync_steps handler's time per step, and the apply phase's wall clock."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.apply_first: float | None = None
        self.apply_last = 0.0
        self._lock = threading.Lock()

    def __call__(self, function: str, event: Any, seconds: float) -> None:
        if function != "sync_steps" or not isinstance(event, dict):
            return
        step = str(event.get("step", "?"))
        now = time.perf_counter()
        with self._lock:
            self.seconds[step] += seconds
            self.calls[step] += 1
            if step == "apply_chunk":
                start = now - seconds
                self.apply_first = start if self.apply_first is None else min(self.apply_first, start)
                self.apply_last = max(self.apply_last, now)


def one_import(stack: LocalStack, employees: int) -> None:
    clock = StepClock()
    if stack.functions is None:
        raise RuntimeError("the stack is not started")
    stack.functions.observers.append(clock)
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    api = AdminClient(stack.url, stack.token(tenant), timeout=120)
    built = time.perf_counter()
    fake = fake_hris("bamboohr", employees=employees, seed=3, rate_limit=None).start()
    generated = time.perf_counter() - built
    try:
        started = time.perf_counter()
        began_at = datetime.now(UTC)
        connected = api.connect(
            provider="bamboohr",
            label="bench",
            credentials=fake_credentials(fake, uuid.uuid4().hex),
            scope={"mode": "everyone"},
            invites="later",
            approval="auto",
            admin_emails=["bench@example.com"],
        )
        # Polled once a second (a poll costs CPU the import would use); the wall time is the
        # run's own finish time, so the polling interval does not pad it.
        run = api.wait_run(connected["run"]["id"], timeout=3600, interval=1.0)
        finished_at = datetime.fromisoformat(run["finished_at"]) if run.get("finished_at") else None
        wall = (
            (finished_at - began_at).total_seconds()
            if finished_at is not None
            else time.perf_counter() - started
        )
    finally:
        fake.stop()
        api.close()
        stack.functions.observers.remove(clock)
    fetched = run["progress"]["employees_fetched"]
    steps = dict(clock.seconds)
    apply_wall = (clock.apply_last - clock.apply_first) if clock.apply_first is not None else 0.0
    handlers = sum(v for k, v in steps.items() if k != "apply_chunk") + apply_wall
    print(f"== first import of {employees:,} employees (fake company generated in {generated:.1f} s)")
    print(
        f"  status {run['status']}, {fetched:,} fetched in {run['progress']['pages_fetched']} pages, "
        f"{run['applied']['created']:,} members created, {run['progress']['chunks_total']} chunks"
    )
    print(f"  wall time {wall:.1f} s  ->  {fetched / wall:,.0f} employees/s")
    print(f"  fetch         {steps.get('fetch_page', 0):7.1f} s  ({clock.calls.get('fetch_page', 0)} pages)")
    print(f"  plan          {steps.get('plan', 0):7.1f} s")
    print(
        f"  apply         {apply_wall:7.1f} s wall  ({steps.get('apply_chunk', 0):.1f} s summed over "
        f"{clock.calls.get('apply_chunk', 0)} chunks, up to 4 at once)"
    )
    print(f"  start+finish  {steps.get('start', 0) + steps.get('finish', 0):7.1f} s")
    print(
        f"  orchestration {max(0.0, wall - handlers):7.1f} s  (interpreter, proxy, API polling, "
        "outside the step handlers)"
    )


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="hris-sync-bench-") as folder:
        began = time.perf_counter()
        with LocalStack(state_dir=Path(folder), reset=True) as stack:
            print(f"local stack up in {time.perf_counter() - began:.1f} s ({stack.url})")
            for size in sizes:
                one_import(stack, size)
            print(f"errors in the stack's background loops: {stack.errors() or 'none'}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 50_000])
