"""The webhook queue's consumer: apply each queued delivery as a targeted plan (R09, R24, R29, R30).

An SQS batch is processed record by record (Powertools ``BatchProcessor``); a record that fails is
reported in ``batchItemFailures`` and only it is redelivered. Each delivery is applied once
(Powertools Idempotency on DynamoDB, keyed by connection + delivery id): a duplicate or a replay
returns the stored result and changes nothing. While a full sync holds the connection's lock the
named employees go to the connection's pending list in the table and the record is acknowledged
(``deferred``): the sync's end applies them, however long it runs (R29), so the queue's retries
and its dead-letter queue are only for real failures (a record that keeps failing moves there
after the queue's ``maxReceiveCount``). Deactivations past the webhook guard's thresholds are
held for an admin (``held``, R30).

Importing this module reads no environment and builds nothing: the first invocation does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from shared.bootstrap import Lazy
from shared.observability import instrumented

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    from shared.services.context import Ports


class _Root(NamedTuple):
    ports: Ports
    processor: BatchProcessor
    idempotency: IdempotencyConfig
    # The use case wrapped by Powertools Idempotency: ``apply(message=<queued webhook as a dict>)``.
    apply: Callable[..., dict[str, Any]]


# The idempotency key: one delivery of one connection (the ids are unique per connection).
IDEMPOTENCY_KEY = "[connection_id, delivery_id]"


def _apply_message(ports: Ports, message: dict[str, Any]) -> dict[str, Any]:
    from shared import observability  # noqa: PLC0415
    from shared.services.webhook_intake import QueuedWebhook  # noqa: PLC0415
    from shared.services.webhooks import apply_webhook  # noqa: PLC0415

    queued = QueuedWebhook.model_validate(message)
    result = apply_webhook(
        ports, queued.tenant_id, queued.connection_id, queued.employee_ids, queued.delivery_id
    )
    observability.count_members(result.counts)
    observability.logger().info(
        "webhook applied",
        extra={
            "delivery_id": queued.delivery_id,
            "ignored": result.ignored,
            "deferred": result.deferred,
            "held": result.held,
            "counts": result.counts.model_dump(),
            "skipped": len(result.skipped),
        },
    )
    return {
        "ignored": result.ignored,
        "deferred": result.deferred,
        "held": result.held,
        "held_run_id": result.held_run_id,
        "counts": result.counts.model_dump(),
        "skipped": len(result.skipped),
    }


def _build() -> _Root:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType  # noqa: PLC0415
    from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from shared.adapters.factory import AwsAdapters  # noqa: PLC0415
    from shared.bootstrap import build_ports  # noqa: PLC0415
    from shared.settings import WebhookWorkerSettings, load  # noqa: PLC0415

    settings = load(WebhookWorkerSettings)
    aws = AwsAdapters(settings.resources())
    ports = build_ports(settings, adapters=aws)
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
    return _Root(
        ports=ports,
        processor=BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False),
        idempotency=config,
        apply=wrapped,
    )


_root = Lazy(_build)


def _record(record: SQSRecord) -> dict[str, Any]:
    import json  # noqa: PLC0415

    from shared import observability  # noqa: PLC0415
    from shared.errors import HrisSyncError  # noqa: PLC0415

    body = json.loads(record.body)
    if isinstance(body, dict):
        observability.bind(
            tenant_id=body.get("tenant_id"),
            connection_id=body.get("connection_id"),
            delivery_id=body.get("delivery_id"),
        )
    try:
        return _root.get().apply(message=body)
    except HrisSyncError as error:
        # Re-raised: the record is reported failed and SQS delivers it again.
        observability.logger().warning("webhook not applied yet", extra={"error": error.code})
        raise


@instrumented()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import process_partial_response  # noqa: PLC0415

    root = _root.get()
    root.idempotency.register_lambda_context(context)
    response = process_partial_response(
        event=event, record_handler=_record, processor=root.processor, context=context
    )
    return dict(response)
