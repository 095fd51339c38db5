"""The full-sync execution's worst-case history, counted from the SYNTHESIZED definition.

Step Functions keeps at most 25,000 events in one execution's history; an execution that would
write more fails. This walks the definition CDK synthesized: it prices every state by its type
(the events AWS writes for it, every retry the state's Retry allows taken), finds the one loop (the
fetch loop) and the Map, bounds how often each runs from the service's settings and the machine's
own timeout, and takes the costliest path from StartAt to an end (Catch edges included). The sum
must stay under the quota with a margin, for the largest company a full sync supports.

How often the fetch loop turns: a FetchPage task returns after the last page, after
``pages_per_task`` pages, or after running ``fetch_budget``. So at most one task per
``pages_per_task`` pages of the largest snapshot (``max_pages``, where the fetch stops), plus one
task per ``fetch_budget`` of the execution's whole time limit (``TimeoutSeconds``), plus the last.
The Map runs at most ``max_chunks`` items (the plan grows its chunks past that).
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import pytest

from infra.catalog import SYNC_STEPS
from shared.providers.http import RetryPolicy
from shared.providers.registry import PROVIDER_NAMES, get_provider
from shared.services.context import ServiceSettings
from tests.infra.conftest import Synthesized, resolve_join

QUOTA = 25_000  # events in one execution's history (a hard Step Functions limit)
MARGIN = 0.8  # the worst case stays under 80 % of it
LARGEST_COMPANY = 500_000  # people: the largest company a full sync supports

# Events AWS writes per state, by type (the history event types of the Step Functions docs).
# A Task: TaskStateEntered, {Lambda function | Task} Scheduled, Started, Succeeded, TaskStateExited;
# each failed attempt before a retry adds Scheduled, Started, Failed (or TimedOut).
TASK_EVENTS = 5
FAILED_ATTEMPT_EVENTS = 3
ENTERED_EXITED = 2  # Choice, Pass, Wait, Succeed
FAIL_EVENTS = 1  # FailStateEntered (the execution's own end event is counted once, below)
MAP_EVENTS = 4  # MapStateEntered, MapStateStarted, MapStateSucceeded (or Failed), MapStateExited
MAP_ITERATION_EVENTS = 2  # MapIterationStarted, MapIterationSucceeded (or Failed)
EXECUTION_EVENTS = 2  # ExecutionStarted, ExecutionSucceeded (or Failed, TimedOut)


def _definition(stack: Synthesized) -> dict[str, Any]:
    machine = stack.one("AWS::StepFunctions::StateMachine")
    return dict(json.loads(resolve_join(machine["Properties"]["DefinitionString"])))


def _next_states(state: dict[str, Any]) -> list[str]:
    found = [state["Next"]] if "Next" in state else []
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [state["Default"]] if "Default" in state else []
    found += [catch["Next"] for catch in state.get("Catch", [])]
    return found


def _reachable(states: dict[str, Any], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(_next_states(states[start]))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _next_states(states[name])
    return seen


class Budget:
    """The worst-case event count of a definition, under the service's settings."""

    def __init__(self, definition: dict[str, Any], settings: ServiceSettings) -> None:
        self.definition = definition
        self.settings = settings
        self.timeout = timedelta(seconds=definition["TimeoutSeconds"])

    def fetch_tasks(self) -> int:
        """How many FetchPage tasks one execution can run (module docstring)."""
        s = self.settings
        return 1 + math.ceil(s.max_pages / s.pages_per_task) + self.timeout // s.fetch_budget

    def state(self, state: dict[str, Any]) -> int:
        kind = state["Type"]
        if kind == "Task":
            retries = sum(retry.get("MaxAttempts", 3) for retry in state.get("Retry", []))
            return TASK_EVENTS + FAILED_ATTEMPT_EVENTS * retries
        if kind in ("Choice", "Pass", "Wait", "Succeed"):
            return ENTERED_EXITED
        if kind == "Fail":
            return FAIL_EVENTS
        if kind == "Map":
            assert state["ItemsPath"] == "$.chunks", "the Map's items must be the plan's chunks"
            processor = state["ItemProcessor"]
            assert processor.get("ProcessorConfig", {}).get("Mode", "INLINE") == "INLINE"
            per_item = MAP_ITERATION_EVENTS + self.longest(processor["States"], processor["StartAt"])
            return MAP_EVENTS + self.settings.max_chunks * per_item
        raise AssertionError(f"no event count for a {kind} state: add one here")

    def loop(self, states: dict[str, Any]) -> set[str]:
        """The states on a cycle. The definition must have one loop at most: the fetch loop."""
        looping = {name for name in states if name in _reachable(states, name)}
        for name in looping:
            assert looping <= _reachable(states, name) | {name}, "more than one loop"
        if looping:
            steps = {states[n]["Parameters"]["step"] for n in looping if states[n]["Type"] == "Task"}
            assert steps == {"fetch_page"}, f"a loop over {steps}: bound its turns here"
        return looping

    def longest(self, states: dict[str, Any], start: str) -> int:
        """The costliest walk from ``start`` to an end, each loop turned as often as it can."""
        looping = self.loop(states)
        loop_cost = self.fetch_tasks() * sum(self.state(states[name]) for name in looping)
        memo: dict[str, int] = {}

        def cost(name: str) -> int:
            if name not in memo:
                if name in looping:
                    exits = {n for member in looping for n in _next_states(states[member])} - looping
                    memo[name] = loop_cost + max((cost(n) for n in exits), default=0)
                else:
                    after = [cost(n) for n in _next_states(states[name])]
                    memo[name] = self.state(states[name]) + max(after, default=0)
            return memo[name]

        return cost(start)

    def worst_case(self) -> int:
        return EXECUTION_EVENTS + self.longest(self.definition["States"], self.definition["StartAt"])


def test_the_largest_supported_company_is_500000_people_at_our_smallest_page_size() -> None:
    settings = ServiceSettings()
    page_sizes = {}
    for name in PROVIDER_NAMES:
        connector: Any = get_provider(name)
        page_sizes[name] = connector.page_size
        connector.close()
    assert min(page_sizes.values()) == 100, page_sizes  # Personio, Merge, Employment Hero
    assert settings.max_pages * min(page_sizes.values()) >= LARGEST_COMPANY


def test_the_worst_case_history_of_the_largest_import_fits_step_functions_quota(stack: Synthesized) -> None:
    definition = _definition(stack)
    settings = ServiceSettings()
    budget = Budget(definition, settings)

    worst = budget.worst_case()

    assert worst <= MARGIN * QUOTA, f"{worst} events in the worst case (quota {QUOTA})"
    # The loop is the fetch loop (FetchPage and its Choice), turned once per task, not per page.
    states = definition["States"]
    assert budget.loop(states) == {"FetchPage", "MorePages"}
    pages = math.ceil(LARGEST_COMPANY / 100)
    assert pages <= settings.max_pages
    assert budget.fetch_tasks() < pages / 10


def test_the_worst_case_would_not_fit_with_one_page_per_task(stack: Synthesized) -> None:
    """The count is sensitive to what it must catch: one page per task (the machine before the
    budgets) puts the largest import far over the quota."""
    one_page = ServiceSettings(pages_per_task=1)
    assert Budget(_definition(stack), one_page).worst_case() > QUOTA


@pytest.mark.parametrize("retries", [True, False])
def test_the_event_count_per_fetch_turn_is_what_aws_writes(stack: Synthesized, retries: bool) -> None:
    """Without retries a turn is 7 events (a Lambda task's 5 and a Choice's 2), as AWS documents;
    the worst case adds 3 per retry the FetchPage task allows."""
    states = _definition(stack)["States"]
    if not retries:
        states = {name: {k: v for k, v in s.items() if k != "Retry"} for name, s in states.items()}
    budget = Budget({"States": states, "StartAt": "Start", "TimeoutSeconds": 43_200}, ServiceSettings())
    turn = sum(budget.state(states[name]) for name in budget.loop(states))
    allowed = sum(r["MaxAttempts"] for r in _definition(stack)["States"]["FetchPage"]["Retry"])
    assert turn == 7 + (3 * allowed if retries else 0)


def test_a_fetch_task_ends_its_last_page_inside_the_function_timeout() -> None:
    """A task starts no page after its budget; the page it is on may still make HTTP calls of up
    to the client's whole retry budget each (a token refresh and the page itself)."""
    settings = ServiceSettings()
    spare = SYNC_STEPS.timeout.to_seconds() - settings.fetch_budget.total_seconds()
    assert spare >= 2 * RetryPolicy().max_total
