"""The admin API through its real composition root on moto: settings read from the environment the
stack sets, the AWS adapters built lazily on the first invocation, the credentials stored in
Secrets Manager (never in the table, never answered), the schedule, the first import's execution."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from admin_api_client import Client
from admin_api_scenarios import SECRET_API_KEY, connect_body
from moto import mock_aws

from functions.admin_api import handler as admin_handler
from infra.catalog import ADMIN_API
from shared.adapters.table_schema import create_table
from shared.bootstrap import reset_all
from shared.domain.models import Member, MemberSource, MemberStatus, Profile
from shared.ports import MemberWrite
from shared.providers.bamboohr import BambooHR
from tests.support.clients import clients_allowed

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/hris-sync-test"
DEAD_LETTERS = "arn:aws:sqs:eu-west-1:123456789012:hris-sync-test-schedules-dlq"
TABLE = "hris-sync-test"
POLLER = "arn:aws:lambda:eu-west-1:123456789012:function:hris-sync-test-event_poller"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # The AWS side is under test here, not BambooHR: its one credentials call (R32) is answered
    # "accepted" (the check itself is proven against the fake and with respx elsewhere).
    monkeypatch.setattr(BambooHR, "check_credentials", lambda _self, _credentials: None)
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="hris-sync-test-blobs", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        boto3.client("scheduler", region_name=REGION).create_schedule_group(Name="hris-sync-test")
        boto3.client("events", region_name=REGION).create_event_bus(Name="hris-sync-test")
        machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="full-sync",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=ROLE,
        )["stateMachineArn"]
        # What infra/environment.py gives the admin_api function.
        for key, value in {
            "STAGE": "test",
            "TABLE_NAME": TABLE,
            "BUCKET_NAME": "hris-sync-test-blobs",
            "SECRETS_PREFIX": "hris-sync/test/",
            "STATE_MACHINE_ARN": machine,
            "SCHEDULE_GROUP": "hris-sync-test",
            "SCHEDULE_TARGET_ARN": "arn:aws:lambda:eu-west-1:123456789012:function:sync_trigger",
            "SCHEDULER_ROLE_ARN": ROLE,
            "SCHEDULE_DEAD_LETTER_ARN": DEAD_LETTERS,
            "EVENT_POLLER_ARN": POLLER,
            "EVENT_BUS_NAME": "hris-sync-test",
            "SES_SENDER": "noreply@acme.test",
        }.items():
            monkeypatch.setenv(key, value)
        reset_all()  # the composition root reads these on the next invocation
        admin_handler.ports.cache_clear()
        yield {"state_machine": machine}
        reset_all()
        admin_handler.ports.cache_clear()


@pytest.fixture
def built(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The boto3 clients the admin API's adapters build from here on (moto's, recorded)."""
    made: list[str] = []
    real = boto3.client

    def client(service: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service)
        return real(service, *args, **kwargs)

    monkeypatch.setattr("shared.adapters.clients.boto3.client", client)
    return made


READS = ["/v1/members", "/v1/members/mem_x", "/v1/connections", "/v1/tasks", "/v1/audit", "/v1/runs/run_x"]


@pytest.mark.parametrize("path", READS)
def test_a_read_route_builds_only_the_dynamodb_client(path: str, built: list[str]) -> None:
    answer = Client(tenant="tenant-a").get(path)
    assert answer.status in (200, 404), answer.text
    assert built == ["dynamodb"]


def test_connect_builds_only_the_clients_connect_needs_and_its_role_allows(built: list[str]) -> None:
    """The table, the credentials' secret, the schedule (R28), the first import's execution: not
    S3 or SES, which other routes use; each client once, and each one the role grants."""
    api = Client(tenant="tenant-a", sub="admin-a")
    assert api.post("/v1/connections", connect_body(provider="bamboohr")).status == 202
    assert sorted(built) == ["dynamodb", "scheduler", "secretsmanager", "stepfunctions"]
    assert set(built) <= clients_allowed(ADMIN_API)

    assert api.get("/v1/members").status == 200  # the warm container reuses what it built
    assert api.post("/v1/connections/nothing/sync").status == 404
    assert sorted(built) == ["dynamodb", "scheduler", "secretsmanager", "stepfunctions"]


def test_connect_read_and_disconnect_on_aws_adapters(aws: dict[str, Any]) -> None:
    api = Client(tenant="tenant-a", sub="admin-a")
    connected = api.post("/v1/connections", connect_body(provider="bamboohr"))
    assert connected.status == 202, connected.text
    assert admin_handler.ports.cache_info().currsize == 1  # composed on the first invocation
    connection_id = connected.json["connection"]["id"]
    run_id = connected.json["run"]["id"]

    secrets = boto3.client("secretsmanager", region_name=REGION)
    [listed] = secrets.list_secrets()["SecretList"]
    assert listed["Name"].startswith("hris-sync/test/")
    assert SECRET_API_KEY in secrets.get_secret_value(SecretId=listed["ARN"])["SecretString"]
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=TABLE)["Items"]
    assert items and SECRET_API_KEY not in json.dumps(items)
    scheduler = boto3.client("scheduler", region_name=REGION)
    [schedule] = scheduler.list_schedules(GroupName="hris-sync-test")["Schedules"]
    # The dead-letter queue the stack gives the function reaches every schedule it creates.
    target = scheduler.get_schedule(Name=schedule["Name"], GroupName="hris-sync-test")["Target"]
    assert target["DeadLetterConfig"] == {"Arn": DEAD_LETTERS}
    executions = boto3.client("stepfunctions", region_name=REGION).list_executions(
        stateMachineArn=aws["state_machine"]
    )["executions"]
    assert [e["name"] for e in executions] == [run_id]

    one = api.get(f"/v1/connections/{connection_id}")
    assert one.status == 200 and one.json["provider"] == "bamboohr"
    assert SECRET_API_KEY not in one.text
    assert api.get(f"/v1/runs/{run_id}").json["status"] == "running"
    assert api.get(f"/v1/connections/{connection_id}/runs").json["items"][0]["id"] == run_id
    busy = api.post(f"/v1/connections/{connection_id}/sync")
    assert (busy.status, busy.error_code) == (409, "sync_running")
    assert api.get("/v1/members").json == {"items": [], "next_cursor": None}

    other = Client(tenant="tenant-b", sub="admin-b")
    assert other.get(f"/v1/connections/{connection_id}").status == 404
    assert other.get(f"/v1/runs/{run_id}").status == 404
    assert other.get("/v1/connections").json["items"] == []

    gone = api.delete(f"/v1/connections/{connection_id}")
    assert gone.status == 200 and gone.json["status"] == "disconnected"
    remaining = secrets.list_secrets()["SecretList"]
    assert all("DeletedDate" in s for s in remaining) or remaining == []
    assert (
        boto3.client("scheduler", region_name=REGION).list_schedules(GroupName="hris-sync-test")["Schedules"]
        == []
    )


def _schedules() -> dict[str, dict[str, Any]]:
    scheduler = boto3.client("scheduler", region_name=REGION)
    return {
        s["Name"]: scheduler.get_schedule(Name=s["Name"], GroupName="hris-sync-test")
        for s in scheduler.list_schedules(GroupName="hris-sync-test")["Schedules"]
    }


def test_r28_a_connector_without_an_event_queue_gets_no_poll_schedule(aws: dict[str, Any]) -> None:
    api = Client(tenant="tenant-a", sub="admin-a")
    assert api.post("/v1/connections", connect_body(provider="bamboohr")).status == 202
    assert [name.split("-")[0] for name in _schedules()] == ["sync"]


def test_r28_r20_an_event_queue_connection_is_polled_every_minute_until_disconnected(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for ADP: BambooHR given EventQueue's two methods (never called here).
    monkeypatch.setattr(BambooHR, "next_message", lambda _self, _c: None, raising=False)
    monkeypatch.setattr(BambooHR, "acknowledge", lambda _self, _c, _m: None, raising=False)
    api = Client(tenant="tenant-a", sub="admin-a")
    connected = api.post("/v1/connections", connect_body(provider="bamboohr"))
    assert connected.status == 202, connected.text
    connection_id = connected.json["connection"]["id"]

    schedules = _schedules()
    assert sorted(name.split("-")[0] for name in schedules) == ["events", "sync"]
    (poll,) = [s for name, s in schedules.items() if name.startswith("events-")]
    assert poll["ScheduleExpression"] == "rate(1 minute)"
    assert poll["Target"]["Arn"] == POLLER
    assert poll["Target"]["RoleArn"] == ROLE
    assert poll["Target"]["DeadLetterConfig"] == {"Arn": DEAD_LETTERS}
    assert json.loads(poll["Target"]["Input"]) == {"tenant_id": "tenant-a", "connection_id": connection_id}

    assert (
        api.patch(f"/v1/connections/{connection_id}", {"schedule": {"expression": "rate(2 hours)"}}).status
        == 200
    )
    assert _schedules()[poll["Name"]]["ScheduleExpression"] == "rate(1 minute)"  # left alone

    assert api.delete(f"/v1/connections/{connection_id}").status == 200
    assert _schedules() == {}
    assert api.delete(f"/v1/connections/{connection_id}").status == 200  # again: nothing left to delete


def test_paging_members_on_dynamodb(aws: dict[str, Any]) -> None:
    api = Client(tenant="tenant-a")
    assert api.get("/v1/members").status == 200  # composes the root
    ports = admin_handler.ports()
    ports.members.write(
        "tenant-a",
        [
            MemberWrite(
                member=Member(
                    member_id=f"mem_{i:03d}",
                    tenant_id="tenant-a",
                    source=MemberSource.MANUAL,
                    status=MemberStatus.ACTIVE,
                    profile=Profile(email=f"p{i}@acme.test"),
                    version=1,
                ),
                previous=None,
                action_key=f"adm:seed{i}",
            )
            for i in range(7)
        ],
    )
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/members", query=query).json
        seen.extend(m["id"] for m in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"mem_{i:03d}" for i in range(7)]
    assert len(seen) == 7
    foreign = Client(tenant="tenant-b").get("/v1/members", query={"cursor": page_cursor(api)})
    assert (foreign.status, foreign.error_code) == (422, "invalid_input")


def page_cursor(api: Client) -> str:
    cursor: str = api.get("/v1/members", query={"limit": "2"}).json["next_cursor"]
    return cursor
