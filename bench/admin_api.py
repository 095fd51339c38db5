"""The admin API's cold start and request cost, printed (never asserted):

- importing ``functions/admin_api/handler.py`` (``python -X importtime``, median of fresh processes);
- the first invocation in a fresh process (resolver, routers, models and services imported and
  built, then one request answered) on in-memory ports;
- warm requests through the real handler (API Gateway proxy events) on in-memory ports.

    .venv/bin/python bench/admin_api.py [runs]
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "integration" / "functions" / "admin_api")]

ENV = {
    "POWERTOOLS_SERVICE_NAME": "admin_api",
    "POWERTOOLS_METRICS_NAMESPACE": "bench",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
COLD = """
import sys, time, warnings
warnings.simplefilter("ignore")
sys.path[:0] = [{repo!r}, {client!r}]
started = time.perf_counter()
import functions.admin_api.handler as handler
imported = time.perf_counter()
from tests.support.world import World
from admin_api_client import Client
world = World()
handler.ports = lambda: world.ports
prepared = time.perf_counter()
answer = Client().get("/v1/members")
assert answer.status == 200, answer.text
done = time.perf_counter()
print(f"{{(imported - started) * 1000:.1f}} {{(done - prepared) * 1000:.1f}}")
"""


def _import_ms() -> float:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import functions.admin_api.handler"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stderr.splitlines() if x.rstrip().endswith("| functions.admin_api.handler"))
    return int(line.split("|")[1]) / 1000


def _cold() -> tuple[float, float]:
    code = COLD.format(repo=str(REPO), client=str(REPO / "tests" / "integration" / "functions" / "admin_api"))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **ENV},
    )
    imported, first = done.stdout.split()
    return float(imported), float(first)


def _warm(n: int) -> None:
    os.environ.update(ENV)
    warnings.simplefilter("ignore")
    from admin_api_client import Client
    from admin_api_scenarios import connected

    from functions.admin_api import handler
    from tests.support.world import World

    world = World()
    handler.ports = functools.lru_cache(maxsize=1)(lambda: world.ports)  # the root, on in-memory fakes
    client = Client()
    tenant = connected(world, client, *(f"e{i:03d}" for i in range(60)))
    member = tenant.member_id(world, "e001")
    routes: list[tuple[str, Callable[[], object]]] = [
        ("GET /v1/members?limit=50", lambda: client.get("/v1/members", query={"limit": "50"})),
        ("GET /v1/members/{id}", lambda: client.get(f"/v1/members/{member}")),
        ("PATCH /v1/members/{id}", lambda: client.patch(f"/v1/members/{member}", {"job_title": "x"})),
        ("GET /v1/runs/{id}", lambda: client.get(f"/v1/runs/{tenant.run_id}")),
        ("GET /v1/nothing (404)", lambda: client.get("/v1/nothing")),
        ("POST /v1/connections (422)", lambda: client.post("/v1/connections", {"provider": 1})),
    ]
    for name, call in routes:
        call()
        started = time.perf_counter()
        for _ in range(n):
            call()
        print(f"  {name:32} {(time.perf_counter() - started) / n * 1000:6.2f} ms per request")


def main(runs: int) -> None:
    imports = [_import_ms() for _ in range(runs)]
    median = statistics.median(imports)
    print(f"import functions.admin_api.handler: median {median:.1f} ms over {runs} processes")
    cold = [_cold() for _ in range(runs)]
    print(
        f"fresh process: import {statistics.median(c[0] for c in cold):.1f} ms, first request (compose + "
        f"answer) {statistics.median(c[1] for c in cold):.1f} ms (medians of {runs})"
    )
    print("warm requests on in-memory ports:")
    _warm(200)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
