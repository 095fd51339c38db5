"""`hris-sync local up` as a user runs it: the command in its own process prints the URLs and a dev
token, serves Swagger UI, the admin API and webhooks (a fake HR system connects and sends a signed
hire), stops cleanly on Ctrl-C, and the next run finds what the first one kept (--reset forgets)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from infra.local.client import AdminClient, fake_credentials
from infra.local.fake_hris import fake_hris
from infra.local.template import REPO_ROOT

START_TIMEOUT = 240.0  # the first start of a clean clone synthesizes the CDK app


@dataclass
class Up:
    """One `hris-sync local up` process and what it printed."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""
    token: str = ""
    tables: str = ""

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int:
        """Ctrl-C, as a user stops it (the terminal signals the whole foreground process group);
        its exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=120)
        finally:
            if self.process.poll() is None:  # pragma: no cover - only when stopping hangs
                self.process.kill()


def _start(state_dir: Path, tenant: str, *, reset: bool) -> Up:
    command = [sys.executable, "-m", "infra.cli", "local", "up", "--port", "0", "--tenant", tenant]
    command += ["--state-dir", str(state_dir)] + (["--reset"] if reset else [])
    process = subprocess.Popen(  # noqa: S603 - our own command line, fixed arguments
        command,
        cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "100"},  # a narrow terminal: the token must not be folded
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    up = Up(process)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while not up.token:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            up.stop()
            raise AssertionError(
                f"local up printed no dev token in {START_TIMEOUT:.0f} s:\n{up.output()}"
            ) from None
        if line is None:
            raise AssertionError(f"local up exited with {process.wait()}:\n{up.output()}")
        up.lines.append(line)
        if found := re.match(r"Admin API\s+(http://127\.0\.0\.1:\d+)/v1/", line):
            up.url = found.group(1)
        if found := re.match(r"Tables\s+DynamoDB Local at (http://127\.0\.0\.1:\d+)$", line):
            up.tables = found.group(1)
        if found := re.match(r"Dev token\s+(\S+)$", line):
            up.token = found.group(1)

    def keep_reading() -> None:
        while (line := lines.get()) is not None:
            up.lines.append(line)

    threading.Thread(target=keep_reading, daemon=True).start()
    return up


@pytest.fixture
def running() -> Iterator[list[Up]]:
    started: list[Up] = []
    yield started
    for up in started:
        up.stop()


def test_local_up_serves_the_api_and_webhooks_and_keeps_state_between_runs(
    tmp_path: Path, running: list[Up]
) -> None:
    tenant = f"t-up-{uuid.uuid4().hex[:8]}"
    state_dir = tmp_path / "local"
    first = _start(state_dir, tenant, reset=True)
    running.append(first)
    assert first.url, first.output()
    assert "(fresh)" in first.output()

    docs = httpx.get(f"{first.url}/v1/docs", timeout=30)
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert httpx.get(f"{first.url}/v1/connections", timeout=30).status_code == 401  # no token

    fake = fake_hris("bamboohr", employees=25, seed=5, rate_limit=None).start()
    secret = uuid.uuid4().hex
    try:
        with AdminClient(first.url, first.token) as api:
            connected = api.connect(
                provider="bamboohr",
                label="local up",
                credentials=fake_credentials(fake, secret),
                scope={"mode": "everyone"},
                invites="later",
                approval="auto",
                admin_emails=[f"admin@{tenant}.example"],
            )
            connection_id = connected["connection"]["id"]
            run = api.wait_run(connected["run"]["id"], timeout=120)
            assert run["status"] == "completed"
            fake.webhooks_to(f"{first.url}/webhooks/{connection_id}", secret=secret)
            hired = fake.hire("Ada", "Lovelace", email=f"ada@{tenant}.example", department="Research")
            assert fake.deliveries[-1].status == 202
            deadline = time.monotonic() + 30
            members = api.members()
            while hired.key not in {m.get("hris_id") for m in members} and time.monotonic() < deadline:
                time.sleep(0.2)
                members = api.members()
            assert hired.key in {m.get("hris_id") for m in members}, "the hire's webhook made no member"
    finally:
        fake.stop()

    assert first.stop() == 0, first.output()
    assert "Stopped." in first.output()
    # Ctrl-C reached the whole group, yet the table was read on the way out, then its engine killed.
    assert first.tables, first.output()
    with pytest.raises(httpx.TransportError):
        httpx.get(first.tables, timeout=5)
    assert (state_dir / "state" / "table.jsonl").is_file()
    assert list((state_dir / "outbox").glob("*.eml")), "the first import's completion email"

    second = _start(state_dir, tenant, reset=False)
    running.append(second)
    assert "restored" in second.output()
    # The dev signing key is kept with the state: a token saved from the first run still works.
    with AdminClient(second.url, first.token) as api:
        assert [c["id"] for c in api.connections()] == [connection_id]
        kept = api.members()
        assert {m["id"] for m in kept} == {m["id"] for m in members}
    assert second.stop() == 0, second.output()

    third = _start(state_dir, tenant, reset=True)
    running.append(third)
    with AdminClient(third.url, third.token) as api:
        assert api.connections() == []
    assert third.stop() == 0, third.output()
