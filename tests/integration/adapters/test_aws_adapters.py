"""The adapters of the other AWS services, on moto: S3 blobs, Secrets Manager, EventBridge
Scheduler, Step Functions, SES v2 and EventBridge."""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from adapters_support import ScriptedAws, Sleeps
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from shared.adapters.blobs import S3BlobStore
from shared.adapters.clients import DEFAULT_MAX_ATTEMPTS, Backoff
from shared.adapters.events import EventBridgePublisher, EventsNotDelivered
from shared.adapters.mailer import SesMailer
from shared.adapters.scheduler import EventBridgeScheduler, schedule_name
from shared.adapters.secrets import SecretsManagerStore
from shared.adapters.workflow import StepFunctionsWorkflow
from shared.errors import (
    AlreadyExists,
    BlobNotFound,
    CorruptItem,
    EmailRejected,
    InvalidInput,
    SecretNotFound,
    Throttled,
)
from shared.ports import DomainEvent, Email, MailTemplate
from shared.providers.base import Credentials, Secret
from tests.support.mail import HOSTILE, assert_readable, read

REGION = "eu-west-1"
ROLE = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/scheduler"
DEAD_LETTERS = f"arn:aws:sqs:{REGION}:{DEFAULT_ACCOUNT_ID}:hris-sync-test-schedules-dlq"


# --- S3 ----------------------------------------------------------------------------------------
def test_blobs_put_get_delete(aws):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="blobs", CreateBucketConfiguration={"LocationConstraint": REGION})
    store = S3BlobStore("blobs", client=s3)
    store.put("t1/runs/r1/page-0.json", b'{"employees": []}')
    assert store.get("t1/runs/r1/page-0.json") == b'{"employees": []}'
    store.delete("t1/runs/r1/page-0.json")
    store.delete("t1/runs/r1/page-0.json")
    with pytest.raises(BlobNotFound):
        store.get("t1/runs/r1/page-0.json")
    with pytest.raises(InvalidInput):
        store.put("/absolute", b"")
    with pytest.raises(InvalidInput):
        store.get("t1/../t2/x")


# --- Secrets Manager ---------------------------------------------------------------------------
def test_one_secret_per_connection_never_shown(aws, caplog):
    caplog.set_level(logging.DEBUG, logger="shared")
    sm = boto3.client("secretsmanager", region_name=REGION)
    store = SecretsManagerStore(prefix="hris-sync", client=sm)
    creds = Credentials(secrets={"api_key": Secret("sk-very-secret")}, settings={"subdomain": "acme"})
    store.put("t1", "c1", creds)
    assert store.name("t1", "c1") == "hris-sync/t1/c1"
    assert sm.describe_secret(SecretId="hris-sync/t1/c1")["Name"] == "hris-sync/t1/c1"
    got = store.get("t1", "c1")
    assert got.secrets["api_key"].reveal() == "sk-very-secret"
    assert got.settings == {"subdomain": "acme"}
    assert "sk-very-secret" not in repr(got)
    rotated = Credentials(secrets={"api_key": Secret("sk-rotated")})
    store.put("t1", "c1", rotated)
    assert store.get("t1", "c1").secrets["api_key"].reveal() == "sk-rotated"
    with pytest.raises(SecretNotFound):
        store.get("t2", "c1")
    store.delete("t1", "c1")
    store.delete("t1", "c1")
    with pytest.raises(SecretNotFound) as missing:
        store.get("t1", "c1")
    assert "sk-" not in str(missing.value)
    assert "sk-very-secret" not in caplog.text and "sk-rotated" not in caplog.text


def test_put_replaces_an_existing_secret_with_put_secret_value_alone(aws):
    """A token refresh saves with PutSecretValue, the one write the refreshing functions may do:
    it never tries CreateSecret first (which IAM would deny them). Connect creates the secret,
    with its tags, only when PutSecretValue says it does not exist."""
    sm = boto3.client("secretsmanager", region_name=REGION)
    operations: list[str] = []
    sm.meta.events.register("before-call.secrets-manager.*", lambda model, **_: operations.append(model.name))
    store = SecretsManagerStore(prefix="hris-sync", client=sm)
    store.put("t1", "c1", Credentials(secrets={"refresh_token": Secret("rt-1")}))
    assert operations == ["PutSecretValue", "CreateSecret"]
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId="hris-sync/t1/c1")["Tags"]}
    assert tags == {"hris-sync:tenant": "t1", "hris-sync:connection": "c1"}

    operations.clear()
    store.put("t1", "c1", Credentials(secrets={"refresh_token": Secret("rt-2")}))
    assert operations == ["PutSecretValue"]
    assert store.get("t1", "c1").secrets["refresh_token"].reveal() == "rt-2"


def test_a_secret_that_is_not_ours_is_corrupt_without_showing_it(aws):
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="hris-sync/t1/c1", SecretString="password=hunter2")
    with pytest.raises(CorruptItem) as caught:
        SecretsManagerStore(client=sm).get("t1", "c1")
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is not None
    with pytest.raises(InvalidInput):
        SecretsManagerStore(client=sm).name("t1/../x", "c1")


# --- Scheduler ---------------------------------------------------------------------------------
def test_r28_one_schedule_per_connection_in_one_group(aws):
    client = boto3.client("scheduler", region_name=REGION)
    client.create_schedule_group(Name="hris-sync")
    target = f"arn:aws:states:{REGION}:{DEFAULT_ACCOUNT_ID}:stateMachine:full-sync"
    scheduler = EventBridgeScheduler(
        group_name="hris-sync", target_arn=target, role_arn=ROLE, dead_letter_arn=DEAD_LETTERS, client=client
    )
    payload = {"tenant_id": "t1", "connection_id": "c1", "trigger": "schedule"}
    scheduler.upsert("t1", "c1", expression="rate(6 hours)", timezone="UTC", payload=payload)
    scheduler.upsert(
        "t1", "c1", expression="cron(0 8 ? * MON-FRI *)", timezone="Europe/Berlin", payload=payload
    )
    scheduler.upsert("t2", "c1", expression="rate(1 day)", timezone="UTC", payload=payload)
    stored = scheduler.get("t1", "c1")
    assert stored["ScheduleExpression"] == "cron(0 8 ? * MON-FRI *)"
    assert stored["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert stored["Target"]["Arn"] == target
    assert json.loads(stored["Target"]["Input"]) == payload
    names = [s["Name"] for s in client.list_schedules(GroupName="hris-sync")["Schedules"]]
    assert sorted(names) == sorted([schedule_name("t1", "c1"), schedule_name("t2", "c1")])
    for bad in ("rate(0 hours)", "every 6 hours", "cron(0 8 * * MON *)", "rate(1 hours)"):
        with pytest.raises(InvalidInput):
            scheduler.upsert("t1", "c1", expression=bad, timezone="UTC", payload=payload)
    with pytest.raises(InvalidInput):
        scheduler.upsert("t1", "c1", expression="rate(6 hours)", timezone="Mars/Olympus", payload=payload)
    scheduler.delete("t1", "c1")
    scheduler.delete("t1", "c1")
    assert scheduler.get("t1", "c1") is None


def test_every_schedule_sends_what_it_cannot_deliver_to_the_dead_letter_queue(aws):
    """An invocation Scheduler could not deliver (target refused, retries spent) is kept in the
    stack's dead-letter queue, on a created schedule and on an updated one alike."""
    client = boto3.client("scheduler", region_name=REGION)
    client.create_schedule_group(Name="hris-sync")
    target = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:hris-sync-test-sync_trigger"
    scheduler = EventBridgeScheduler(
        group_name="hris-sync", target_arn=target, role_arn=ROLE, dead_letter_arn=DEAD_LETTERS, client=client
    )
    payload = {"tenant_id": "t1", "connection_id": "c1", "trigger": "schedule"}
    scheduler.upsert("t1", "c1", expression="rate(6 hours)", timezone="UTC", payload=payload)
    created = client.get_schedule(Name=schedule_name("t1", "c1"), GroupName="hris-sync")["Target"]
    scheduler.upsert("t1", "c1", expression="rate(12 hours)", timezone="UTC", payload=payload)
    updated = client.get_schedule(Name=schedule_name("t1", "c1"), GroupName="hris-sync")["Target"]
    for stored in (created, updated):
        assert stored["DeadLetterConfig"] == {"Arn": DEAD_LETTERS}
        assert stored["RoleArn"] == ROLE  # the role the stack lets send to that queue
        assert stored["RetryPolicy"]["MaximumRetryAttempts"] >= 1


# --- Step Functions ----------------------------------------------------------------------------
def test_workflow_starts_a_named_execution_once(aws):
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name="full-sync",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=ROLE,
    )["stateMachineArn"]
    workflow = StepFunctionsWorkflow(arn, client=sfn)
    first = workflow.start("run_abc", {"run_id": "run_abc", "tenant_id": "t1"})
    assert first == workflow.execution_arn("run_abc")
    assert sfn.describe_execution(executionArn=first)["name"] == "run_abc"
    assert workflow.start("run_abc", {"tenant_id": "t1", "run_id": "run_abc"}) == first
    with pytest.raises(AlreadyExists):
        workflow.start("run_abc", {"run_id": "other"})
    with pytest.raises(InvalidInput):
        workflow.start("bad name!", {})


# --- SES v2 ------------------------------------------------------------------------------------
def sent_messages() -> list:
    return ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def test_templated_emails_reach_ses_as_one_mime_message_with_text_and_html(aws):
    ses = boto3.client("sesv2", region_name=REGION)
    ses.create_email_identity(EmailIdentity="sync@example.com")
    mailer = SesMailer("sync@example.com", client=ses)
    mailer.send(
        Email(
            MailTemplate.SYNC_BLOCKED,
            ("admin@acme.test", "ADMIN@acme.test "),
            {
                "connection_label": HOSTILE,
                "deactivations": 120,
                "active_members": 400,
                "pct": 30,
                "run_id": "run_1",
            },
        )
    )
    mailer.send(
        Email(MailTemplate.MEMBER_INVITE, ("new@acme.test",), {"first_name": HOSTILE, "app_name": "Acme"})
    )
    mailer.send(
        Email(MailTemplate.IMPORT_COMPLETE, ("admin@acme.test",), {"connection_label": "HR", "created": 10})
    )
    mailer.send(
        Email(
            MailTemplate.CONNECTION_FAILING, ("admin@acme.test",), {"connection_label": "HR", "reason": "401"}
        )
    )
    mailer.send(Email(MailTemplate.IMPORT_COMPLETE, (), {"connection_label": "HR"}))  # nobody to tell
    messages = sent_messages()
    assert len(messages) == 4
    mails = [read(m.raw_data) for m in messages]  # the raw MIME as SES received it
    for mail in mails:
        assert_readable(mail)
    blocked = mails[0]
    assert "120" in blocked.subject
    assert blocked.to == ["admin@acme.test", "ADMIN@acme.test"]
    assert HOSTILE in blocked.text and HOSTILE in blocked.html_text and "30%" in blocked.text
    assert mails[1].subject == "You're invited to Acme"
    assert mails[2].paragraphs[1] == "- Created: 10"
    with pytest.raises(InvalidInput):
        mailer.send(Email(MailTemplate.SYNC_BLOCKED, ("a@acme.test",), {"connection_label": "HR"}))


def test_recipients_are_split_into_messages_of_at_most_fifty(aws):
    ses = boto3.client("sesv2", region_name=REGION)
    ses.create_email_identity(EmailIdentity="sync@example.com")
    admins = tuple(f"admin{i}@acme.test" for i in range(51))
    SesMailer("sync@example.com", client=ses).send(
        Email(MailTemplate.CONNECTION_FAILING, admins, {"connection_label": "HR", "reason": "401"})
    )
    assert [len(read(m.raw_data).to) for m in sent_messages()] == [50, 1]


def test_a_malformed_recipient_address_is_a_rejected_email(aws):
    ses = boto3.client("sesv2", region_name=REGION)
    ses.create_email_identity(EmailIdentity="sync@example.com")
    with pytest.raises(EmailRejected):
        SesMailer("sync@example.com", client=ses).send(
            Email(MailTemplate.MEMBER_INVITE, ("not an address@acme.test",), {"first_name": "Ada"})
        )
    assert sent_messages() == []


# --- EventBridge -------------------------------------------------------------------------------
def test_events_are_batched_by_ten_and_delivered(aws):
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name="hris-sync")
    queue = sqs.create_queue(QueueName="sink")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="all", EventBusName="hris-sync", EventPattern=json.dumps({"source": ["hris-sync"]}))
    events.put_targets(Rule="all", EventBusName="hris-sync", Targets=[{"Id": "q", "Arn": queue_arn}])
    calls: list[int] = []
    events.meta.events.register(
        "provide-client-params.events.PutEvents", lambda params, **_: calls.append(len(params["Entries"]))
    )
    publisher = EventBridgePublisher("hris-sync", client=events)
    batch = [DomainEvent("member.created", {"tenant_id": "t1", "member_id": f"m{i}"}) for i in range(23)]
    publisher.publish(batch)
    publisher.publish([])
    assert calls == [10, 10, 3]
    received = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        received += [json.loads(m["Body"]) for m in got]
        sqs.delete_message_batch(
            QueueUrl=queue, Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in got]
        )
    assert sorted(r["detail"]["member_id"] for r in received) == sorted(f"m{i}" for i in range(23))
    assert {r["detail-type"] for r in received} == {"member.created"}


class _FailingEvents:
    """put_events that fails the first entries of its first ``fail_calls`` answers."""

    def __init__(self, fail_calls: int) -> None:
        self.fail_calls = fail_calls
        self.sent: list[list[str]] = []

    def put_events(self, Entries):  # noqa: N803 - boto3's parameter name
        self.sent.append([json.loads(e["Detail"])["n"] for e in Entries])
        if self.fail_calls > 0:
            self.fail_calls -= 1
            answers = [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}] + [
                {"EventId": "ok"} for _ in Entries[1:]
            ]
            return {"FailedEntryCount": 1, "Entries": answers}
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "ok"} for _ in Entries]}


def test_failed_event_entries_are_resent_then_raised():
    sleeps = Sleeps()
    client = _FailingEvents(fail_calls=2)
    publisher = EventBridgePublisher("bus", client=client, backoff=Backoff(max_attempts=4, sleep=sleeps))
    publisher.publish([DomainEvent("task.opened", {"n": i}) for i in range(12)])
    assert client.sent == [list(range(10)), [0], [0], [10, 11]]
    assert len(sleeps) == 2
    client = _FailingEvents(fail_calls=10)
    publisher = EventBridgePublisher("bus", client=client, backoff=Backoff(max_attempts=3, sleep=Sleeps()))
    with pytest.raises(EventsNotDelivered) as caught:
        publisher.publish([DomainEvent("task.opened", {"n": 1})])
    assert caught.value.failed == 1


def test_a_throttled_put_events_is_retried_by_botocore_then_throttled(botocore_waits):
    aws = ScriptedAws("events", "PutEvents", ["ThrottlingException", None])
    EventBridgePublisher("bus", client=aws.client).publish([DomainEvent("task.opened", {"n": 1})])
    assert aws.sends == 2
    assert len(botocore_waits) == 1

    aws.answers, aws.sends = ["ThrottlingException"] * DEFAULT_MAX_ATTEMPTS, 0
    with pytest.raises(Throttled):
        EventBridgePublisher("bus", client=aws.client).publish([DomainEvent("task.opened", {"n": 1})])
    assert aws.sends == DEFAULT_MAX_ATTEMPTS == 3
