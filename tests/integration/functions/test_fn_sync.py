"""``functions/sync_trigger`` and ``functions/sync_steps`` in-process on moto, against a fake BambooHR.

The state machine's path is walked through the real handlers, task by task, as the definition
(docs/state-machine.md) does: trigger -> start -> fetch pages -> plan -> apply chunks -> finish.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from functions.sync_steps import handler as steps
from functions.sync_trigger import handler as trigger
from infra.local.fake_hris import FakeHRServer
from shared.domain.models import MemberStatus, SafetyThresholds
from shared.domain.records import RunStatus
from shared.errors import LockHeld, RunNotFound
from shared.services import full_sync
from shared.services.context import Ports, ServiceSettings
from tests.support.events import EVENT_TENANT, connection_of, load_event, with_state
from tests.support.lambda_stack import Stack, add_connection, aws_ports, fake_credentials

CONNECTION = connection_of("bamboohr")
CHUNK_SIZE = 4


@pytest.fixture
def ready(stack: Stack, bamboohr: FakeHRServer) -> Iterator[tuple[Stack, Ports]]:
    ports = aws_ports()
    add_connection(
        ports,
        "bamboohr",
        credentials=fake_credentials(bamboohr),
        admin_emails=("it@acme.example",),
        safety=SafetyThresholds(max_deactivations=2, max_deactivation_pct=5.0),
    )
    # Small chunks, so the Map has several items.
    small = replace(steps.ports(), settings=ServiceSettings(chunk_size=CHUNK_SIZE))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(steps, "ports", lambda: small)
        yield stack, ports


def _step(name: str, state: dict[str, Any], stack: Stack) -> dict[str, Any]:
    """One task of the machine: the sample event of the step, with the current state."""
    event = load_event(f"sync_steps/{name}")
    event["state"] = state
    return steps.handler(event, stack.context)


def _execution_input(stack: Stack, run_id: str) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    (execution,) = [e for e in stack.executions() if e["name"].startswith(run_id)]
    return dict(json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"]))


def _walk(stack: Stack, execution_input: dict[str, Any]) -> dict[str, Any]:
    """Start -> Route -> (FetchPage)* -> Plan -> Guard -> ApplyChunks -> Finish."""
    state = _step("start", execution_input, stack)
    if state["phase"] == "fetch":
        while state["has_more"]:
            state = _step("fetch_page", state, stack)
        state = _step("plan", state, stack)
        if state["verdict"] == "blocked":
            return state
    for chunk in state["chunks"]:
        item = {k: state[k] for k in ("tenant_id", "connection_id", "run_id")} | {"chunk": chunk}
        result = _step("apply_chunk", item, stack)
        assert result["chunk"] == chunk
    return _step("finish", state, stack)


def test_the_full_chain_from_the_schedule_to_the_members(
    ready: tuple[Stack, Ports], bamboohr: FakeHRServer, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, ports = ready
    started = trigger.handler(load_event("sync_trigger/schedule"), stack.context)
    assert started["status"] == "started"
    run_id = started["run_id"]
    execution_input = _execution_input(stack, run_id)
    assert execution_input == {
        "tenant_id": EVENT_TENANT,
        "connection_id": CONNECTION,
        "run_id": run_id,
        "trigger": "schedule",
        "phase": "fetch",
    }

    finished = _walk(stack, execution_input)

    assert finished["status"] == "completed"
    run = ports.runs.get(EVENT_TENANT, run_id)
    assert run.status is RunStatus.COMPLETED
    assert run.progress.chunks_total >= 2
    assert run.progress.chunks_applied == run.progress.chunks_total
    members = list(ports.members.iter_all(EVENT_TENANT))
    assert len(members) == run.applied.created + run.applied.linked
    expected = {e.hris_id for e in bamboohr.expected_employees()}
    assert {m.hris_id for m in members} <= expected
    assert finished["applied"]["created"] == run.applied.created
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')
    ]
    assert sum(m.get("MembersCreated", [0])[0] for m in emitted) == run.applied.created
    assert [m["SyncDuration"] for m in emitted if "SyncDuration" in m] == [[finished["duration_seconds"]]]
    # The lock is free again: the next schedule starts a new run.
    assert trigger.handler(load_event("sync_trigger/schedule"), stack.context)["status"] == "started"


def test_r29_the_trigger_reports_a_sync_already_running(ready: tuple[Stack, Ports]) -> None:
    stack, _ = ready
    first = trigger.handler(load_event("sync_trigger/sync_now"), stack.context)
    second = trigger.handler(load_event("sync_trigger/schedule"), stack.context)

    assert first["status"] == "started"
    assert second == {"status": "already_running", "run_id": first["run_id"]}
    assert len(stack.executions()) == 1


def test_a_schedule_that_outlived_its_connection_is_skipped(stack: Stack) -> None:
    event = load_event("sync_trigger/schedule")
    event["connection_id"] = "conn-deleted"
    assert trigger.handler(event, stack.context) == {"status": "skipped", "reason": "connection_not_found"}
    assert stack.executions() == []


def test_r23_a_held_plan_stops_the_machine_and_its_confirmation_applies_it(
    ready: tuple[Stack, Ports], bamboohr: FakeHRServer
) -> None:
    stack, ports = ready
    first = trigger.handler(load_event("sync_trigger/sync_now"), stack.context)
    _walk(stack, _execution_input(stack, first["run_id"]))
    leavers = [p.id for p in bamboohr.company.people()][:3]
    for person_id in leavers:
        bamboohr.terminate(person_id, on=date(2026, 1, 1))

    second = trigger.handler(load_event("sync_trigger/schedule"), stack.context)
    held = _walk(stack, _execution_input(stack, second["run_id"]))

    assert held["verdict"] == "blocked"
    assert ports.runs.get(EVENT_TENANT, second["run_id"]).status is RunStatus.BLOCKED
    assert ports.lock.current(EVENT_TENANT, CONNECTION, ports.clock.now()) is None
    active = [m for m in ports.members.iter_all(EVENT_TENANT) if m.status is not MemberStatus.DEACTIVATED]

    full_sync.confirm_held_plan(ports, EVENT_TENANT, second["run_id"], "admin-1")
    confirmed = _execution_input(stack, f"{second['run_id']}-confirmed")
    assert confirmed["phase"] == "apply"
    start = _step("start", with_state(load_event("sync_steps/start_confirmed"), **confirmed)["state"], stack)
    assert start["phase"] == "apply"
    assert start["chunks"]
    finished = _walk(stack, confirmed)

    assert finished["status"] == "completed"
    after = [m for m in ports.members.iter_all(EVENT_TENANT) if m.status is not MemberStatus.DEACTIVATED]
    assert len(after) == len(active) - len(leavers)


def test_the_fail_step_fails_the_run_frees_the_lock_and_keeps_no_stack_trace(
    ready: tuple[Stack, Ports],
) -> None:
    stack, ports = ready
    started = trigger.handler(load_event("sync_trigger/sync_now"), stack.context)
    event = with_state(load_event("sync_steps/fail"), run_id=started["run_id"])

    result = steps.handler(event, stack.context)

    run = ports.runs.get(EVENT_TENANT, started["run_id"])
    assert run.status is RunStatus.FAILED
    assert result["status"] == "failed"
    assert run.error == "ProviderCredentialsRejected: the HR system refused the connection's credentials"
    assert ports.lock.current(EVENT_TENANT, CONNECTION, ports.clock.now()) is None
    # A repeated catch changes nothing.
    assert steps.handler(event, stack.context)["status"] == "failed"


def test_a_failure_before_any_run_exists_is_recorded_nowhere(ready: tuple[Stack, Ports]) -> None:
    stack, _ = ready
    event = load_event("sync_steps/fail")
    del event["state"]["run_id"]
    assert steps.handler(event, stack.context)["run_id"] is None


def test_the_start_step_raises_lock_held_for_a_second_sync(ready: tuple[Stack, Ports]) -> None:
    stack, _ = ready
    trigger.handler(load_event("sync_trigger/sync_now"), stack.context)
    event = load_event("sync_steps/start")
    del event["state"]["run_id"]
    with pytest.raises(LockHeld):
        steps.handler(event, stack.context)


@pytest.mark.parametrize("name", ["fetch_page", "plan", "apply_chunk", "finish"])
def test_each_sample_step_event_reaches_its_service(name: str, ready: tuple[Stack, Ports]) -> None:
    """The sample events name a run that does not exist: each step gets as far as looking it up."""
    stack, _ = ready
    with pytest.raises(RunNotFound):
        steps.handler(load_event(f"sync_steps/{name}"), stack.context)


def test_an_unknown_step_is_an_error_naming_the_known_ones(ready: tuple[Stack, Ports]) -> None:
    stack, _ = ready
    with pytest.raises(steps.UnknownStep, match="fetch_page"):
        steps.handler({"step": "hold", "state": {}}, stack.context)
