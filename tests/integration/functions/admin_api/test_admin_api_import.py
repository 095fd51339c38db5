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


FIRST_REQUEST = """
import json, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, "tests/integration/functions/admin_api")
from admin_api_client import Client
from functions.admin_api import handler
from tests.support.world import World

handler.PORTS.set(World().ports)
statuses = [Client().get("/v1/members").status, Client().post("/v1/invites/send", {"all": True}).status]
models = "aws_lambda_powertools.event_handler.openapi.models"
loaded = models in sys.modules
statuses.append(Client().get("/v1/docs").status)
print(json.dumps({"statuses": statuses, "before_docs": loaded, "after_docs": models in sys.modules}))
"""


def test_answering_requests_leaves_the_openapi_models_unloaded_until_the_docs_are_asked_for() -> None:
    env = {
        "POWERTOOLS_SERVICE_NAME": "admin_api",
        "POWERTOOLS_METRICS_NAMESPACE": "test",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", FIRST_REQUEST],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"statuses": [200, 200, 200], "before_docs": False, "after_docs": True}
