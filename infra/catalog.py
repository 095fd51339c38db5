"""Every Lambda function of the service, declared once.

A function is deployed only when its handler exists (`<functions root>/<name>/handler.py`) and the
configuration has a use for it (`api_authorizer` only in OIDC mode); the constructs that need it
(the API, the state machine, the webhook worker) wire it when present. `access` is what the
function's code does with AWS: it decides both the IAM statements and the environment variables
the function gets (infra/constructs/functions.py), so a grant and the setting that goes with it
cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aws_cdk import Duration

from infra.config import DeployConfig
from infra.constants import APP_NAME


class Access(StrEnum):
    TABLE_READ = "table-read"  # GetItem, BatchGetItem, Query (table and its indexes)
    TABLE_WRITE = "table-write"  # PutItem, UpdateItem, DeleteItem, BatchWriteItem, ConditionCheckItem
    BLOBS_READ = "blobs-read"  # snapshots and plan chunks in the bucket
    BLOBS_WRITE = "blobs-write"
    SECRETS_READ = "secrets-read"  # connection credentials, by the connection secrets' name prefix
    SECRETS_WRITE = "secrets-write"  # replace their value: OAuth tokens a connector refreshed
    SECRETS_MANAGE = "secrets-manage"  # create, rotate and delete them (connect, edit, disconnect)
    SCHEDULES_MANAGE = "schedules-manage"  # one schedule per connection, in the one group
    # Delete the event poll schedules (``events-*``) of the group, nothing else: the poller removes
    # the schedule of a connection it finds gone or disconnected.
    POLL_SCHEDULES_DELETE = "poll-schedules-delete"
    WORKFLOW_START = "workflow-start"  # start (and describe) full-sync executions
    WEBHOOK_QUEUE_SEND = "webhook-queue-send"
    IDEMPOTENCY = "idempotency"  # Powertools Idempotency records in their own table
    MAIL_SEND = "mail-send"  # SES v2, from the verified sender, through the configuration set
    EVENTS_PUT = "events-put"  # member and sync events on the service's bus
    # The SaaS team's OAuth apps (client id and secret per provider, ``<prefix>/oauth-apps/*``), and
    # the OAuth connect settings (return origins, callback URL). No other function may read them.
    OAUTH_APPS_READ = "oauth-apps-read"
    TOKEN_VERIFY = "token-verify"  # noqa: S105 - a name: the OIDC issuer and audience (no AWS access)
    # Makes vendors' change subscriptions (Graph, Google channels): the deployment's public base
    # URL for their notifications, when it names one (no AWS access of its own).
    SUBSCRIPTIONS = "subscriptions"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str  # the folder under the functions root, and the function's logical name
    description: str
    memory_mb: int
    timeout: Duration
    access: frozenset[Access]
    # Set where it protects the HR systems' rate limits (and the table) from a burst.
    reserved_concurrency: int | None = None
    # Deployed only when the admins' tokens come from an OIDC issuer (with Cognito, API Gateway
    # verifies them itself: the function, its role and its log group would serve nothing).
    oidc_only: bool = False

    @property
    def handler(self) -> str:
        return f"functions.{self.name}.handler.handler"

    def deployed_with(self, config: DeployConfig) -> bool:
        """Whether a stack of this configuration has a use for the function."""
        return not self.oidc_only or not config.uses_cognito

    @property
    def service_name(self) -> str:
        """Powertools' ``service``: its logs' service and its metrics' ``service`` dimension."""
        return f"{APP_NAME}-{self.name}"


ADMIN_API = FunctionSpec(
    name="admin_api",
    description="Admin API (/v1): connections, members, runs, tasks, invites, audit; OAuth callback",
    memory_mb=512,
    timeout=Duration.seconds(29),  # API Gateway's integration limit
    access=frozenset(
        {
            Access.TABLE_READ,
            Access.TABLE_WRITE,
            Access.BLOBS_READ,  # held plans and skipped records of a run
            Access.BLOBS_WRITE,  # a preview's plan; discarding a held plan
            Access.SECRETS_MANAGE,
            Access.SCHEDULES_MANAGE,
            Access.WORKFLOW_START,  # first import, sync now, confirm a held plan
            Access.MAIL_SEND,  # invites
            Access.EVENTS_PUT,
            Access.OAUTH_APPS_READ,  # OAuth connect: the authorize URL, the callback's code exchange
            Access.SUBSCRIPTIONS,  # made on activation, replaced on new credentials
        }
    ),
)
WEBHOOK_INGEST = FunctionSpec(
    name="webhook_ingest",
    description="POST /webhooks/{connection_id}: verify the provider's signature, enqueue, 202",
    memory_mb=256,
    timeout=Duration.seconds(10),
    access=frozenset({Access.TABLE_READ, Access.SECRETS_READ, Access.WEBHOOK_QUEUE_SEND}),
)
WEBHOOK_WORKER = FunctionSpec(
    name="webhook_worker",
    description="Applies queued webhooks: fetches the named employees and applies a targeted plan",
    memory_mb=512,
    timeout=Duration.minutes(2),
    access=frozenset(
        {
            Access.TABLE_READ,
            Access.TABLE_WRITE,
            Access.SECRETS_READ,
            Access.SECRETS_WRITE,  # a refreshed OAuth token (rotated refresh tokens are single use)
            Access.MAIL_SEND,
            Access.EVENTS_PUT,
            Access.IDEMPOTENCY,
            Access.SUBSCRIPTIONS,  # Graph's lifecycle notifications: a removed subscription made again
            Access.WORKFLOW_START,  # ... and the full sync a missed or removed subscription calls for
        }
    ),
    reserved_concurrency=10,
)
SYNC_STEPS = FunctionSpec(
    name="sync_steps",
    description="The full-sync state machine's steps: start, fetch page, plan, apply chunk, finish, fail",
    memory_mb=1024,
    timeout=Duration.minutes(15),
    access=frozenset(
        {
            Access.TABLE_READ,
            Access.TABLE_WRITE,
            Access.BLOBS_READ,
            Access.BLOBS_WRITE,
            Access.SECRETS_READ,
            Access.SECRETS_WRITE,  # a refreshed OAuth token (rotated refresh tokens are single use)
            Access.MAIL_SEND,
            Access.EVENTS_PUT,
        }
    ),
    reserved_concurrency=20,
)
SYNC_TRIGGER = FunctionSpec(
    name="sync_trigger",
    description="Target of each connection's schedule: takes the connection's lock, starts the full sync",
    memory_mb=256,
    timeout=Duration.seconds(30),
    access=frozenset(
        {
            Access.TABLE_READ,
            Access.TABLE_WRITE,
            Access.WORKFLOW_START,
            Access.EVENTS_PUT,  # a run whose state machine could not start is announced closed
        }
    ),
)
SUBSCRIPTION_RENEWER = FunctionSpec(
    name="subscription_renewer",
    description="Every few hours: renews vendors' change subscriptions before they lapse, makes missing ones",
    memory_mb=256,
    timeout=Duration.minutes(5),
    access=frozenset(
        {
            Access.TABLE_READ,
            Access.TABLE_WRITE,  # the connection's subscription and its sweep reference
            Access.SECRETS_READ,
            Access.SECRETS_WRITE,  # a new subscription's clientState, a refreshed OAuth token
            Access.SUBSCRIPTIONS,
        }
    ),
    reserved_concurrency=1,  # one sweep at a time: two would renew the same subscriptions twice
)
EVENT_POLLER = FunctionSpec(
    name="event_poller",
    description="Every minute per ADP connection: drains the vendor's event queue into the webhook queue",
    memory_mb=256,
    # Above the poll window (``EventPollerSettings.event_poll_window_seconds``, at most 55 s) by
    # the whole of a last message's calls (each HTTP call's retries bounded by the poller's
    # ``VENDOR_RETRIES``: a longer Retry-After is left to the next run).
    timeout=Duration.seconds(90),
    access=frozenset(
        {
            Access.TABLE_READ,
            Access.TABLE_WRITE,  # a full sync's run and lock; the connection marked failing
            Access.SECRETS_READ,  # the connection's credentials
            Access.SECRETS_WRITE,  # the token a run is granted, kept for the next runs (ADP: an hour)
            Access.WEBHOOK_QUEUE_SEND,
            Access.WORKFLOW_START,  # the full sync an unreadable message calls for
            Access.EVENTS_PUT,  # ... announced closed when its state machine could not start
            Access.POLL_SCHEDULES_DELETE,
        }
    ),
)
API_AUTHORIZER = FunctionSpec(
    name="api_authorizer",
    description="Verifies the admins' JWTs from the configured OIDC issuer (when not using Cognito)",
    memory_mb=256,
    timeout=Duration.seconds(10),
    access=frozenset({Access.TOKEN_VERIFY}),
    oidc_only=True,
)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    ADMIN_API,
    WEBHOOK_INGEST,
    WEBHOOK_WORKER,
    SYNC_STEPS,
    SYNC_TRIGGER,
    SUBSCRIPTION_RENEWER,
    EVENT_POLLER,
    API_AUTHORIZER,
)
