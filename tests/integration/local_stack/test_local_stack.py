"""The local stack's machinery on scripted stand-ins for the functions (tests/integration/local_stack/
functions): the synthesized state machine executed by moto with its Lambda tasks answered in-process,
each function's own environment, the gateway's authorizer, the queue poller's partial batch
failures, the scheduler ticker, the outbox and the event log."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.calls import running_as
from infra.local.resources import physical_ids, state_machine_definition
from infra.local.stack import LocalStack
from infra.local.template import Resolver
from shared.adapters.factory import AwsAdapters
from shared.adapters.scheduler import EVENT_POLL_SCHEDULES, schedule_name
from shared.settings import AdminApiSettings

FUNCTIONS = Path(__file__).parent / "functions"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state_dir = tmp_path_factory.mktemp("local")
    with LocalStack(state_dir=state_dir, functions_root=FUNCTIONS, ticker_interval=0.2) as running:
        yield running


def _module(stack: LocalStack, key: str) -> Any:
    module = stack.functions.get(key).module if stack.functions else None
    assert module is not None, f"{key} has not run yet"
    return module


def _run(stack: LocalStack, script: dict[str, Any], **extra: Any) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    assert stack.resources is not None
    name = f"test-{uuid.uuid4().hex[:12]}"
    arn = sfn.start_execution(
        stateMachineArn=stack.resources.state_machine_arn,
        name=name,
        input=json.dumps(
            {"tenant_id": "t1", "connection_id": "c1", "run_id": name, "script": script, **extra}
        ),
    )["executionArn"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError("the execution did not finish")


def _steps(stack: LocalStack, run_id: str) -> list[str]:
    return [step for step, state in _module(stack, "sync_steps").CALLS if state.get("run_id") == run_id]


def test_the_locally_executed_definition_is_the_synthesized_one(stack: LocalStack) -> None:
    assert stack.resources is not None and stack.resources.state_machine_arn is not None
    deployed = stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack.resources.state_machine_arn
    )["definition"]
    # The template's definition, resolved on its own (only the Lambda ARNs change).
    fresh = Resolver(physical_ids(stack.template, queue_endpoint="http://unused"))
    synthesized = state_machine_definition(stack.template, fresh)
    assert json.loads(deployed) == json.loads(synthesized)
    tasks = [s for s in json.loads(deployed)["States"].values() if s["Type"] == "Task"]
    assert tasks and all(t["Resource"].endswith(":function:hris-sync-local-sync_steps") for t in tasks)


def test_full_sync_runs_every_step_through_the_real_definition(stack: LocalStack) -> None:
    result = _run(stack, {"pages": 3, "chunks": 4})
    assert result["status"] == "SUCCEEDED"
    steps = _steps(stack, result["name"])
    assert steps[:5] == ["start", "fetch_page", "fetch_page", "fetch_page", "plan"]
    assert sorted(steps[5:9]) == ["apply_chunk"] * 4
    assert steps[9:] == ["finish"]
    # Each chunk got the Map's ItemSelector: ids plus one entry of `chunks`.
    chunks = [
        s
        for step, s in _module(stack, "sync_steps").CALLS
        if step == "apply_chunk" and s["run_id"] == result["name"]
    ]
    assert sorted(c["chunk"] for c in chunks) == ["chunk-0", "chunk-1", "chunk-2", "chunk-3"]
    assert set(chunks[0]) == {"tenant_id", "connection_id", "run_id", "chunk"}


def test_guard_holds_and_a_confirmed_plan_skips_fetch_and_plan(stack: LocalStack) -> None:
    held = _run(stack, {"pages": 1, "block": True})
    assert held["status"] == "SUCCEEDED"
    # The plan step holds the plan itself (R23); the machine then stops at Held.
    assert _steps(stack, held["name"]) == ["start", "fetch_page", "plan"]
    confirmed = _run(stack, {"chunks": 2}, phase="apply")
    assert _steps(stack, confirmed["name"]) == ["start", "apply_chunk", "apply_chunk", "finish"]


def test_a_handler_exception_is_caught_by_its_error_type_and_fails_the_run(stack: LocalStack) -> None:
    result = _run(stack, {"pages": 1, "chunks": 2, "fail_chunk": 1})
    assert result["status"] == "FAILED"
    assert result.get("error") == "SyncFailed"
    steps = _steps(stack, result["name"])
    assert steps[-1] == "fail"
    fail_state = [
        s
        for step, s in _module(stack, "sync_steps").CALLS
        if step == "fail" and s["run_id"] == result["name"]
    ]
    assert fail_state[0]["error"]["Error"] == "ChunkFailed"


def test_each_function_runs_with_its_own_environment(stack: LocalStack) -> None:
    env = _module(stack, "sync_steps").ENVIRONMENT
    assert stack.resources is not None
    assert env["TABLE_NAME"] == stack.resources.table_name
    assert env["BUCKET_NAME"] == stack.resources.bucket_name
    assert env["POWERTOOLS_SERVICE_NAME"] == "hris-sync-sync_steps"
    assert "WEBHOOK_QUEUE_URL" not in env  # the step function has no access to the queue
    assert "STATE_MACHINE_ARN" not in env


def test_gateway_needs_a_token_and_passes_its_tenant(stack: LocalStack) -> None:
    assert httpx.get(f"{stack.url}/v1/connections").status_code == 401
    answer = httpx.get(
        f"{stack.url}/v1/connections", headers={"Authorization": f"Bearer {stack.token('t-9')}"}
    )
    assert answer.status_code == 200
    assert answer.json() == {"tenant_id": "t-9", "path": "/v1/connections", "method": "GET"}


def test_webhook_to_queue_to_worker_with_partial_batch_failures(stack: LocalStack) -> None:
    ids = [f"w{i}" for i in range(5)]
    for i, key in enumerate(ids):
        body = {"id": key, "fail_times": 2 if i == 0 else 0}
        answer = httpx.post(stack.webhook_url("c1"), json=body)
        assert answer.status_code == 202
    assert stack.poller is not None and stack.poller.drain(30)
    worker = _module(stack, "webhook_worker")
    done = {d["id"] for d in worker.DONE}
    assert set(ids) <= done
    assert worker.ATTEMPTS["w0"] == 3  # failed twice, came back, applied once
    assert all(worker.ATTEMPTS[k] == 1 for k in ids[1:])  # the others were not redelivered


def test_ticker_fires_a_due_schedule_at_its_target(stack: LocalStack) -> None:
    assert stack.resources is not None
    target = stack.functions.get("sync_trigger").arn if stack.functions else ""
    scheduler = stack.client("scheduler")
    scheduler.create_schedule(
        Name="every-minute",
        GroupName=stack.resources.schedule_group,
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": target,
            "RoleArn": "arn:aws:iam::123456789012:role/x",
            "Input": json.dumps({"tenant_id": "t1", "connection_id": "c9", "trigger": "scheduled"}),
        },
    )
    assert stack.ticker is not None
    assert stack.ticker.tick(datetime.now(UTC)) == []  # not due yet
    fired = stack.ticker.tick(datetime.now(UTC) + timedelta(minutes=1, seconds=1))
    assert fired == ["every-minute"]
    assert _module(stack, "sync_trigger").FIRED[-1]["connection_id"] == "c9"
    assert stack.wait_for_executions(30)
    assert any(e.name.startswith("scheduled-") and e.status == "SUCCEEDED" for e in stack.executions())
    scheduler.delete_schedule(Name="every-minute", GroupName=stack.resources.schedule_group)


def test_an_event_poll_schedule_made_as_the_admin_api_makes_it_fires_the_poller_with_no_long_poll(
    stack: LocalStack,
) -> None:
    """The admin API's poll schedules (``AwsAdapters.poll_schedules``, from its own environment)
    target the event poller; the ticker fires one like any schedule, and the poller's local
    environment drains once (window 0) instead of holding the ticker for its 50 s window."""
    assert stack.resources is not None and stack.ticker is not None and stack.functions is not None
    admin = AdminApiSettings.model_validate(
        {k.lower(): v for k, v in stack.functions.environment_of("admin_api").items()}
    )
    resources = admin.resources()
    assert resources.event_poller_arn == stack.functions.get("event_poller").arn
    schedules = AwsAdapters(resources, clients={"scheduler": stack.client("scheduler")}).poll_schedules
    schedules.upsert(
        "t1",
        "c-adp",
        expression="rate(1 minute)",
        timezone="UTC",
        payload={"tenant_id": "t1", "connection_id": "c-adp"},
    )
    name = schedule_name("t1", "c-adp", EVENT_POLL_SCHEDULES)
    assert name.startswith("events-")
    try:
        assert name not in stack.ticker.tick(datetime.now(UTC))  # not due yet
        fired = stack.ticker.tick(datetime.now(UTC) + timedelta(minutes=1, seconds=1))
        assert name in fired
        poller = _module(stack, "event_poller")
        assert poller.FIRED[-1] == {"tenant_id": "t1", "connection_id": "c-adp"}
        assert poller.WINDOWS[-1] == "0"
    finally:
        schedules.delete("t1", "c-adp")


def test_the_stacks_subscription_sweep_is_scheduled_and_the_ticker_fires_it(stack: LocalStack) -> None:
    assert stack.resources is not None and stack.ticker is not None
    schedule = stack.client("scheduler").get_schedule(
        Name="subscription-renewal", GroupName=stack.resources.schedule_group
    )
    assert schedule["ScheduleExpression"] == "rate(6 hours)"
    assert stack.ticker.tick(datetime.now(UTC) + timedelta(minutes=5)) == []  # not due yet

    fired = stack.ticker.tick(datetime.now(UTC) + timedelta(hours=6, seconds=1))

    assert "subscription-renewal" in fired
    assert _module(stack, "subscription_renewer").FIRED == [{}]


def test_sent_mail_lands_in_the_outbox_and_events_in_the_log(stack: LocalStack) -> None:
    assert stack.resources is not None
    stack.client("sesv2").send_email(
        FromEmailAddress=stack.resources.ses_sender,
        Destination={"ToAddresses": ["admin@acme.example"]},
        Content={
            "Simple": {"Subject": {"Data": "Import finished"}, "Body": {"Text": {"Data": "2,000 members"}}}
        },
    )
    stack.client("events").put_events(
        Entries=[
            {
                "Source": "hris-sync",
                "DetailType": "member.created",
                "Detail": json.dumps({"member_id": "m1"}),
                "EventBusName": stack.resources.event_bus_name,
            }
        ]
    )
    mail = stack.mail()
    assert mail and mail[-1].suffix == ".eml"
    text = mail[-1].read_text()
    assert "Subject: Import finished" in text and "admin@acme.example" in text and "2,000 members" in text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not stack.events():
        time.sleep(0.05)
    events = stack.events()
    assert events[-1]["detail-type"] == "member.created"
    assert events[-1]["detail"] == {"member_id": "m1"}
    assert (stack.state_dir / "events.jsonl").read_text().count("member.created") >= 1
    assert stack.errors() == []


def test_each_call_is_recorded_as_its_function_and_checked_against_its_synthesized_policy(
    stack: LocalStack,
) -> None:
    assert httpx.post(stack.webhook_url("c1"), json={"id": "iam-1"}).status_code == 202
    assert stack.resources is not None
    queue = stack.resources.webhook_queue_url.rsplit("/", 1)[-1]
    sent = [c for c in stack.calls.calls() if (c.function, c.operation) == ("webhook_ingest", "SendMessage")]
    assert sent and {n.resource for c in sent for n in c.needs} == {
        f"arn:aws:sqs:us-east-1:123456789012:{queue}"
    }
    assert stack.iam_denied() == []

    # A call the policy does not grant is named with its function, operation and resource.
    with running_as("webhook_ingest"):
        stack.client("secretsmanager").create_secret(Name="hris-sync/local/t1/c1", SecretString="{}")
    (only,) = stack.iam_denied()
    assert only.startswith("webhook_ingest may not secretsmanager:CreateSecret")
    assert ":secret:hris-sync/local/t1/c1-" in only
    stack.calls.clear()
