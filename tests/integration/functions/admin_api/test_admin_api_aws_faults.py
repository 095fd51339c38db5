"""AWS refusing the admin API's side work, through the real composition root on moto: our error
shape with a typed code, never an unhandled ``ClientError`` (a 5xx from API Gateway)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from admin_api_client import Client
from admin_api_scenarios import connect_body
from test_admin_api_errors import assert_error_shape
from test_admin_api_on_moto import REGION, ROLE, aws  # noqa: F401 - the moto fixture

from functions.admin_api import handler as admin_handler
from shared.domain.models import Member, MemberSource, MemberStatus, Profile
from shared.ports import MemberWrite


def _delete_state_machine(arn: str) -> None:
    boto3.client("stepfunctions", region_name=REGION).delete_state_machine(stateMachineArn=arn)


def _recreate_state_machine() -> None:
    boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name="full-sync",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=ROLE,
    )


def test_r29_a_sync_whose_state_machine_is_gone_is_closed_with_the_reason_and_frees_the_lock(
    aws: dict[str, Any],  # noqa: F811 - the fixture imported above
) -> None:
    api = Client(tenant="tenant-a", sub="admin-a")
    _delete_state_machine(aws["state_machine"])

    connected = api.post("/v1/connections", connect_body(provider="bamboohr"))

    # The connection stands; its first import is closed with the reason, not left running.
    assert connected.status == 202, connected.text
    connection_id = connected.json["connection"]["id"]
    first = connected.json["run"]
    assert first["status"] == "failed"
    assert "StateMachineDoesNotExist" in first["error"]
    assert api.get(f"/v1/runs/{first['id']}").json["status"] == "failed"

    # Sync now: the lock is free (not 409 sync_running), the answer is typed and retryable.
    again = api.post(f"/v1/connections/{connection_id}/sync")
    assert_error_shape(again, 503, "workflow_not_started")
    run_id = again.json["error"]["details"]["run_id"]
    closed = api.get(f"/v1/runs/{run_id}").json
    assert closed["status"] == "failed" and "StateMachineDoesNotExist" in closed["error"]

    _recreate_state_machine()
    started = api.post(f"/v1/connections/{connection_id}/sync")
    assert started.status == 202, started.text
    assert started.json["status"] == "running"


def test_an_approval_whose_invite_ses_refuses_answers_502_and_the_approval_stands(
    aws: dict[str, Any],  # noqa: F811 - the fixture imported above
) -> None:
    api = Client(tenant="tenant-a", sub="admin-a")
    assert api.get("/v1/members").status == 200  # composes the root
    ports = admin_handler.ports()
    waiting = Member(
        member_id="mem_wait",
        tenant_id="tenant-a",
        source=MemberSource.MANUAL,
        status=MemberStatus.PENDING_APPROVAL,
        profile=Profile(email="new@acme.test", first_name="Ada"),
        version=1,
    )
    ports.members.write("tenant-a", [MemberWrite(member=waiting, previous=None, action_key="adm:seed")])

    # The sender (SES_SENDER) is not verified in this (sandboxed) SES: MessageRejected.
    answer = api.post("/v1/members/mem_wait/approve")

    assert_error_shape(answer, 502, "email_rejected")
    assert answer.json["error"]["details"] == {"template": "member_invite", "aws_code": "MessageRejected"}
    assert api.get("/v1/members/mem_wait").json["status"] == "invited"
