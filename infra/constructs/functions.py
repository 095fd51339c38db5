"""The service's Lambda functions: one factory for the function + log group + role block.

Phase 1 (`ServiceFunctions(...)`) creates every declared function whose handler exists and that the
configuration uses (`FunctionSpec.deployed_with`), with its own role (logs and traces only) and log
group. The other constructs then use them. Phase 2
(`wire(...)`) gives each function exactly the IAM statements and environment its declared access
needs, once every resource it may touch exists.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_dynamodb import ITable
from constructs import Construct

from infra import bundling
from infra.catalog import FUNCTIONS, Access, FunctionSpec
from infra.config import DeployConfig
from infra.constants import (
    APP_NAME,
    ARCHITECTURE,
    HANDLER_FILE,
    LOG_RETENTION,
    METRICS_NAMESPACE,
    RUNTIME,
)
from infra.environment import FunctionEnvironment
from infra.nag import acknowledge, nag_form
from shared.adapters.scheduler import EVENT_POLL_SCHEDULES

TABLE_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
TABLE_WRITE_ACTIONS = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)
BLOBS_READ_ACTIONS = ("s3:GetObject",)
# On the bucket itself: with it S3 answers a missing key with NoSuchKey (404, our BlobNotFound);
# without it, with AccessDenied. No function lists the bucket.
BLOBS_LIST_ACTIONS = ("s3:ListBucket",)
BLOBS_WRITE_ACTIONS = ("s3:PutObject", "s3:DeleteObject")
SECRETS_READ_ACTIONS = ("secretsmanager:GetSecretValue",)
# Replacing an existing secret's value (the connectors' refreshed OAuth tokens), never creating one.
SECRETS_WRITE_ACTIONS = ("secretsmanager:PutSecretValue",)
# What Powertools' DynamoDBPersistenceLayer calls (get, conditional put, update, delete on failure).
IDEMPOTENCY_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
SECRETS_MANAGE_ACTIONS = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:GetSecretValue",
    "secretsmanager:DeleteSecret",
    "secretsmanager:TagResource",  # CreateSecret with tags (tenant, connection)
)
# Every action on secrets a function's grants name: what no function but the one reading the OAuth
# apps may do on them (an explicit Deny, since the connection secrets' grant ``<prefix>/*`` covers
# their folder too).
SECRETS_ALL_ACTIONS = tuple(
    dict.fromkeys(SECRETS_MANAGE_ACTIONS + SECRETS_READ_ACTIONS + SECRETS_WRITE_ACTIONS)
)
OAUTH_APPS_FOLDER = "oauth-apps"  # shared.adapters.secrets.RESERVED_FOLDER
OAUTH_APPS_WHY = "one OAuth app per provider, named by the provider at run time, in this stage's folder"
SCHEDULES_MANAGE_ACTIONS = (
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "scheduler:GetSchedule",
)


def _allow(
    statements: list[tuple[iam.PolicyStatement, str | None]],
    actions: tuple[str, ...],
    resources: list[str],
    why: str | None = None,
    conditions: dict[str, dict[str, str]] | None = None,
) -> None:
    """Add an Allow statement, with why its resources hold a wildcard (for cdk-nag)."""
    statement = iam.PolicyStatement(actions=list(actions), resources=resources, conditions=conditions)
    statements.append((statement, why))


def handler_exists(functions_root: Path, spec: FunctionSpec) -> bool:
    return (functions_root / spec.name / HANDLER_FILE).is_file()


@dataclass(frozen=True)
class Wiring:
    """Everything a function's access may refer to (None: not deployed in this stack)."""

    table: ITable
    idempotency_table: ITable
    bucket: s3.IBucket
    webhook_queue: sqs.IQueue
    state_machine_arn: str | None
    state_machine_name: str | None
    schedule_group_name: str
    scheduler_role: iam.IRole
    schedule_target: lambda_.IFunction | None
    schedule_dead_letters: sqs.IQueue
    event_bus_name: str
    event_bus_arn: str
    ses_identity_arn: str
    ses_configuration_set: str
    ses_configuration_set_arn: str
    # The API's own origin (the portal's): an allowed OAuth return origin (None: no admin API).
    api_origin: str | None = None
    # The target of the event poll schedules (``events-*``) of EventQueue connections.
    event_poller: lambda_.IFunction | None = None


class ServiceFunctions(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeployConfig, repo_root: Path) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        functions_root = (repo_root / config.functions_root).resolve()
        self.specs = {
            spec.name: spec
            for spec in FUNCTIONS
            if handler_exists(functions_root, spec) and spec.deployed_with(config)
        }
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        if not self.specs:
            return
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=bundling.layer_code(repo_root),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="hris-sync: runtime dependencies and the shared package",
        )
        for spec in self.specs.values():
            self._create(spec, functions_root / spec.name)

    def get(self, name: str) -> lambda_.Function | None:
        return self.functions.get(name)

    def _create(self, spec: FunctionSpec, folder: Path) -> None:
        stage = self._config.stage
        scope = Construct(self, spec.name)
        log_group = logs.LogGroup(
            scope,
            "Logs",
            log_group_name=f"/aws/lambda/{APP_NAME}-{stage}-{spec.name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{APP_NAME} {spec.name}: logs, traces and the access it declares",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            "Function",
            function_name=f"{APP_NAME}-{stage}-{spec.name}",
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=bundling.function_code(folder),
            layers=[self.layer],
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            reserved_concurrent_executions=spec.reserved_concurrency,
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            f"{RUNTIME.name} is the Python the unit and integration tests run on (runtime parity: "
            "what is tested is what is deployed); a newer runtime follows the test machines' Python",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions",
        )
        self.functions[spec.name] = function
        self.roles[spec.name] = role

    def wire(self, w: Wiring) -> None:
        """Give each function the statements and the environment its access needs."""
        for name, spec in self.specs.items():
            environment = self._environment(spec, w)
            for key, value in environment.variables().items():
                self.functions[name].add_environment(key, value)
            role = self.roles[name]
            for statement, why in self._statements(spec, w):
                role.add_to_principal_policy(statement)
                if why:
                    for resource in statement.resources:
                        if "*" in resource or "*" in str(Stack.of(self).resolve(resource)):
                            acknowledge(role, f"AwsSolutions-IAM5[Resource::{nag_form(self, resource)}]", why)

    def secrets_prefix(self) -> str:
        return f"{APP_NAME}/{self._config.stage}"

    def _environment(self, spec: FunctionSpec, w: Wiring) -> FunctionEnvironment:
        access = spec.access
        config = self._config
        uses_table = bool(access & {Access.TABLE_READ, Access.TABLE_WRITE})
        uses_blobs = bool(access & {Access.BLOBS_READ, Access.BLOBS_WRITE})
        uses_secrets = bool(access & {Access.SECRETS_READ, Access.SECRETS_WRITE, Access.SECRETS_MANAGE})
        schedules = Access.SCHEDULES_MANAGE in access
        poll_schedules = Access.POLL_SCHEDULES_DELETE in access
        return FunctionEnvironment(
            stage=config.stage,
            powertools_service_name=spec.service_name,
            powertools_metrics_namespace=METRICS_NAMESPACE,
            table_name=w.table.table_name if uses_table else None,
            bucket_name=w.bucket.bucket_name if uses_blobs else None,
            secrets_prefix=self.secrets_prefix() if uses_secrets else None,
            webhook_queue_url=w.webhook_queue.queue_url if Access.WEBHOOK_QUEUE_SEND in access else None,
            idempotency_table_name=w.idempotency_table.table_name if Access.IDEMPOTENCY in access else None,
            state_machine_arn=w.state_machine_arn if Access.WORKFLOW_START in access else None,
            schedule_group=w.schedule_group_name if schedules or poll_schedules else None,
            schedule_target_arn=w.schedule_target.function_arn if schedules and w.schedule_target else None,
            event_poller_arn=w.event_poller.function_arn if schedules and w.event_poller else None,
            scheduler_role_arn=w.scheduler_role.role_arn if schedules else None,
            schedule_dead_letter_arn=w.schedule_dead_letters.queue_arn if schedules else None,
            event_bus_name=w.event_bus_name if Access.EVENTS_PUT in access else None,
            ses_sender=config.ses_sender if Access.MAIL_SEND in access else None,
            ses_configuration_set=w.ses_configuration_set if Access.MAIL_SEND in access else None,
            oidc_issuer=str(config.oidc_issuer)
            if Access.TOKEN_VERIFY in access and config.oidc_issuer
            else None,
            oidc_audience=config.oidc_audience if Access.TOKEN_VERIFY in access else None,
            # Invites are emails: every function that sends mail may send one.
            invite_url_template=config.invite_url_template if Access.MAIL_SEND in access else None,
            # R22 is checked where connections are created, which is where their secrets are.
            max_connections=config.max_connections if Access.SECRETS_MANAGE in access else None,
            oauth_return_origins=",".join(
                [*config.oauth_return_origins, *([w.api_origin] if w.api_origin else [])]
            )
            if Access.OAUTH_APPS_READ in access and (config.oauth_return_origins or w.api_origin)
            else None,
            oauth_callback_url=str(config.oauth_callback_url)
            if Access.OAUTH_APPS_READ in access and config.oauth_callback_url
            else None,
            notification_base_url=str(config.notification_base_url)
            if Access.SUBSCRIPTIONS in access and config.notification_base_url
            else None,
        )

    def _oauth_apps_statements(
        self, access: frozenset[Access]
    ) -> list[tuple[iam.PolicyStatement, str | None]]:
        """The OAuth apps' folder: read by the function that declares it (and nothing more), out
        of reach of every other function that holds the connection secrets' grant."""
        oauth_apps = Stack.of(self).format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{self.secrets_prefix()}/{OAUTH_APPS_FOLDER}/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        if Access.OAUTH_APPS_READ in access:
            # Read only: the apps are the SaaS team's deploy-time configuration.
            read = iam.PolicyStatement(actions=list(SECRETS_READ_ACTIONS), resources=[oauth_apps])
            nothing_else = iam.PolicyStatement(
                effect=iam.Effect.DENY,
                actions=[a for a in SECRETS_ALL_ACTIONS if a not in SECRETS_READ_ACTIONS],
                resources=[oauth_apps],
            )
            return [(read, OAUTH_APPS_WHY), (nothing_else, None)]
        if access & {Access.SECRETS_READ, Access.SECRETS_WRITE, Access.SECRETS_MANAGE}:
            deny_all = iam.PolicyStatement(
                effect=iam.Effect.DENY, actions=list(SECRETS_ALL_ACTIONS), resources=[oauth_apps]
            )
            return [(deny_all, None)]
        return []

    def _schedule_statements(
        self, access: frozenset[Access], w: Wiring
    ) -> list[tuple[iam.PolicyStatement, str | None]]:
        """The schedules of the group: managed (with the scheduler role passed to them), or only the
        event poll schedules deleted."""
        stack = Stack.of(self)
        statements: list[tuple[iam.PolicyStatement, str | None]] = []
        allow = functools.partial(_allow, statements)
        if Access.SCHEDULES_MANAGE in access:
            schedules = stack.format_arn(
                service="scheduler",
                resource="schedule",
                resource_name=f"{w.schedule_group_name}/*",
            )
            allow(
                SCHEDULES_MANAGE_ACTIONS,
                [schedules],
                "one schedule per connection, created at connect time, in this stack's schedule group only",
            )
            allow(
                ("iam:PassRole",),
                [w.scheduler_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        if Access.POLL_SCHEDULES_DELETE in access:
            allow(
                ("scheduler:DeleteSchedule",),
                [
                    stack.format_arn(
                        service="scheduler",
                        resource="schedule",
                        resource_name=f"{w.schedule_group_name}/{EVENT_POLL_SCHEDULES}-*",
                    )
                ],
                "the event poll schedules, one per connection named at run time, of this stack's group only",
            )
        return statements

    def _statements(self, spec: FunctionSpec, w: Wiring) -> list[tuple[iam.PolicyStatement, str | None]]:
        """(statement, why its resources hold a wildcard) for the spec's access."""
        stack = Stack.of(self)
        access = spec.access
        statements: list[tuple[iam.PolicyStatement, str | None]] = []
        allow = functools.partial(_allow, statements)

        if Access.TABLE_READ in access:
            allow(
                TABLE_READ_ACTIONS,
                [w.table.table_arn, f"{w.table.table_arn}/index/*"],
                "queries read the table's global secondary indexes (all of them belong to this table)",
            )
        if Access.TABLE_WRITE in access:
            allow(TABLE_WRITE_ACTIONS, [w.table.table_arn])
        if Access.IDEMPOTENCY in access:
            allow(IDEMPOTENCY_ACTIONS, [w.idempotency_table.table_arn])
        objects = "snapshots and plan chunks are objects keyed per run at run time, in this bucket only"
        if Access.BLOBS_READ in access:
            allow(BLOBS_READ_ACTIONS, [w.bucket.arn_for_objects("*")], objects)
            allow(BLOBS_LIST_ACTIONS, [w.bucket.bucket_arn])
        if Access.BLOBS_WRITE in access:
            allow(BLOBS_WRITE_ACTIONS, [w.bucket.arn_for_objects("*")], objects)
        secrets = stack.format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{self.secrets_prefix()}/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        why_secrets = "one secret per connection, created at connect time under this stage's name prefix"
        if Access.SECRETS_MANAGE in access:
            allow(SECRETS_MANAGE_ACTIONS, [secrets], why_secrets)
        else:
            granted = (SECRETS_READ_ACTIONS if Access.SECRETS_READ in access else ()) + (
                SECRETS_WRITE_ACTIONS if Access.SECRETS_WRITE in access else ()
            )
            if granted:
                allow(granted, [secrets], why_secrets)
        statements.extend(self._oauth_apps_statements(access))
        statements.extend(self._schedule_statements(access, w))
        if Access.WORKFLOW_START in access and w.state_machine_arn and w.state_machine_name:
            allow(("states:StartExecution",), [w.state_machine_arn])
            executions = stack.format_arn(
                service="states",
                resource="execution",
                resource_name=f"{w.state_machine_name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            allow(
                ("states:DescribeExecution",),
                [executions],
                "executions of the full-sync state machine are named per run at run time",
            )
        if Access.WEBHOOK_QUEUE_SEND in access:
            allow(("sqs:SendMessage",), [w.webhook_queue.queue_arn])
        if Access.MAIL_SEND in access:
            # The mailer sends raw MIME, which SES v2's SendEmail authorizes as ses:SendRawEmail;
            # ses:SendEmail beside it is the same capability (CDK's grantSendEmail grants the pair).
            allow(("ses:SendEmail", "ses:SendRawEmail"), [w.ses_identity_arn, w.ses_configuration_set_arn])
        if Access.EVENTS_PUT in access:
            allow(("events:PutEvents",), [w.event_bus_arn])
        return statements
