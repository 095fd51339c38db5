"""What the use cases touch: one protocol per port, the settings, and the tests' bag of all of them.

Each use case names the ports it uses (``../shared/STYLE.md``): its parameter is typed by a
protocol composed of the one-port protocols below (``class ApplyPorts(WithMembers, WithAudit, ...,
Protocol)``), so its needs (and its function's IAM) read from its signature, and mypy proves that
what a function's composition root builds (a frozen dataclass of exactly those ports) has them.
``Ports`` holds every port: the tests' convenience (``tests/support/world.py``), which any use
case accepts; no composition root builds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

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
from shared.providers.base import Tier


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    # R22: active connections per tenant (deploy-time: CDK context ``max_connections``).
    max_connections: int = 1
    # The invite email's link (deploy-time: CDK context ``invite_url_template``, checked by
    # ``shared.domain.invite_links.check_template``); None: the invite has no link and tells the
    # member to sign in to the app.
    invite_url_template: str | None = None
    # R32: draft connections per tenant (drafts take no R22 slot; this bounds what they keep).
    max_drafts: int = 10
    # R29: how long a full sync's lease lasts without renewal (each step renews it).
    lock_ttl: timedelta = timedelta(minutes=15)
    # How long one OAuth token refresh may hold the connection's token lease, and how long a
    # second refresher waits for it before giving up (its snapshot is then incomplete, R09).
    token_lease_ttl: timedelta = timedelta(seconds=60)
    token_lease_wait: timedelta = timedelta(seconds=90)
    # Members per plan chunk (one state machine Map item each) ...
    chunk_size: int = 250
    # ... unless that makes more chunks than this: then the chunks grow instead, so the Map's
    # events stay within Step Functions' 25,000 per execution (docs/state-machine.md).
    max_chunks: int = 300
    # A provider that keeps answering with a next cursor is stopped here (the snapshot is
    # then incomplete, R09). 5,000 pages of 100 (the smallest page size of our connectors)
    # are the largest company a full sync supports: 500,000 people.
    max_pages: int = 5_000
    # One fetch task of the state machine fetches pages until the last one, or until it has
    # fetched this many or run this long (it then returns the cursor and is called again): the
    # machine's history grows by one loop turn per task, not per page. The budget leaves the
    # last page (HTTP calls of at most 2 minutes each, retries included) inside the function's
    # 15 minutes.
    pages_per_task: int = 100
    fetch_budget: timedelta = timedelta(minutes=10)
    # Skipped records kept on a run (the count is always exact).
    max_skipped_kept: int = 1_000
    # Re-plans of one member after version conflicts before it is reported as skipped.
    max_replans: int = 3
    # R28 defaults by provider tier, when a connection names no expression.
    full_tier_schedule: str = Tier.FULL.default_schedule
    basic_tier_schedule: str = Tier.BASIC.default_schedule
    # R29: employees applied per drain of a connection's pending webhooks (the rest wait for the
    # next drain: the next webhook, or the end of the next full sync).
    max_drained: int = 5_000
    # Change notifications (issue 14): the API's public URL, under which a connection's webhook
    # path (``/webhooks/{connection_id}``) receives them; None: no vendor subscription is made.
    notification_base_url: str | None = None
    # A subscription expiring within this margin is renewed by the connection's scheduled sync.
    subscription_renew_margin: timedelta = timedelta(hours=24)
    # OAuth connect: how long a started authorization may wait for its callback, the origins an
    # admin UI may be sent back to (``https://app.example``; ``http://127.0.0.1:*`` any port), and
    # the callback URL registered with the vendors' apps (empty: derived from the request).
    oauth_state_ttl: timedelta = timedelta(minutes=10)
    oauth_return_origins: tuple[str, ...] = ()
    oauth_callback_url: str = ""

    def schedule_for(self, tier: Tier) -> str:
        """R28: the schedule of a connection that names none, by its provider's tier."""
        return self.full_tier_schedule if tier is Tier.FULL else self.basic_tier_schedule


@dataclass(frozen=True, slots=True)
class Ports:
    connections: ConnectionStore
    members: MemberStore
    tasks: TaskStore
    audit: AuditLog
    runs: RunStore
    lock: ConnectionLock
    # R29: webhooks that met a running full sync; R30: deactivations held for an admin.
    pending: PendingWebhooks
    webhook_guard: WebhookGuardStore
    # One refresh of a connection's OAuth token at a time (shared.services.tokens).
    token_lock: ConnectionLock
    blobs: BlobStore
    secrets: SecretStore
    scheduler: Scheduler
    # The event pollers' schedules: one per connection whose connector is an ``EventQueue`` (ADP).
    poll_schedules: Scheduler
    workflow: Workflow
    mailer: Mailer
    events: EventPublisher
    clock: Clock
    ids: IdGenerator
    providers: ProviderLookup
    # OAuth connect: pending authorizations, and the SaaS team's OAuth apps.
    oauth_states: OAuthStateStore
    oauth_apps: OAuthApps
    # The admin portal's one-time links and sessions.
    portal: PortalStore
    settings: ServiceSettings = field(default_factory=ServiceSettings)


# One protocol per port (read-only: a frozen dataclass's field satisfies it).


class WithConnections(Protocol):
    @property
    def connections(self) -> ConnectionStore: ...


class WithMembers(Protocol):
    @property
    def members(self) -> MemberStore: ...


class WithTasks(Protocol):
    @property
    def tasks(self) -> TaskStore: ...


class WithAudit(Protocol):
    @property
    def audit(self) -> AuditLog: ...


class WithRuns(Protocol):
    @property
    def runs(self) -> RunStore: ...


class WithLock(Protocol):
    @property
    def lock(self) -> ConnectionLock: ...


class WithPending(Protocol):
    @property
    def pending(self) -> PendingWebhooks: ...


class WithWebhookGuard(Protocol):
    @property
    def webhook_guard(self) -> WebhookGuardStore: ...


class WithTokenLock(Protocol):
    @property
    def token_lock(self) -> ConnectionLock: ...


class WithBlobs(Protocol):
    @property
    def blobs(self) -> BlobStore: ...


class WithSecrets(Protocol):
    @property
    def secrets(self) -> SecretStore: ...


class WithOAuthStates(Protocol):
    @property
    def oauth_states(self) -> OAuthStateStore: ...


class WithOAuthApps(Protocol):
    @property
    def oauth_apps(self) -> OAuthApps: ...


class WithScheduler(Protocol):
    @property
    def scheduler(self) -> Scheduler: ...


class WithPollSchedules(Protocol):
    """The schedules that drain a vendor's event queue (``shared.services.event_queue``): one per
    connection whose connector is an ``EventQueue``, beside its full-sync schedule."""

    @property
    def poll_schedules(self) -> Scheduler: ...


class WithWorkflow(Protocol):
    @property
    def workflow(self) -> Workflow: ...


class WithMailer(Protocol):
    @property
    def mailer(self) -> Mailer: ...


class WithEvents(Protocol):
    @property
    def events(self) -> EventPublisher: ...


class WithClock(Protocol):
    @property
    def clock(self) -> Clock: ...


class WithIds(Protocol):
    @property
    def ids(self) -> IdGenerator: ...


class WithProviders(Protocol):
    @property
    def providers(self) -> ProviderLookup: ...


class WithPortal(Protocol):
    @property
    def portal(self) -> PortalStore: ...


class WithSettings(Protocol):
    @property
    def settings(self) -> ServiceSettings: ...
