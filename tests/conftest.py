"""Suite markers by folder, no sockets in unit tests, and Powertools' settings for the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_socket import disable_socket, enable_socket

# The handlers' Powertools objects are built when ``shared.observability`` is first imported (as in
# Lambda's init phase, where these are already set): the test session sets them before any import.
for _name, _value in {
    "POWERTOOLS_SERVICE_NAME": "hris-sync",
    "POWERTOOLS_METRICS_NAMESPACE": "hris-sync-test",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ.setdefault(_name, _value)

TESTS = Path(__file__).parent
SUITES = ("unit", "integration", "infra", "e2e", "contract", "browser")
# The team's reference folder beside the repository (vendor specs, rules).
SHARED_REFERENCE = TESTS.parent.parent / "shared"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(item.path).relative_to(TESTS).parts[0]
        if suite in SUITES:
            item.add_marker(getattr(pytest.mark, suite))


@pytest.fixture(autouse=True)
def _no_sockets_in_unit_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    disable_socket(allow_unix_socket=False)
    try:
        yield
    finally:
        enable_socket()
