"""Start a full sync: the target of each connection's EventBridge Scheduler schedule and of "sync now".

Input: ``{"tenant_id", "connection_id", "trigger"}`` (what ``connections`` puts in the schedule).
Takes the connection's lock and starts the state machine (``full_sync.request_sync``), answering
``{"status": "started", "run_id"}``; while another full sync holds the lock it answers
``{"status": "already_running", "run_id": <the running run>}`` (R29) and starts nothing. A schedule
that outlived its connection (deleted, disconnected) answers ``skipped`` instead of failing, so
the Scheduler does not retry it. Other errors are raised: the Scheduler retries them.

Importing this module reads no settings and builds no client: the first invocation does (``ports``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from shared import observability
from shared.adapters.factory import AwsAdapters
from shared.errors import ConnectionNotFound, InvalidState, LockHeld
from shared.observability import instrumented
from shared.ports import (
    Clock,
    ConnectionLock,
    ConnectionStore,
    EventPublisher,
    IdGenerator,
    RunStore,
    Workflow,
)
from shared.services.context import ServiceSettings
from shared.services.full_sync import request_sync
from shared.services.state_machine_tasks import ExecutionInput
from shared.settings import SyncTriggerSettings, load


@dataclass(frozen=True, slots=True)
class SyncTriggerPorts:
    """What ``request_sync`` touches (``full_sync.TriggerPorts``), and so what the function's role
    allows: the table (the connection, its run and lock), the state machine, the event bus (a run
    that could not start is announced closed)."""

    connections: ConnectionStore
    runs: RunStore
    lock: ConnectionLock
    workflow: Workflow
    events: EventPublisher
    clock: Clock
    ids: IdGenerator
    settings: ServiceSettings


@functools.lru_cache(maxsize=1)
def ports() -> SyncTriggerPorts:
    """The composition root: settings read on the first invocation, and only the adapters (and
    boto3 clients) ``request_sync`` names built: DynamoDB, Step Functions, EventBridge."""
    aws = AwsAdapters(load(SyncTriggerSettings).resources())
    return SyncTriggerPorts(
        connections=aws.connections,
        runs=aws.runs,
        lock=aws.lock,
        workflow=aws.workflow,
        events=aws.events,
        clock=aws.clock,
        ids=aws.ids,
        settings=ServiceSettings(),
    )


@instrumented()
def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    given = ExecutionInput.model_validate(event)
    observability.bind(
        tenant_id=given.tenant_id, connection_id=given.connection_id, trigger=given.trigger.value
    )
    log = observability.logger
    try:
        run = request_sync(ports(), given.tenant_id, given.connection_id, given.trigger)
    except LockHeld as held:
        log.info("full sync already running", extra={"run_id": held.holder})
        return {"status": "already_running", "run_id": held.holder}
    except (ConnectionNotFound, InvalidState) as gone:
        log.warning("schedule without a syncable connection", extra={"reason": gone.code})
        return {"status": "skipped", "reason": gone.code}
    log.info("full sync started", extra={"run_id": run.run_id})
    return {"status": "started", "run_id": run.run_id}
