"""The functions' settings read the variables the CDK stack sets, once per cold start."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

# Imported at collection: X-Ray opens its UDP socket.
from functions.admin_api import handler as admin
from functions.event_poller import handler as poller
from functions.subscription_renewer import handler as renewer
from functions.sync_steps import handler as steps
from functions.sync_trigger import handler as trigger
from functions.webhook_ingest import handler as ingest
from functions.webhook_worker import handler as worker
from infra.catalog import FUNCTIONS, Access
from infra.environment import FunctionEnvironment
from shared import bootstrap, settings
from shared.settings import (
    AdminApiSettings,
    EventPollerSettings,
    FunctionSettings,
    SubscriptionRenewerSettings,
    SyncStepsSettings,
    SyncTriggerSettings,
    WebhookIngestSettings,
    WebhookWorkerSettings,
    load,
)
from tests.support.clients import CLIENT_OF_ACCESS, clients_allowed

FULL = FunctionEnvironment(
    stage="test",
    powertools_service_name="hris-sync-x",
    powertools_metrics_namespace="HrisSync",
    table_name="tbl",
    bucket_name="bkt",
    secrets_prefix="hris-sync/test",
    webhook_queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/q",
    idempotency_table_name="idem",
    state_machine_arn="arn:aws:states:eu-west-1:123456789012:stateMachine:m",
    schedule_group="grp",
    schedule_target_arn="arn:aws:lambda:eu-west-1:123456789012:function:t",
    scheduler_role_arn="arn:aws:iam::123456789012:role/r",
    schedule_dead_letter_arn="arn:aws:sqs:eu-west-1:123456789012:hris-sync-test-schedules-dlq",
    event_poller_arn="arn:aws:lambda:eu-west-1:123456789012:function:hris-sync-test-event_poller",
    event_bus_name="bus",
    ses_sender="noreply@example.com",
    ses_configuration_set="cfg",
)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    bootstrap.reset_all()


def test_every_settings_field_is_a_variable_the_stack_sets() -> None:
    stack_names = set(FunctionEnvironment.model_fields)
    for model in (FunctionSettings, AdminApiSettings, WebhookIngestSettings, SyncStepsSettings):
        env_fields = {n for n, f in model.model_fields.items() if f.default is not None or f.is_required()}
        # Tuning knobs with defaults (cache seconds, limits) are ours; every resource name is the stack's.
        resource_fields = {n for n in env_fields if n in FunctionSettings.model_fields}
        assert resource_fields <= stack_names


@pytest.mark.parametrize(
    "model",
    [
        AdminApiSettings,
        WebhookIngestSettings,
        WebhookWorkerSettings,
        SyncStepsSettings,
        SyncTriggerSettings,
        SubscriptionRenewerSettings,
        EventPollerSettings,
    ],
)
def test_settings_read_the_stacks_variables(
    model: type[FunctionSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in FULL.variables().items():
        monkeypatch.setenv(name, value)
    loaded = load(model)
    assert loaded.stage == "test"
    assert loaded.table_name == "tbl"
    resources = loaded.resources()
    assert resources.table_name == "tbl"
    assert resources.secret_prefix == "hris-sync/test"


def test_the_admin_api_needs_the_schedules_dead_letter_queue_and_hands_it_to_the_scheduler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in FULL.variables().items():
        monkeypatch.setenv(name, value)
    resources = load(AdminApiSettings).resources()
    assert resources.schedule_dead_letter_arn == FULL.schedule_dead_letter_arn
    bootstrap.reset_all()
    monkeypatch.delenv("SCHEDULE_DEAD_LETTER_ARN")
    with pytest.raises(ValidationError, match="schedule_dead_letter_arn"):
        load(AdminApiSettings)


def test_the_event_poller_long_polls_50_seconds_pausing_5_unless_its_environment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in FULL.variables().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("shared.adapters.clients.boto3.client", lambda _service, **_config: object())
    built = poller.root.__wrapped__()
    assert built.limits.window.total_seconds() == 50
    assert built.limits.pause.total_seconds() == 5
    bootstrap.reset_all()
    monkeypatch.setenv("EVENT_POLL_WINDOW_SECONDS", "0")  # the local stack's: one drain until empty
    assert poller.root.__wrapped__().limits.window.total_seconds() == 0
    bootstrap.reset_all()
    monkeypatch.setenv("EVENT_POLL_WINDOW_SECONDS", "600")  # past the function's timeout
    with pytest.raises(ValidationError, match="event_poll_window_seconds"):
        load(EventPollerSettings)


def test_the_admin_api_hands_the_event_pollers_arn_to_the_poll_schedules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in FULL.variables().items():
        monkeypatch.setenv(name, value)
    assert load(AdminApiSettings).resources().event_poller_arn == FULL.event_poller_arn


def test_a_missing_variable_fails_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FULL.variables().items():
        if name != "WEBHOOK_QUEUE_URL":
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("WEBHOOK_QUEUE_URL", raising=False)
    with pytest.raises(ValidationError, match="webhook_queue_url"):
        load(WebhookIngestSettings)


def test_settings_are_read_once_per_cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FULL.variables().items():
        monkeypatch.setenv(name, value)
    first = load(SyncTriggerSettings)
    monkeypatch.setenv("TABLE_NAME", "other")
    assert load(SyncTriggerSettings) is first
    bootstrap.reset_all()
    assert load(SyncTriggerSettings).table_name == "other"


def test_build_ports_builds_each_client_once_and_shares_the_table_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in FULL.variables().items():
        monkeypatch.setenv(name, value)
    made: list[str] = []

    class Session:
        def client(self, service: str, **_: Any) -> object:
            made.append(service)
            return object()

    from shared.adapters.factory import AwsAdapters

    ports = bootstrap.build_ports(
        load(SyncStepsSettings), adapters=AwsAdapters(load(SyncStepsSettings).resources(), session=Session())
    )
    # Every DynamoDB store shares one client; each other service has its own, built once.
    assert sorted(made) == sorted(set(made))
    assert "dynamodb" in made
    assert ports.members is not ports.connections
    assert ports.clock.now().tzinfo is not None
    assert settings.DEFAULT_MAX_WEBHOOK_BYTES == 1_048_576


def test_every_client_retries_in_botocores_standard_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """shared/adapters/clients.py: botocore retries throttled requests (standard mode, bounded
    attempts; no retry loop of ours). Its request validation is skipped for DynamoDB only (the
    adapters' typed calls; DynamoDB validates each request itself), kept for the others."""
    for name, value in FULL.variables().items():
        monkeypatch.setenv(name, value)
    made: dict[str, Any] = {}

    class Session:
        def client(self, service: str, **kwargs: Any) -> object:
            made[service] = kwargs.get("config")
            return object()

    from shared.adapters.factory import AwsAdapters

    adapters = AwsAdapters(load(SyncStepsSettings).resources(), session=Session())
    for service in ("dynamodb", "s3", "sqs", "events"):
        adapters.client(service)
    assert made["dynamodb"].retries == {"mode": "standard", "total_max_attempts": 4}
    for service in ("s3", "sqs", "events"):
        assert made[service].retries == {"mode": "standard", "total_max_attempts": 3}
    assert made["dynamodb"].parameter_validation is False
    assert all(made[service].parameter_validation for service in ("s3", "sqs", "events"))


# What each function's composition root builds: the clients of exactly the ports its use cases
# name (their signatures: ``IntakePorts``, ``webhook_apply.WebhookPorts``, ``full_sync.SyncPorts`` ...).
ROOT_CLIENTS: dict[str, tuple[Any, str, set[str]]] = {
    "webhook_ingest": (ingest, "root", {"dynamodb", "secretsmanager", "sqs"}),
    "webhook_worker": (worker, "root", {"dynamodb", "secretsmanager", "sesv2", "events", "stepfunctions"}),
    "sync_steps": (steps, "ports", {"dynamodb", "s3", "secretsmanager", "sesv2", "events"}),
    "sync_trigger": (trigger, "ports", {"dynamodb", "stepfunctions", "events"}),
    "subscription_renewer": (renewer, "ports", {"dynamodb", "secretsmanager"}),
    "event_poller": (
        poller,
        "root",
        {"dynamodb", "secretsmanager", "sqs", "scheduler", "stepfunctions", "events"},
    ),
    # None: each route's use case builds the clients of the ports it touches, on first use
    # (tests/integration/functions/admin_api/test_admin_api_on_moto.py).
    "admin_api": (admin, "ports", set()),
}


def _clients_built_by(monkeypatch: pytest.MonkeyPatch, module: Any, root_name: str) -> list[str]:
    for name, value in FULL.variables().items():
        monkeypatch.setenv(name, value)
    made: list[str] = []

    def client(service: str, **_config: object) -> object:
        made.append(service)
        return object()

    monkeypatch.setattr("shared.adapters.clients.boto3.client", client)
    root = getattr(module, root_name)
    root.cache_clear()
    try:
        built = root()
    finally:
        root.cache_clear()
    ports = getattr(built, "ports", built)
    assert ports.clock.now().tzinfo is not None
    return made


@pytest.mark.parametrize("function", sorted(ROOT_CLIENTS))
def test_each_function_builds_only_the_clients_its_use_cases_name(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ingest builds DynamoDB, Secrets Manager and SQS; the worker never S3, Scheduler or Step
    Functions; the steps never Scheduler, Step Functions or SQS; the trigger only DynamoDB, Step
    Functions and EventBridge; the admin API none until a route touches a port. Each client once
    (the DynamoDB stores share one)."""
    module, root_name, expected = ROOT_CLIENTS[function]
    made = _clients_built_by(monkeypatch, module, root_name)
    assert sorted(made) == sorted(expected)


@pytest.mark.parametrize("function", sorted(ROOT_CLIENTS))
def test_what_each_function_builds_its_role_allows(function: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The services a function's root builds clients for are among those its catalog access grants
    (infra/catalog.py decides its IAM statements): a use case that names a port its function's
    role cannot use fails here, not with AccessDenied in production."""
    assert set(CLIENT_OF_ACCESS) == set(Access)
    module, root_name, _ = ROOT_CLIENTS[function]
    made = _clients_built_by(monkeypatch, module, root_name)
    allowed = clients_allowed({spec.name: spec for spec in FUNCTIONS}[function])
    assert set(made) <= allowed, f"{function} builds {sorted(set(made) - allowed)} its role does not allow"


def test_the_deploy_time_settings_reach_the_use_cases(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    # The admin API's composition root reads its settings again, here and after.
    admin.ports.cache_clear()
    request.addfinalizer(admin.ports.cache_clear)
    for name, value in FULL.variables().items():
        monkeypatch.setenv(name, value)
    template = "https://app.example/invites/{member_id}?user={external_id}"
    monkeypatch.setenv("MAX_CONNECTIONS", "2")
    monkeypatch.setenv("INVITE_URL_TEMPLATE", template)
    services = admin.ports().settings
    assert (services.max_connections, services.invite_url_template) == (2, template)
    assert load(SyncStepsSettings).services().invite_url_template == template
    assert load(WebhookWorkerSettings).services().invite_url_template == template


def test_without_the_deploy_time_settings_one_connection_and_no_invite_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in FULL.variables().items():
        monkeypatch.setenv(name, value)
    services = load(AdminApiSettings).services()
    assert (services.max_connections, services.invite_url_template) == (1, None)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("MAX_CONNECTIONS", "0", "max_connections"),
        ("MAX_CONNECTIONS", "101", "max_connections"),
        ("INVITE_URL_TEMPLATE", "https://app.example/{member}", "unknown placeholder"),
        ("INVITE_URL_TEMPLATE", "http://app.example/{member_id}", "https"),
    ],
)
def test_a_bad_deploy_time_setting_fails_the_cold_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    for variable, setting in FULL.variables().items():
        monkeypatch.setenv(variable, setting)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=says):
        load(AdminApiSettings)
