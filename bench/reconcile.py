"""Benchmark the reconciler: a scheduled sync of a large company with 1 % of it changed.

For each size (10,000 and 100,000 employees, as many existing members) it prepares, in a child
process, the state after a first import (plan + apply_plan on a generated company), then changes
1 % of the company (title changes, leavers, terminations, leaves, manager moves, joiners) and
writes employees and members as plain JSON lines (None fields left out, as a table item or a
provider's record has them). A second child process then
  - turns them into domain objects as the providers and the member store do, timed on its own:
    employees from plain dicts (``shared.codecs.employee_from``), members from each item's JSON
    document, decoding included (``member_from_json``: "turning stored members into domain
    objects"),
  - runs ``plan(...)`` on the prebuilt inputs (best of 3 calls, timed alone),
  - reports its peak RSS (inputs + plan).
Figures are printed, never asserted. Targets: the 100k plan <= 1.0 s and <= 400 MB; the 100k/10k
time ratio <= 12.

    python bench/reconcile.py            # both sizes
    python bench/reconcile.py 20000      # other sizes
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.local.company import generate_company  # noqa: E402
from shared.codecs import employee_from, member_from_json, to_json  # noqa: E402
from shared.domain.apply import apply_plan  # noqa: E402
from shared.domain.models import Connection, Employee, EmployeeStatus, Snapshot  # noqa: E402
from shared.domain.reconciler import plan  # noqa: E402

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHANGED = 0.01
CHUNK = 5_000


def _connection(first_sync_done: bool) -> Connection:
    return Connection(
        connection_id="c-bench",
        tenant_id="t-bench",
        provider="bamboohr",
        label="Bench",
        first_complete_sync_at=NOW if first_sync_done else None,
    )


def prepare(n: int, folder: Path) -> dict[str, float]:
    """Write the inputs of a 1 %-changed sync of an ``n``-person company (after its first import)."""
    staff = generate_company(n, seed=7, today=TODAY)
    started = time.perf_counter()
    first = plan(Snapshot(employees=tuple(staff), complete=True), [], _connection(False), TODAY)
    first_import = time.perf_counter() - started
    members = apply_plan([], first, _connection(False), NOW)
    rng = random.Random(n)
    changed = _change(rng, staff)
    with (folder / "employees.jsonl").open("w") as out:
        for employee in changed:
            out.write(to_json(employee, exclude_none=True) + "\n")
    with (folder / "members.jsonl").open("w") as out:
        for member in members.values():
            out.write(to_json(member, exclude_none=True) + "\n")
    return {"first_import_plan_s": first_import, "first_import_actions": len(first.actions)}


def _change(rng: random.Random, staff: list[Employee]) -> list[Employee]:
    """1 % of the company changes: a sixth each of titles, leavers, terminations, leaves, moves, joiners."""
    out: list[Employee] = []
    ids = [e.hris_id for e in staff]
    joiners = 0
    for employee in staff:
        if rng.random() >= CHANGED:
            out.append(employee)
            continue
        kind = rng.randrange(6)
        if kind == 0:
            out.append(replace(employee, job_title="Principal " + (employee.job_title or "")))
        elif kind == 1:
            continue  # gone from the HR system
        elif kind == 2:
            out.append(replace(employee, status=EmployeeStatus.TERMINATED, termination_date=TODAY))
        elif kind == 3:
            out.append(replace(employee, status=EmployeeStatus.ON_LEAVE, office_location="Remote"))
        elif kind == 4:
            out.append(replace(employee, manager_hris_id=rng.choice(ids[:1000])))
        else:
            out.append(employee)
            joiners += 1
            out.append(
                Employee(
                    hris_id=f"new-{joiners}",
                    first_name="New",
                    last_name=f"Joiner{joiners}",
                    email=f"new.joiner{joiners}@northwind.example",
                    company=employee.company,
                    department=employee.department,
                    groups=employee.groups,
                    start_date=TODAY,
                    manager_hris_id=employee.manager_hris_id,
                )
            )
    return out


def _load(
    path: Path, validate: Callable[[Any], object], *, decode: bool = True
) -> tuple[list[object], float, float]:
    """Read JSON lines chunk by chunk; time only the validation (of the plain dicts, or with
    ``decode=False`` of the JSON text itself, decoding included): wall and CPU seconds."""
    objects: list[object] = []
    spent = spent_cpu = 0.0
    with path.open() as lines:
        while True:
            chunk = [
                json.loads(line) if decode else line for _, line in zip(range(CHUNK), lines, strict=False)
            ]
            if not chunk:
                break
            started, started_cpu = time.perf_counter(), time.process_time()
            objects.extend(validate(d) for d in chunk)
            spent += time.perf_counter() - started
            spent_cpu += time.process_time() - started_cpu
    return objects, spent, spent_cpu


def measure(folder: Path) -> dict[str, Any]:
    employees, validate_employees, _ = _load(folder / "employees.jsonl", employee_from)
    # Members as the member store reads them: each item's JSON document (decoding timed too).
    members, validate_members, validate_members_cpu = _load(
        folder / "members.jsonl", member_from_json, decode=False
    )
    snapshot = Snapshot(employees=tuple(employees), complete=True)  # type: ignore[arg-type]
    connection = _connection(True)
    gc.collect()
    inputs_rss = _current_rss_mb()
    timings = []
    cpu = []
    result = None
    for _ in range(3):
        result = None
        gc.collect()
        started, started_cpu = time.perf_counter(), time.process_time()
        result = plan(snapshot, members, connection, TODAY)  # type: ignore[arg-type]
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    if result is None:
        raise RuntimeError("no plan")
    return {
        "employees": len(employees),
        "members": len(members),
        "plan_s": min(timings),
        "plan_runs_s": timings,
        "plan_cpu_s": min(cpu),
        "validate_s": validate_employees + validate_members,
        "validate_employees_s": validate_employees,
        "validate_members_s": validate_members,
        "validate_members_cpu_s": validate_members_cpu,
        "inputs_rss_mb": inputs_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "actions": len(result.actions),
        "counts": result.counts.model_dump(),
    }


def _current_rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(sizes: list[int]) -> None:
    results: dict[int, dict[str, Any]] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
            prepared = _child("--prepare", str(n), tmp)
            measured = _child("--measure", tmp)
        results[n] = measured
        _report(n, prepared, measured)
    print(f"(load average {Path('/proc/loadavg').read_text().split()[0]} on {os.cpu_count()} CPUs)")
    if 10_000 in results and 100_000 in results:
        big, small = results[100_000], results[10_000]
        print(
            f"100k/10k plan time ratio {big['plan_s'] / small['plan_s']:.1f} wall, "
            f"{big['plan_cpu_s'] / small['plan_cpu_s']:.1f} CPU (target <= 12)"
        )
        print(
            f"100k plan {big['plan_s']:.2f} s wall, {big['plan_cpu_s']:.2f} s CPU (target <= 1.0 s); "
            f"peak RSS {big['peak_rss_mb']:.0f} MB (target <= 400 MB), of which the plan itself "
            f"{big['peak_rss_mb'] - big['inputs_rss_mb']:.0f} MB"
        )


def _report(n: int, prepared: dict[str, Any], measured: dict[str, Any]) -> None:
    runs = ", ".join(f"{t * 1000:.0f}" for t in measured["plan_runs_s"])
    m = measured
    print(
        f"{n:>7,} employees vs {measured['members']:>7,} members, 1% changed: "
        f"plan {m['plan_s'] * 1000:.0f} ms wall (runs {runs}), {m['plan_cpu_s'] * 1000:.0f} ms CPU"
    )
    print(
        f"{'':>9}inputs into domain objects: {measured['validate_s']:.2f} s "
        f"(employees {m['validate_employees_s']:.2f} s, members {m['validate_members_s']:.2f} s wall, "
        f"{m['validate_members_cpu_s']:.2f} s CPU; target for 100,000 members <= 2 s)"
    )
    counts = ", ".join(f"{k} {v}" for k, v in measured["counts"].items() if v)
    print(
        f"{'':>9}peak RSS {m['peak_rss_mb']:.0f} MB (inputs alone {m['inputs_rss_mb']:.0f} MB); "
        f"{measured['actions']:,} actions: {counts}"
    )
    print(
        f"{'':>9}(first import of the same company: plan {prepared['first_import_plan_s']:.2f} s, "
        f"{prepared['first_import_actions']:,} actions)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--prepare":
        print(json.dumps(prepare(int(sys.argv[2]), Path(sys.argv[3]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--measure":
        print(json.dumps(measure(Path(sys.argv[2]))))
    else:
        main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
