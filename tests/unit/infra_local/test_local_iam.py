"""The IAM check of the local stack: what a call needs (infra.local.calls) and whether a function's
policy in a template allows it (infra.local.iam), exactly, never permissively."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.calls import AwsCall, Need, UnmappedCall, needs_of
from infra.local.iam import FunctionPolicies
from infra.local.template import Physical, Resolver, TemplateError

ACCOUNT_REGION = "us-east-1:123456789012"
SECRETS = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":secretsmanager:",
            {"Ref": "AWS::Region"},
            ":",
            {"Ref": "AWS::AccountId"},
            ":secret:hris-sync/local/*",
        ],
    ]
}


def _template(*statements: dict[str, Any], role: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Handler": "functions.sync_steps.handler.handler",
                    "Role": {"Fn::GetAtt": ["R", "Arn"]},
                },
            },
            "R": {"Type": "AWS::IAM::Role", "Properties": role or {}},
            "P": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"Roles": [{"Ref": "R"}], "PolicyDocument": {"Statement": list(statements)}},
            },
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        }
    }


def _policies(*statements: dict[str, Any], role: dict[str, Any] | None = None) -> FunctionPolicies:
    arn = f"arn:aws:dynamodb:{ACCOUNT_REGION}:table/hris-sync-local"
    resolve = Resolver({"Table": Physical("hris-sync-local", {"Arn": arn}), "R": Physical("role")})
    return FunctionPolicies.from_template(_template(*statements, role=role), resolve)


def _call(service: str, operation: str, **params: Any) -> AwsCall:
    return AwsCall("sync_steps", service, operation, needs_of(service, operation, params))


def test_put_secret_value_needs_its_own_grant_on_the_connection_secret() -> None:
    read_only = _policies({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRETS})
    put = _call("secretsmanager", "PutSecretValue", SecretId="hris-sync/local/t1/c1", SecretString="{}")
    (denied,) = read_only.denied([put])
    assert str(denied).startswith("sync_steps may not secretsmanager:PutSecretValue")
    assert (
        denied.need.resource == f"arn:aws:secretsmanager:{ACCOUNT_REGION}:secret:hris-sync/local/t1/c1-AbCdEf"
    )

    granted = _policies(
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:Get*", "secretsmanager:PutSecretValue"],
            "Resource": SECRETS,
        }
    )
    assert granted.denied([put]) == []
    # The prefix is the boundary: another stage's secret is not covered by the wildcard.
    other = _call("secretsmanager", "PutSecretValue", SecretId="hris-sync/prod/t1/c1", SecretString="{}")
    assert len(granted.denied([other])) == 1


def test_indexes_need_their_own_resource_and_an_explicit_deny_wins() -> None:
    table = {"Fn::GetAtt": ["Table", "Arn"]}
    policies = _policies(
        {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": table},
        {"Effect": "Allow", "Action": "dynamodb:*Item", "Resource": table},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"},
    )
    assert policies.denied([_call("dynamodb", "Query", TableName="hris-sync-local")]) == []
    assert (
        len(policies.denied([_call("dynamodb", "Query", TableName="hris-sync-local", IndexName="gsi1")])) == 1
    )
    assert policies.denied([_call("dynamodb", "PutItem", TableName="hris-sync-local", Item={})]) == []
    assert len(policies.denied([_call("dynamodb", "DeleteItem", TableName="hris-sync-local", Key={})])) == 1
    transaction = _call(
        "dynamodb",
        "TransactWriteItems",
        TransactItems=[{"Put": {"TableName": "hris-sync-local"}}, {"ConditionCheck": {"TableName": "other"}}],
    )
    assert [d.need.action for d in policies.denied([transaction])] == ["dynamodb:ConditionCheckItem"]


def test_pass_role_is_allowed_only_with_the_condition_the_call_meets() -> None:
    role = "arn:aws:iam::123456789012:role/scheduler"
    policies = _policies(
        {"Effect": "Allow", "Action": "scheduler:CreateSchedule", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": role,
            "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        },
    )
    create = _call(
        "scheduler", "CreateSchedule", Name="s", GroupName="g", Target={"RoleArn": role, "Arn": "x"}
    )
    assert policies.denied([create]) == []
    elsewhere = AwsCall("sync_steps", "iam", "PassRole", (Need("iam:PassRole", role),))
    assert len(policies.denied([elsewhere])) == 1  # no iam:PassedToService: the condition fails


def test_what_cannot_be_evaluated_exactly_is_refused() -> None:
    with pytest.raises(TemplateError):
        _policies({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"})
    with pytest.raises(TemplateError):
        _policies({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"IpAddress": {}}})
    with pytest.raises(TemplateError):
        _policies(role={"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]})
    with pytest.raises(TemplateError):
        _policies({"Effect": "Allow", "Action": "s3:*", "Resource": {"Fn::GetAtt": ["Missing", "Arn"]}})
    with pytest.raises(UnmappedCall):
        needs_of("kms", "Decrypt", {})
    unknown = AwsCall("webhook_ingest", "s3", "GetObject", (Need("s3:GetObject", "arn:aws:s3:::b/k"),))
    assert len(_policies({"Effect": "Allow", "Action": "*", "Resource": "*"}).denied([unknown])) == 1


def test_each_service_call_names_the_resource_iam_authorizes() -> None:
    arn = f"arn:aws:{{}}:{ACCOUNT_REGION}:{{}}"
    assert needs_of("s3", "GetObject", {"Bucket": "b", "Key": "t1/k"}) == (
        Need("s3:GetObject", "arn:aws:s3:::b/t1/k"),
    )
    assert needs_of("s3", "ListObjectsV2", {"Bucket": "b"}) == (Need("s3:ListBucket", "arn:aws:s3:::b"),)
    assert needs_of("sqs", "SendMessage", {"QueueUrl": "http://127.0.0.1:5000/123456789012/q"}) == (
        Need("sqs:SendMessage", arn.format("sqs", "q")),
    )
    assert needs_of(
        "sesv2",
        "SendEmail",
        {"FromEmailAddress": "HR Sync <no-reply@x.example>", "ConfigurationSetName": "cs"},
    ) == (
        Need("ses:SendEmail", arn.format("ses", "identity/no-reply@x.example")),
        Need("ses:SendEmail", arn.format("ses", "configuration-set/cs")),
    )
    raw = {"FromEmailAddress": "no-reply@x.example", "Content": {"Raw": {"Data": b"..."}}}
    assert needs_of("sesv2", "SendEmail", raw) == (
        Need("ses:SendRawEmail", arn.format("ses", "identity/no-reply@x.example")),
    )
    assert needs_of("events", "PutEvents", {"Entries": [{"EventBusName": "bus"}]}) == (
        Need("events:PutEvents", arn.format("events", "event-bus/bus")),
    )
    machine = arn.format("states", "stateMachine:m")
    assert needs_of("stepfunctions", "StartExecution", {"stateMachineArn": machine}) == (
        Need("states:StartExecution", machine),
    )
    created = needs_of(
        "secretsmanager", "CreateSecret", {"Name": "p/t/c", "Tags": [{"Key": "k", "Value": "v"}]}
    )
    assert [n.action for n in created] == ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]
