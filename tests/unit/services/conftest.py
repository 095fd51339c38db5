"""Fixtures for the service tests: a fresh in-memory world per test; pydantic warnings are errors
(a value of the wrong type inside a model is a bug, not noise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.world import World

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.filterwarnings("error::UserWarning"))


@pytest.fixture
def world() -> World:
    return World()
