"""The admin API's Lambda handler and composition root.

The resolver is built at import (``app``, the routers and Powertools' own switches); the settings
on the first invocation (``ports``), and each adapter, with its boto3 client, when a request's use
case first touches its port (``AdminPorts``); the warm container keeps them. So a request builds
only what its route needs: listing members the DynamoDB client, connecting also Secrets Manager,
Scheduler and Step Functions. Importing this module reads no settings and builds no client. Tests
and the local stack hand in their own ports by patching ``ports``.
"""

from __future__ import annotations

import functools
from typing import Any

from functions.admin_api import portal_web
from functions.admin_api.app import create_app
from functions.admin_api.deps import PORTS_KEY, AdminServices
from functions.admin_api.errors import refused_media_type
from shared import observability
from shared.adapters.factory import AwsAdapters
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
    OAuthApps,
    OAuthStateStore,
    PendingWebhooks,
    PortalStore,
    ProviderLookup,
    RunStore,
    Scheduler,
    SecretStore,
    TaskStore,
    WebhookGuardStore,
    Workflow,
)
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from shared.settings import AdminApiSettings, load

app = create_app()


class AdminPorts:
    """The ports the admin API's routes name (``deps.AdminServices``), each an ``AwsAdapters``
    adapter built on first use: a route builds the boto3 clients of the ports its use case touches,
    not the function's every client. No SQS: the function's role has no queue access."""

    __slots__ = ("_aws", "providers", "settings")

    def __init__(self, aws: AwsAdapters, settings: ServiceSettings) -> None:
        self._aws = aws
        self.providers: ProviderLookup = registry_lookup()
        self.settings = settings

    @property
    def connections(self) -> ConnectionStore:
        return self._aws.connections

    @property
    def members(self) -> MemberStore:
        return self._aws.members

    @property
    def tasks(self) -> TaskStore:
        return self._aws.tasks

    @property
    def audit(self) -> AuditLog:
        return self._aws.audit

    @property
    def runs(self) -> RunStore:
        return self._aws.runs

    @property
    def lock(self) -> ConnectionLock:
        return self._aws.lock

    @property
    def pending(self) -> PendingWebhooks:
        return self._aws.pending

    @property
    def webhook_guard(self) -> WebhookGuardStore:
        return self._aws.webhook_guard

    @property
    def token_lock(self) -> ConnectionLock:
        return self._aws.token_lock

    @property
    def portal(self) -> PortalStore:
        return self._aws.portal

    @property
    def blobs(self) -> BlobStore:
        return self._aws.blobs

    @property
    def secrets(self) -> SecretStore:
        return self._aws.secrets

    @property
    def oauth_states(self) -> OAuthStateStore:
        return self._aws.oauth_states

    @property
    def oauth_apps(self) -> OAuthApps:
        return self._aws.oauth_apps

    @property
    def scheduler(self) -> Scheduler:
        return self._aws.scheduler

    @property
    def poll_schedules(self) -> Scheduler:
        return self._aws.poll_schedules

    @property
    def workflow(self) -> Workflow:
        return self._aws.workflow

    @property
    def mailer(self) -> Mailer:
        return self._aws.mailer

    @property
    def events(self) -> EventPublisher:
        return self._aws.events

    @property
    def clock(self) -> Clock:
        return self._aws.clock

    @property
    def ids(self) -> IdGenerator:
        return self._aws.ids


@functools.lru_cache(maxsize=1)
def ports() -> AdminServices:
    """The composition root: settings read on the first invocation; no adapter built yet."""
    settings = load(AdminApiSettings)
    return AdminPorts(AwsAdapters(settings.resources()), settings.services())


@observability.instrumented(observability.CORRELATION_API_GATEWAY)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    answer = refused_media_type(event)
    if answer is None:
        services = ports()
        app.context[PORTS_KEY] = services
        if portal_web.is_portal(event):  # the portal: its session is the principal
            answer = portal_web.handle(event, context, app=app, ports=services)
        else:
            answer = app.resolve(event, context)
    # One line per request: the route and the outcome, never a body (it may carry credentials).
    observability.logger.info(
        "admin api request",
        extra={
            "method": event.get("httpMethod"),
            "path": event.get("path"),
            "status": answer.get("statusCode"),
        },
    )
    return answer
