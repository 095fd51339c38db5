"""The in-memory fakes keep the same port contracts as the AWS adapters (tests/support/contracts.py)."""

from __future__ import annotations

import pytest

from tests.support.contracts import (
    AuditLogContract,
    BlobStoreContract,
    ConnectionStoreContract,
    LockContract,
    MemberStoreContract,
    PendingWebhooksContract,
    PortalStoreContract,
    RunStoreContract,
    SchedulerContract,
    SecretStoreContract,
    TaskStoreContract,
    WebhookGuardStoreContract,
)
from tests.support.memory import (
    MemoryAudit,
    MemoryBlobs,
    MemoryConnections,
    MemoryLock,
    MemoryMembers,
    MemoryPendingWebhooks,
    MemoryPortal,
    MemoryRuns,
    MemoryScheduler,
    MemorySecrets,
    MemoryTasks,
    MemoryWebhookGuard,
)


class TestMemoryMembers(MemberStoreContract):
    @pytest.fixture
    def members(self) -> MemoryMembers:
        return MemoryMembers()


class TestMemoryConnections(ConnectionStoreContract):
    @pytest.fixture
    def connections(self) -> MemoryConnections:
        return MemoryConnections()


class TestMemoryRuns(RunStoreContract):
    @pytest.fixture
    def runs(self) -> MemoryRuns:
        return MemoryRuns()


class TestMemoryLock(LockContract):
    @pytest.fixture
    def lock(self) -> MemoryLock:
        return MemoryLock()


class TestMemoryTasks(TaskStoreContract):
    @pytest.fixture
    def tasks(self) -> MemoryTasks:
        return MemoryTasks()


class TestMemoryAudit(AuditLogContract):
    @pytest.fixture
    def audit(self) -> MemoryAudit:
        return MemoryAudit()


class TestMemorySecrets(SecretStoreContract):
    @pytest.fixture
    def secrets(self) -> MemorySecrets:
        return MemorySecrets()


class TestMemoryScheduler(SchedulerContract):
    @pytest.fixture
    def scheduler(self) -> MemoryScheduler:
        return MemoryScheduler()


class TestMemoryBlobs(BlobStoreContract):
    @pytest.fixture
    def blobs(self) -> MemoryBlobs:
        return MemoryBlobs()


class TestMemoryPendingWebhooks(PendingWebhooksContract):
    @pytest.fixture
    def pending(self) -> MemoryPendingWebhooks:
        return MemoryPendingWebhooks()


class TestMemoryWebhookGuard(WebhookGuardStoreContract):
    @pytest.fixture
    def guard(self) -> MemoryWebhookGuard:
        return MemoryWebhookGuard()


class TestMemoryPortal(PortalStoreContract):
    @pytest.fixture
    def portal(self) -> MemoryPortal:
        return MemoryPortal()
