"""Suite markers by folder, and no sockets in unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_socket import disable_socket, enable_socket

TESTS = Path(__file__).parent
SUITES = ("unit", "integration", "infra", "e2e", "contract")
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
