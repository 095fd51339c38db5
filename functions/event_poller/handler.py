"""Near-real-time for a vendor that keeps an event queue we pull (ADP Workforce Now): the target of
each such connection's poll schedule (``events-<hash>``, every minute).

The event ``{"tenant_id", "connection_id"}`` names the connection; ``event_queue.drain`` long-polls
its vendor's queue for ``event_poll_window_seconds``, puts each message on the webhook queue (the
webhook worker applies it as a targeted plan, once per delivery id: R24) and only then acknowledges
it. A malformed event is logged and answered, never raised: Lambda would retry a scheduled call
into the same refusal. Answers the run's counts (``DrainResult.as_dict``).

Importing this module reads no settings and builds no client: the first invocation does (``ports``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import observability
from shared.adapters.factory import AwsAdapters
from shared.errors import HrisSyncError
from shared.observability import instrumented
from shared.ports import (
    Clock,
    ConnectionLock,
    ConnectionStore,
    EventPublisher,
    IdGenerator,
    MessageQueue,
    ProviderLookup,
    RunStore,
    Scheduler,
    SecretStore,
    Workflow,
)
from shared.providers.http import RetryPolicy
from shared.services import event_queue
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from shared.settings import EventPollerSettings, load

MAX_ID = 256
# The vendor's calls of a run wait little: a Retry-After or a backoff beyond ``max_total`` is left
# to the next run (a minute later). The connectors' default budget (120 s a call) would sleep past
# the function's timeout (90 s, ``infra.catalog.EVENT_POLLER``) once the window (<= 55 s) is spent,
# and a timed-out run is retried by Lambda beside the next scheduled one.
# (Timeouts stay the connectors': whether ADP's GET long-polls is not documented.)
VENDOR_RETRIES = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0, max_total=8.0)


class PollRequest(BaseModel):
    """What a poll schedule delivers."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant_id: str = Field(min_length=1, max_length=MAX_ID)
    connection_id: str = Field(min_length=1, max_length=MAX_ID)


@dataclass(frozen=True, slots=True)
class EventPollerPorts:
    """What ``event_queue.drain`` touches, and so what the function's role allows: the table (the
    connection read; a full sync's run and lock, the connection marked failing), the connection's
    secret, the webhook queue (send), the state machine and the event bus (a full sync for an
    unreadable message), the token the vendor grants saved (the secret written, under the token
    lease), and deleting the connection's own poll schedule once it is gone."""

    connections: ConnectionStore
    secrets: SecretStore
    providers: ProviderLookup
    queue: MessageQueue
    poll_schedules: Scheduler
    runs: RunStore
    lock: ConnectionLock
    token_lock: ConnectionLock
    workflow: Workflow
    events: EventPublisher
    clock: Clock
    ids: IdGenerator
    settings: ServiceSettings


@dataclass(frozen=True, slots=True)
class Root:
    ports: EventPollerPorts
    limits: event_queue.DrainLimits


@functools.lru_cache(maxsize=1)
def root() -> Root:
    """The composition root: settings read on the first invocation; DynamoDB, Secrets Manager, SQS,
    Step Functions, EventBridge and Scheduler clients built when first used."""
    settings = load(EventPollerSettings)
    aws = AwsAdapters(settings.resources())
    ports = EventPollerPorts(
        connections=aws.connections,
        secrets=aws.secrets,
        providers=registry_lookup(policy=VENDOR_RETRIES),
        queue=aws.webhook_queue,
        poll_schedules=aws.poll_schedules,
        runs=aws.runs,
        lock=aws.lock,
        token_lock=aws.token_lock,
        workflow=aws.workflow,
        events=aws.events,
        clock=aws.clock,
        ids=aws.ids,
        settings=settings.services(),
    )
    limits = event_queue.DrainLimits(
        window=timedelta(seconds=settings.event_poll_window_seconds),
        pause=timedelta(seconds=settings.event_poll_pause_seconds),
        max_messages=settings.event_poll_max_messages,
    )
    return Root(ports=ports, limits=limits)


@instrumented()
def handler(event: Any, _context: object) -> dict[str, Any]:
    try:
        request = PollRequest.model_validate(event)
    except ValidationError as error:
        # Where each problem is, never the values (the payload is ours, but bounded all the same).
        where = sorted({".".join(str(p) for p in e["loc"]) or "event" for e in error.errors()})
        observability.logger.warning("event poll request ignored: malformed", extra={"fields": where})
        return {"polled": False, "error": "invalid_request", "fields": where}
    observability.bind(tenant_id=request.tenant_id, connection_id=request.connection_id)
    built = root()
    try:
        result = event_queue.drain(
            built.ports, request.tenant_id, request.connection_id, limits=built.limits, sleep=time.sleep
        )
    except HrisSyncError as error:
        # The table or Secrets Manager failed past the adapters' retries: the next minute's run
        # tries again (raising would only add Lambda's own retries of the same call).
        observability.logger.warning("event queue not drained", extra={"error": error.code})
        return {"polled": False, "error": error.code}
    observability.count(observability.EVENT_MESSAGES_QUEUED, result.queued)
    if result.polled and result.stopped not in (None, "message_bound"):
        observability.count_with(observability.EVENT_POLLS_STOPPED, "reason", result.stopped)
    return result.as_dict()
