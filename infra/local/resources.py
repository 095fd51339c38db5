"""The stack's resources created on moto, from the same definitions the CDK stack deploys.

The table comes from ``shared.adapters.table_schema`` (the one table definition, which the CDK
storage construct also reads); everything else from the synthesized template: the queue and its
dead-letter queue with their attributes and redrive policy, the buckets, the event bus, the
schedule group, the SES identity and configuration set, and the state machine with the very
definition CDK synthesized (its Lambda ARNs resolved to the local functions').

``physical_ids`` names every resource of the template locally, so a ``Resolver`` can turn the
functions' environments and the definition into local values. Two local additions, neither part
of the service: a rule on the bus that copies every event into a queue (the event log reads it),
and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.local.template import (
    ACCOUNT,
    REGION,
    Physical,
    Resolver,
    TemplateError,
    one_resource,
    resources_of_type,
)
from shared.adapters.table_schema import IDEMPOTENCY_TABLE, TABLE, create_idempotency_table, create_table

EVENT_TAP_QUEUE = "hris-sync-local-events-tap"
EVENT_TAP_RULE = "hris-sync-local-events-tap"


def _arn(service: str, resource: str, *, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def _bucket_name(logical_id: str) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", f"hris-sync-local-{logical_id.lower()}")
    return name[:63].rstrip("-")


def physical_ids(template: Mapping[str, Any], *, queue_endpoint: str) -> dict[str, Physical]:
    """A local name and ARN for every resource of the template (before anything is created)."""
    out: dict[str, Physical] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type", "")
        props = resource.get("Properties", {}) or {}
        out[logical_id] = _physical(logical_id, kind, props, queue_endpoint)
    return out


def _physical(logical_id: str, kind: str, props: Mapping[str, Any], queue_endpoint: str) -> Physical:  # noqa: PLR0911
    def name(key: str) -> str:
        return str(props.get(key) or logical_id)

    if kind == "AWS::DynamoDB::Table":
        table = name("TableName")
        arn = _arn("dynamodb", f"table/{table}")
        return Physical(table, {"Arn": arn, "StreamArn": f"{arn}/stream/local"})
    if kind == "AWS::S3::Bucket":
        bucket = str(props.get("BucketName") or _bucket_name(logical_id))
        return Physical(
            bucket,
            {
                "Arn": f"arn:aws:s3:::{bucket}",
                "DomainName": f"{bucket}.s3.amazonaws.com",
                "RegionalDomainName": f"{bucket}.s3.{REGION}.amazonaws.com",
            },
        )
    if kind == "AWS::SQS::Queue":
        queue = name("QueueName")
        return Physical(
            f"{queue_endpoint}/{ACCOUNT}/{queue}",
            {
                "Arn": _arn("sqs", queue),
                "QueueName": queue,
                "QueueUrl": f"{queue_endpoint}/{ACCOUNT}/{queue}",
            },
        )
    if kind == "AWS::Lambda::Function":
        function = name("FunctionName")
        return Physical(function, {"Arn": _arn("lambda", f"function:{function}")})
    if kind == "AWS::StepFunctions::StateMachine":
        machine = name("StateMachineName")
        arn = _arn("states", f"stateMachine:{machine}")
        return Physical(arn, {"Arn": arn, "Name": machine})
    if kind == "AWS::Events::EventBus":
        bus = name("Name")
        return Physical(bus, {"Arn": _arn("events", f"event-bus/{bus}"), "Name": bus})
    if kind == "AWS::Scheduler::ScheduleGroup":
        group = name("Name")
        return Physical(group, {"Arn": _arn("scheduler", f"schedule-group/{group}")})
    if kind == "AWS::IAM::Role":
        role = name("RoleName")
        return Physical(role, {"Arn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "RoleId": role})
    if kind == "AWS::Logs::LogGroup":
        group = name("LogGroupName")
        return Physical(group, {"Arn": _arn("logs", f"log-group:{group}:*")})
    if kind == "AWS::SES::ConfigurationSet":
        return Physical(name("Name"))
    if kind == "AWS::SES::EmailIdentity":
        return Physical(name("EmailIdentity"))
    if kind == "AWS::SNS::Topic":
        topic = name("TopicName")
        return Physical(_arn("sns", topic), {"TopicName": topic, "TopicArn": _arn("sns", topic)})
    service = kind.split("::")[1].lower() if kind.count("::") == 2 else "local"
    return Physical(logical_id, {"Arn": _arn(service, logical_id), "Id": logical_id})


@dataclass(frozen=True)
class LocalResources:
    """What the local stack created, by role."""

    table_name: str
    bucket_name: str
    webhook_queue_url: str
    dead_letter_queue_url: str
    event_bus_name: str
    schedule_group: str
    state_machine_arn: str | None
    definition: str | None
    ses_sender: str
    event_tap_queue_url: str


def _main_table(template: Mapping[str, Any]) -> str:
    """The service's table: the one with the shared definition's key schema and indexes."""
    indexes = {gsi.name for gsi in TABLE.global_indexes}
    keys = [TABLE.partition_key.name, TABLE.sort_key.name]
    for logical_id, body in resources_of_type(template, "AWS::DynamoDB::Table").items():
        props = body.get("Properties") or {}
        if [k["AttributeName"] for k in props.get("KeySchema", [])] == keys and indexes == {
            g["IndexName"] for g in props.get("GlobalSecondaryIndexes", [])
        }:
            return logical_id
    raise TemplateError("no table in the template matches shared/adapters/table_schema.py")


def _create_other_table(dynamodb: Any, resolve: Resolver, logical_id: str, props: Mapping[str, Any]) -> None:
    """The idempotency table from its shared definition; any other table from the template."""
    name = resolve.physical[logical_id].ref
    if [k["AttributeName"] for k in props.get("KeySchema", [])] == [IDEMPOTENCY_TABLE.key.name]:
        create_idempotency_table(dynamodb, name)
        return
    dynamodb.create_table(
        TableName=resolve.physical[logical_id].ref,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=resolve.physical[logical_id].ref,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
        )


def _blob_bucket(template: Mapping[str, Any]) -> str:
    """The bucket the functions get as BUCKET_NAME (the access-log bucket is the other one)."""
    for resource in resources_of_type(template, "AWS::S3::Bucket").items():
        logical_id, body = resource
        if "LoggingConfiguration" in (body.get("Properties") or {}):
            return logical_id
    buckets = list(resources_of_type(template, "AWS::S3::Bucket"))
    if not buckets:
        raise TemplateError("the template has no bucket")
    return buckets[0]


def _webhook_queues(template: Mapping[str, Any]) -> tuple[str, str]:
    """(queue, dead-letter queue) logical ids: the queue is the one with a redrive policy."""
    queues = resources_of_type(template, "AWS::SQS::Queue")
    for logical_id, body in queues.items():
        redrive = (body.get("Properties") or {}).get("RedrivePolicy")
        if redrive:
            dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            return logical_id, dlq
    raise TemplateError("the template has no queue with a dead-letter queue")


def create_resources(
    template: Mapping[str, Any], resolve: Resolver, clients: Any, *, create_table_now: bool = True
) -> LocalResources:
    """Create every resource the handlers use on moto; ``clients(service)`` gives boto3 clients."""
    table_id = _main_table(template)
    table_name = resolve.physical[table_id].ref
    if create_table_now:
        create_table(clients("dynamodb"), table_name)
        for logical_id, body in resources_of_type(template, "AWS::DynamoDB::Table").items():
            if logical_id != table_id:  # e.g. the worker's idempotency records
                _create_other_table(clients("dynamodb"), resolve, logical_id, body.get("Properties") or {})

    s3 = clients("s3")
    for logical_id, body in resources_of_type(template, "AWS::S3::Bucket").items():
        bucket = resolve.physical[logical_id].ref
        s3.create_bucket(Bucket=bucket)
        props = body.get("Properties") or {}
        if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    bucket_name = resolve.physical[_blob_bucket(template)].ref

    sqs = clients("sqs")
    queue_id, dlq_id = _webhook_queues(template)
    urls: dict[str, str] = {}
    ordered = sorted(
        resources_of_type(template, "AWS::SQS::Queue").items(),
        key=lambda item: "RedrivePolicy" in (item[1].get("Properties") or {}),
    )
    for logical_id, body in ordered:
        urls[logical_id] = _create_queue(sqs, resolve, logical_id, body.get("Properties") or {})
    # Queue URLs as moto answers them (the handlers get them through the environment).
    for logical_id, url in urls.items():
        resolve.physical[logical_id].ref = url
        resolve.physical[logical_id].attributes["QueueUrl"] = url

    events = clients("events")
    bus_id, _ = one_resource(template, "AWS::Events::EventBus")
    bus = resolve.physical[bus_id].ref
    events.create_event_bus(Name=bus)
    tap_url = sqs.create_queue(QueueName=EVENT_TAP_QUEUE)["QueueUrl"]
    events.put_rule(Name=EVENT_TAP_RULE, EventBusName=bus, EventPattern=json.dumps(_event_pattern(template)))
    events.put_targets(
        Rule=EVENT_TAP_RULE, EventBusName=bus, Targets=[{"Id": "tap", "Arn": _arn("sqs", EVENT_TAP_QUEUE)}]
    )

    group_id, _ = one_resource(template, "AWS::Scheduler::ScheduleGroup")
    group = resolve.physical[group_id].ref
    clients("scheduler").create_schedule_group(Name=group)
    _create_fixed_schedules(template, resolve, clients("scheduler"), group)

    ses = clients("ses")
    sender = ""
    for logical_id in resources_of_type(template, "AWS::SES::EmailIdentity"):
        sender = resolve.physical[logical_id].ref
        ses.verify_email_identity(EmailAddress=sender)
    for logical_id in resources_of_type(template, "AWS::SES::ConfigurationSet"):
        ses.create_configuration_set(ConfigurationSet={"Name": resolve.physical[logical_id].ref})

    machine_arn: str | None = None
    definition: str | None = None
    machines = resources_of_type(template, "AWS::StepFunctions::StateMachine")
    if machines:
        machine_id, machine = one_resource(template, "AWS::StepFunctions::StateMachine")
        props = machine["Properties"]
        definition = state_machine_definition(template, resolve)
        created = clients("stepfunctions").create_state_machine(
            name=resolve.physical[machine_id].attributes["Name"],
            definition=definition,
            roleArn=resolve(props["RoleArn"]),
            type=props.get("StateMachineType", "STANDARD"),
        )
        machine_arn = str(created["stateMachineArn"])

    return LocalResources(
        table_name=table_name,
        bucket_name=bucket_name,
        webhook_queue_url=urls[queue_id],
        dead_letter_queue_url=urls[dlq_id],
        event_bus_name=bus,
        schedule_group=group,
        state_machine_arn=machine_arn,
        definition=definition,
        ses_sender=sender,
        event_tap_queue_url=tap_url,
    )


def state_machine_definition(template: Mapping[str, Any], resolve: Resolver) -> str:
    """The synthesized definition with its references resolved to the local resources."""
    _, machine = one_resource(template, "AWS::StepFunctions::StateMachine")
    props = machine["Properties"]
    raw = props.get("DefinitionString")
    if raw is None:
        raise TemplateError("the state machine has no DefinitionString")
    definition = resolve(raw)
    if not isinstance(definition, str):
        raise TemplateError("the state machine's definition did not resolve to a string")
    substitutions = props.get("DefinitionSubstitutions") or {}
    for key, value in substitutions.items():
        definition = definition.replace("${" + key + "}", str(resolve(value)))
    return definition


def _event_pattern(template: Mapping[str, Any]) -> dict[str, Any]:
    """The service's events: the pattern of the bus's archive (every event the service publishes)."""
    archives = resources_of_type(template, "AWS::Events::Archive")
    for body in archives.values():
        pattern = (body.get("Properties") or {}).get("EventPattern")
        if pattern:
            return dict(pattern)
    raise TemplateError("the template has no event archive to take the service's event pattern from")


def _create_queue(sqs: Any, resolve: Resolver, logical_id: str, props: Mapping[str, Any]) -> str:
    attributes: dict[str, str] = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
    ):
        if key in props:
            attributes[key] = str(props[key])
    if props.get("SqsManagedSseEnabled"):
        attributes["SqsManagedSseEnabled"] = "true"
    if props.get("RedrivePolicy"):
        attributes["RedrivePolicy"] = json.dumps(resolve(props["RedrivePolicy"]))
    name = resolve.physical[logical_id].attributes["QueueName"]
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


_SCHEDULE_FIELDS = (
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "FlexibleTimeWindow",
    "State",
    "Description",
)
_TARGET_FIELDS = ("Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig")


def _create_fixed_schedules(
    template: Mapping[str, Any], resolve: Resolver, scheduler: Any, group: str
) -> None:
    """The stack's own schedules (the subscription renewal sweep), in the group the ticker fires:
    created as the template declares them (the connections' schedules are made at run time)."""
    for logical_id, body in resources_of_type(template, "AWS::Scheduler::Schedule").items():
        props = resolve(body.get("Properties") or {})
        if props.get("GroupName") != group:
            raise TemplateError(f"{logical_id}: a schedule outside the schedule group is not fired locally")
        target = props["Target"]
        scheduler.create_schedule(
            Name=str(props.get("Name") or logical_id),
            GroupName=group,
            Target={k: target[k] for k in _TARGET_FIELDS if k in target},
            **{k: props[k] for k in _SCHEDULE_FIELDS if k in props},
        )
