"""The admin API on the in-memory world (every port faked, a scriptable HR system named
``fakehr``), injected into the handler's composition root; pydantic warnings are errors."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from admin_api_client import TENANT_A, TENANT_B, Client

from functions.admin_api import handler as admin_handler
from tests.support.world import World

HERE = Path(__file__).parent
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "admin_api",
    "POWERTOOLS_METRICS_NAMESPACE": "hris-sync-test",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.filterwarnings("error::UserWarning"))


@pytest.fixture(autouse=True)
def _powertools_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A read answers without a metric; Powertools warns about that on every invocation.
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    for key, value in POWERTOOLS_ENV.items():
        monkeypatch.setenv(key, value)
    # The resolver is kept across tests (built at import, as in Lambda); the ports are per test.
    admin_handler.ports.cache_clear()
    yield


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    world = World()
    monkeypatch.setattr(admin_handler, "ports", lambda: world.ports)
    return world


@pytest.fixture
def api(world: World) -> Client:
    """Tenant A's admin."""
    return Client(tenant=TENANT_A, sub="admin-a")


@pytest.fixture
def viewer(world: World) -> Client:
    """Tenant A's non-admin user: may read, may not write."""
    return Client(tenant=TENANT_A, sub="viewer-a", admin=False)


@pytest.fixture
def other(world: World) -> Client:
    """Tenant B's admin."""
    return Client(tenant=TENANT_B, sub="admin-b")
