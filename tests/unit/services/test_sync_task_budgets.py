"""A full sync's work per state machine task is bounded so its history stays under Step Functions'
25,000 events (docs/state-machine.md): one fetch task fetches many pages, up to a page count and a
time budget, and hands back the cursor; a plan has at most ``max_chunks`` chunks (Map items)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.domain.records import RunStatus
from shared.providers.base import Credentials, EmployeePage, ProviderUnavailable
from shared.services import full_sync, state_machine_tasks
from shared.services.context import ServiceSettings
from tests.support.memory import FixedClock
from tests.support.world import FakeHR, T, World, connect, hire


class SlowHR(FakeHR):
    """An HR system whose every page takes ``delay`` on the world's clock."""

    def __init__(self, clock: FixedClock, delay: timedelta) -> None:
        super().__init__(page_size=1)
        self.clock = clock
        self.delay = delay

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        self.clock.advance(self.delay)
        return super().list_employees(credentials, cursor)


def _fetch_tasks(world: World) -> tuple[list[int], dict[str, Any]]:
    """Connect, then run the machine's Start and FetchPage tasks as its loop does: the pages each
    FetchPage task fetched, and the state the loop ends with."""
    started = connect(world).run
    state = state_machine_tasks.start(world.ports, full_sync.workflow_input(started)).model_dump(mode="json")
    per_task = []
    while state["has_more"]:
        before = len(world.hr.calls)
        state = state_machine_tasks.fetch_page(world.ports, state).model_dump(mode="json")
        per_task.append(len(world.hr.calls) - before)
    return per_task, state


def test_one_fetch_task_fetches_pages_up_to_its_page_budget_and_hands_back_the_cursor() -> None:
    world = World(hr=FakeHR(page_size=1), settings=ServiceSettings(chunk_size=2, pages_per_task=3))
    hire(world, "ann", "bob", "cid", "dan", "eve", "fay", "gus")

    per_task, state = _fetch_tasks(world)

    assert per_task == [3, 3, 1]
    # each page once, in order (after connect's one credentials check)
    assert [c for c in world.hr.calls if c[0] == "list"] == [("list", page) for page in range(7)]
    assert (state["page"], state["cursor"], state["has_more"]) == (7, None, False)
    run = world.runs.get(T, state["run_id"])
    assert (run.progress.pages_fetched, run.progress.employees_fetched) == (7, 7)
    assert len(full_sync.load_snapshot(world.ports, run).employees) == 7
    assert run.snapshot_complete


def test_a_fetch_task_stops_at_its_time_budget_and_the_next_task_goes_on_from_its_cursor() -> None:
    clock = FixedClock()
    world = World(
        hr=SlowHR(clock, timedelta(minutes=4)),
        clock=clock,
        settings=ServiceSettings(chunk_size=2, pages_per_task=100, fetch_budget=timedelta(minutes=10)),
    )
    hire(world, "ann", "bob", "cid", "dan", "eve", "fay", "gus")

    per_task, state = _fetch_tasks(world)

    # 4 minutes a page: a task stops after the page that takes it past 10 minutes.
    assert per_task == [3, 3, 1]
    assert [c for c in world.hr.calls if c[0] == "list"] == [("list", page) for page in range(7)]
    run = world.runs.get(T, state["run_id"])
    assert run.progress.employees_fetched == 7 and run.snapshot_complete


def test_a_fetch_task_ends_at_the_last_page_or_a_failed_one() -> None:
    world = World(hr=FakeHR(page_size=2), settings=ServiceSettings(chunk_size=2, pages_per_task=100))
    hire(world, "ann", "bob", "cid", "dan", "eve")
    world.hr.fail_pages[2] = ProviderUnavailable("HTTP 503 after 5 retries")

    per_task, state = _fetch_tasks(world)

    assert per_task == [3]  # pages 0 and 1, then page 2 fails: the snapshot is incomplete (R09)
    assert state["has_more"] is False
    run = world.runs.get(T, state["run_id"])
    assert not run.snapshot_complete
    assert run.progress.employees_fetched == 4


def test_a_plan_has_at_most_max_chunks_chunks_and_every_member_is_applied() -> None:
    world = World(settings=ServiceSettings(chunk_size=2, max_chunks=3))
    people = [f"p{i:02d}" for i in range(11)]
    hire(world, *people)
    result = connect(world)

    run = world.drive(result.run)

    assert run.status is RunStatus.COMPLETED
    # 11 members in chunks of 2 would be 6 chunks: the chunks grow to 4 members instead.
    assert run.progress.chunks_total == run.progress.chunks_applied == 3
    assert run.applied.created == 11
    assert {m.hris_id for m in world.members.items.values()} == set(people)
