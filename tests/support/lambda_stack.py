"""The Lambda handlers in-process, on moto (``mock_aws``), with the sample events of ``events/``.

``stack`` creates what the CDK stack would (the table and the idempotency table from their shared
definitions, the bucket, the webhook queue and its DLQ, the bus, a verified SES sender, the state
machine) and sets the environment the stack gives the functions (``infra.environment``). Every
handler's lazy composition root is reset around each test, so each test builds its own.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import boto3
import pytest
from moto import mock_aws

from infra.environment import FunctionEnvironment
from infra.local.client import fake_credentials as client_fake_credentials
from infra.local.company import generate_company
from infra.local.fake_hris import FakeHRServer, fake_hris
from infra.local.lambdas import forget_composition
from shared import bootstrap
from shared.adapters.table_schema import create_idempotency_table, create_table
from shared.domain.models import Connection
from shared.providers.base import Credentials, Secret
from shared.providers.catalogue import AuthMethod
from shared.services.context import Ports
from shared.services.webhook_apply import WEBHOOK_SECRET_KEY
from tests.support.events import EVENT_TENANT, TEST_WEBHOOK_SECRET, connection_of
from tests.support.memory import FixedClock

REGION: Final = "eu-west-1"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}
SENDER = "no-reply@example.com"


@dataclass
class LambdaContext:
    """What Powertools reads from a Lambda context."""

    function_name: str = "hris-sync-test-fn"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:hris-sync-test-fn"
    aws_request_id: str = "3b1f1c52-6f1e-4c7e-9d7a-2f8c1e0b9a11"
    log_group_name: str = "/aws/lambda/hris-sync-test-fn"
    log_stream_name: str = "2026/01/15/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class Stack:
    environment: FunctionEnvironment
    queue_url: str
    dlq_url: str
    state_machine_arn: str
    context: LambdaContext = field(default_factory=LambdaContext)

    def client(self, service: str) -> Any:
        make: Any = boto3.client  # the stubs type a client per literal name; this takes any name
        return make(service, region_name=REGION)

    def queued(self) -> list[dict[str, Any]]:
        """Every message on the webhook queue (received, so hidden from the next call)."""
        sqs = self.client("sqs")
        got: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return got
            got.extend(batch)

    def executions(self) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        return list(sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"])


def _environment(tables: dict[str, str], queue_url: str, machine: str) -> FunctionEnvironment:
    return FunctionEnvironment(
        stage="test",
        powertools_service_name="hris-sync-test",
        powertools_metrics_namespace="HrisSyncTest",
        table_name=tables["main"],
        bucket_name="hris-sync-test-blobs",
        secrets_prefix="hris-sync/test",
        webhook_queue_url=queue_url,
        idempotency_table_name=tables["idempotency"],
        state_machine_arn=machine,
        schedule_group="hris-sync-test",
        scheduler_role_arn="arn:aws:iam::123456789012:role/scheduler",
        schedule_dead_letter_arn=f"arn:aws:sqs:{REGION}:123456789012:hris-sync-test-schedules-dlq",
        event_bus_name="hris-sync-test",
        ses_sender=SENDER,
    )


def _cold_start() -> None:
    """Forget the settings and what every loaded handler's composition root built (a new mock)."""
    bootstrap.reset_all()
    for name, module in list(sys.modules.items()):
        if name.startswith("functions.") and name.endswith(".handler"):
            forget_composition(module)


@contextmanager
def mocked_stack() -> Iterator[Stack]:
    """Moto with the stack's resources and the functions' environment (until the block ends)."""
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        for name, value in FAKE_AWS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        _cold_start()
        tables = {"main": "hris-sync-test", "idempotency": "hris-sync-test-idempotency"}
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb, tables["main"])
        create_idempotency_table(ddb, tables["idempotency"])
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket="hris-sync-test-blobs", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName="hris-sync-test-webhooks-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        queue_url = sqs.create_queue(
            QueueName="hris-sync-test-webhooks",
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
            },
        )["QueueUrl"]
        boto3.client("events", region_name=REGION).create_event_bus(Name="hris-sync-test")
        boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
        machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="hris-sync-test-full-sync",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        environment = _environment(tables, queue_url, machine)
        for name, value in environment.variables().items():
            monkeypatch.setenv(name, value)
        try:
            yield Stack(
                environment=environment, queue_url=queue_url, dlq_url=dlq_url, state_machine_arn=machine
            )
        finally:
            _cold_start()


@pytest.fixture
def stack() -> Iterator[Stack]:
    """A fresh mocked stack for one test."""
    with mocked_stack() as fresh:
        yield fresh


def aws_ports() -> Ports:
    """The services' ports on the mocked AWS, as the functions build them."""
    from shared.settings import SyncStepsSettings, load

    return bootstrap.build_ports(load(SyncStepsSettings))


def add_connection(
    ports: Ports,
    provider: str,
    *,
    credentials: Credentials | None = None,
    tenant_id: str = EVENT_TENANT,
    now: datetime | None = None,
    **fields: Any,
) -> Connection:
    """A stored connection ``conn-<provider>`` (the sample events' ids) with its credentials."""
    connection = Connection(
        connection_id=connection_of(provider),
        tenant_id=tenant_id,
        provider=provider,
        label=f"{provider} HR",
        version=1,
        created_at=now,
        updated_at=now,
        **fields,
    )
    ports.connections.create(connection, max_active=10)
    creds = credentials or Credentials()
    ports.secrets.put(
        tenant_id,
        connection.connection_id,
        Credentials(
            secrets={**creds.secrets, WEBHOOK_SECRET_KEY: Secret(TEST_WEBHOOK_SECRET)},
            settings=creds.settings,
        ),
    )
    return connection


def fake_credentials(fake: FakeHRServer, method: AuthMethod | None = None) -> Credentials:
    """The fake's credentials as its catalogue entry asks (``infra.local.client.fake_credentials``)."""
    given = client_fake_credentials(fake, method=method)
    return Credentials(
        secrets={k: Secret(v) for k, v in given["secrets"].items()}, settings=dict(given["settings"])
    )


@pytest.fixture
def bamboohr() -> Iterator[FakeHRServer]:
    """A BambooHR fake whose people include the ids the sample events name (1001, 1002)."""
    from datetime import date

    with fake_hris("bamboohr", employees=generate_company(12, 7, date(2026, 1, 15)), rate_limit=None) as fake:
        yield fake


def fixed_clock() -> FixedClock:
    from tests.support.events import EVENT_TIME

    return FixedClock(EVENT_TIME)
