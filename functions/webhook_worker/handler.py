"""The webhook queue's consumer: apply each queued delivery as a targeted plan (R09, R24, R29, R30).

An SQS batch is processed record by record (Powertools ``BatchProcessor``); a record that fails is
reported in ``batchItemFailures`` and only it is redelivered. Each delivery is applied once
(Powertools Idempotency on DynamoDB, keyed by connection + delivery id): a duplicate or a replay
returns the stored result and changes nothing. While a full sync holds the connection's lock the
named employees go to the connection's pending list in the table and the record is acknowledged
(``deferred``): the sync's end applies them, however long it runs (R29), so the queue's retries
and its dead-letter queue are only for real failures (a record that keeps failing moves there
after the queue's ``maxReceiveCount``). Deactivations past the webhook guard's thresholds are
held for an admin (``held``, R30). A delivery's lifecycle notifications (Graph) are acted on first
(``subscriptions.handle_lifecycle``: renew, subscribe again, and start the full sync a missed or
removed subscription calls for: the one thing this function starts on the state machine; a
``missed`` alone is caught up from Graph's delta as a targeted plan where a delta link is kept).

Importing this module reads no settings and builds no client: the first invocation does (``root``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from shared import observability
from shared.adapters.factory import AwsAdapters
from shared.errors import HrisSyncError
from shared.observability import instrumented
from shared.ports import (
    AuditLog,
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
    Workflow,
)
from shared.services import subscriptions
from shared.services.context import ServiceSettings
from shared.services.provider_lookup import registry_lookup
from shared.services.webhook_apply import apply_webhook
from shared.services.webhook_ingest import QueuedWebhook
from shared.settings import WebhookWorkerSettings, load

# The idempotency key: one delivery of one connection (the ids are unique per connection).
IDEMPOTENCY_KEY = "[connection_id, delivery_id]"

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@dataclass(frozen=True, slots=True)
class WebhookWorkerPorts:
    """What ``apply_webhook`` touches (``webhook_apply.WebhookPorts``), and so what the function's role
    allows: the table, the connections' secrets (a refreshed OAuth token, a new subscription's
    clientState), SES, the event bus, and starting a full sync (a lifecycle notification's). Never
    the bucket or the schedules."""

    connections: ConnectionStore
    members: MemberStore
    tasks: TaskStore
    audit: AuditLog
    runs: RunStore
    lock: ConnectionLock
    pending: PendingWebhooks
    webhook_guard: WebhookGuardStore
    token_lock: ConnectionLock
    secrets: SecretStore
    mailer: Mailer
    events: EventPublisher
    clock: Clock
    ids: IdGenerator
    providers: ProviderLookup
    workflow: Workflow
    settings: ServiceSettings


class Root(NamedTuple):
    ports: WebhookWorkerPorts
    idempotency: IdempotencyConfig
    # The use case wrapped by Powertools Idempotency: ``apply(message=<queued webhook as a dict>)``.
    apply: Callable[..., dict[str, Any]]


def _apply_message(ports: WebhookWorkerPorts, message: dict[str, Any]) -> dict[str, Any]:
    queued = QueuedWebhook.model_validate(message)
    lifecycle: dict[str, Any] = {}
    if queued.lifecycle:
        acted = subscriptions.handle_lifecycle(
            ports,
            queued.tenant_id,
            queued.connection_id,
            [(e.event, e.subscription_id) for e in queued.lifecycle],
        )
        lifecycle = {
            "lifecycle": [e.event for e in queued.lifecycle],
            "full_sync_run_id": acted.run_id,
            "caught_up": acted.caught_up is not None,
        }
    result = apply_webhook(
        ports, queued.tenant_id, queued.connection_id, queued.employee_ids, queued.delivery_id
    )
    observability.count_members(result.counts)
    observability.logger.info(
        "webhook applied",
        extra={
            "delivery_id": queued.delivery_id,
            "ignored": result.ignored,
            "deferred": result.deferred,
            "held": result.held,
            "counts": result.counts.model_dump(),
            "skipped": len(result.skipped),
            **lifecycle,
        },
    )
    return lifecycle | {
        "ignored": result.ignored,
        "deferred": result.deferred,
        "held": result.held,
        "held_run_id": result.held_run_id,
        "counts": result.counts.model_dump(),
        "skipped": len(result.skipped),
    }


@functools.lru_cache(maxsize=1)
def root() -> Root:
    """The composition root: settings read, the idempotency layer and only the adapters (and boto3
    clients) ``apply_webhook`` names built on the first invocation: DynamoDB (shared with the
    idempotency layer), Secrets Manager, SES, EventBridge, Step Functions."""
    settings = load(WebhookWorkerSettings)
    aws = AwsAdapters(settings.resources())
    ports = WebhookWorkerPorts(
        connections=aws.connections,
        members=aws.members,
        tasks=aws.tasks,
        audit=aws.audit,
        runs=aws.runs,
        lock=aws.lock,
        pending=aws.pending,
        webhook_guard=aws.webhook_guard,
        token_lock=aws.token_lock,
        secrets=aws.secrets,
        mailer=aws.mailer,
        events=aws.events,
        clock=aws.clock,
        ids=aws.ids,
        providers=registry_lookup(),
        workflow=aws.workflow,
        settings=settings.services(),
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table_name, boto3_client=aws.client("dynamodb")
    )
    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=settings.idempotency_ttl_seconds,
    )

    def apply(message: dict[str, Any]) -> dict[str, Any]:
        return _apply_message(ports, message)

    wrapped = idempotent_function(
        data_keyword_argument="message", persistence_store=persistence, config=config
    )(apply)
    return Root(ports=ports, idempotency=config, apply=wrapped)


def _record(record: SQSRecord) -> dict[str, Any]:
    body = json.loads(record.body)
    if isinstance(body, dict):
        observability.bind(
            tenant_id=body.get("tenant_id"),
            connection_id=body.get("connection_id"),
            delivery_id=body.get("delivery_id"),
        )
    try:
        return root().apply(message=body)
    except HrisSyncError as error:
        # Re-raised: the record is reported failed and SQS delivers it again.
        observability.logger.warning("webhook not applied yet", extra={"error": error.code})
        raise


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    root().idempotency.register_lambda_context(context)
    response = process_partial_response(
        event=event, record_handler=_record, processor=processor, context=context
    )
    return dict(response)
