"""Importing a handler reads none of its settings, builds no client and opens no connection.

Imports are allowed (Lambda's init phase runs them at full CPU) and so are Powertools' objects,
which read only Powertools' own optional switches. The settings are read, and the adapters and
their boto3 clients built, by the function's cached composition root on its first invocation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
# Each handler module and its composition root (a ``functools.lru_cache`` of no arguments).
ROOTS = {
    "admin_api": "ports",
    "webhook_ingest": "root",
    "webhook_worker": "root",
    "sync_steps": "ports",
    "sync_trigger": "ports",
    "subscription_renewer": "ports",
    "event_poller": "root",
    "api_authorizer": "verifier",
}

_PROBE = """
import json, os, socket

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

connections = []
def no_network(self, address, *args, **kwargs):
    connections.append(repr(address))
    raise OSError("no network at import")
socket.socket.connect = no_network

import boto3
clients = []
real_client = boto3.session.Session.client
def recorded(self, service, *args, **kwargs):
    clients.append(service)
    return real_client(self, service, *args, **kwargs)
boto3.session.Session.client = recorded

import functions.{name}.handler as module
from shared import settings

assert callable(module.handler)
ours = {{
    field.upper()
    for model in (settings.FunctionSettings, *settings.FunctionSettings.__subclasses__())
    for field in model.model_fields
    if not field.upper().startswith("POWERTOOLS_")  # Powertools' own switches, read by its objects
}}
print(json.dumps({{
    "settings_read": sorted(set(reads) & ours),
    "settings_loaded": settings.load.cache_info().currsize,
    "root_built": module.{root}.cache_info().currsize,
    "clients": clients,
    "connections": connections,
}}))
"""


@pytest.mark.parametrize(("name", "root"), ROOTS.items(), ids=ROOTS)
def test_importing_a_handler_reads_no_settings_and_builds_no_client(name: str, root: str) -> None:
    # An empty environment, as a broken deployment would give: the import must not need any of it.
    done = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", _PROBE.format(name=name, root=root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {
        "settings_read": [],
        "settings_loaded": 0,
        "root_built": 0,
        "clients": [],
        "connections": [],
    }
