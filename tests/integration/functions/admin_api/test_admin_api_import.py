"""Importing the handler builds nothing: no AWS SDK, no settings, no environment read. The
resolver, the settings and the adapters are built on the first invocation (lazy composition)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]

PROBE = """
import json, os, socket, sys

reads = []

class Recording(type(os.environ)):
    def __getitem__(self, key):
        reads.append(key)
        return super().__getitem__(key)

os.environ.__class__ = Recording

def no_network(*args, **kwargs):
    raise AssertionError("network use at import")

socket.socket.connect = no_network
import functions.admin_api.handler as handler
print(json.dumps({
    "reads": reads,
    "modules": sorted(m for m in ("boto3", "botocore", "pydantic_settings", "aws_xray_sdk",
                                  "aws_lambda_powertools.event_handler", "shared.adapters.factory",
                                  "functions.admin_api.app") if m in sys.modules),
    "built": [handler.APP._built, handler.PORTS._built],
}))
"""


def test_importing_the_handler_reads_no_environment_and_loads_no_aws_sdk() -> None:
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["reads"] == []
    assert found["modules"] == []
    assert found["built"] == [False, False]
