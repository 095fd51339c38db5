"""Every adapter turns AWS's error codes into our typed errors, on moto.

Where moto answers the code itself (a missing key, state machine or secret; an unverified SES
sender) the test makes that call. Codes moto never answers (AccessDenied for a
role without the permission, throttling, SES's sending pause) are answered by the real
moto-backed client through botocore's ``before-call`` hook, which hands botocore a parsed error
response exactly as if AWS had sent it: the adapter sees a real ``ClientError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID

from shared.adapters.aws_errors import AwsAccessDenied, AwsServiceError
from shared.adapters.blobs import S3BlobStore
from shared.adapters.dynamo import DynamoTable
from shared.adapters.events import EventBridgePublisher
from shared.adapters.lock import DynamoConnectionLock
from shared.adapters.mailer import SesMailer
from shared.adapters.scheduler import EventBridgeScheduler
from shared.adapters.secrets import SecretsManagerStore
from shared.adapters.table_schema import create_table
from shared.adapters.workflow import StepFunctionsWorkflow
from shared.errors import (
    BlobNotFound,
    EmailNotSent,
    EmailRejected,
    EmailSendingPaused,
    EmailThrottled,
    HrisSyncError,
    InvalidInput,
    LockHeld,
    NotFound,
    SecretNotFound,
    Throttled,
)
from shared.ports import DomainEvent, Email, MailTemplate
from shared.providers.base import Credentials, Secret

REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/scheduler"
MACHINE = f"arn:aws:states:{REGION}:{DEFAULT_ACCOUNT_ID}:stateMachine:full-sync"
DEAD_LETTERS = f"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT_ID}:hris-sync-test-schedules-dlq"
PAYLOAD = {"tenant_id": "t1", "connection_id": "c1", "trigger": "schedule"}


def answer(client: Any, operation: str, code: str, status: int = 400) -> None:
    """Make ``client`` answer ``operation`` with AWS's error ``code`` (and ``status``)."""
    service = client.meta.service_model.service_id.hyphenize()

    def respond(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = {
            "Error": {"Code": code, "Message": f"(a message the adapter must not match on) {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse(f"https://{service}.test/", status, {}, None), parsed

    client.meta.events.register(f"before-call.{service}.{operation}", respond)


def raised(call: Callable[[], Any]) -> HrisSyncError:
    """The typed error ``call`` raised: never a ``ClientError``, never AWS's message."""
    try:
        call()
    except ClientError as error:  # pragma: no cover - the failure this file exists to catch
        pytest.fail(f"an untyped ClientError escaped: {error.response['Error']['Code']}")
    except HrisSyncError as error:
        assert "must not match" not in str(error)
        return error
    pytest.fail("nothing was raised")


# --- S3 ----------------------------------------------------------------------------------------
@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket="blobs", CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


def test_a_missing_blob_is_not_found_and_access_denied_is_not(s3: Any) -> None:
    store = S3BlobStore("blobs", client=s3)
    # NoSuchKey: what S3 answers for a missing key to a role that may list the bucket.
    missing = raised(lambda: store.get("t1/runs/r1/page-0.json"))
    assert isinstance(missing, BlobNotFound) and missing.http_status == 404

    answer(s3, "GetObject", "AccessDenied", 403)
    denied = raised(lambda: store.get("t1/runs/r1/page-0.json"))
    assert isinstance(denied, AwsAccessDenied) and not isinstance(denied, NotFound)
    assert (denied.operation, denied.aws_code) == ("GetObject", "AccessDenied")


@pytest.mark.parametrize(
    ("operation", "code", "status", "expected"),
    [
        ("GetObject", "NoSuchKey", 404, BlobNotFound),
        ("GetObject", "SlowDown", 503, Throttled),
        ("PutObject", "AccessDenied", 403, AwsAccessDenied),
        ("PutObject", "KMSAccessDeniedException", 400, AwsAccessDenied),
        ("DeleteObject", "AccessDenied", 403, AwsAccessDenied),
        ("PutObject", "InternalError", 500, AwsServiceError),
    ],
)
def test_s3_codes_are_typed(s3: Any, operation: str, code: str, status: int, expected: type) -> None:
    store = S3BlobStore("blobs", client=s3)
    answer(s3, operation, code, status)
    calls = {
        "GetObject": lambda: store.get("t1/x"),
        "PutObject": lambda: store.put("t1/x", b"{}"),
        "DeleteObject": lambda: store.delete("t1/x"),
    }
    assert type(raised(calls[operation])) is expected


def test_deleting_a_missing_blob_is_done(s3: Any) -> None:
    answer(s3, "DeleteObject", "NoSuchKey", 404)
    S3BlobStore("blobs", client=s3).delete("t1/gone")


# --- Step Functions ----------------------------------------------------------------------------
def test_a_missing_state_machine_is_a_typed_error_naming_the_code(aws: None) -> None:
    workflow = StepFunctionsWorkflow(MACHINE, client=boto3.client("stepfunctions", region_name=REGION))
    error = raised(lambda: workflow.start("run_1", {"run_id": "run_1"}))
    assert isinstance(error, AwsServiceError)
    assert (error.operation, error.aws_code) == ("StartExecution", "StateMachineDoesNotExist")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AccessDeniedException", AwsAccessDenied),
        ("ThrottlingException", Throttled),
        ("StateMachineDeleting", AwsServiceError),
        ("ExecutionLimitExceeded", AwsServiceError),
    ],
)
def test_step_functions_codes_are_typed(aws: None, code: str, expected: type) -> None:
    client = boto3.client("stepfunctions", region_name=REGION)
    answer(client, "StartExecution", code)
    error = raised(lambda: StepFunctionsWorkflow(MACHINE, client=client).start("run_1", {}))
    assert type(error) is expected


def test_an_existing_execution_that_cannot_be_described_is_typed(aws: None) -> None:
    client = boto3.client("stepfunctions", region_name=REGION)
    answer(client, "StartExecution", "ExecutionAlreadyExists")
    answer(client, "DescribeExecution", "AccessDeniedException")
    error = raised(lambda: StepFunctionsWorkflow(MACHINE, client=client).start("run_1", {}))
    assert isinstance(error, AwsAccessDenied) and error.operation == "DescribeExecution"


# --- EventBridge Scheduler ---------------------------------------------------------------------
def _scheduler(client: Any, group: str = "hris-sync") -> EventBridgeScheduler:
    return EventBridgeScheduler(
        group_name=group, target_arn=MACHINE, role_arn=ROLE, dead_letter_arn=DEAD_LETTERS, client=client
    )


def test_a_missing_schedule_group_is_a_typed_error(aws: None) -> None:
    # moto raises a KeyError of its own for a missing group; AWS answers this code.
    client = boto3.client("scheduler", region_name=REGION)
    answer(client, "CreateSchedule", "ResourceNotFoundException", 404)
    scheduler = _scheduler(client, group="no-such-group")
    error = raised(
        lambda: scheduler.upsert("t1", "c1", expression="rate(6 hours)", timezone="UTC", payload=PAYLOAD)
    )
    assert isinstance(error, AwsServiceError) and error.aws_code == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("operation", "code", "expected"),
    [
        ("CreateSchedule", "AccessDeniedException", AwsAccessDenied),
        ("CreateSchedule", "ThrottlingException", Throttled),
        ("CreateSchedule", "ValidationException", InvalidInput),
        ("CreateSchedule", "ServiceQuotaExceededException", AwsServiceError),
        ("DeleteSchedule", "AccessDeniedException", AwsAccessDenied),
        ("GetSchedule", "ThrottlingException", Throttled),
    ],
)
def test_scheduler_codes_are_typed(aws: None, operation: str, code: str, expected: type) -> None:
    client = boto3.client("scheduler", region_name=REGION)
    client.create_schedule_group(Name="hris-sync")
    scheduler = _scheduler(client)
    answer(client, operation, code)
    calls = {
        "CreateSchedule": lambda: scheduler.upsert(
            "t1", "c1", expression="rate(6 hours)", timezone="UTC", payload=PAYLOAD
        ),
        "DeleteSchedule": lambda: scheduler.delete("t1", "c1"),
        "GetSchedule": lambda: scheduler.get("t1", "c1"),
    }
    assert type(raised(calls[operation])) is expected


def test_an_existing_schedule_whose_update_is_denied_is_typed(aws: None) -> None:
    client = boto3.client("scheduler", region_name=REGION)
    client.create_schedule_group(Name="hris-sync")
    scheduler = _scheduler(client)
    scheduler.upsert("t1", "c1", expression="rate(6 hours)", timezone="UTC", payload=PAYLOAD)
    answer(client, "UpdateSchedule", "AccessDeniedException")
    error = raised(
        lambda: scheduler.upsert("t1", "c1", expression="rate(1 day)", timezone="UTC", payload=PAYLOAD)
    )
    assert isinstance(error, AwsAccessDenied) and error.operation == "UpdateSchedule"


# --- SES v2 ------------------------------------------------------------------------------------
INVITE = Email(MailTemplate.MEMBER_INVITE, ("new@acme.test",), {"first_name": "Ada", "app_name": "Acme"})


def test_an_unverified_sender_in_the_sandbox_is_rejected(aws: None) -> None:
    mailer = SesMailer("unverified@acme.test", client=boto3.client("sesv2", region_name=REGION))
    error = raised(lambda: mailer.send(INVITE))
    assert isinstance(error, EmailRejected)
    assert (error.template, error.aws_code, error.http_status) == ("member_invite", "MessageRejected", 502)


@pytest.mark.parametrize(
    ("code", "expected", "stops_sending"),
    [
        ("MessageRejected", EmailRejected, False),
        ("BadRequestException", EmailRejected, False),
        ("TooManyRequestsException", EmailThrottled, True),
        ("LimitExceededException", EmailThrottled, True),
        ("SendingPausedException", EmailSendingPaused, True),
        ("AccountSuspendedException", EmailSendingPaused, True),
        ("MailFromDomainNotVerifiedException", EmailSendingPaused, True),
        ("NotFoundException", EmailSendingPaused, True),
    ],
)
def test_ses_refusals_are_typed_email_errors(
    aws: None, code: str, expected: type, stops_sending: bool
) -> None:
    client = boto3.client("sesv2", region_name=REGION)
    client.create_email_identity(EmailIdentity="sync@acme.test")
    answer(client, "SendEmail", code)
    error = raised(lambda: SesMailer("sync@acme.test", client=client).send(INVITE))
    assert type(error) is expected
    assert isinstance(error, EmailNotSent) and error.stops_sending is stops_sending
    assert error.aws_code == code


def test_ses_access_denied_is_a_deployment_fault_not_an_email_refusal(aws: None) -> None:
    client = boto3.client("sesv2", region_name=REGION)
    answer(client, "SendEmail", "AccessDeniedException")
    error = raised(lambda: SesMailer("sync@acme.test", client=client).send(INVITE))
    assert isinstance(error, AwsAccessDenied) and not isinstance(error, EmailNotSent)


# --- EventBridge, Secrets Manager --------------------------------------------------------------
def test_a_missing_event_bus_and_a_denied_put_are_typed(aws: None) -> None:
    client = boto3.client("events", region_name=REGION)
    event = [DomainEvent("task.opened", {"n": 1})]
    answer(client, "PutEvents", "ResourceNotFoundException")
    missing = raised(lambda: EventBridgePublisher("no-such-bus", client=client).publish(event))
    assert isinstance(missing, AwsServiceError) and missing.aws_code == "ResourceNotFoundException"
    denied_client = boto3.client("events", region_name=REGION)
    answer(denied_client, "PutEvents", "AccessDeniedException")
    denied = raised(lambda: EventBridgePublisher("bus", client=denied_client).publish(event))
    assert isinstance(denied, AwsAccessDenied)


def test_secrets_manager_access_denied_is_typed_and_shows_no_value(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    store = SecretsManagerStore(client=client)
    assert isinstance(raised(lambda: store.get("t1", "c1")), SecretNotFound)
    answer(client, "GetSecretValue", "AccessDeniedException")
    denied = raised(lambda: store.get("t1", "c1"))
    assert isinstance(denied, AwsAccessDenied)
    answer(client, "CreateSecret", "AccessDeniedException")
    put = raised(lambda: store.put("t1", "c1", Credentials(secrets={"api_key": Secret("sk-hidden")})))
    assert isinstance(put, AwsAccessDenied) and "sk-hidden" not in str(put)


# --- DynamoDB ----------------------------------------------------------------------------------
@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client, "hris-sync-errors")
    return client


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AccessDeniedException", AwsAccessDenied),
        ("ValidationException", AwsServiceError),
        ("ItemCollectionSizeLimitExceededException", AwsServiceError),
        ("ResourceNotFoundException", NotFound),
    ],
)
def test_table_codes_are_typed(dynamodb: Any, code: str, expected: type) -> None:
    table = DynamoTable("hris-sync-errors", client=dynamodb)
    answer(dynamodb, "GetItem", code)
    error = raised(lambda: table.get({"pk": {"S": "T#t1"}, "sk": {"S": "X"}}))
    assert type(error) is expected


def test_a_failed_condition_stays_for_the_caller_who_knows_what_it_meant(dynamodb: Any) -> None:
    """The lock reads ConditionalCheckFailed as "held by someone else", never as a fault."""
    lock = DynamoConnectionLock(DynamoTable("hris-sync-errors", client=dynamodb))
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    lock.acquire("t1", "c1", "run_1", now, timedelta(minutes=15))
    held = raised(lambda: lock.acquire("t1", "c1", "run_2", now, timedelta(minutes=15)))
    assert isinstance(held, LockHeld) and held.holder == "run_1"
    assert json.dumps(held.details)
