"""One local stack for the whole e2e folder (started on first use, stopped after the folder's last
test, so no later suite runs beside its threads or its AWS environment), plus helpers that talk to
it only over HTTP: a tenant's admin client, fake HR servers, the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.local.stack import LocalStack
from tests.support.local_stack import Tenant

_RUNNING: list[LocalStack] = []


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    running = LocalStack(state_dir=tmp_path_factory.mktemp("local-stack"), reset=True, persist=False)
    running.start()
    _RUNNING.append(running)
    return running


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the stack once the next test is not an e2e test (or there is none)."""
    here = Path(__file__).parent
    if _RUNNING and (nextitem is None or here not in Path(nextitem.path).parents):
        _RUNNING.pop().stop()


def _check_iam(stack: LocalStack) -> None:
    """Every e2e test also proves IAM: each AWS call a function made in it is allowed by that
    function's policy in the synthesized template (the log starts afresh for the next test)."""
    denied = stack.iam_denied()
    stack.calls.clear()
    assert not denied, "calls the synthesized IAM does not allow:\n" + "\n".join(denied)


@pytest.fixture
def tenant(stack: LocalStack) -> Iterator[Tenant]:
    made = Tenant(stack)
    yield made
    made.close()
    _check_iam(stack)


@pytest.fixture
def new_tenant(stack: LocalStack) -> Iterator[Callable[[], Tenant]]:
    made: list[Tenant] = []

    def make() -> Tenant:
        made.append(Tenant(stack))
        return made[-1]

    yield make
    for one in made:
        one.close()
    _check_iam(stack)
