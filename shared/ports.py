"""The ports: what the services need from the outside world, as Protocols.

Services depend on these only; ``shared/adapters`` implements them on AWS (DynamoDB, S3, Secrets
Manager, EventBridge Scheduler, Step Functions, SES v2, EventBridge) and ``tests/fakes`` in memory.
Ports speak domain models (``shared.domain.models``, ``shared.domain.records``) and the small frozen
dataclasses below; stored item shapes never leave the adapters.

Conventions every implementation keeps:
- Every call is scoped by ``tenant_id``; nothing reads or writes another tenant's data.
- Missing things raise the typed ``NotFound`` subclasses of ``shared.errors``; a stored item that
  cannot be read back raises ``CorruptItem`` naming its key; AWS throttling that outlasts the
  adapter's bounded retries raises ``Throttled``.
- Lists are paged with an opaque ``cursor`` (``None`` = first page) and a ``limit`` between 1 and
  ``MAX_PAGE_LIMIT``; a cursor the store did not issue raises ``InvalidInput``.
- Optimistic versions: a model's ``version`` is the number of writes it has had. A write passes the
  new state (``version = expected + 1``) and the version it was computed from; a mismatch is a
  ``VersionConflict`` (or a per-member ``WriteOutcome`` for batched member writes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from shared.domain.models import (
    Connection,
    Member,
    MemberFlag,
    MemberSource,
    MemberStatus,
    PlanCounts,
    TaskType,
)
from shared.domain.records import AuditEntry, SyncRun, Task, TaskStatus
from shared.providers.base import Credentials, Provider, Secret

DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Page[T]:
    items: tuple[T, ...]
    # Opaque; pass it back to get the next page. None when there is no more.
    next_cursor: str | None = None


# ---------------------------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------------------------


class ConnectionStore(Protocol):
    def create(self, connection: Connection, *, max_active: int) -> None:
        """Store a new connection; its ``version`` must be 1 (``InvalidInput`` otherwise).

        Raises ``ConnectionLimitReached`` when the tenant already has ``max_active`` connections
        whose status is neither ``disconnected`` nor ``draft`` (R22; a draft takes no slot; the
        adapter enforces it atomically, e.g. with a per-tenant counter in the same transaction),
        ``AlreadyExists`` for a taken id.
        """

    def get(self, tenant_id: str, connection_id: str) -> Connection:
        """Raises ``ConnectionNotFound``."""

    def tenant_of(self, connection_id: str) -> str:
        """The tenant owning a connection id. Webhooks arrive as ``/webhooks/{connection_id}``
        with no tenant, so the store keeps a lookup (connection id -> tenant id only) written with
        the connection. Raises ``ConnectionNotFound``."""

    def list_for_tenant(self, tenant_id: str) -> list[Connection]:
        """All of a tenant's connections (disconnected ones too), oldest first. A tenant has few."""

    def list_subscribed(self) -> list[tuple[str, str]]:
        """(tenant id, connection id) of every connection, across tenants, that holds a vendor
        subscription or wants one (a notification URL is set), neither draft nor disconnected: the
        scheduled renewal sweep's work. The store keeps a reference written with the connection."""

    def save(self, connection: Connection, *, expected_version: int, max_active: int | None = None) -> None:
        """Replace a connection if its stored version is ``expected_version``.

        ``connection.version`` must be ``expected_version + 1``. Raises ``VersionConflict`` or
        ``ConnectionNotFound``. A status change to ``disconnected`` frees a slot for R22. Drafts
        (R32) take no slot: the save that activates one must name ``max_active`` (``InvalidInput``
        otherwise) and raises ``ConnectionLimitReached`` when the tenant already has that many,
        checked atomically with the write.
        """


# ---------------------------------------------------------------------------------------------
# Members
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberQuery:
    """Filters for listing members; each is optional, all given ones must hold."""

    status: MemberStatus | None = None
    flag: MemberFlag | None = None
    source: MemberSource | None = None
    # R34: the one member with this email (case-insensitive) or this external id, looked up by
    # its guard item; a page of at most one member.
    email: str | None = None
    external_id: str | None = None
    # Text in the first name, last name or email (case-insensitive, ``str.casefold``). Stores may
    # return a short page (even an empty one) with a cursor after evaluating a bounded number of
    # members (``MAX_TEXT_SCAN`` per call): keep paging until ``next_cursor`` is None.
    text: str | None = None

    def matches(self, member: Member) -> bool:
        """Whether ``member`` meets every filter given (stores that filter in memory use it)."""
        return (
            (self.status is None or member.status is self.status)
            and (self.flag is None or self.flag in member.flags)
            and (self.source is None or member.source is self.source)
            and (self.email is None or member.email_key == self.email.strip().lower())
            and (self.external_id is None or member.external_id == self.external_id)
            and (self.text is None or _holds_text(member, self.text))
        )


def _holds_text(member: Member, text: str) -> bool:
    """``MemberQuery.text``: in "first last" or in the email, case-insensitively (casefold)."""
    p = member.profile
    return text.casefold() in f"{p.first_name or ''} {p.last_name or ''}\n{p.email or ''}".casefold()


# The members one text-filtered ``MemberStore.query`` call evaluates at most (a bounded request).
MAX_TEXT_SCAN = 2000


@dataclass(frozen=True, slots=True)
class MemberLookup:
    """Members found by their guard items (R34): by lower-cased email, and by external id."""

    by_email: Mapping[str, Member] = field(default_factory=dict)
    by_external_id: Mapping[str, Member] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MemberWrite:
    """One member's change in a batched write.

    ``previous is None``: a create. No member with this id may exist and the email (if any) must be
    free in the tenant. ``member.version`` is 1.
    Otherwise an update conditional on the stored version being ``previous.version``;
    ``member.version`` is ``previous.version + 1``. ``previous`` is the state the change was
    computed from, so the adapter knows the email guard to release and the index keys to move
    without reading first.

    ``action_key`` makes a repeated write harmless: the store keeps the key of the last action
    applied to the member, and a write whose condition fails because that very action was
    already applied reports ``ALREADY_APPLIED`` (not a conflict). Keys are deterministic:
    ``<run id>:c<chunk>:<member id>`` for a sync, ``wh:<delivery id>:<member id>`` for a webhook,
    ``adm:<request id>`` for an admin's change.
    """

    member: Member
    previous: Member | None
    action_key: str

    @property
    def is_create(self) -> bool:
        return self.previous is None


class WriteOutcome(StrEnum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"  # the same action_key was applied before: nothing done
    VERSION_CONFLICT = "version_conflict"  # the member changed since ``previous`` was read
    EMAIL_TAKEN = "email_taken"  # another member of the tenant has this email
    EXTERNAL_ID_TAKEN = "external_id_taken"  # another member of the tenant has this external id
    ALREADY_EXISTS = "already_exists"  # a create for a member id that exists (another action)
    NOT_FOUND = "not_found"  # an update of a member that no longer exists
    # A value the store cannot key (an HR id or email too long for a DynamoDB key, R25): refused
    # before any request; writing it again can never succeed.
    UNSTORABLE = "unstorable"


@dataclass(frozen=True, slots=True)
class WriteResult:
    member_id: str
    outcome: WriteOutcome
    # For EMAIL_TAKEN / EXTERNAL_ID_TAKEN: the member holding the email or id, when known.
    conflicting_member_id: str | None = None
    # For UNSTORABLE: the value that cannot be stored (``hris_id``, ``email`` ...).
    field: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in (WriteOutcome.APPLIED, WriteOutcome.ALREADY_APPLIED)


class MemberStore(Protocol):
    def get(self, tenant_id: str, member_id: str) -> Member:
        """Raises ``MemberNotFound``."""

    def get_many(self, tenant_id: str, member_ids: Sequence[str]) -> dict[str, Member]:
        """The members that exist among ``member_ids`` (missing ids are simply absent)."""

    def find_by_email(self, tenant_id: str, email: str) -> Member | None:
        """The member whose email matches case-insensitively (at most one: emails are unique)."""

    def find_by_link(self, tenant_id: str, connection_id: str, hris_id: str) -> Member | None:
        """The member linked to this employee of this connection (R05)."""

    def find_by_external_id(self, tenant_id: str, external_id: str) -> Member | None:
        """The member with this external id (R34; exact, at most one: external ids are unique)."""

    def find_many(
        self, tenant_id: str, *, emails: Sequence[str] = (), external_ids: Sequence[str] = ()
    ) -> MemberLookup:
        """The members holding any of these emails (case-insensitive) or external ids, in batches
        (a bulk import's reads); values nobody holds, or no key could hold, are simply absent."""

    def query(
        self,
        tenant_id: str,
        query: MemberQuery,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> Page[Member]:
        """Members matching ``query``, in a stable order, one page at a time."""

    def iter_all(self, tenant_id: str) -> Iterator[Member]:
        """Every member of the tenant, streamed (for planning a full sync)."""

    def write(self, tenant_id: str, writes: Sequence[MemberWrite]) -> list[WriteResult]:
        """Apply many member changes; one result per write, in order.

        At most one write per member id per call (``InvalidInput`` otherwise). A failed condition
        fails that write only, never the batch. Creates claim the email atomically with the
        member (a guard item in a transaction); an update that changes the email moves the guard.
        The external id (R34) is guarded the same way (``EXTERNAL_ID_TAKEN``).
        Adapters batch as DynamoDB allows (BatchWriteItem 25 / TransactWriteItems 100) and retry
        unprocessed items and throttling.
        """


# ---------------------------------------------------------------------------------------------
# Tasks and audit
# ---------------------------------------------------------------------------------------------


class TaskStore(Protocol):
    def open(self, tasks: Sequence[Task]) -> list[bool]:
        """Store new tasks; idempotent by ``task_id`` (False for one that already existed)."""

    def get(self, tenant_id: str, task_id: str) -> Task:
        """Raises ``TaskNotFound``."""

    def query(
        self,
        tenant_id: str,
        *,
        type: TaskType | None = None,
        status: TaskStatus | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> Page[Task]:
        """Tasks newest first, filtered by type and status."""

    def complete(self, tenant_id: str, task_id: str, *, by: str, at: datetime) -> Task:
        """Mark a task done (completing a done task returns it unchanged). Raises ``TaskNotFound``."""


class AuditLog(Protocol):
    def append(self, entries: Sequence[AuditEntry]) -> None:
        """Store entries; idempotent by ``entry_id`` (a repeated chunk writes each once)."""

    def query(
        self,
        tenant_id: str,
        *,
        member_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> Page[AuditEntry]:
        """Entries newest first: one member's trail, or the tenant's when ``member_id`` is None."""


# ---------------------------------------------------------------------------------------------
# Sync runs
# ---------------------------------------------------------------------------------------------


class RunStore(Protocol):
    def create(self, run: SyncRun) -> None:
        """Store a new run; its ``version`` must be 1. Raises ``AlreadyExists``."""

    def get(self, tenant_id: str, run_id: str) -> SyncRun:
        """Raises ``RunNotFound``."""

    def list_for_connection(
        self,
        tenant_id: str,
        connection_id: str,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> Page[SyncRun]:
        """A connection's runs, newest first."""

    def save(self, run: SyncRun, *, expected_version: int) -> None:
        """Replace a run if its stored version is ``expected_version`` (``run.version`` is one more).

        Raises ``VersionConflict`` or ``RunNotFound``.
        """

    def record_chunk(self, tenant_id: str, run_id: str, chunk: int, applied: PlanCounts) -> SyncRun:
        """Atomically add one applied chunk's counts to ``run.applied`` and ``chunk`` to
        ``chunks_done`` (bumping the version and ``progress.chunks_applied``); a chunk already
        recorded changes nothing. Safe when chunks of one run are applied concurrently.
        Returns the run as stored afterwards. Raises ``RunNotFound``.
        """


# ---------------------------------------------------------------------------------------------
# The connection lock (R29)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lease:
    tenant_id: str
    connection_id: str
    holder: str  # the run id of the full sync holding the lock (or the id of one token refresh)
    expires_at: datetime


class ConnectionLock(Protocol):
    """A lease per connection: the full sync's lock (R29), and, as a second instance with its own
    key, the lease one OAuth token refresh holds (``Ports.token_lock``)."""

    def acquire(
        self, tenant_id: str, connection_id: str, holder: str, now: datetime, ttl: timedelta
    ) -> Lease:
        """Take the lock until ``now + ttl``. Raises ``LockHeld`` while another holder's lease is
        unexpired; an expired lease is taken over; the same holder re-acquiring renews."""

    def renew(self, lease: Lease, now: datetime, ttl: timedelta) -> Lease:
        """Extend a held lease. Raises ``LockLost`` when the lock is no longer this holder's."""

    def release(self, lease: Lease) -> None:
        """Give the lock up; does nothing when it is not (or no longer) this holder's."""

    def current(self, tenant_id: str, connection_id: str, now: datetime) -> Lease | None:
        """The unexpired lease on this connection, if any."""


# ---------------------------------------------------------------------------------------------
# Webhooks that wait: for a full sync to end (R29), or for an admin (R30)
# ---------------------------------------------------------------------------------------------

# The list of employees whose webhooks met a running full sync (R29): drained when it ends.
PENDING_LIST = "pending"


def held_list(run_id: str) -> str:
    """The list of webhook deactivations the guard holds in ``run_id`` (R30)."""
    return f"held:{run_id}"


@dataclass(frozen=True, slots=True)
class PendingEmployee:
    """An employee a webhook named, kept in one of a connection's lists, once per HR id.

    ``token`` changes when the entry is written again by another delivery: a removal takes only
    the entries it read, so a newer webhook for the same employee is never dropped with an older
    one. A held deactivation (R30) names its member and reason.
    """

    hris_id: str
    token: str
    added_at: datetime
    member_id: str | None = None
    reason: str | None = None


class PendingWebhooks(Protocol):
    """Per-connection lists of employees named by webhooks (deduplicated by HR id)."""

    def add(
        self, tenant_id: str, connection_id: str, list_name: str, entries: Sequence[PendingEmployee]
    ) -> None:
        """Store the entries; an HR id already listed is replaced (its token with it)."""

    def read(
        self,
        tenant_id: str,
        connection_id: str,
        list_name: str,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> Page[PendingEmployee]:
        """The entries in a stable order, one page at a time (a cursor stays valid across removals)."""

    def remove(
        self, tenant_id: str, connection_id: str, list_name: str, entries: Sequence[PendingEmployee]
    ) -> None:
        """Remove entries that still carry the token read; a rewritten entry stays."""

    def discard(self, tenant_id: str, connection_id: str, list_name: str, hris_ids: Sequence[str]) -> None:
        """Remove these HR ids whatever their token (idempotent)."""


@dataclass(frozen=True, slots=True)
class GuardState:
    """R30 for one connection: the run holding webhook deactivations (if any), and when an admin
    last decided one (the rolling window counts from then at the earliest)."""

    held_run_id: str | None = None
    decided_at: datetime | None = None


class WebhookGuardStore(Protocol):
    def record_deactivations(
        self, tenant_id: str, connection_id: str, member_ids: Sequence[str], at: datetime
    ) -> None:
        """Log deactivations a webhook is about to apply (the rolling window's entries)."""

    def count_deactivations(self, tenant_id: str, connection_id: str, since: datetime) -> int:
        """Deactivations logged at or after ``since``."""

    def state(self, tenant_id: str, connection_id: str) -> GuardState: ...

    def hold(self, tenant_id: str, connection_id: str, run_id: str) -> str:
        """Make ``run_id`` the connection's held run unless one is held already; returns the held
        run's id (the first writer wins, so concurrent workers share one run and one email)."""

    def decide(self, tenant_id: str, connection_id: str, run_id: str, at: datetime) -> None:
        """``run_id`` was confirmed or discarded at ``at``: it holds nothing any more and the
        window restarts at ``at``. Does nothing when ``run_id`` is not the held run."""


# ---------------------------------------------------------------------------------------------
# Blobs, secrets, schedules, workflow
# ---------------------------------------------------------------------------------------------


class BlobStore(Protocol):
    """Snapshot pages and plans too large for a state payload (S3). Keys start with the tenant."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """Raises ``BlobNotFound``."""

    def delete(self, key: str) -> None:
        """Idempotent."""


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """An OAuth connect between its start and the vendor's callback: kept server-side, single use.

    ``key`` is a digest of the ``state`` sent to the vendor (the state itself is stored nowhere);
    ``verifier`` is the PKCE verifier (None for a vendor without PKCE). Everything the callback
    needs is here, bound to the tenant and the admin who started it.
    """

    key: str
    tenant_id: str
    provider: str
    label: str
    subject: str
    email: str | None
    return_url: str
    redirect_uri: str
    verifier: Secret | None
    expires_at: datetime
    # The non-secret settings given before the redirect (BambooHR's company_domain ...).
    settings: Mapping[str, str] = field(default_factory=dict)
    # The connection settings to apply to the draft (scope, invites ...), as given (JSON values).
    options: Mapping[str, Any] = field(default_factory=dict)


class OAuthStateStore(Protocol):
    """Pending OAuth connects (``PendingAuthorization``), each taken once."""

    def put(self, pending: PendingAuthorization) -> None:
        """Store a new one (its key is new: a random state's digest)."""

    def take(self, key: str) -> PendingAuthorization | None:
        """Read and delete it in one conditional step: None when there is none (never stored,
        already taken, or removed after expiry). Two takes of one key never both find it."""


class OAuthApps(Protocol):
    """The SaaS team's OAuth app per provider: deploy-time configuration, never the admin's input."""

    def get(self, provider: str) -> Credentials | None:
        """Secrets ``client_id`` and ``client_secret`` (and settings the deployment fixes, such as
        another host for a sandbox); None when this deployment has no app for the provider."""


class SecretStore(Protocol):
    """One secret per connection (Secrets Manager); values never logged, never in the table."""

    def put(self, tenant_id: str, connection_id: str, credentials: Credentials) -> None:
        """Create or replace the connection's credentials."""

    def get(self, tenant_id: str, connection_id: str) -> Credentials:
        """Raises ``SecretNotFound``."""

    def delete(self, tenant_id: str, connection_id: str) -> None:
        """Idempotent (R20)."""


class Scheduler(Protocol):
    """One schedule per connection, all in one schedule group (EventBridge Scheduler, R28)."""

    def upsert(
        self,
        tenant_id: str,
        connection_id: str,
        *,
        expression: str,
        timezone: str,
        payload: Mapping[str, Any],
    ) -> None:
        """Create or replace the schedule. ``expression`` is a ``rate(...)`` or ``cron(...)``
        expression; implementations validate it with ``shared.schedule_expressions`` (moto accepts
        anything) and raise ``InvalidInput``; ``payload`` is what the schedule delivers."""

    def delete(self, tenant_id: str, connection_id: str) -> None:
        """Idempotent (R20)."""


class Workflow(Protocol):
    """The full-sync state machine (Step Functions)."""

    def start(self, name: str, input: Mapping[str, Any]) -> str:
        """Start an execution named ``name`` (unique per run); returns its id. Starting the same
        name with the same input again returns the same id."""


# ---------------------------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------------------------


class MailTemplate(StrEnum):
    IMPORT_COMPLETE = "import_complete"
    SYNC_BLOCKED = "sync_blocked"
    WEBHOOK_GUARD = "webhook_guard"  # R30: webhook deactivations held
    CONNECTION_FAILING = "connection_failing"
    MEMBER_INVITE = "member_invite"


@dataclass(frozen=True, slots=True)
class Email:
    template: MailTemplate
    to: tuple[str, ...]
    # Template variables (JSON-safe scalars); never a credential.
    data: Mapping[str, str | int | None] = field(default_factory=dict)


class Mailer(Protocol):
    def send(self, email: Email) -> None: ...


# DESIGN.md, "Events": detail-types on the bus (source "hris-sync").
MEMBER_CREATED = "member.created"
MEMBER_UPDATED = "member.updated"
MEMBER_DEACTIVATED = "member.deactivated"
MEMBER_REACTIVATED = "member.reactivated"
MEMBER_APPROVAL_REQUESTED = "member.approval_requested"
MEMBER_INVITED = "member.invited"
TASK_OPENED = "task.opened"
SYNC_COMPLETED = "sync.completed"
SYNC_FAILED = "sync.failed"
SYNC_BLOCKED = "sync.blocked"
EVENT_SOURCE = "hris-sync"


@dataclass(frozen=True, slots=True)
class DomainEvent:
    detail_type: str
    # tenant_id, connection_id, member_id, changed fields, run_id ... (JSON-safe)
    detail: Mapping[str, Any]


class EventPublisher(Protocol):
    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Put every event (the adapter batches by 10 and retries failed entries)."""


# ---------------------------------------------------------------------------------------------
# Time and identity
# ---------------------------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime (UTC)."""


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str:
        """A fresh unique id such as ``run_3f2a...`` (prefix + "_" + random hex)."""


# ---------------------------------------------------------------------------------------------
# The admin portal: one-time links and the sessions they open
# ---------------------------------------------------------------------------------------------


class PortalIntent(StrEnum):
    CONNECT = "connect"  # the connect journey first
    MANAGE = "manage"  # the day-to-day screens first


@dataclass(frozen=True, slots=True)
class PortalLink:
    """A one-time link, stored by its token's digest (the token itself is never stored)."""

    token_digest: str
    tenant_id: str
    intent: PortalIntent
    created_by: str  # the subject that asked for it (the SaaS team's backend)
    expires_at: datetime
    return_url: str | None = None
    email: str | None = None  # the admin who will use it, when the caller says


@dataclass(frozen=True, slots=True)
class PortalSession:
    """A portal session: the tenant's admin rights for a few hours, found by the cookie's digest."""

    token_digest: str
    tenant_id: str
    subject: str  # recorded on what the session's admin does (audit entries, decisions)
    intent: PortalIntent
    csrf_token: str  # sent back in a header on every state-changing call (synchronizer token)
    expires_at: datetime
    return_url: str | None = None
    email: str | None = None


class PortalStore(Protocol):
    def add_link(self, link: PortalLink) -> None:
        """Store a new link (its digest is new: a collision raises ``AlreadyExists``)."""

    def take_link(self, token_digest: str, now: datetime) -> PortalLink:
        """Remove the link and return it, at most once (a conditional delete); raises
        ``PortalLinkExpired`` when it expired before ``now``, ``PortalLinkUsed`` when it is gone
        (taken before, or never issued)."""

    def add_session(self, session: PortalSession) -> None:
        """Store a new session."""

    def session(self, token_digest: str, now: datetime) -> PortalSession:
        """The live session, or ``PortalSessionInvalid`` (unknown, ended or expired at ``now``)."""

    def end_session(self, token_digest: str) -> None:
        """Forget the session (idempotent)."""


# Provider lookup: a provider by name (``shared.providers.registry.get_provider``); raises
# ``ProviderNotFound`` for an unknown name.
ProviderLookup = Callable[[str], Provider]


# ---------------------------------------------------------------------------------------------
# Queues
# ---------------------------------------------------------------------------------------------


class MessageQueue(Protocol):
    """The webhook queue (SQS): the ingest puts a verified delivery, the worker applies it."""

    def send(self, body: Mapping[str, Any]) -> str:
        """Put one JSON message; returns its id once the queue has stored it (raises ``Throttled``
        when the queue kept throttling past the adapter's retries)."""
