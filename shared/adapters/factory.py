"""Every AWS adapter, built lazily from resource names: what a composition root hands the services.

``AwsAdapters(resources)`` builds nothing until an adapter is first asked for (importing a handler
touches no AWS), every client is built with ``clients.client_config`` (botocore's standard retry
mode), and every DynamoDB store shares one ``DynamoTable`` (one client, one backoff for the partial
failures botocore cannot see). Each property is typed as its port, so mypy proves the adapters
implement the ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from shared.adapters import keys
from shared.adapters.blobs import S3BlobStore
from shared.adapters.clients import Backoff, aws_client
from shared.adapters.connections import DynamoConnectionStore
from shared.adapters.dynamo import DynamoTable
from shared.adapters.events import EventBridgePublisher
from shared.adapters.lock import DynamoConnectionLock
from shared.adapters.mailer import SesMailer
from shared.adapters.members import DynamoMemberStore
from shared.adapters.oauth import DynamoOAuthStates, SecretsManagerOAuthApps
from shared.adapters.portal import DynamoPortalStore
from shared.adapters.queue import SqsQueue
from shared.adapters.record_stores import DynamoAuditLog, DynamoRunStore, DynamoTaskStore
from shared.adapters.scheduler import EVENT_POLL_SCHEDULES, EventBridgeScheduler
from shared.adapters.secrets import DEFAULT_PREFIX, SecretsManagerStore
from shared.adapters.system import RandomIds, SystemClock
from shared.adapters.webhook_backlog import DynamoPendingWebhooks, DynamoWebhookGuardStore
from shared.adapters.workflow import StepFunctionsWorkflow
from shared.ports import (
    AuditLog,
    BlobStore,
    Clock,
    ConnectionLock,
    ConnectionStore,
    EventPublisher,
    IdGenerator,
    Mailer,
    MemberStore,
    MessageQueue,
    OAuthApps,
    OAuthStateStore,
    PendingWebhooks,
    PortalStore,
    RunStore,
    Scheduler,
    SecretStore,
    TaskStore,
    WebhookGuardStore,
    Workflow,
)


@dataclass(frozen=True, slots=True)
class AwsResources:
    """The names and ARNs of the deployed resources (from a function's settings)."""

    table_name: str
    bucket: str = ""
    secret_prefix: str = DEFAULT_PREFIX
    secrets_kms_key_id: str | None = None
    schedule_group: str = "hris-sync"
    schedule_target_arn: str = ""
    schedule_role_arn: str = ""
    schedule_dead_letter_arn: str = ""
    # The event poller (the target of the ``events-`` schedules of EventQueue connections).
    event_poller_arn: str = ""
    state_machine_arn: str = ""
    event_bus: str = "hris-sync"
    mail_sender: str = ""
    mail_configuration_set: str | None = None
    webhook_queue_url: str = ""


class AwsAdapters:
    """Lazily built adapters; ``session`` (or one client per service) may be injected."""

    def __init__(
        self,
        resources: AwsResources,
        *,
        session: Any | None = None,
        clients: dict[str, Any] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.resources = resources
        self._session = session
        self._clients = dict(clients or {})
        self._backoff = backoff

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = aws_client(service, session=self._session)
        return self._clients[service]

    @cached_property
    def table(self) -> DynamoTable:
        return DynamoTable(self.resources.table_name, client=self.client("dynamodb"), backoff=self._backoff)

    @cached_property
    def connections(self) -> ConnectionStore:
        return DynamoConnectionStore(self.table)

    @cached_property
    def members(self) -> MemberStore:
        return DynamoMemberStore(self.table)

    @cached_property
    def tasks(self) -> TaskStore:
        return DynamoTaskStore(self.table)

    @cached_property
    def audit(self) -> AuditLog:
        return DynamoAuditLog(self.table)

    @cached_property
    def runs(self) -> RunStore:
        return DynamoRunStore(self.table)

    @cached_property
    def lock(self) -> ConnectionLock:
        return DynamoConnectionLock(self.table)

    @cached_property
    def pending(self) -> PendingWebhooks:
        return DynamoPendingWebhooks(self.table)

    @cached_property
    def webhook_guard(self) -> WebhookGuardStore:
        return DynamoWebhookGuardStore(self.table)

    @cached_property
    def token_lock(self) -> ConnectionLock:
        """The lease each OAuth token refresh of a connection takes (shared.services.tokens)."""
        return DynamoConnectionLock(self.table, sort_key=keys.token_lease_sk)

    @cached_property
    def portal(self) -> PortalStore:
        return DynamoPortalStore(self.table)

    @cached_property
    def blobs(self) -> BlobStore:
        return S3BlobStore(self.resources.bucket, client=self.client("s3"))

    @cached_property
    def secrets(self) -> SecretStore:
        return SecretsManagerStore(
            prefix=self.resources.secret_prefix,
            kms_key_id=self.resources.secrets_kms_key_id,
            client=self.client("secretsmanager"),
        )

    @cached_property
    def oauth_states(self) -> OAuthStateStore:
        return DynamoOAuthStates(self.table)

    @cached_property
    def oauth_apps(self) -> OAuthApps:
        return SecretsManagerOAuthApps(
            prefix=self.resources.secret_prefix, client=self.client("secretsmanager")
        )

    @cached_property
    def scheduler(self) -> Scheduler:
        return EventBridgeScheduler(
            group_name=self.resources.schedule_group,
            target_arn=self.resources.schedule_target_arn,
            role_arn=self.resources.schedule_role_arn,
            dead_letter_arn=self.resources.schedule_dead_letter_arn or None,
            client=self.client("scheduler"),
        )

    @cached_property
    def poll_schedules(self) -> Scheduler:
        """The event pollers' schedules (``events-<hash>``, same group, role and dead letters)."""
        return EventBridgeScheduler(
            group_name=self.resources.schedule_group,
            target_arn=self.resources.event_poller_arn,
            role_arn=self.resources.schedule_role_arn,
            dead_letter_arn=self.resources.schedule_dead_letter_arn or None,
            client=self.client("scheduler"),
            kind=EVENT_POLL_SCHEDULES,
        )

    @cached_property
    def workflow(self) -> Workflow:
        return StepFunctionsWorkflow(self.resources.state_machine_arn, client=self.client("stepfunctions"))

    @cached_property
    def mailer(self) -> Mailer:
        return SesMailer(
            self.resources.mail_sender,
            configuration_set=self.resources.mail_configuration_set,
            client=self.client("sesv2"),
        )

    @cached_property
    def events(self) -> EventPublisher:
        return EventBridgePublisher(
            self.resources.event_bus, client=self.client("events"), backoff=self._backoff
        )

    @cached_property
    def webhook_queue(self) -> MessageQueue:
        return SqsQueue(self.resources.webhook_queue_url, client=self.client("sqs"))

    @cached_property
    def clock(self) -> Clock:
        return SystemClock()

    @cached_property
    def ids(self) -> IdGenerator:
        return RandomIds()
