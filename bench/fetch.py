"""Fetch benchmark: 50,000 employees from the fake BambooHR over loopback.

Ours: the project's BambooHR connector (API key: dataset pages of 1,000 with leavers included),
page by page as the sync state machine drives it, each page dropped once counted. Side by side in
the same run: the open-source ``airbyte-source-bamboo-hr`` 0.4.14 from PyPI (installed here into
``bench/.venvs/``, Python 3.11, the only line changed in its installed copy being ``url_base`` in
``manifest.yaml``), reading its ``custom_reports_stream`` (the stream that includes leavers) with the
same fields. Each pull runs in its own process so peak memory (max RSS) is that pull's alone; the
fake runs in another process. Memory is also measured for ours at 10,000 employees: bounded by a
page, the peak barely moves from 10k to 50k.

    make bench            # or: .venv/bin/python bench/fetch.py [--employees 50000]

Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / "bench" / ".venvs"
AIRBYTE_VENV = VENVS / "airbyte-source-bamboo-hr"
AIRBYTE_PACKAGE = "airbyte-source-bamboo-hr==0.4.14"
AIRBYTE_PYTHONS = ("python3.11", "python3.10", "python3.9")  # the package needs Python >=3.9,<3.12
TODAY = "2026-01-15"
FIELDS = (
    "firstName,lastName,preferredName,workEmail,employeeNumber,jobTitle,department,division,location,"
    "country,dateOfBirth,hireDate,terminationDate,supervisorEId,status,employmentHistoryStatus,photoUrl"
)


@dataclass
class Result:
    name: str
    employees: int
    seconds: float
    max_rss_mb: float
    extra: str = ""
    # The wall time less the process's start-up (imports), when known.
    work_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.employees / self.seconds if self.seconds else 0.0

    @property
    def work_rate(self) -> float:
        return self.employees / self.work_seconds if self.work_seconds else 0.0


# ---------------------------------------------------------------------------------------------
# The fake, in its own process
# ---------------------------------------------------------------------------------------------


class FakeProcess:
    """``hris-sync fake-hris`` as a child process; its base URL and credentials parsed from stdout."""

    def __init__(self, employees: int) -> None:
        command = [
            sys.executable,
            "-c",
            "from infra.cli import main; main()",
            "fake-hris",
            "--provider",
            "bamboohr",
            "--employees",
            str(employees),
            "--rate-limit",
            "none",
            "--today",
            TODAY,
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.settings: dict[str, str] = {}
        stream: IO[str] | None = self.process.stdout
        for line in stream or ():
            if line.startswith("  "):
                key, _, value = line.strip().partition(" ")
                self.settings[key] = value.strip()
            if "Serving until" in line:
                return
        raise RuntimeError(f"the fake HR server did not start (exit {self.process.wait()})")

    @property
    def base_url(self) -> str:
        return self.settings["base_url"]

    def warm(self) -> None:
        """Render every record once (the fake caches renderings), so both pulls meet a warm server."""
        import httpx

        with httpx.stream(
            "POST",
            f"{self.base_url}/api/v1/reports/custom?format=json",
            json={"fields": FIELDS.split(",")},
            auth=(self.settings["api_key"], "x"),
            timeout=300,
        ) as response:
            response.raise_for_status()
            for _ in response.iter_raw():
                pass

    def serve_rate(self) -> tuple[float, float]:
        """The fake alone: every dataset page (1,000 per page, leavers included) fetched, not parsed.

        Returns (seconds for a cold pass, seconds for a warm pass)."""
        import httpx

        timings = []
        with httpx.Client(
            base_url=self.base_url, auth=(self.settings["api_key"], "x"), timeout=300
        ) as client:
            for _ in range(2):
                started = time.perf_counter()
                page = 1
                while True:
                    body = {"fields": FIELDS.split(","), "filter": "status in ('Active','Inactive')"}
                    response = client.post(
                        "/api/v2/datasets/employee/data", json={**body, "page": page, "pageSize": 1000}
                    )
                    response.raise_for_status()
                    if b'"next":null' in response.content:
                        break
                    page += 1
                timings.append(time.perf_counter() - started)
        return timings[0], timings[1]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _high_water_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM) so far; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def run_child(command: list[str], *, env: dict[str, str] | None = None) -> tuple[str, float, float]:
    """Run a pull in its own process: (stdout, wall seconds, peak RSS in MB of that process).

    The peak is the child's own VmHWM, sampled until it exits (``ru_maxrss`` would carry the
    parent's size over fork and exec, and so measure the benchmark, not the pull).
    """
    started = time.perf_counter()
    peak = 0.0
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, text=True, env=env)
        while process.poll() is None:
            peak = max(peak, _high_water_mb(process.pid) or 0.0)
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        output, error = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} exited {process.returncode}: {error.strip()[-1500:]}")
    return output, seconds, peak


# ---------------------------------------------------------------------------------------------
# Ours
# ---------------------------------------------------------------------------------------------


def pull_ours(base_url: str, api_key: str) -> None:
    """Child process: page through the fake with our connector; print the count and heap peak."""
    from shared.providers.base import Credentials, Secret
    from shared.providers.registry import get_provider

    tracemalloc.start()
    started = time.perf_counter()
    provider = get_provider("bamboohr")
    credentials = Credentials(secrets={"api_key": Secret(api_key)}, settings={"base_url": base_url})
    count, pages, biggest = 0, 0, 0
    cursor: str | None = None
    while True:
        page = provider.list_employees(credentials, cursor)
        count += len(page.employees)
        biggest = max(biggest, len(page.employees))
        pages += 1
        cursor = page.next_cursor
        del page
        if cursor is None:
            break
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    figures = {"employees": count, "pages": pages, "page_size": biggest, "heap_peak_mb": peak / 2**20}
    print(json.dumps({**figures, "seconds": seconds}))


def bench_ours(fake: FakeProcess) -> Result:
    script = "import sys; from bench.fetch import pull_ours; pull_ours(sys.argv[1], sys.argv[2])"
    output, seconds, rss = run_child([sys.executable, "-c", script, fake.base_url, fake.settings["api_key"]])
    figures = json.loads(output.strip().splitlines()[-1])
    heap = figures["heap_peak_mb"]
    extra = f"{figures['pages']} pages of {figures['page_size']}, Python heap peak {heap:.1f} MB"
    return Result(
        "ours (hris-sync BambooHR connector)", figures["employees"], seconds, rss, extra, figures["seconds"]
    )


# ---------------------------------------------------------------------------------------------
# airbyte-source-bamboo-hr
# ---------------------------------------------------------------------------------------------


def airbyte_python() -> str:
    for name in AIRBYTE_PYTHONS:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"no {' / '.join(AIRBYTE_PYTHONS)} on PATH (the package needs Python >=3.9,<3.12)")


def install_airbyte() -> Path:
    """The package's venv under bench/.venvs (created once); returns its entry point."""
    entry = AIRBYTE_VENV / "bin" / "source-bamboo-hr"
    stamp = AIRBYTE_VENV / ".installed"
    if entry.exists() and stamp.exists() and stamp.read_text() == AIRBYTE_PACKAGE:
        return entry
    shutil.rmtree(AIRBYTE_VENV, ignore_errors=True)
    VENVS.mkdir(parents=True, exist_ok=True)
    subprocess.run([airbyte_python(), "-m", "venv", str(AIRBYTE_VENV)], check=True)
    pip = [str(AIRBYTE_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    answer = subprocess.run([*pip, AIRBYTE_PACKAGE], capture_output=True, text=True, check=False)
    if answer.returncode != 0:
        raise RuntimeError(f"pip install {AIRBYTE_PACKAGE} failed: {answer.stderr.strip()[-800:]}")
    stamp.write_text(AIRBYTE_PACKAGE)
    return entry


def point_airbyte_at(base_url: str) -> Path:
    """Rewrite only the ``url_base`` line of the installed manifest.yaml to the fake's gateway."""
    found = subprocess.run(
        [
            str(AIRBYTE_VENV / "bin" / "python"),
            "-c",
            "import source_bamboo_hr, pathlib; print(pathlib.Path(source_bamboo_hr.__file__).parent)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    manifest = Path(found.stdout.strip()) / "manifest.yaml"
    lines = manifest.read_text().splitlines(keepends=True)
    pattern = re.compile(r"^(\s*)url_base:.*$")
    changed = 0
    for index, line in enumerate(lines):
        match = pattern.match(line)
        if match:
            gateway = f"{base_url}/api/gateway.php/{{{{ config['subdomain'] }}}}/v1/"
            lines[index] = f"{match.group(1)}url_base: {gateway}\n"
            changed += 1
    if changed != 1:
        raise RuntimeError(f"expected one url_base line in {manifest}, found {changed}")
    manifest.write_text("".join(lines))
    return manifest


def bench_airbyte(fake: FakeProcess) -> Result:
    entry = install_airbyte()
    point_airbyte_at(fake.base_url)
    work = Path(tempfile.mkdtemp(prefix="airbyte-bench-"))
    try:
        config = {
            "api_key": fake.settings["api_key"],
            "subdomain": fake.settings["subdomain"],
            "custom_reports_fields": FIELDS,
            "custom_reports_include_default_fields": False,
        }
        catalog = {
            "streams": [
                {
                    "stream": {
                        "name": "custom_reports_stream",
                        "json_schema": {},
                        "supported_sync_modes": ["full_refresh"],
                    },
                    "sync_mode": "full_refresh",
                    "destination_sync_mode": "overwrite",
                }
            ]
        }
        (work / "config.json").write_text(json.dumps(config))
        (work / "catalog.json").write_text(json.dumps(catalog))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        command = [
            str(entry),
            "read",
            "--config",
            str(work / "config.json"),
            "--catalog",
            str(work / "catalog.json"),
        ]
        output, seconds, rss = run_child(command, env=env)
        _, startup, _ = run_child([str(entry), "spec"], env=env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    records = sum(1 for line in output.splitlines() if '"RECORD"' in line[:40])
    extra = "one reports/custom request; its manifest sends fields as a string, so ids only"
    return Result(
        "airbyte-source-bamboo-hr 0.4.14", records, seconds, rss, extra, max(seconds - startup, 1e-9)
    )


# ---------------------------------------------------------------------------------------------


def _print(result: Result) -> None:
    print(
        f"  {result.name:<38} {result.employees:>7,} employees in {result.seconds:6.2f} s"
        f" = {result.rate:>8,.0f}/s; without start-up {result.work_rate:>8,.0f}/s;"
        f" peak RSS {result.max_rss_mb:6.1f} MB\n      ({result.extra})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=50_000)
    parser.add_argument("--small", type=int, default=10_000, help="head count of the memory comparison")
    parser.add_argument("--skip-airbyte", action="store_true")
    args = parser.parse_args()

    print(f"Fetch benchmark: fake BambooHR on loopback, {os.cpu_count()} CPUs")
    small = FakeProcess(args.small)
    try:
        small.warm()
        at_small = bench_ours(small)
    finally:
        small.stop()
    started = time.perf_counter()
    fake = FakeProcess(args.employees)
    print(
        f"  fake with {args.employees:,} employees ready in {time.perf_counter() - started:.1f} s"
        f" at {fake.base_url}"
    )
    try:
        cold, warm = fake.serve_rate()
        print(
            f"  the fake alone serves {args.employees / cold:,.0f} employees/s on first render,"
            f" {args.employees / warm:,.0f}/s from its render cache (dataset pages of 1,000, unparsed)"
        )
        ours = bench_ours(fake)
        _print(ours)
        theirs: Result | None = None
        if args.skip_airbyte:
            print("  airbyte-source-bamboo-hr: skipped (--skip-airbyte)")
        else:
            try:
                theirs = bench_airbyte(fake)
                _print(theirs)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                print(f"  airbyte-source-bamboo-hr: not measured: {exc}")
    finally:
        fake.stop()
    if theirs is not None and theirs.rate:
        print(
            f"  ratio ours / airbyte: {ours.rate / theirs.rate:.2f}x employees/s wall,"
            f" {ours.work_rate / theirs.work_rate:.2f}x without start-up"
        )
        if theirs.employees != ours.employees:
            print(f"  note: airbyte read {theirs.employees:,} records, ours {ours.employees:,}")
    print(
        f"  memory (ours): peak RSS {at_small.max_rss_mb:.1f} MB at {at_small.employees:,} employees,"
        f" {ours.max_rss_mb:.1f} MB at {ours.employees:,}"
        f" (+{ours.max_rss_mb - at_small.max_rss_mb:.1f} MB"
        f" for {ours.employees - at_small.employees:,} more);"
        f" heap: {at_small.extra.split('heap peak ')[-1]} vs {ours.extra.split('heap peak ')[-1]}"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
