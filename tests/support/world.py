"""A whole service world in memory: every port faked, a scriptable HR system, and a driver that
runs a full sync's steps the way the state machine does."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from functions.event_poller.handler import EventPollerPorts
from shared.codecs import employee_from
from shared.domain.models import (
    SYNCED_FIELDS,
    Connection,
    Employee,
    Member,
    MemberSource,
    MemberStatus,
    Profile,
)
from shared.domain.records import RunStatus, SyncRun
from shared.errors import HrisSyncError
from shared.ports import Email, MessageQueue, ProviderLookup
from shared.providers.base import (
    Credentials,
    Directory,
    DirectoryEntry,
    EmployeePage,
    ProviderError,
    QueuedMessage,
    Secret,
    Tier,
    WebhookEvent,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import (
    CredentialField,
    ProviderInfo,
    ProviderKind,
    describe,
    webhook_secret_field,
)
from shared.services import connections, full_sync
from shared.services.connections import ConnectResult
from shared.services.context import Ports, ServiceSettings
from tests.support.memory import (
    FixedClock,
    MemoryAudit,
    MemoryBlobs,
    MemoryConnections,
    MemoryEvents,
    MemoryLock,
    MemoryMailer,
    MemoryMembers,
    MemoryOAuthApps,
    MemoryOAuthStates,
    MemoryPendingWebhooks,
    MemoryPortal,
    MemoryRuns,
    MemoryScheduler,
    MemorySecrets,
    MemoryTasks,
    MemoryWebhookGuard,
    MemoryWorkflow,
    ProviderRegistry,
    SequentialIds,
)

CREDENTIALS = Credentials(
    secrets={"api_key": Secret("sk-very-secret"), "webhook_secret": Secret("whsec-1")},
    settings={"company_domain": "acme"},
)


def employee(hris_id: str, **fields: Any) -> Employee:
    fields.setdefault("first_name", hris_id.title())
    fields.setdefault("last_name", "Person")
    fields.setdefault("email", f"{hris_id}@acme.test")
    return employee_from({"hris_id": hris_id, **fields})


def manual_member(tenant_id: str, member_id: str, email: str, **fields: Any) -> Member:
    return Member(
        member_id=member_id,
        tenant_id=tenant_id,
        source=fields.pop("source", MemberSource.MANUAL),
        status=fields.pop("status", MemberStatus.ACTIVE),
        profile=Profile(email=email, first_name=fields.pop("first_name", "Manual")),
        version=1,
        **fields,
    )


class FakeHR:
    """A scriptable HR system: employees, page size, failing pages, call log."""

    name = "fakehr"
    capabilities = frozenset(SYNCED_FIELDS)
    supports_webhooks = True

    def __init__(self, tier: Tier = Tier.FULL, page_size: int = 3) -> None:
        self.tier = tier
        self.page_size = page_size
        self.info: ProviderInfo = describe(
            id=self.name,
            name="Fake HR",
            kind=ProviderKind.HRIS,
            tier=tier,
            capabilities=self.capabilities,
            supports_webhooks=self.supports_webhooks,
            api_key_fields=(
                CredentialField("api_key", "API key", "The fake's key.", secret=True),
                CredentialField(
                    "company_domain", "Company domain", "The company.", secret=False, required=False
                ),
                webhook_secret_field("Webhook secret", "Signs the fake's webhooks."),
            ),
        )
        # What check_credentials raises (a refusal, an outage); None: the credentials are good.
        self.fail_check: ProviderError | None = None
        self.employees: dict[str, Employee] = {}
        self.fail_pages: dict[int, ProviderError] = {}
        self.fail_get: ProviderError | None = None
        self.fail_directory: ProviderError | None = None
        self.calls: list[tuple[str, Any]] = []
        self.credentials_seen: list[Credentials] = []

    def capabilities_for(self, credentials: Credentials) -> frozenset[str]:
        return self.capabilities

    def check_credentials(self, credentials: Credentials) -> None:
        self.calls.append(("check", None))
        self.credentials_seen.append(credentials)
        if self.fail_check is not None:
            raise self.fail_check

    def set(self, *employees: Employee) -> None:
        for e in employees:
            self.employees[e.hris_id] = e

    def remove(self, *hris_ids: str) -> None:
        for i in hris_ids:
            self.employees.pop(i, None)

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        self.credentials_seen.append(credentials)
        start = int(cursor or 0)
        page = start // self.page_size
        self.calls.append(("list", page))
        if page in self.fail_pages:
            raise self.fail_pages[page]
        everyone = sorted(self.employees.values(), key=lambda e: e.hris_id)
        chunk = everyone[start : start + self.page_size]
        end = start + len(chunk)
        return EmployeePage(employees=chunk, next_cursor=str(end) if end < len(everyone) else None)

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        self.calls.append(("get", tuple(ids)))
        if self.fail_get is not None:
            raise self.fail_get
        return EmployeePage(
            employees=[self.employees[i] for i in ids if i in self.employees], next_cursor=None
        )

    def directory(self, credentials: Credentials) -> Directory:
        self.calls.append(("directory", None))
        if self.fail_directory is not None:
            raise self.fail_directory
        # Ids where the employees carry them (R33), else their names (as vendors without ids).
        companies = {(e.company_id or e.company): e.company for e in self.employees.values() if e.company}
        groups = {g: g for e in self.employees.values() for g in e.groups if not e.group_ids}
        for e in self.employees.values():  # an id's name: the group name at its place, if any
            names = e.groups if len(e.groups) == len(e.group_ids) else e.group_ids
            groups.update(zip(e.group_ids, names, strict=True))
        return Directory(
            companies=[DirectoryEntry(c, n or c, "company") for c, n in sorted(companies.items())],
            groups=[DirectoryEntry(g, n, "group") for g, n in sorted(groups.items())],
            people=[
                DirectoryEntry(e.hris_id, f"{e.first_name} {e.last_name}") for e in self.employees.values()
            ],
        )

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        secret: Secret,
        now: datetime,
        *,
        require_signature: bool = False,
    ) -> None:
        if headers.get("x-signature") != secret.reveal():
            raise WebhookRejected("bad signature")

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        try:
            body = json.loads(raw_body)
            return WebhookEvent(
                kind=WebhookKind(body["kind"]), employee_ids=tuple(body["ids"]), delivery_id=body["delivery"]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookUnparseable("not a fakehr webhook") from exc


class QueuedHR(FakeHR):
    """A ``FakeHR`` whose changes also wait on a queue at the vendor, which we pull (an
    ``EventQueue``, as ADP's event notifications): ``messages`` is the queue, head first; a message
    stays until acknowledged. ``fail_next`` / ``fail_ack`` raise on the next read / acknowledgement."""

    name = "queuedhr"

    def __init__(self, tier: Tier = Tier.FULL, page_size: int = 3) -> None:
        super().__init__(tier, page_size)
        self.messages: list[QueuedMessage] = []
        self.acknowledged: list[str] = []
        self.reads = 0
        self.fail_next: ProviderError | None = None
        self.fail_ack: ProviderError | None = None
        # Called on every read with the read's number (from 1): a test changes the queue there.
        self.on_read: Callable[[int], None] | None = None
        # Called with the message id before each acknowledgement removes it.
        self.on_ack: Callable[[str], None] | None = None
        self.closed = 0

    def put(self, message_id: str, event: WebhookEvent | None, problem: str | None = None) -> None:
        self.messages.append(QueuedMessage(message_id, event, problem))

    def next_message(self, credentials: Credentials) -> QueuedMessage | None:
        self.reads += 1
        self.credentials_seen.append(credentials)
        if self.on_read is not None:
            self.on_read(self.reads)
        if self.fail_next is not None:
            raise self.fail_next
        return self.messages[0] if self.messages else None

    def acknowledge(self, credentials: Credentials, message_id: str) -> None:
        if self.fail_ack is not None:
            raise self.fail_ack
        if self.on_ack is not None:
            self.on_ack(message_id)
        self.acknowledged.append(message_id)
        self.messages = [m for m in self.messages if m.message_id != message_id]

    def close(self) -> None:
        self.closed += 1


@dataclass
class World:
    hr: FakeHR = field(default_factory=FakeHR)
    connections: MemoryConnections = field(default_factory=MemoryConnections)
    members: MemoryMembers = field(default_factory=MemoryMembers)
    tasks: MemoryTasks = field(default_factory=MemoryTasks)
    audit: MemoryAudit = field(default_factory=MemoryAudit)
    runs: MemoryRuns = field(default_factory=MemoryRuns)
    lock: MemoryLock = field(default_factory=MemoryLock)
    pending: MemoryPendingWebhooks = field(default_factory=MemoryPendingWebhooks)
    webhook_guard: MemoryWebhookGuard = field(default_factory=MemoryWebhookGuard)
    token_lock: MemoryLock = field(default_factory=MemoryLock)
    blobs: MemoryBlobs = field(default_factory=MemoryBlobs)
    secrets: MemorySecrets = field(default_factory=MemorySecrets)
    scheduler: MemoryScheduler = field(default_factory=MemoryScheduler)
    poll_schedules: MemoryScheduler = field(default_factory=MemoryScheduler)
    workflow: MemoryWorkflow = field(default_factory=MemoryWorkflow)
    mailer: MemoryMailer = field(default_factory=MemoryMailer)
    events: MemoryEvents = field(default_factory=MemoryEvents)
    clock: FixedClock = field(default_factory=FixedClock)
    ids: SequentialIds = field(default_factory=SequentialIds)
    oauth_states: MemoryOAuthStates = field(default_factory=MemoryOAuthStates)
    oauth_apps: MemoryOAuthApps = field(default_factory=MemoryOAuthApps)
    portal: MemoryPortal = field(default_factory=MemoryPortal)
    settings: ServiceSettings = field(default_factory=lambda: ServiceSettings(chunk_size=2))
    # The providers by name; None: only the scripted ``hr`` as "fakehr".
    lookup: ProviderLookup | None = None

    def event_poller_ports(self, queue: MessageQueue) -> EventPollerPorts:
        """The event poller's ports on this world's stores, ``queue`` standing for the webhook queue."""
        return EventPollerPorts(
            connections=self.connections,
            secrets=self.secrets,
            providers=self.ports.providers,
            queue=queue,
            poll_schedules=self.poll_schedules,
            runs=self.runs,
            lock=self.lock,
            token_lock=self.token_lock,
            workflow=self.workflow,
            events=self.events,
            clock=self.clock,
            ids=self.ids,
            settings=self.settings,
        )

    @property
    def ports(self) -> Ports:
        return Ports(
            connections=self.connections,
            members=self.members,
            tasks=self.tasks,
            audit=self.audit,
            runs=self.runs,
            lock=self.lock,
            pending=self.pending,
            webhook_guard=self.webhook_guard,
            token_lock=self.token_lock,
            blobs=self.blobs,
            secrets=self.secrets,
            scheduler=self.scheduler,
            poll_schedules=self.poll_schedules,
            workflow=self.workflow,
            mailer=self.mailer,
            events=self.events,
            clock=self.clock,
            ids=self.ids,
            providers=self.lookup or ProviderRegistry({"fakehr": self.hr}),
            oauth_states=self.oauth_states,
            oauth_apps=self.oauth_apps,
            portal=self.portal,
            settings=self.settings,
        )

    # -- the state machine, step by step ------------------------------------------------------

    def drive(self, run: SyncRun, phase: str = "fetch") -> SyncRun:
        """Run a started run's steps like the state machine; a step's typed error fails the run."""
        ports, t, c, r = self.ports, run.tenant_id, run.connection_id, run.run_id
        try:
            full_sync.start_run(ports, t, c, run.trigger, run_id=r)
            if phase == "fetch":
                page, cursor = 0, None
                while True:
                    fetched = full_sync.fetch_page(ports, t, c, r, page=page, cursor=cursor)
                    if fetched.done:
                        break
                    page, cursor = page + 1, fetched.next_cursor
                planned = full_sync.plan_run(ports, t, c, r)
                if planned.outcome == "blocked":
                    return self.runs.get(t, r)
                chunks: Sequence[int] = planned.chunks
            else:
                chunks = full_sync.held_chunks(ports, t, r)
            for chunk in chunks:
                full_sync.apply_chunk(ports, t, c, r, chunk)
            return full_sync.finish_run(ports, t, c, r)
        except HrisSyncError as exc:
            return full_sync.fail_run(ports, t, c, r, f"{type(exc).__name__}: {exc}")

    def sync_now(self, tenant_id: str, connection_id: str) -> SyncRun:
        return self.drive(full_sync.request_sync(self.ports, tenant_id, connection_id))

    def emails(self, template: str | None = None) -> list[Email]:
        return [e for e in self.mailer.sent if template is None or e.template.value == template]

    def member_by_hris(self, tenant_id: str, connection_id: str, hris_id: str) -> Member:
        found = self.members.find_by_link(tenant_id, connection_id, hris_id)
        assert found is not None, f"no member linked to {hris_id}"
        return found

    def last_run(self, tenant_id: str, connection_id: str) -> SyncRun:
        return self.runs.list_for_connection(tenant_id, connection_id, limit=1).items[0]


T = "tenant-a"


def connect(world: World, tenant: str = T, **options: Any) -> ConnectResult:
    options.setdefault("admin_emails", ("boss@acme.test",))
    return connections.connect(
        world.ports, tenant, provider="fakehr", label="Acme HR", credentials=CREDENTIALS, options=options
    )


def imported(world: World, tenant: str = T, **options: Any) -> Connection:
    """Connect and run the first import to its end."""
    result = connect(world, tenant, **options)
    run = world.drive(result.run)
    assert run.status is RunStatus.COMPLETED, run
    return world.connections.get(tenant, result.connection.connection_id)


def hire(world: World, *ids: str, **fields: Any) -> None:
    world.hr.set(*(employee(i, **fields) for i in ids))
