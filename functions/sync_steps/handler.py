"""The full-sync state machine's tasks: ``{"step": <name>, "state": {...}}`` -> the new state.

One function answers every task (``shared.services.state_machine_tasks.STEPS``; docs/state-machine.md).
An error is raised, not answered: Step Functions retries ``Throttled`` and ``ProviderUnavailable``
by their class name and sends everything else to the ``fail`` step.

Importing this module reads no settings and builds no client: the first invocation does (``ports``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from shared import observability
from shared.adapters.factory import AwsAdapters
from shared.observability import instrumented
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
    PendingWebhooks,
    ProviderLookup,
    RunStore,
    SecretStore,
    TaskStore,
    WebhookGuardStore,
)
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from shared.services.state_machine_tasks import STEPS, ChunkResult, FinishResult
from shared.settings import SyncStepsSettings, load


@dataclass(frozen=True, slots=True)
class SyncStepsPorts:
    """What the machine's steps touch (``full_sync.SyncPorts``), and so what the function's role allows:
    the table, the bucket (pages and plan chunks), the connections' secrets, SES, the event bus."""

    connections: ConnectionStore
    members: MemberStore
    tasks: TaskStore
    audit: AuditLog
    runs: RunStore
    lock: ConnectionLock
    pending: PendingWebhooks
    webhook_guard: WebhookGuardStore
    token_lock: ConnectionLock
    blobs: BlobStore
    secrets: SecretStore
    mailer: Mailer
    events: EventPublisher
    clock: Clock
    ids: IdGenerator
    providers: ProviderLookup
    settings: ServiceSettings


@functools.lru_cache(maxsize=1)
def ports() -> SyncStepsPorts:
    """The composition root: settings read on the first invocation, and only the adapters (and
    boto3 clients) the steps name built: DynamoDB, S3, Secrets Manager, SES, EventBridge."""
    settings = load(SyncStepsSettings)
    aws = AwsAdapters(settings.resources())
    return SyncStepsPorts(
        connections=aws.connections,
        members=aws.members,
        tasks=aws.tasks,
        audit=aws.audit,
        runs=aws.runs,
        lock=aws.lock,
        pending=aws.pending,
        webhook_guard=aws.webhook_guard,
        token_lock=aws.token_lock,
        blobs=aws.blobs,
        secrets=aws.secrets,
        mailer=aws.mailer,
        events=aws.events,
        clock=aws.clock,
        ids=aws.ids,
        providers=registry_lookup(),
        settings=settings.services(),
    )


class UnknownStep(Exception):
    """The machine asked for a step this function does not have (a deployment mismatch)."""


@instrumented()
def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    name = event.get("step")
    state = event.get("state")
    step = STEPS.get(name) if isinstance(name, str) else None
    if step is None or not isinstance(state, dict):
        raise UnknownStep(f"expected {{'step': one of {sorted(STEPS)}, 'state': {{...}}}}, got step {name!r}")
    observability.bind(
        step=name,
        tenant_id=state.get("tenant_id"),
        connection_id=state.get("connection_id"),
        run_id=state.get("run_id"),
    )
    result = step(ports(), state)
    if isinstance(result, ChunkResult):
        observability.count_members(result.counts)
    if isinstance(result, FinishResult):
        observability.seconds(observability.SYNC_DURATION, result.duration_seconds)
        observability.logger.info("sync finished", extra={"status": result.status.value})
    return result.model_dump(mode="json")
