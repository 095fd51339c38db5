"""Import time of each Lambda handler, and of what its first invocation then imports (cold start).

Each figure is the median of several fresh interpreters (``python -X importtime``, the cumulative
microseconds of the top-level import), so other processes on the machine blur it little.
Run: ``.venv/bin/python bench/handler_imports.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

RUNS = 7
HANDLERS = ("webhook_ingest", "webhook_worker", "sync_steps", "sync_trigger", "event_poller")
# What the first invocation imports (lazily) on top of the handler module.
FIRST_CALL = {
    "webhook_ingest": (
        "functions.webhook_ingest.app",
        "shared.services.webhook_ingest",
        "shared.adapters.factory",
        "shared.adapters.caching",
        "shared.settings",
        "aws_lambda_powertools.logging",
        "aws_lambda_powertools.metrics",
    ),
    "webhook_worker": (
        "shared.services.webhook_apply",
        "shared.services.webhook_ingest",
        "shared.adapters.factory",
        "shared.settings",
        "aws_lambda_powertools.utilities.batch",
        "aws_lambda_powertools.utilities.idempotency",
        "aws_lambda_powertools.logging",
        "aws_lambda_powertools.metrics",
    ),
    "sync_steps": (
        "shared.services.state_machine_tasks",
        "shared.adapters.factory",
        "shared.settings",
        "aws_lambda_powertools.logging",
        "aws_lambda_powertools.metrics",
    ),
    "event_poller": (
        "shared.services.event_queue",
        "shared.adapters.factory",
        "shared.settings",
        "aws_lambda_powertools.logging",
        "aws_lambda_powertools.metrics",
    ),
    "sync_trigger": (
        "shared.services.full_sync",
        "shared.services.state_machine_tasks",
        "shared.adapters.factory",
        "shared.settings",
        "aws_lambda_powertools.logging",
        "aws_lambda_powertools.metrics",
    ),
}


def _import_ms(modules: tuple[str, ...]) -> float:
    """Median wall time (ms) of importing ``modules`` in a fresh interpreter."""
    code = "import time; t = time.perf_counter(); " + "; ".join(f"import {m}" for m in modules)
    code += "; print((time.perf_counter() - t) * 1000)"
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(RUNS)
    ]
    return statistics.median(samples)


def _importtime_ms(module: str) -> float:
    """Median cumulative time ``-X importtime`` reports for ``module`` (ms)."""
    samples = []
    for _ in range(RUNS):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        line = [row for row in err.splitlines() if row.rstrip().endswith(f"| {module}")][-1]
        samples.append(int(line.split("|")[1]) / 1000)
    return statistics.median(samples)


def main() -> None:
    print(f"median of {RUNS} fresh interpreters, Python {sys.version.split()[0]}")
    print(f"{'handler':<16} {'import (importtime)':>20} {'+ first call imports':>22}")
    for name in HANDLERS:
        module = f"functions.{name}.handler"
        first = _import_ms((module, *FIRST_CALL[name]))
        print(f"{name:<16} {_importtime_ms(module):>17.1f} ms {first:>19.1f} ms")


if __name__ == "__main__":
    main()
