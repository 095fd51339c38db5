"""The synthesized full-sync definition, executed by moto's Step Functions interpreter (as the
local stack will run it), with sync_steps answered by a scripted stand-in: the fetch loop, the
guard, the Map over chunks, the confirmed-plan shortcut and Catch -> fail all behave as drawn in
docs/state-machine.md. Only paths without retries: moto really sleeps between attempts."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaBackend

from tests.infra.conftest import Synthesized, resolve_join

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hris-sync-dev-sync_steps"
ROLE_ARN = "arn:aws:iam::123456789012:role/hris-sync-dev-full-sync"
Script = Callable[[str, dict[str, Any]], dict[str, Any]]


class StepFailed(Exception):
    """Raised by a scripted step: answered as a Lambda function error of this errorType."""

    def __init__(self, error_type: str) -> None:
        super().__init__(error_type)
        self.error_type = error_type


@pytest.fixture
def run_machine(
    stack: Synthesized, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[dict[str, Any], Script], tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]]]:
    machine = stack.one("AWS::StepFunctions::StateMachine")
    definition = re.sub(
        r'"<[A-Za-z0-9]+>"', json.dumps(FUNCTION_ARN), resolve_join(machine["Properties"]["DefinitionString"])
    )
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    calls: list[tuple[str, dict[str, Any]]] = []
    script: dict[str, Script] = {}

    def invoke(  # noqa: PLR0917 - the signature of moto's LambdaBackend.invoke
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        assert function_name == FUNCTION_ARN
        event = json.loads(body)
        calls.append((event["step"], event["state"]))
        try:
            answer = script["run"](event["step"], event["state"])
        except StepFailed as failure:
            response_headers["x-amz-function-error"] = "Unhandled"
            answer = {"errorType": failure.error_type, "errorMessage": "scripted", "stackTrace": []}
        return json.dumps(answer).encode()

    monkeypatch.setattr(LambdaBackend, "invoke", invoke)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arn = client.create_state_machine(name="full-sync", definition=definition, roleArn=ROLE_ARN)[
            "stateMachineArn"
        ]

        def run(
            execution_input: dict[str, Any], steps: Script
        ) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
            calls.clear()
            script["run"] = steps
            name = f"run-{len(client.list_executions(stateMachineArn=arn)['executions'])}"
            execution = client.start_execution(
                stateMachineArn=arn, name=name, input=json.dumps(execution_input)
            )
            for _ in range(400):  # a bounded wait for the interpreter's thread, not a timing check
                described = client.describe_execution(executionArn=execution["executionArn"])
                if described["status"] != "RUNNING":
                    return described, list(calls)
                time.sleep(0.025)
            raise AssertionError("the execution did not finish")

        yield run


START = {"tenant_id": "t1", "connection_id": "c1", "run_id": "r1", "trigger": "schedule"}


def _sync(pages: int, chunks: list[str], verdict: str = "apply") -> Script:
    def steps(step: str, state: dict[str, Any]) -> dict[str, Any]:
        if step == "start":
            return {**state, "phase": "fetch", "cursor": None, "has_more": True, "pages": 0}
        if step == "fetch_page":
            fetched = state["pages"] + 1
            return {**state, "pages": fetched, "cursor": f"p{fetched}", "has_more": fetched < pages}
        if step == "plan":
            return {**state, "verdict": verdict, "chunks": chunks}
        return {"done": step}

    return steps


def test_a_full_sync_pages_until_the_last_cursor_then_applies_every_chunk(run_machine: Any) -> None:
    execution, calls = run_machine(START, _sync(pages=3, chunks=["k/0", "k/1", "k/2"]))
    assert execution["status"] == "SUCCEEDED"
    steps = [step for step, _ in calls]
    assert steps[:5] == ["start", "fetch_page", "fetch_page", "fetch_page", "plan"]
    assert sorted(steps[5:8]) == ["apply_chunk"] * 3
    assert steps[8:] == ["finish"]
    applied = sorted(state["chunk"] for step, state in calls if step == "apply_chunk")
    assert applied == ["k/0", "k/1", "k/2"]
    for step, state in calls:
        if step == "apply_chunk":
            assert set(state) == {"tenant_id", "connection_id", "run_id", "chunk"}


def test_r23_a_blocked_plan_is_held_and_nothing_is_applied(run_machine: Any) -> None:
    execution, calls = run_machine(START, _sync(pages=1, chunks=["k/0"], verdict="blocked"))
    assert execution["status"] == "SUCCEEDED"
    # The plan step itself holds the plan (R23): the machine stops at Held with nothing more to call.
    assert [step for step, _ in calls] == ["start", "fetch_page", "plan"]


def test_a_confirmed_held_plan_goes_straight_to_applying(run_machine: Any) -> None:
    def steps(step: str, state: dict[str, Any]) -> dict[str, Any]:
        if step == "start":
            return {**state, "phase": "apply", "chunks": ["held/0", "held/1"]}
        return {"done": step}

    execution, calls = run_machine({**START, "trigger": "confirm"}, steps)
    assert execution["status"] == "SUCCEEDED"
    assert [step for step, _ in calls] == ["start", "apply_chunk", "apply_chunk", "finish"]


def test_a_failing_step_is_caught_by_the_fail_step_and_the_execution_fails(run_machine: Any) -> None:
    def steps(step: str, state: dict[str, Any]) -> dict[str, Any]:
        if step == "fetch_page":
            raise StepFailed("ProviderAuthError")  # not a transient error: no retry
        return _sync(pages=1, chunks=[])(step, state)

    execution, calls = run_machine(START, steps)
    assert execution["status"] == "FAILED"
    assert [step for step, _ in calls] == ["start", "fetch_page", "fail"]
    failed_state = calls[-1][1]
    assert failed_state["error"]["Error"] == "ProviderAuthError"
    assert failed_state["run_id"] == "r1"


def test_a_failing_chunk_fails_the_map_into_the_fail_step(run_machine: Any) -> None:
    def steps(step: str, state: dict[str, Any]) -> dict[str, Any]:
        if step == "apply_chunk":
            raise StepFailed("CorruptItem")
        return _sync(pages=1, chunks=["k/0"])(step, state)

    execution, calls = run_machine(START, steps)
    assert execution["status"] == "FAILED"
    assert [step for step, _ in calls][-1] == "fail"
    assert "finish" not in [step for step, _ in calls]
