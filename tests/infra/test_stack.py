"""Template assertions on the synthesized stack: what each resource must do, not how many there are."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.catalog import API_AUTHORIZER, FUNCTIONS, Access
from infra.environment import FunctionEnvironment
from shared.adapters.scheduler import EVENT_POLL_SCHEDULES
from shared.adapters.table_schema import IDEMPOTENCY_TABLE, TABLE
from shared.schedule_expressions import next_fire
from shared.services.context import ServiceSettings
from shared.settings import EventPollerSettings
from tests.infra.conftest import FIXTURE_FUNCTIONS, Synthesized, resolve_join

STAGE = "dev"
NOW_UTC = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
TABLE_READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
TABLE_WRITE = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
}
# s3:ListBucket: so that S3 answers a missing blob with NoSuchKey (404), not AccessDenied.
BLOBS = {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"}
SQS_CONSUME = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
}
EXPECTED_ACTIONS = {
    "admin_api": LOGS
    | XRAY
    | TABLE_READ
    | TABLE_WRITE
    | BLOBS
    | {
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DeleteSecret",
        "secretsmanager:TagResource",
        "scheduler:CreateSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:GetSchedule",
        "iam:PassRole",
        "states:StartExecution",
        "states:DescribeExecution",
        "ses:SendEmail",
        "ses:SendRawEmail",
        "events:PutEvents",
    },
    "webhook_ingest": LOGS | XRAY | TABLE_READ | {"secretsmanager:GetSecretValue", "sqs:SendMessage"},
    "webhook_worker": LOGS
    | XRAY
    | TABLE_READ
    | TABLE_WRITE
    | SQS_CONSUME
    | {
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "states:StartExecution",  # the full sync a Graph lifecycle notification calls for
        "states:DescribeExecution",
        "ses:SendEmail",
        "ses:SendRawEmail",
        "events:PutEvents",
    },
    "sync_steps": LOGS
    | XRAY
    | TABLE_READ
    | TABLE_WRITE
    | BLOBS
    | {
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "ses:SendEmail",
        "ses:SendRawEmail",
        "events:PutEvents",
    },
    "sync_trigger": LOGS
    | XRAY
    | TABLE_READ
    | TABLE_WRITE
    | {"states:StartExecution", "states:DescribeExecution", "events:PutEvents"},
    "subscription_renewer": LOGS
    | XRAY
    | TABLE_READ
    | TABLE_WRITE
    | {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"},
    # Reads the credentials and saves the token the vendor grants (the next runs reuse it), queues
    # each message, starts the full sync an unreadable one calls for, deletes its own schedule once
    # disconnected.
    "event_poller": LOGS
    | XRAY
    | TABLE_READ
    | TABLE_WRITE
    | {
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "sqs:SendMessage",
        "states:StartExecution",
        "states:DescribeExecution",
        "events:PutEvents",
        "scheduler:DeleteSchedule",
    },
}
OAUTH_APPS = f"hris-sync/{STAGE}/oauth-apps"
SECRETS_ALL = {
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:GetSecretValue",
    "secretsmanager:DeleteSecret",
    "secretsmanager:TagResource",
}
# The `stack` fixture is in Cognito mode: every function but the OIDC token authorizer (its own
# assertions, in OIDC mode, are in test_oidc_authorizer.py).
COGNITO_FUNCTIONS = tuple(spec for spec in FUNCTIONS if spec is not API_AUTHORIZER)
# The functions that make or renew vendors' change subscriptions (Access.SUBSCRIPTIONS).
SUBSCRIBERS = ("admin_api", "webhook_worker", "subscription_renewer")


# --- helpers over the template ---------------------------------------------------------------


def _function(stack: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    for logical_id, resource in stack.of_type("AWS::Lambda::Function").items():
        if resource["Properties"].get("FunctionName") == f"hris-sync-{STAGE}-{name}":
            return logical_id, resource
    raise AssertionError(f"function {name} is not in the template")


def _role_id(function: dict[str, Any]) -> str:
    return str(function["Properties"]["Role"]["Fn::GetAtt"][0])


def _statements_of_role(stack: Synthesized, role_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in stack.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    """What the statements allow (a Deny takes away; test_only_the_admin_api_reads_the_oauth_apps)."""
    return {action for s in statements if s["Effect"] == "Allow" for action in _as_list(s["Action"])}


def _resources_for(statements: list[dict[str, Any]], action: str) -> list[str]:
    return [
        resolve_join(resource)
        for s in statements
        if s["Effect"] == "Allow" and action in _as_list(s["Action"])
        for resource in _as_list(s["Resource"])
    ]


def _definition(stack: Synthesized) -> dict[str, Any]:
    machine = stack.one("AWS::StepFunctions::StateMachine")
    return dict(json.loads(resolve_join(machine["Properties"]["DefinitionString"])))


# --- storage -----------------------------------------------------------------------------------


def _main_table(stack: Synthesized) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, t) for k, t in stack.of_type("AWS::DynamoDB::Table").items() if "Idempotency" not in k]
    return found


def _idempotency_table(stack: Synthesized) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, t) for k, t in stack.of_type("AWS::DynamoDB::Table").items() if "Idempotency" in k]
    return found


def test_table_key_schema_and_gsis_equal_the_shared_definition(stack: Synthesized) -> None:
    table = _main_table(stack)[1]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": TABLE.partition_key.name, "KeyType": "HASH"},
        {"AttributeName": TABLE.sort_key.name, "KeyType": "RANGE"},
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
        (a.name, a.type) for a in TABLE.key_attributes
    }
    indexes = {gsi["IndexName"]: gsi for gsi in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {gsi.name for gsi in TABLE.global_indexes}
    for gsi in TABLE.global_indexes:
        assert indexes[gsi.name]["KeySchema"] == [
            {"AttributeName": gsi.partition_key.name, "KeyType": "HASH"},
            {"AttributeName": gsi.sort_key.name, "KeyType": "RANGE"},
        ]
        assert indexes[gsi.name]["Projection"]["ProjectionType"] == gsi.projection


def test_table_has_pitr_deletion_protection_ttl_stream_and_encryption(stack: Synthesized) -> None:
    table = _main_table(stack)[1]
    properties = table["Properties"]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["TimeToLiveSpecification"] == {"AttributeName": TABLE.ttl_attribute, "Enabled": True}
    assert properties["StreamSpecification"] == {"StreamViewType": TABLE.stream_view_type}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionPolicy"] == "Retain"


def test_buckets_are_encrypted_private_tls_only_and_expire_objects(stack: Synthesized) -> None:
    buckets = stack.of_type("AWS::S3::Bucket")
    assert buckets
    for logical_id, bucket in buckets.items():
        properties = bucket["Properties"]
        rules = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", logical_id
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        expiring = [r for r in properties["LifecycleConfiguration"]["Rules"] if r.get("ExpirationInDays")]
        assert expiring and all(r["Status"] == "Enabled" for r in expiring), logical_id
        assert "AccessControl" not in properties
    tls_only = set()
    for policy in stack.of_type("AWS::S3::BucketPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                tls_only.add(policy["Properties"]["Bucket"]["Ref"])
    assert tls_only == set(buckets)


def test_queues_and_the_alarm_topic_are_encrypted_and_tls_only(stack: Synthesized) -> None:
    for queue in stack.of_type("AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    queue_policies = stack.of_type("AWS::SQS::QueuePolicy").values()
    denied = {
        q["Ref"]
        for p in queue_policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for q in p["Properties"]["Queues"]
    }
    assert denied == set(stack.of_type("AWS::SQS::Queue"))
    topic = stack.one("AWS::SNS::Topic")["Properties"]
    assert "KmsMasterKeyId" in topic
    assert stack.one("AWS::KMS::Key")["Properties"]["EnableKeyRotation"] is True


# --- functions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED_ACTIONS))
def test_every_function_has_exactly_the_iam_actions_its_code_needs(stack: Synthesized, name: str) -> None:
    _, function = _function(stack, name)
    role_id = _role_id(function)
    statements = _statements_of_role(stack, role_id)
    assert _actions(statements) == EXPECTED_ACTIONS[name]
    role = stack.resources[role_id]["Properties"]
    assert "ManagedPolicyArns" not in role, "no managed policy: logs and traces are granted on the log group"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }


def test_iam_resources_are_as_narrow_as_the_code(stack: Synthesized) -> None:
    table_id = _main_table(stack)[0]
    idempotency_id = _idempotency_table(stack)[0]
    bucket_ids = {k for k, b in stack.of_type("AWS::S3::Bucket").items() if "Blobs" in k}
    for name in EXPECTED_ACTIONS:
        _, function = _function(stack, name)
        statements = _statements_of_role(stack, _role_id(function))
        for statement in statements:
            if statement["Effect"] == "Deny":  # only the OAuth apps' folder is denied
                assert resolve_join(statement["Resource"]).endswith(f":secret:{OAUTH_APPS}/*"), name
                continue
            assert statement["Effect"] == "Allow"
            assert "*" not in _as_list(statement["Action"]), name
        if "dynamodb:PutItem" in _actions(statements):
            expected = [f"<{table_id}>"] + ([f"<{idempotency_id}>"] if name == "webhook_worker" else [])
            assert sorted(_resources_for(statements, "dynamodb:PutItem")) == sorted(expected), name
        if "dynamodb:Query" in _actions(statements):
            assert sorted(_resources_for(statements, "dynamodb:Query")) == [
                f"<{table_id}>",
                f"<{table_id}>/index/*",
            ]
        for action in ("s3:GetObject", "s3:PutObject"):
            for resource in _resources_for(statements, action):
                assert resource == f"<{next(iter(bucket_ids))}>/*"
        if "s3:GetObject" in _actions(statements):
            # Whoever reads blobs may list the bucket (and only it): a missing key is then a 404.
            assert _resources_for(statements, "s3:ListBucket") == [f"<{next(iter(bucket_ids))}>"], name
        for resource in _resources_for(statements, "secretsmanager:GetSecretValue"):
            assert resource.endswith((f":secret:hris-sync/{STAGE}/*", f":secret:{OAUTH_APPS}/*")), resource
        for resource in _resources_for(statements, "xray:PutTraceSegments"):
            assert resource == "*"  # X-Ray has no resource-level permissions

    admin = _statements_of_role(stack, _role_id(_function(stack, "admin_api")[1]))
    scheduler_role_id = next(k for k in stack.of_type("AWS::IAM::Role") if k.startswith("SyncSchedulerRole"))
    (pass_role,) = [s for s in admin if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": [scheduler_role_id, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    for resource in _resources_for(admin, "scheduler:CreateSchedule"):
        assert re.search(r":schedule/(hris-sync-dev|<SyncSchedules\w+>)/\*$", resource), resource
    machine_id = next(iter(stack.of_type("AWS::StepFunctions::StateMachine")))
    assert _resources_for(admin, "states:StartExecution") == [f"<{machine_id}>"]


def test_functions_that_refresh_oauth_tokens_may_save_them_under_the_secrets_prefix_only(
    stack: Synthesized,
) -> None:
    """The full sync, the webhook worker and the admin API (member resync, directory, preview)
    refresh Personio and Employment Hero tokens and must store them (a rotated refresh token is
    single use): PutSecretValue on this stage's connection secrets, and nothing more to do so."""
    for name in ("sync_steps", "webhook_worker", "admin_api"):
        statements = _statements_of_role(stack, _role_id(_function(stack, name)[1]))
        resources = _resources_for(statements, "secretsmanager:PutSecretValue")
        assert resources, f"{name} may not save a refreshed token"
        for resource in resources:
            assert re.fullmatch(
                r"arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:hris-sync/dev/\*",
                resource,
            ), (name, resource)
    for name in ("sync_steps", "webhook_worker"):
        statements = _statements_of_role(stack, _role_id(_function(stack, name)[1]))
        assert not _actions(statements) & {"secretsmanager:CreateSecret", "secretsmanager:DeleteSecret"}, name


def test_only_the_admin_api_reads_the_oauth_apps_and_no_function_may_change_them(stack: Synthesized) -> None:
    """The SaaS team's OAuth apps (client secrets) sit in ``<prefix>/oauth-apps/``, which the
    connection secrets' grant ``<prefix>/*`` covers too: every function with that grant is denied
    the folder explicitly, except the admin API, which may only read it."""

    def oauth_statements(name: str) -> list[dict[str, Any]]:
        statements = _statements_of_role(stack, _role_id(_function(stack, name)[1]))
        return [s for s in statements if resolve_join(_as_list(s["Resource"])[0]).endswith(f"{OAUTH_APPS}/*")]

    admin = oauth_statements("admin_api")
    allowed = [s for s in admin if s["Effect"] == "Allow"]
    denied = [s for s in admin if s["Effect"] == "Deny"]
    assert [_as_list(s["Action"]) for s in allowed] == [["secretsmanager:GetSecretValue"]]
    assert {a for s in denied for a in _as_list(s["Action"])} == SECRETS_ALL - {
        "secretsmanager:GetSecretValue"
    }
    for name in ("webhook_ingest", "webhook_worker", "sync_steps"):
        statements = oauth_statements(name)
        assert [s["Effect"] for s in statements] == ["Deny"], name
        assert set(_as_list(statements[0]["Action"])) == SECRETS_ALL, name
    assert oauth_statements("sync_trigger") == []  # holds no secrets grant at all


def test_the_subscription_sweep_runs_well_within_the_renewal_margin_whatever_the_sync_schedules(
    stack: Synthesized,
) -> None:
    (schedule,) = stack.of_type("AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    renewer_id, _ = _function(stack, "subscription_renewer")
    assert props["Target"]["Arn"] == {"Fn::GetAtt": [renewer_id, "Arn"]}
    assert props["Target"]["DeadLetterConfig"]["Arn"] == {
        "Fn::GetAtt": [_schedule_dead_letters(stack)[0], "Arn"]
    }
    assert props["State"] == "ENABLED"
    every = next_fire(props["ScheduleExpression"], "UTC", NOW_UTC, created=NOW_UTC)
    assert every is not None
    # Several attempts before a subscription within the margin lapses.
    assert (every - NOW_UTC) * 3 <= ServiceSettings().subscription_renew_margin


def test_only_the_scheduler_role_can_be_passed_and_it_only_invokes_the_schedules_targets_and_dead_letters(
    stack: Synthesized,
) -> None:
    passers = [
        name
        for name in EXPECTED_ACTIONS
        if "iam:PassRole" in _actions(_statements_of_role(stack, _role_id(_function(stack, name)[1])))
    ]
    assert passers == ["admin_api"]
    role_id = next(k for k in stack.of_type("AWS::IAM::Role") if k.startswith("SyncSchedulerRole"))
    role = stack.resources[role_id]["Properties"]
    principal = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert principal["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in principal["Condition"]["StringEquals"]
    statements = _statements_of_role(stack, role_id)
    trigger_id, _ = _function(stack, "sync_trigger")
    renewer_id, _ = _function(stack, "subscription_renewer")
    poller_id, _ = _function(stack, "event_poller")
    assert statements == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [
                {"Fn::GetAtt": [poller_id, "Arn"]},
                {"Fn::GetAtt": [renewer_id, "Arn"]},
                {"Fn::GetAtt": [trigger_id, "Arn"]},
            ],
        },
        {
            "Action": "sqs:SendMessage",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [_schedule_dead_letters(stack)[0], "Arn"]},
        },
    ]
    machine_role = stack.one("AWS::StepFunctions::StateMachine")["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    steps_id, _ = _function(stack, "sync_steps")
    invoke = _resources_for(_statements_of_role(stack, machine_role), "lambda:InvokeFunction")
    assert set(invoke) == {f"<{steps_id}>", f"<{steps_id}>:*"}


def test_the_event_poller_outlives_its_poll_window_and_may_delete_only_poll_schedules(
    stack: Synthesized,
) -> None:
    _, poller = _function(stack, "event_poller")
    window = EventPollerSettings.model_fields["event_poll_window_seconds"]
    ceiling = next(m.le for m in window.metadata if hasattr(m, "le"))
    # Even the longest window a deployment may set leaves a last message's calls their time.
    assert poller["Properties"]["Timeout"] >= ceiling + 30 > window.default + 30
    statements = _statements_of_role(stack, _role_id(poller))
    (deletable,) = _resources_for(statements, "scheduler:DeleteSchedule")
    assert deletable.endswith(f":schedule/hris-sync-{STAGE}/{EVENT_POLL_SCHEDULES}-*")
    for action in ("scheduler:CreateSchedule", "scheduler:UpdateSchedule", "iam:PassRole"):
        assert action not in _actions(statements)
    (queue_id,) = [
        k for k, q in stack.of_type("AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]
    ]
    assert _resources_for(statements, "sqs:SendMessage") == [f"<{queue_id}>"]  # the webhook queue
    environment = poller["Properties"]["Environment"]["Variables"]
    assert set(environment) >= {"TABLE_NAME", "SECRETS_PREFIX", "WEBHOOK_QUEUE_URL", "SCHEDULE_GROUP"}
    assert "SCHEDULE_TARGET_ARN" not in environment and "SCHEDULER_ROLE_ARN" not in environment


def test_the_admin_api_gets_the_pollers_arn_for_the_poll_schedules_and_no_one_else_does(
    stack: Synthesized,
) -> None:
    poller_id, _ = _function(stack, "event_poller")
    holders = {}
    for spec in COGNITO_FUNCTIONS:
        variables = _function(stack, spec.name)[1]["Properties"]["Environment"]["Variables"]
        if "EVENT_POLLER_ARN" in variables:
            holders[spec.name] = variables["EVENT_POLLER_ARN"]
    assert holders == {"admin_api": {"Fn::GetAtt": [poller_id, "Arn"]}}


def test_functions_run_python_3_12_on_arm64_with_the_layer_and_their_own_folder(
    stack: Synthesized,
) -> None:
    (layer_id,) = stack.of_type("AWS::Lambda::LayerVersion")
    for spec in COGNITO_FUNCTIONS:
        _, function = _function(stack, spec.name)
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.12"
        assert properties["Architectures"] == ["arm64"]
        assert properties["Handler"] == f"functions.{spec.name}.handler.handler"
        assert properties["Layers"] == [{"Ref": layer_id}]
        assert properties["MemorySize"] == spec.memory_mb
        assert properties["Timeout"] == spec.timeout.to_seconds()
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        assert properties.get("ReservedConcurrentExecutions") == spec.reserved_concurrency
        # Each function's asset is its own folder (its source path is recorded in the metadata).
        assert function["Metadata"]["aws:asset:path"].endswith(f"functions/{spec.name}")
    layer = stack.resources[layer_id]
    assert layer["Metadata"]["aws:asset:path"].endswith("/shared")
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


def test_every_function_logs_to_its_own_log_group_with_retention(stack: Synthesized) -> None:
    groups = stack.of_type("AWS::Logs::LogGroup")
    assert groups
    for logical_id, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == 90, logical_id
    for spec in COGNITO_FUNCTIONS:
        _, function = _function(stack, spec.name)
        group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group_id]["Properties"]["LogGroupName"] == f"/aws/lambda/hris-sync-{STAGE}-{spec.name}"


def test_function_environment_comes_from_the_settings_model_and_only_what_access_needs(
    stack: Synthesized,
) -> None:
    known = {name.upper() for name in FunctionEnvironment.model_fields}
    for spec in COGNITO_FUNCTIONS:
        _, function = _function(stack, spec.name)
        variables = function["Properties"]["Environment"]["Variables"]
        assert set(variables) <= known, spec.name
        assert variables["STAGE"] == STAGE
        assert variables["POWERTOOLS_SERVICE_NAME"] == f"hris-sync-{spec.name}"
    ingest = _function(stack, "webhook_ingest")[1]["Properties"]["Environment"]["Variables"]
    assert set(ingest) == {
        "STAGE",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "TABLE_NAME",
        "SECRETS_PREFIX",
        "WEBHOOK_QUEUE_URL",
    }
    admin = _function(stack, "admin_api")[1]["Properties"]["Environment"]["Variables"]
    trigger_id, _ = _function(stack, "sync_trigger")
    assert admin["SCHEDULE_TARGET_ARN"] == {"Fn::GetAtt": [trigger_id, "Arn"]}
    assert admin["SES_SENDER"] == "no-reply@example.com"
    assert admin["SECRETS_PREFIX"] == f"hris-sync/{STAGE}"
    # R22's default, and no invite link unless one is configured.
    assert admin["MAX_CONNECTIONS"] == "1"
    assert "INVITE_URL_TEMPLATE" not in admin


def test_deploy_settings_reach_the_functions_that_use_them(synth_with: Callable[..., Synthesized]) -> None:
    template = "https://app.acme.example/invites/{member_id}?user={external_id}"
    stack = synth_with(
        functions_root=str(FIXTURE_FUNCTIONS),
        max_connections="3",
        invite_url_template=template,
        notification_base_url="https://hris.acme.example/api",
    )
    variables = {
        spec.name: _function(stack, spec.name)[1]["Properties"]["Environment"]["Variables"]
        for spec in COGNITO_FUNCTIONS
    }
    # Invites are sent by every function that sends mail; R22 is checked where connections are made.
    assert {name for name, v in variables.items() if "INVITE_URL_TEMPLATE" in v} == {
        "admin_api",
        "sync_steps",
        "webhook_worker",
    }
    assert {v["INVITE_URL_TEMPLATE"] for v in variables.values() if "INVITE_URL_TEMPLATE" in v} == {template}
    assert {name: v["MAX_CONNECTIONS"] for name, v in variables.items() if "MAX_CONNECTIONS" in v} == {
        "admin_api": "3"
    }
    # The vendors' notification URL override: only where subscriptions are made or renewed.
    assert {
        name: v["NOTIFICATION_BASE_URL"] for name, v in variables.items() if "NOTIFICATION_BASE_URL" in v
    } == {name: "https://hris.acme.example/api" for name in SUBSCRIBERS}


# --- api -------------------------------------------------------------------------------------------


def _paths(stack: Synthesized) -> dict[str, str]:
    """Logical id of each API resource -> its full path."""
    resources = stack.of_type("AWS::ApiGateway::Resource")

    def path(logical_id: str) -> str:
        properties = resources[logical_id]["Properties"]
        parent = properties["ParentId"]
        prefix = path(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{properties['PathPart']}"

    return {logical_id: path(logical_id) for logical_id in resources}


def _methods(stack: Synthesized) -> list[tuple[str, str, dict[str, Any]]]:
    paths = _paths(stack)
    found = []
    for method in stack.of_type("AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        resource = properties["ResourceId"]
        path = paths[resource["Ref"]] if "Ref" in resource else "/"
        found.append((path, properties["HttpMethod"], properties))
    return found


# Swagger UI and the OpenAPI document: public, so a browser opens them (no tenant data in either).
PUBLIC_DOCS = {("/v1/docs", "GET"), ("/v1/openapi.json", "GET")}


def test_every_v1_method_has_the_jwt_authorizer(stack: Synthesized) -> None:
    authorizer_id, authorizer = next(iter(stack.of_type("AWS::ApiGateway::Authorizer").items()))
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["IdentitySource"] == "method.request.header.Authorization"
    v1 = [(path, verb, p) for path, verb, p in _methods(stack) if path.startswith("/v1")]
    assert {(path, verb) for path, verb, _ in v1 if verb != "OPTIONS"} == {
        ("/v1/{proxy+}", "ANY"),
        *PUBLIC_DOCS,
    }
    for path, verb, properties in v1:
        if verb == "OPTIONS" or (path, verb) in PUBLIC_DOCS:  # preflight; the API's documentation
            assert properties["AuthorizationType"] == "NONE"
            assert "AuthorizerId" not in properties
            continue
        assert properties["AuthorizationType"] == "COGNITO_USER_POOLS", (path, verb)
        assert properties["AuthorizerId"] == {"Ref": authorizer_id}, (path, verb)
        assert "RequestValidatorId" in properties


def test_the_webhook_route_has_no_authorizer_but_is_throttled(stack: Synthesized) -> None:
    webhooks = [(path, verb, p) for path, verb, p in _methods(stack) if path.startswith("/webhooks")]
    assert [(path, verb) for path, verb, _ in webhooks] == [("/webhooks/{connection_id}", "POST")]
    properties = webhooks[0][2]
    assert properties["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in properties
    assert properties["RequestParameters"] == {"method.request.path.connection_id": True}
    stage = stack.one("AWS::ApiGateway::Stage")["Properties"]
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in stage["MethodSettings"]}
    webhook = settings[("/~1webhooks~1{connection_id}", "POST")]
    everything = settings[("/*", "*")]
    assert 0 < webhook["ThrottlingRateLimit"] < everything["ThrottlingRateLimit"]
    assert 0 < webhook["ThrottlingBurstLimit"] < everything["ThrottlingBurstLimit"]
    rules = {r["Name"]: r for r in stack.one("AWS::WAFv2::WebACL")["Properties"]["Rules"]}
    rate = rules["webhook-rate-per-ip"]["Statement"]["RateBasedStatement"]
    assert rate["AggregateKeyType"] == "IP"
    assert rate["ScopeDownStatement"]["ByteMatchStatement"]["SearchString"] == "/webhooks/"


def test_the_oauth_callback_is_the_one_public_get_served_by_the_admin_api(stack: Synthesized) -> None:
    # Besides the API (/v1), the webhooks and the portal (whose function checks its own session).
    others = [
        (path, verb, p)
        for path, verb, p in _methods(stack)
        if not path.startswith(("/v1", "/webhooks", "/portal")) and verb != "OPTIONS"
    ]
    assert [(path, verb) for path, verb, _ in others] == [("/oauth/callback", "GET")]
    # Beside it only the portal (its page, assets and session-checked API), on the same function.
    portal = sorted((path, verb) for path, verb, _ in _methods(stack) if path.startswith("/portal"))
    assert portal == [("/portal", "GET"), ("/portal/{proxy+}", "ANY")]
    properties = others[0][2]
    assert properties["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in properties
    admin_id, _ = _function(stack, "admin_api")
    assert admin_id in json.dumps(properties["Integration"]["Uri"])
    assert properties["Integration"]["Type"] == "AWS_PROXY"


def test_the_api_logs_access_without_bodies_and_limits_request_size(stack: Synthesized) -> None:
    stage = stack.one("AWS::ApiGateway::Stage")["Properties"]
    assert stage["StageName"] == STAGE
    assert stage["TracingEnabled"] is True
    log_group_id = stage["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert stack.resources[log_group_id]["Type"] == "AWS::Logs::LogGroup"
    assert "$context.requestId" in stage["AccessLogSetting"]["Format"]
    everything = next(s for s in stage["MethodSettings"] if s["ResourcePath"] == "/*")
    assert everything["DataTraceEnabled"] is False
    assert everything["LoggingLevel"] == "ERROR"
    acl = stack.one("AWS::WAFv2::WebACL")["Properties"]
    assert acl["AssociationConfig"]["RequestBody"]["API_GATEWAY"]["DefaultSizeInspectionLimit"] == "KB_64"
    size = acl["Rules"][0]["Statement"]["AndStatement"]["Statements"][0]["SizeConstraintStatement"]
    assert size["ComparisonOperator"] == "GT"
    assert size["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    # Webhooks and R34's bulk import of up to 1,000 app users (a few hundred KB) are exempt.
    exempt = acl["Rules"][0]["Statement"]["AndStatement"]["Statements"][1]["NotStatement"]["Statement"]
    paths = {s["ByteMatchStatement"]["SearchString"] for s in exempt["OrStatement"]["Statements"]}
    assert paths == {"/webhooks/", "/v1/members/import"}
    association = stack.one("AWS::WAFv2::WebACLAssociation")["Properties"]
    assert association["WebACLArn"]["Fn::GetAtt"][1] == "Arn"


def test_gateway_errors_use_the_one_error_shape(stack: Synthesized) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in stack.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        body = response["ResponseTemplates"]["application/json"]
        assert set(json.loads(body)["error"]) == {"code", "message", "details"}


def test_cors_allows_only_the_configured_origins(stack: Synthesized) -> None:
    options = [p for path, verb, p in _methods(stack) if verb == "OPTIONS"]
    assert options
    for properties in options:
        headers = properties["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == "'https://admin.example.com'"


def test_the_user_pool_requires_mfa_and_strong_passwords(stack: Synthesized) -> None:
    pool = stack.one("AWS::Cognito::UserPool")["Properties"]
    assert pool["MfaConfiguration"] == "ON"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert {"Name": "tenant_id", "AttributeDataType": "String", "Mutable": False} in [
        {k: a[k] for k in ("Name", "AttributeDataType", "Mutable")} for a in pool["Schema"]
    ]
    assert pool["DeletionProtection"] == "ACTIVE"


# --- sync ------------------------------------------------------------------------------------------


def test_the_state_machine_has_the_expected_states_and_retry_policies(stack: Synthesized) -> None:
    definition = _definition(stack)
    states = definition["States"]
    assert definition["StartAt"] == "Start"
    assert set(states) == {
        "Start",
        "Route",
        "FetchPage",
        "MorePages",
        "Plan",
        "Guard",
        "Held",
        "ApplyChunks",
        "Finish",
        "Done",
        "Fail",
        "SyncFailed",
    }
    # The fetch loop: a Choice on the provider's next cursor.
    assert states["FetchPage"]["Next"] == "MorePages"
    assert states["MorePages"]["Choices"] == [
        {"Variable": "$.has_more", "BooleanEquals": True, "Next": "FetchPage"}
    ]
    assert states["MorePages"]["Default"] == "Plan"
    # The guard (R23): a blocked plan is held and the execution stops there.
    assert states["Guard"]["Choices"][0] == {
        "Variable": "$.verdict",
        "StringEquals": "blocked",
        "Next": "Held",
    }
    assert states["Guard"]["Default"] == "ApplyChunks"
    assert states["Held"]["Type"] == "Succeed"
    # Apply: a Map over the plan's chunks with bounded concurrency, then finish.
    apply = states["ApplyChunks"]
    assert apply["Type"] == "Map"
    assert apply["ItemsPath"] == "$.chunks"
    assert 1 <= apply["MaxConcurrency"] <= 10
    assert apply["ResultPath"] is None
    assert apply["Next"] == "Finish"
    inner = apply["ItemProcessor"]["States"]
    assert list(inner) == ["ApplyChunk"]
    assert states["SyncFailed"]["Type"] == "Fail"

    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"} | inner
    assert set(tasks) == {"Start", "FetchPage", "Plan", "ApplyChunk", "Finish", "Fail"}
    steps_id, _ = _function(stack, "sync_steps")
    for name, task in tasks.items():
        assert task["Resource"] == f"<{steps_id}>", name
        assert task["Parameters"]["state.$"] == "$"
        lambda_retry, step_retry = task["Retry"]
        assert "Lambda.TooManyRequestsException" in lambda_retry["ErrorEquals"]
        assert "Lambda.ServiceException" in lambda_retry["ErrorEquals"]
        assert lambda_retry["BackoffRate"] == 2
        assert lambda_retry["MaxAttempts"] == 6
        assert lambda_retry["JitterStrategy"] == "FULL"
        assert step_retry["ErrorEquals"] == ["Throttled", "ProviderUnavailable"]
        assert step_retry["BackoffRate"] == 2
    steps = {name: t["Parameters"]["step"] for name, t in tasks.items()}
    assert steps == {
        "Start": "start",
        "FetchPage": "fetch_page",
        "Plan": "plan",
        "ApplyChunk": "apply_chunk",
        "Finish": "finish",
        "Fail": "fail",
    }


def test_every_task_and_the_map_catch_into_the_fail_step(stack: Synthesized) -> None:
    states = _definition(stack)["States"]
    for name in ("Start", "FetchPage", "Plan", "ApplyChunks", "Finish"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Fail"}
        ]
    assert states["Fail"]["Catch"][0]["Next"] == "SyncFailed"
    assert states["Fail"]["Next"] == "SyncFailed"


def test_the_definition_uses_only_what_the_local_stack_can_execute(stack: Synthesized) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    text = json.dumps(_definition(stack))
    for forbidden in ('"JSONata"', '"Assign"', '"ItemBatcher"', '"ToleratedFailurePercentage"', "getObject"):
        assert forbidden not in text
    assert not re.search(r"\$[\w.]*\[\d+\]\.", text), "a path that indexes then takes a field"
    definition = _definition(stack)
    fake_arn = "arn:aws:lambda:us-east-1:123456789012:function:hris-sync-dev-sync_steps"
    runnable = re.sub(r'"<[A-Za-z0-9]+>"', json.dumps(fake_arn), json.dumps(definition))
    AmazonStateLanguageParser.parse(runnable)  # raises on anything moto's interpreter cannot parse
    machine = stack.one("AWS::StepFunctions::StateMachine")["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False


def test_the_webhook_queue_has_a_dlq_and_the_worker_reports_partial_failures(stack: Synthesized) -> None:
    queues = stack.of_type("AWS::SQS::Queue")
    (queue_id,) = [k for k, q in queues.items() if "RedrivePolicy" in q["Properties"]]
    queue = queues[queue_id]["Properties"]
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert dlq_id in queues and dlq_id != queue_id
    # Retries span a long HR outage before a record counts as poison (a full sync never makes a
    # record retry: R29 keeps its employees in the table until the sync ends).
    assert queue["RedrivePolicy"]["maxReceiveCount"] * queue["VisibilityTimeout"] >= 2 * 3600
    worker_id, worker = _function(stack, "webhook_worker")
    assert queue["VisibilityTimeout"] >= 6 * worker["Properties"]["Timeout"]
    mapping = stack.one("AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["FunctionName"] == {"Ref": worker_id}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (
        mapping["ScalingConfig"]["MaximumConcurrency"] <= worker["Properties"]["ReservedConcurrentExecutions"]
    )


def test_the_schedule_group_exists_for_per_connection_schedules(stack: Synthesized) -> None:
    group = stack.one("AWS::Scheduler::ScheduleGroup")["Properties"]
    assert group["Name"] == f"hris-sync-{STAGE}"


def _schedule_dead_letters(stack: Synthesized) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (k, q["Properties"])
        for k, q in stack.of_type("AWS::SQS::Queue").items()
        if q["Properties"].get("QueueName") == f"hris-sync-{STAGE}-schedules-dlq"
    ]
    return found


def test_schedules_dead_letter_into_an_encrypted_queue_the_scheduler_role_may_send_to(
    stack: Synthesized,
) -> None:
    """Each schedule's DeadLetterConfig names this queue (the admin API creates the schedules with
    the ARN it gets here); Scheduler sends to it with the schedules' execution role."""
    queue_id, queue = _schedule_dead_letters(stack)
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert "RedrivePolicy" not in queue
    redriven = [q["Properties"].get("RedrivePolicy") for q in stack.of_type("AWS::SQS::Queue").values()]
    assert {"Fn::GetAtt": [queue_id, "Arn"]} not in [r["deadLetterTargetArn"] for r in redriven if r]
    tls_only = [
        s
        for p in stack.of_type("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert [(s["Effect"], s["Condition"]) for s in tls_only] == [
        ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    ]
    role_id = next(k for k in stack.of_type("AWS::IAM::Role") if k.startswith("SyncSchedulerRole"))
    scheduler = _statements_of_role(stack, role_id)
    assert _resources_for(scheduler, "sqs:SendMessage") == [f"<{queue_id}>"]
    admin = _function(stack, "admin_api")[1]["Properties"]["Environment"]["Variables"]
    assert admin["SCHEDULE_DEAD_LETTER_ARN"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    # Only the function that creates schedules gets the queue's ARN, and none may use the queue.
    for name in EXPECTED_ACTIONS:
        variables = _function(stack, name)[1]["Properties"]["Environment"]["Variables"]
        assert ("SCHEDULE_DEAD_LETTER_ARN" in variables) == (name == "admin_api"), name
        statements = _statements_of_role(stack, _role_id(_function(stack, name)[1]))
        resources = [resolve_join(r) for s in statements for r in _as_list(s["Resource"])]
        assert f"<{queue_id}>" not in resources, name


def test_a_schedule_that_could_not_start_a_sync_raises_an_alarm(stack: Synthesized) -> None:
    queue_id, _ = _schedule_dead_letters(stack)
    topic_id = next(iter(stack.of_type("AWS::SNS::Topic")))
    (alarm,) = [
        a["Properties"]
        for a in stack.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == f"hris-sync-{STAGE}-schedule-dlq-depth"
    ]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    assert alarm["Statistic"] == "Maximum"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert alarm["OKActions"] == [{"Ref": topic_id}]


# --- notify ----------------------------------------------------------------------------------------


def test_ses_identity_uses_the_configuration_set_and_the_bus_is_archived(stack: Synthesized) -> None:
    identity = stack.one("AWS::SES::EmailIdentity")["Properties"]
    assert identity["EmailIdentity"] == "no-reply@example.com"
    config_set = stack.one("AWS::SES::ConfigurationSet")["Properties"]
    assert identity["ConfigurationSetAttributes"]["ConfigurationSetName"] == {
        "Ref": next(iter(stack.of_type("AWS::SES::ConfigurationSet")))
    }
    assert config_set["DeliveryOptions"]["TlsPolicy"] == "REQUIRE"
    archive = stack.one("AWS::Events::Archive")["Properties"]
    assert archive["SourceArn"]["Fn::GetAtt"][0] == next(iter(stack.of_type("AWS::Events::EventBus")))
    assert archive["EventPattern"] == {"source": ["hris-sync"]}
    assert archive["RetentionDays"] > 0


# --- observability ---------------------------------------------------------------------------------


def test_alarms_cover_dlq_depth_failed_syncs_5xx_and_throttles(stack: Synthesized) -> None:
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in stack.of_type("AWS::CloudWatch::Alarm").values()
    }
    topic_id = next(iter(stack.of_type("AWS::SNS::Topic")))
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    dlq = alarms[f"hris-sync-{STAGE}-webhook-dlq-depth"]
    assert (dlq["Namespace"], dlq["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dlq["Dimensions"][0]["Value"]["Fn::GetAtt"][1] == "QueueName"
    backlog = alarms[f"hris-sync-{STAGE}-webhook-backlog-age"]
    assert backlog["MetricName"] == "ApproximateAgeOfOldestMessage"
    failed = alarms[f"hris-sync-{STAGE}-sync-failed"]
    assert (failed["Namespace"], failed["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    five_xx = alarms[f"hris-sync-{STAGE}-api-5xx"]
    assert (five_xx["Namespace"], five_xx["MetricName"]) == ("AWS/ApiGateway", "5XXError")
    for spec in COGNITO_FUNCTIONS:
        throttles = alarms[f"hris-sync-{STAGE}-{spec.name}-throttles"]
        assert (throttles["Namespace"], throttles["MetricName"]) == ("AWS/Lambda", "Throttles")
    dashboard = stack.one("AWS::CloudWatch::Dashboard")["Properties"]
    assert "DashboardBody" in dashboard
    subscription = stack.one("AWS::SNS::Subscription")["Properties"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")


def test_emails_ses_refuses_are_alarmed_over_every_function_that_sends_email(stack: Synthesized) -> None:
    """``EmailsNotSent`` (shared/services/notify.py) is counted by each sender under its own
    Powertools ``service`` dimension: the alarm sums exactly those series."""
    (alarm,) = [
        a["Properties"]
        for a in stack.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == f"hris-sync-{STAGE}-emails-not-sent"
    ]
    topic_id = next(iter(stack.of_type("AWS::SNS::Topic")))
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"
    [expression] = [q for q in alarm["Metrics"] if "Expression" in q]
    series = [q for q in alarm["Metrics"] if "MetricStat" in q]
    assert expression["Expression"] == f"SUM([{', '.join(q['Id'] for q in series)}])"
    sending = [spec for spec in FUNCTIONS if Access.MAIL_SEND in spec.access]
    senders = {spec.service_name for spec in sending}
    assert senders == {"hris-sync-admin_api", "hris-sync-sync_steps", "hris-sync-webhook_worker"}
    seen = set()
    for query in series:
        stat = query["MetricStat"]
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == ("hris-sync", "EmailsNotSent")
        assert (stat["Stat"], stat["Period"]) == ("Sum", 300)
        [dimension] = stat["Metric"]["Dimensions"]
        assert dimension["Name"] == "service"
        seen.add(dimension["Value"])
        assert query["ReturnData"] is False
    assert seen == senders
    # The service the alarm watches is the one each sender's Powertools reports under.
    for spec in sending:
        _, function = _function(stack, spec.name)
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["POWERTOOLS_SERVICE_NAME"] == spec.service_name


def test_a_retained_stage_has_termination_protection(stack: Synthesized) -> None:
    manifest = json.loads((stack.outdir / "manifest.json").read_text())
    properties = manifest["artifacts"][f"HrisSync-{STAGE}"]["properties"]
    assert properties["terminationProtection"] is True


def test_every_taggable_resource_is_tagged(stack: Synthesized) -> None:
    tagged = 0
    for logical_id, resource in stack.resources.items():
        tags = resource.get("Properties", {}).get("Tags")
        if tags is None:
            continue
        tagged += 1
        pairs = {t["Key"]: t["Value"] for t in tags} if isinstance(tags, list) else dict(tags)
        assert pairs.get("app") == "hris-sync", logical_id
        assert pairs.get("stage") == STAGE, logical_id
    for cfn_type in ("AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::SQS::Queue", "AWS::S3::Bucket"):
        for logical_id, resource in stack.of_type(cfn_type).items():
            assert "Tags" in resource["Properties"], logical_id


# --- what exists decides what is deployed ----------------------------------------------------------


def test_a_handler_that_does_not_exist_is_not_deployed(
    synth_with: Callable[..., Synthesized], tmp_path_factory: pytest.TempPathFactory
) -> None:
    empty = tmp_path_factory.mktemp("no-functions")
    bare = synth_with(functions_root=str(empty))
    for cfn_type in (
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::ApiGateway::RestApi",
        "AWS::StepFunctions::StateMachine",
        "AWS::Lambda::EventSourceMapping",
    ):
        assert not bare.of_type(cfn_type), cfn_type
    # What needs no function is there from the first deploy: data, queue, schedules, mail, alarms.
    for cfn_type in (
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::SES::EmailIdentity",
        "AWS::Events::EventBus",
        "AWS::CloudWatch::Alarm",
    ):
        assert bare.of_type(cfn_type), cfn_type


def test_the_worker_keeps_idempotency_records_in_their_own_table(stack: Synthesized) -> None:
    table_id, table = _idempotency_table(stack)
    properties = table["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": IDEMPOTENCY_TABLE.key.name, "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": IDEMPOTENCY_TABLE.ttl_attribute,
        "Enabled": True,
    }
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"]["SSEEnabled"] is True
    worker = _function(stack, "webhook_worker")[1]
    assert worker["Properties"]["Environment"]["Variables"]["IDEMPOTENCY_TABLE_NAME"] == {"Ref": table_id}
    statements = _statements_of_role(stack, _role_id(worker))
    on_table = {
        action
        for s in statements
        if f"<{table_id}>" in [resolve_join(r) for r in _as_list(s["Resource"])]
        for action in _as_list(s["Action"])
    }
    assert on_table == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    for name in EXPECTED_ACTIONS:
        if name != "webhook_worker":
            variables = _function(stack, name)[1]["Properties"]["Environment"]["Variables"]
            assert "IDEMPOTENCY_TABLE_NAME" not in variables, name


def test_a_confirmed_held_plan_skips_fetch_and_plan(stack: Synthesized) -> None:
    states = _definition(stack)["States"]
    assert states["Start"]["Next"] == "Route"
    assert states["Route"]["Choices"] == [
        {"Variable": "$.phase", "StringEquals": "apply", "Next": "ApplyChunks"}
    ]
    assert states["Route"]["Default"] == "FetchPage"


def test_the_machine_asks_only_for_steps_the_function_has() -> None:
    from infra.constructs.sync import STEPS
    from shared.services.state_machine_tasks import STEPS as HANDLED

    assert set(STEPS) == set(HANDLED)


def test_the_portals_own_origin_is_an_allowed_oauth_return_origin(
    stack: Synthesized, synth_with: Callable[..., Synthesized]
) -> None:
    """The portal's OAuth journey returns to the portal, on the API's own origin: allowed without
    being configured; configured origins (a SaaS team's UI) are kept beside it."""
    rest_api = next(iter(stack.of_type("AWS::ApiGateway::RestApi")))
    own = f"https://<{rest_api}>.execute-api.<AWS::Region>.<AWS::URLSuffix>"
    _, admin = _function(stack, "admin_api")
    origins = admin["Properties"]["Environment"]["Variables"]["OAUTH_RETURN_ORIGINS"]
    assert resolve_join(origins) == own
    configured = synth_with(
        functions_root=str(FIXTURE_FUNCTIONS), oauth_return_origins="https://app.example.com"
    )
    _, admin = _function(configured, "admin_api")
    origins = admin["Properties"]["Environment"]["Variables"]["OAUTH_RETURN_ORIGINS"]
    assert resolve_join(origins) == f"https://app.example.com,{own}"
