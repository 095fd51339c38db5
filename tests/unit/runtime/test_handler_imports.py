"""Importing a handler reads no environment and imports no AWS SDK: composition is lazy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
HANDLERS = ("webhook_ingest", "webhook_worker", "sync_steps", "sync_trigger")

_PROBE = """
import json, os, sys
reads = []
real = dict(os.environ)

class Spy(dict):
    def __getitem__(self, key):
        reads.append(key)
        return real[key]

    def get(self, key, default=None):
        reads.append(key)
        return real.get(key, default)

    def __contains__(self, key):
        reads.append(key)
        return key in real

os.environ = Spy(real)
import functions.{name}.handler as module
assert callable(module.handler)
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("boto3", "botocore", "httpx", "aws_lambda_powertools", "pydantic_settings")
)
print(json.dumps({{"reads": reads, "heavy": heavy}}))
"""


@pytest.mark.parametrize("name", HANDLERS)
def test_importing_a_handler_reads_no_environment_and_builds_nothing(name: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", _PROBE.format(name=name)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"reads": [], "heavy": []}
