"""The admin API's cold start: the OpenAPI models load only when the document is asked for.

(That importing the handler reads no settings and builds no client is
``tests/unit/runtime/test_handler_imports.py``.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]

FIRST_REQUEST = """
import json, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, "tests/integration/functions/admin_api")
from admin_api_client import Client
from functions.admin_api import handler
from tests.support.world import World

world = World()
handler.ports = lambda: world.ports
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
