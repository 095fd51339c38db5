"""Logs, traces and metrics for every function: the Powertools objects, one of each per process.

``logger``, ``tracer`` and ``metrics`` are built when this module is imported (Lambda's init
phase, as the Powertools cookbook has them): they read only Powertools' own optional switches
(``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_LOG_LEVEL``, ``POWERTOOLS_METRICS_NAMESPACE`` ...),
never a function's settings, and build no AWS client. A handler decorates itself with
``instrumented``: on each invocation it gets the Lambda context in its JSON logs (with a
correlation id), a traced handler and its metrics flushed as EMF.

Handlers add the keys that make a log line findable (``bind(tenant_id=..., connection_id=...)``);
never a credential, a token or a request body.

Metric names (namespace from ``POWERTOOLS_METRICS_NAMESPACE``):
``MembersCreated``, ``MembersUpdated``, ``MembersDeactivated`` (count, per applied plan),
``WebhooksAccepted`` (count), ``WebhooksRejected`` (count, dimension ``reason``),
``WebhooksIgnored`` (count: handshakes and pings), ``SyncDuration`` (seconds, per finished run),
``EmailsNotSent`` (count: emails SES refused or throttled; the work that sent them went on).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

if TYPE_CHECKING:
    from shared.domain.models import PlanCounts

MEMBERS_CREATED = "MembersCreated"
MEMBERS_UPDATED = "MembersUpdated"
MEMBERS_DEACTIVATED = "MembersDeactivated"
WEBHOOKS_ACCEPTED = "WebhooksAccepted"
WEBHOOKS_REJECTED = "WebhooksRejected"
WEBHOOKS_IGNORED = "WebhooksIgnored"
SYNC_DURATION = "SyncDuration"
EMAILS_NOT_SENT = "EmailsNotSent"
# Vendor event queue messages (ADP) queued as webhooks, and polls stopped by the vendor or our queue.
EVENT_MESSAGES_QUEUED = "EventMessagesQueued"
EVENT_POLLS_STOPPED = "EventPollsStopped"

# Where API Gateway and SQS put the id that follows a request through the logs.
CORRELATION_API_GATEWAY = "requestContext.requestId"
CORRELATION_NONE: str | None = None

F = TypeVar("F", bound=Callable[..., Any])


logger = Logger(use_rfc3339=True)
tracer = Tracer()
metrics = Metrics()


def bind(**keys: str | int | None) -> None:
    """Add keys to every later log line of this invocation (cleared at the next one)."""
    logger.append_keys(**{k: v for k, v in keys.items() if v is not None})


def count(name: str, value: int = 1) -> None:
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_with(name: str, dimension: str, label: str, value: int = 1) -> None:
    """One metric with its own dimension (``WebhooksRejected`` by ``reason``), flushed at once so
    the dimension does not leak onto the invocation's other metrics."""
    # The namespace comes from POWERTOOLS_METRICS_NAMESPACE, as for ``metrics()``.
    with single_metric(
        name=name, unit=MetricUnit.Count, value=value, default_dimensions=dict(metrics.default_dimensions)
    ) as single:
        single.add_dimension(name=dimension, value=label)


def seconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)


def count_members(counts: PlanCounts) -> None:
    """The members an applied plan (or chunk) created, updated and deactivated."""
    count(MEMBERS_CREATED, counts.created)
    count(MEMBERS_UPDATED, counts.updated)
    count(MEMBERS_DEACTIVATED, counts.deactivated)


def instrumented(correlation_id_path: str | None = None) -> Callable[[F], F]:
    """Decorate a Lambda handler with Logger (context, correlation id, state cleared per call),
    Tracer and Metrics."""

    def decorate(handler: F) -> F:
        traced = tracer.capture_lambda_handler(handler, capture_response=False)
        flushed = metrics.log_metrics(traced)
        logged = logger.inject_lambda_context(
            flushed, correlation_id_path=correlation_id_path, clear_state=True
        )

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            with warnings.catch_warnings():
                # An invocation that only emitted single metrics (a rejected webhook) is fine.
                warnings.filterwarnings("ignore", message="No application metrics to publish")
                return logged(event, context)

        return wrapper  # type: ignore[return-value]

    return decorate
