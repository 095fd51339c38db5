"""In-memory fakes of every port (test support; never shipped in ``shared/``).

Faithful where the services rely on it: per-tenant email uniqueness (case-insensitive), optimistic
versions, idempotent action keys, lock leases with expiry, R22 limits, opaque cursors. Each fake
counts its writes and records the tenants it was asked about, so tests can prove R24 (zero
writes) and tenant isolation.
"""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.models import Connection, ConnectionStatus, Member, PlanCounts, TaskType
from shared.domain.records import AuditEntry, SyncRun, Task, TaskStatus
from shared.errors import (
    AlreadyExists,
    BlobNotFound,
    ConnectionLimitReached,
    ConnectionNotFound,
    EmailNotSent,
    HrisSyncError,
    InvalidInput,
    LockHeld,
    LockLost,
    MemberNotFound,
    PortalLinkExpired,
    PortalLinkUsed,
    PortalSessionInvalid,
    ProviderNotFound,
    RunNotFound,
    SecretNotFound,
    TaskNotFound,
    VersionConflict,
)
from shared.ports import (
    MAX_PAGE_LIMIT,
    DomainEvent,
    Email,
    GuardState,
    Lease,
    MemberLookup,
    MemberQuery,
    MemberWrite,
    Page,
    PendingAuthorization,
    PendingEmployee,
    PortalLink,
    PortalSession,
    WriteOutcome,
    WriteResult,
)
from shared.providers.base import Credentials, Provider
from shared.schedule_expressions import validate_schedule_expression, validate_timezone


def _encode(position: int, scope: str) -> str:
    return base64.urlsafe_b64encode(f"{scope}|{position}".encode()).decode()


def _paginate[T](items: Sequence[T], cursor: str | None, limit: int, scope: str) -> Page[T]:
    """Offset paging behind an opaque cursor that is only valid for the same listing."""
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_LIMIT}", field="limit")
    start = 0
    if cursor is not None:
        try:
            got_scope, _, pos = base64.urlsafe_b64decode(cursor.encode()).decode().rpartition("|")
            start = int(pos)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput("invalid cursor", field="cursor") from exc
        if got_scope != scope or start < 0:
            raise InvalidInput("invalid cursor", field="cursor")
    chunk = tuple(items[start : start + limit])
    end = start + len(chunk)
    return Page(items=chunk, next_cursor=_encode(end, scope) if end < len(items) else None)


class _Tracked:
    def __init__(self) -> None:
        self.tenants_seen: set[str] = set()
        self.write_calls = 0

    def _seen(self, tenant_id: str) -> None:
        self.tenants_seen.add(tenant_id)


def _takes_slot(connection: Connection) -> bool:
    """R22 counts active and failing connections; drafts (R32) and disconnected ones are free."""
    return connection.status not in (ConnectionStatus.DISCONNECTED, ConnectionStatus.DRAFT)


class MemoryConnections(_Tracked):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], Connection] = {}

    def create(self, connection: Connection, *, max_active: int) -> None:
        self._seen(connection.tenant_id)
        key = (connection.tenant_id, connection.connection_id)
        if connection.version != 1:
            raise InvalidInput("a new connection has version 1", field="version")
        if key in self.items:
            raise AlreadyExists("connection", connection.connection_id)
        if _takes_slot(connection) and self._slots_taken(connection.tenant_id) >= max_active:
            raise ConnectionLimitReached(max_active)
        self.write_calls += 1
        self.items[key] = connection

    def _slots_taken(self, tenant_id: str) -> int:
        return sum(1 for (t, _), c in self.items.items() if t == tenant_id and _takes_slot(c))

    def get(self, tenant_id: str, connection_id: str) -> Connection:
        self._seen(tenant_id)
        try:
            return self.items[(tenant_id, connection_id)]
        except KeyError:
            raise ConnectionNotFound(connection_id, tenant_id=tenant_id) from None

    def tenant_of(self, connection_id: str) -> str:
        for tenant_id, cid in self.items:
            if cid == connection_id:
                return tenant_id
        raise ConnectionNotFound(connection_id)

    def list_for_tenant(self, tenant_id: str) -> list[Connection]:
        self._seen(tenant_id)
        return [c for (t, _), c in self.items.items() if t == tenant_id]

    def list_subscribed(self) -> list[tuple[str, str]]:
        return [key for key, c in self.items.items() if c.in_subscription_sweep]

    def save(self, connection: Connection, *, expected_version: int, max_active: int | None = None) -> None:
        stored = self.get(connection.tenant_id, connection.connection_id)
        if stored.version != expected_version:
            raise VersionConflict("connection", connection.connection_id, expected_version)
        if connection.version != expected_version + 1:
            raise InvalidInput("the new version must be the expected one plus one", field="version")
        if _takes_slot(connection) and not _takes_slot(stored):
            if max_active is None:
                raise InvalidInput("a save that activates a connection names the limit", field="max_active")
            if self._slots_taken(connection.tenant_id) >= max_active:
                raise ConnectionLimitReached(max_active)
        self.write_calls += 1
        self.items[(connection.tenant_id, connection.connection_id)] = connection


class MemoryMembers(_Tracked):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], Member] = {}
        self.emails: dict[tuple[str, str], str] = {}
        self.external_ids: dict[tuple[str, str], str] = {}
        self.last_action: dict[tuple[str, str], str] = {}
        self.member_writes = 0
        # Called before each write; a test can change the store here to simulate a race.
        self.before_write: Callable[[MemberWrite], None] | None = None

    def seed(self, *members: Member) -> None:
        for m in members:
            self.items[(m.tenant_id, m.member_id)] = m
            if m.email_key:
                self.emails[(m.tenant_id, m.email_key)] = m.member_id
            if m.external_id:
                self.external_ids[(m.tenant_id, m.external_id)] = m.member_id

    def get(self, tenant_id: str, member_id: str) -> Member:
        self._seen(tenant_id)
        try:
            return self.items[(tenant_id, member_id)]
        except KeyError:
            raise MemberNotFound(member_id, tenant_id=tenant_id) from None

    def get_many(self, tenant_id: str, member_ids: Sequence[str]) -> dict[str, Member]:
        self._seen(tenant_id)
        return {i: self.items[(tenant_id, i)] for i in member_ids if (tenant_id, i) in self.items}

    def find_by_email(self, tenant_id: str, email: str) -> Member | None:
        self._seen(tenant_id)
        member_id = self.emails.get((tenant_id, email.strip().lower()))
        return self.items.get((tenant_id, member_id)) if member_id else None

    def find_by_external_id(self, tenant_id: str, external_id: str) -> Member | None:
        self._seen(tenant_id)
        member_id = self.external_ids.get((tenant_id, external_id))
        return self.items.get((tenant_id, member_id)) if member_id else None

    def find_many(
        self, tenant_id: str, *, emails: Sequence[str] = (), external_ids: Sequence[str] = ()
    ) -> MemberLookup:
        by_email = {e.strip().lower(): self.find_by_email(tenant_id, e) for e in emails if e.strip()}
        by_external_id = {x: self.find_by_external_id(tenant_id, x) for x in external_ids if x}
        return MemberLookup(
            by_email={k: m for k, m in by_email.items() if m is not None},
            by_external_id={k: m for k, m in by_external_id.items() if m is not None},
        )

    def find_by_link(self, tenant_id: str, connection_id: str, hris_id: str) -> Member | None:
        self._seen(tenant_id)
        for (t, _), m in self.items.items():
            if t == tenant_id and m.connection_id == connection_id and m.hris_id == hris_id:
                return m
        return None

    def query(
        self, tenant_id: str, query: MemberQuery, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Member]:
        self._seen(tenant_id)
        if (query.email is not None or query.external_id is not None) and cursor is not None:
            raise InvalidInput("a query by email or external id has one page; send no cursor", field="cursor")
        found = [m for (t, _), m in sorted(self.items.items()) if t == tenant_id and query.matches(m)]
        scope = f"members:{tenant_id}:{query!r}"
        return _paginate(found, cursor, limit, scope)

    def iter_all(self, tenant_id: str) -> Iterator[Member]:
        self._seen(tenant_id)
        return iter([m for (t, _), m in sorted(self.items.items()) if t == tenant_id])

    def write(self, tenant_id: str, writes: Sequence[MemberWrite]) -> list[WriteResult]:
        self._seen(tenant_id)
        ids = [w.member.member_id for w in writes]
        if len(set(ids)) != len(ids):
            raise InvalidInput("at most one write per member in a batch", field="writes")
        if writes:
            self.write_calls += 1
        return [self._write_one(tenant_id, w) for w in writes]

    def _write_one(self, tenant_id: str, w: MemberWrite) -> WriteResult:
        if self.before_write is not None:
            self.before_write(w)
        m = w.member
        if m.tenant_id != tenant_id:
            raise InvalidInput("member of another tenant in the batch", field="tenant_id")
        key = (tenant_id, m.member_id)
        stored = self.items.get(key)
        repeated = self.last_action.get(key) == w.action_key
        if w.previous is None:
            if m.version != 1:
                raise InvalidInput("a created member has version 1", field="version")
            if stored is not None:
                outcome = WriteOutcome.ALREADY_APPLIED if repeated else WriteOutcome.ALREADY_EXISTS
                return WriteResult(m.member_id, outcome)
            old_email = None
        else:
            if m.version != w.previous.version + 1:
                raise InvalidInput("the new version must be the previous one plus one", field="version")
            if stored is None:
                return WriteResult(m.member_id, WriteOutcome.NOT_FOUND)
            if stored.version != w.previous.version:
                outcome = WriteOutcome.ALREADY_APPLIED if repeated else WriteOutcome.VERSION_CONFLICT
                return WriteResult(m.member_id, outcome)
            old_email = stored.email_key
        new_email = m.email_key
        if new_email and new_email != old_email:
            holder = self.emails.get((tenant_id, new_email))
            if holder is not None and holder != m.member_id:
                return WriteResult(m.member_id, WriteOutcome.EMAIL_TAKEN, conflicting_member_id=holder)
        old_external = stored.external_id if stored is not None and w.previous is not None else None
        if m.external_id and m.external_id != old_external:
            holder = self.external_ids.get((tenant_id, m.external_id))
            if holder is not None and holder != m.member_id:
                return WriteResult(m.member_id, WriteOutcome.EXTERNAL_ID_TAKEN, conflicting_member_id=holder)
        if old_email and old_email != new_email:
            self.emails.pop((tenant_id, old_email), None)
        if new_email:
            self.emails[(tenant_id, new_email)] = m.member_id
        if old_external and old_external != m.external_id:
            self.external_ids.pop((tenant_id, old_external), None)
        if m.external_id:
            self.external_ids[(tenant_id, m.external_id)] = m.member_id
        self.items[key] = m
        self.last_action[key] = w.action_key
        self.member_writes += 1
        return WriteResult(m.member_id, WriteOutcome.APPLIED)


class MemoryTasks(_Tracked):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], Task] = {}

    def open(self, tasks: Sequence[Task]) -> list[bool]:
        created = []
        for task in tasks:
            self._seen(task.tenant_id)
            key = (task.tenant_id, task.task_id)
            created.append(key not in self.items)
            if key not in self.items:
                self.write_calls += 1
                self.items[key] = task
        return created

    def get(self, tenant_id: str, task_id: str) -> Task:
        self._seen(tenant_id)
        try:
            return self.items[(tenant_id, task_id)]
        except KeyError:
            raise TaskNotFound(task_id, tenant_id=tenant_id) from None

    def query(
        self,
        tenant_id: str,
        *,
        type: TaskType | None = None,
        status: TaskStatus | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Task]:
        self._seen(tenant_id)
        found = sorted(
            (
                t
                for (tenant, _), t in self.items.items()
                if tenant == tenant_id
                and (type is None or t.type is type)
                and (status is None or t.status is status)
            ),
            key=lambda t: (t.opened_at, t.task_id),
            reverse=True,
        )
        return _paginate(found, cursor, limit, f"tasks:{tenant_id}:{type}:{status}")

    def complete(self, tenant_id: str, task_id: str, *, by: str, at: datetime) -> Task:
        task = self.get(tenant_id, task_id)
        if task.status is TaskStatus.DONE:
            return task
        done = task.model_copy(update={"status": TaskStatus.DONE, "completed_at": at, "completed_by": by})
        self.write_calls += 1
        self.items[(tenant_id, task_id)] = done
        return done


class MemoryAudit(_Tracked):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], AuditEntry] = {}

    def append(self, entries: Sequence[AuditEntry]) -> None:
        for e in entries:
            self._seen(e.tenant_id)
            if (e.tenant_id, e.entry_id) not in self.items:
                self.write_calls += 1
                self.items[(e.tenant_id, e.entry_id)] = e

    def query(
        self, tenant_id: str, *, member_id: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> Page[AuditEntry]:
        self._seen(tenant_id)
        found = sorted(
            (
                e
                for (t, _), e in self.items.items()
                if t == tenant_id and (member_id is None or e.member_id == member_id)
            ),
            key=lambda e: (e.at, e.entry_id),
            reverse=True,
        )
        return _paginate(found, cursor, limit, f"audit:{tenant_id}:{member_id}")

    def all(self) -> list[AuditEntry]:
        return list(self.items.values())


class MemoryRuns(_Tracked):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], SyncRun] = {}

    def create(self, run: SyncRun) -> None:
        self._seen(run.tenant_id)
        key = (run.tenant_id, run.run_id)
        if run.version != 1:
            raise InvalidInput("a new run has version 1", field="version")
        if key in self.items:
            raise AlreadyExists("run", run.run_id)
        self.write_calls += 1
        self.items[key] = run

    def get(self, tenant_id: str, run_id: str) -> SyncRun:
        self._seen(tenant_id)
        try:
            return self.items[(tenant_id, run_id)]
        except KeyError:
            raise RunNotFound(run_id, tenant_id=tenant_id) from None

    def list_for_connection(
        self, tenant_id: str, connection_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[SyncRun]:
        self._seen(tenant_id)
        found = sorted(
            (r for (t, _), r in self.items.items() if t == tenant_id and r.connection_id == connection_id),
            key=lambda r: (r.started_at, r.run_id),
            reverse=True,
        )
        return _paginate(found, cursor, limit, f"runs:{tenant_id}:{connection_id}")

    def save(self, run: SyncRun, *, expected_version: int) -> None:
        stored = self.get(run.tenant_id, run.run_id)
        if stored.version != expected_version:
            raise VersionConflict("run", run.run_id, expected_version)
        if run.version != expected_version + 1:
            raise InvalidInput("the new version must be the expected one plus one", field="version")
        self.write_calls += 1
        self.items[(run.tenant_id, run.run_id)] = run

    def record_chunk(self, tenant_id: str, run_id: str, chunk: int, applied: PlanCounts) -> SyncRun:
        run = self.get(tenant_id, run_id)
        if chunk in run.chunks_done:
            return run
        summed = PlanCounts(
            **{name: getattr(run.applied, name) + getattr(applied, name) for name in PlanCounts.model_fields}
        )
        done = run.chunks_done | {chunk}
        updated = run.model_copy(
            update={
                "applied": summed,
                "chunks_done": done,
                "progress": run.progress.model_copy(update={"chunks_applied": len(done)}),
                "version": run.version + 1,
            }
        )
        self.write_calls += 1
        self.items[(tenant_id, run_id)] = updated
        return updated


class MemoryLock(_Tracked):
    """Leases as the table keeps them: taking one is atomic (threads race for it in tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.leases: dict[tuple[str, str], Lease] = {}
        self._mutex = threading.Lock()

    def acquire(
        self, tenant_id: str, connection_id: str, holder: str, now: datetime, ttl: timedelta
    ) -> Lease:
        self._seen(tenant_id)
        with self._mutex:
            current = self.leases.get((tenant_id, connection_id))
            if current is not None and current.holder != holder and current.expires_at > now:
                raise LockHeld(connection_id, current.holder, current.expires_at)
            lease = Lease(tenant_id, connection_id, holder, now + ttl)
            self.leases[(tenant_id, connection_id)] = lease
            return lease

    def renew(self, lease: Lease, now: datetime, ttl: timedelta) -> Lease:
        self._seen(lease.tenant_id)
        with self._mutex:
            current = self.leases.get((lease.tenant_id, lease.connection_id))
            if current is None or current.holder != lease.holder:
                raise LockLost(lease.connection_id, lease.holder)
            renewed = Lease(lease.tenant_id, lease.connection_id, lease.holder, now + ttl)
            self.leases[(lease.tenant_id, lease.connection_id)] = renewed
            return renewed

    def release(self, lease: Lease) -> None:
        self._seen(lease.tenant_id)
        with self._mutex:
            current = self.leases.get((lease.tenant_id, lease.connection_id))
            if current is not None and current.holder == lease.holder:
                del self.leases[(lease.tenant_id, lease.connection_id)]

    def current(self, tenant_id: str, connection_id: str, now: datetime) -> Lease | None:
        self._seen(tenant_id)
        with self._mutex:
            lease = self.leases.get((tenant_id, connection_id))
        return lease if lease is not None and lease.expires_at > now else None


class MemoryPendingWebhooks(_Tracked):
    """Lists keyed by HR id; pages walk the ids in order with a key cursor (valid across removals)."""

    def __init__(self) -> None:
        super().__init__()
        self.lists: dict[tuple[str, str, str], dict[str, PendingEmployee]] = {}

    def add(
        self, tenant_id: str, connection_id: str, list_name: str, entries: Sequence[PendingEmployee]
    ) -> None:
        self._seen(tenant_id)
        if any(not e.hris_id for e in entries):
            raise InvalidInput("a listed employee needs an HR id", field="hris_id")
        listed = self.lists.setdefault((tenant_id, connection_id, list_name), {})
        for entry in entries:
            self.write_calls += 1
            listed[entry.hris_id] = entry

    def read(
        self,
        tenant_id: str,
        connection_id: str,
        list_name: str,
        *,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[PendingEmployee]:
        self._seen(tenant_id)
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_LIMIT}", field="limit")
        scope = f"webhooks:{tenant_id}:{connection_id}:{list_name}|"
        after = None
        if cursor is not None:
            try:
                decoded = base64.urlsafe_b64decode(cursor.encode()).decode()
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidInput("invalid cursor", field="cursor") from exc
            if not decoded.startswith(scope):
                raise InvalidInput("invalid cursor", field="cursor")
            after = decoded[len(scope) :]
        listed = self.lists.get((tenant_id, connection_id, list_name), {})
        ids = sorted(i for i in listed if after is None or i > after)
        chunk = tuple(listed[i] for i in ids[:limit])
        more = len(ids) > limit
        next_cursor = (
            base64.urlsafe_b64encode(f"{scope}{chunk[-1].hris_id}".encode()).decode() if more else None
        )
        return Page(items=chunk, next_cursor=next_cursor)

    def remove(
        self, tenant_id: str, connection_id: str, list_name: str, entries: Sequence[PendingEmployee]
    ) -> None:
        self._seen(tenant_id)
        listed = self.lists.get((tenant_id, connection_id, list_name), {})
        for entry in entries:
            current = listed.get(entry.hris_id)
            if current is not None and current.token == entry.token:
                self.write_calls += 1
                del listed[entry.hris_id]

    def discard(self, tenant_id: str, connection_id: str, list_name: str, hris_ids: Sequence[str]) -> None:
        self._seen(tenant_id)
        listed = self.lists.get((tenant_id, connection_id, list_name), {})
        for hris_id in hris_ids:
            listed.pop(hris_id, None)

    def ids(self, tenant_id: str, connection_id: str, list_name: str) -> set[str]:
        return set(self.lists.get((tenant_id, connection_id, list_name), {}))


class MemoryWebhookGuard(_Tracked):
    def __init__(self) -> None:
        super().__init__()
        self.logged: dict[tuple[str, str], list[tuple[datetime, str]]] = {}
        self.states: dict[tuple[str, str], GuardState] = {}

    def record_deactivations(
        self, tenant_id: str, connection_id: str, member_ids: Sequence[str], at: datetime
    ) -> None:
        self._seen(tenant_id)
        log = self.logged.setdefault((tenant_id, connection_id), [])
        for member_id in dict.fromkeys(member_ids):
            if (at, member_id) not in log:
                self.write_calls += 1
                log.append((at, member_id))

    def count_deactivations(self, tenant_id: str, connection_id: str, since: datetime) -> int:
        self._seen(tenant_id)
        return sum(1 for at, _ in self.logged.get((tenant_id, connection_id), []) if at >= since)

    def state(self, tenant_id: str, connection_id: str) -> GuardState:
        self._seen(tenant_id)
        return self.states.get((tenant_id, connection_id), GuardState())

    def hold(self, tenant_id: str, connection_id: str, run_id: str) -> str:
        current = self.state(tenant_id, connection_id)
        if current.held_run_id is not None:
            return current.held_run_id
        self.write_calls += 1
        self.states[(tenant_id, connection_id)] = GuardState(
            held_run_id=run_id, decided_at=current.decided_at
        )
        return run_id

    def decide(self, tenant_id: str, connection_id: str, run_id: str, at: datetime) -> None:
        if self.state(tenant_id, connection_id).held_run_id == run_id:
            self.write_calls += 1
            self.states[(tenant_id, connection_id)] = GuardState(held_run_id=None, decided_at=at)


class MemoryBlobs(_Tracked):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self._seen(key.split("/", 1)[0])
        self.write_calls += 1
        self.items[key] = data

    def get(self, key: str) -> bytes:
        self._seen(key.split("/", 1)[0])
        try:
            return self.items[key]
        except KeyError:
            raise BlobNotFound(key) from None

    def delete(self, key: str) -> None:
        self.items.pop(key, None)


class MemorySecrets(_Tracked):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], Credentials] = {}

    def put(self, tenant_id: str, connection_id: str, credentials: Credentials) -> None:
        self._seen(tenant_id)
        self.write_calls += 1
        self.items[(tenant_id, connection_id)] = credentials

    def get(self, tenant_id: str, connection_id: str) -> Credentials:
        self._seen(tenant_id)
        try:
            return self.items[(tenant_id, connection_id)]
        except KeyError:
            raise SecretNotFound(connection_id, tenant_id=tenant_id) from None

    def delete(self, tenant_id: str, connection_id: str) -> None:
        self._seen(tenant_id)
        self.items.pop((tenant_id, connection_id), None)


class MemoryOAuthStates:
    """``OAuthStateStore`` in memory: a take removes the entry under a lock (single use)."""

    def __init__(self) -> None:
        self.items: dict[str, PendingAuthorization] = {}
        self._lock = threading.Lock()

    def put(self, pending: PendingAuthorization) -> None:
        with self._lock:
            if pending.key in self.items:
                raise InvalidInput("this OAuth state is already pending", field="state")
            self.items[pending.key] = pending

    def take(self, key: str) -> PendingAuthorization | None:
        with self._lock:
            return self.items.pop(key, None)


class MemoryOAuthApps:
    """``OAuthApps`` in memory: ``apps[provider]`` as the deployment configured it."""

    def __init__(self, apps: Mapping[str, Credentials] | None = None) -> None:
        self.apps: dict[str, Credentials] = dict(apps or {})

    def get(self, provider: str) -> Credentials | None:
        return self.apps.get(provider)


@dataclass
class ScheduleEntry:
    expression: str
    timezone: str
    payload: Mapping[str, Any]


class MemoryScheduler(_Tracked):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], ScheduleEntry] = {}

    def upsert(
        self,
        tenant_id: str,
        connection_id: str,
        *,
        expression: str,
        timezone: str,
        payload: Mapping[str, Any],
    ) -> None:
        self._seen(tenant_id)
        validate_schedule_expression(expression)
        validate_timezone(timezone)
        self.write_calls += 1
        self.items[(tenant_id, connection_id)] = ScheduleEntry(expression, timezone, dict(payload))

    def delete(self, tenant_id: str, connection_id: str) -> None:
        self._seen(tenant_id)
        self.items.pop((tenant_id, connection_id), None)


class MemoryWorkflow:
    def __init__(self) -> None:
        self.executions: dict[str, Mapping[str, Any]] = {}
        # What every start raises while set (the typed errors the Step Functions adapter raises).
        self.refusal: HrisSyncError | None = None

    def start(self, name: str, input: Mapping[str, Any]) -> str:
        if self.refusal is not None:
            raise self.refusal
        existing = self.executions.get(name)
        if existing is not None and dict(existing) != dict(input):
            raise AlreadyExists("execution", name)
        self.executions[name] = dict(input)
        return f"exec:{name}"


class MemoryMailer:
    def __init__(self) -> None:
        self.sent: list[Email] = []
        self.refused: list[Email] = []
        # SES's answers, as the SES adapter raises them: per recipient, or for every email.
        self._refusals: dict[str, EmailNotSent] = {}
        self._refuse_all: EmailNotSent | None = None

    def refuse(self, error: EmailNotSent, *, to: str | None = None) -> None:
        """Refuse emails to ``to`` (every email when None) with ``error``."""
        if to is None:
            self._refuse_all = error
        else:
            self._refusals[to.lower()] = error

    def send(self, email: Email) -> None:
        refusal = self._refuse_all or next(
            (self._refusals[a.lower()] for a in email.to if a.lower() in self._refusals), None
        )
        if refusal is not None:
            self.refused.append(email)
            raise refusal
        self.sent.append(email)


class MemoryEvents:
    def __init__(self) -> None:
        self.published: list[DomainEvent] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.published.extend(events)

    def types(self) -> list[str]:
        return [e.detail_type for e in self.published]


class FixedClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class SequentialIds:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}"


@dataclass
class ProviderRegistry:
    providers: dict[str, Provider] = field(default_factory=dict)

    def __call__(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            raise ProviderNotFound(name) from None


class MemoryPortal:
    """``PortalStore``: links taken at most once (under a lock, as the conditional delete does)."""

    def __init__(self) -> None:
        self.links: dict[str, PortalLink] = {}
        self.sessions: dict[str, PortalSession] = {}
        self._mutex = threading.Lock()

    def add_link(self, link: PortalLink) -> None:
        with self._mutex:
            if link.token_digest in self.links:
                raise AlreadyExists("portal item", link.token_digest)
            self.links[link.token_digest] = link

    def take_link(self, token_digest: str, now: datetime) -> PortalLink:
        with self._mutex:
            link = self.links.get(token_digest)
            if link is None:
                raise PortalLinkUsed
            if link.expires_at <= now:
                raise PortalLinkExpired
            del self.links[token_digest]
            return link

    def add_session(self, session: PortalSession) -> None:
        with self._mutex:
            self.sessions[session.token_digest] = session

    def session(self, token_digest: str, now: datetime) -> PortalSession:
        found = self.sessions.get(token_digest)
        if found is None or found.expires_at <= now:
            raise PortalSessionInvalid
        return found

    def end_session(self, token_digest: str) -> None:
        with self._mutex:
            self.sessions.pop(token_digest, None)
