"""``POST /webhooks/{connection_id}`` as a Powertools resolver: the route verifies and queues, the
exception handlers shape every refusal.

401 bad or missing signature, 400 unreadable body, 404 unknown connection (or a path of no
connection's shape, without a read), 410 disconnected connection, 413 over the size limit, 503 when
the queue (or a store) cannot take the delivery (the vendor retries); 202 queued, 200 for a
handshake or a ping. Every refusal has the one error shape, is logged with its reason and counted
(``WebhooksRejected`` by ``reason``); never a body, a header value or a secret.

The handler hands each request its composition root (``ROOT_KEY`` in ``app.context``).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from shared import observability
from shared.domain.ids import is_issued_id
from shared.errors import ConnectionDisconnected, ConnectionNotFound, HrisSyncError
from shared.providers.base import WebhookRejected, WebhookUnparseable
from shared.services.webhook_ingest import intake

if TYPE_CHECKING:
    from shared.services.webhook_ingest import Outcome

ROOT_KEY = "root"
_CONNECTION_KEY = "connection_id"

app = APIGatewayRestResolver()


class Refused(Exception):
    """A request refused for what it is, before the service saw it (a path or a body)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@app.post("/webhooks/<connection_id>")
def receive(connection_id: str) -> Response[Any]:
    if not is_issued_id(connection_id):
        # Not the shape of any connection id (600 characters, a space ...): unknown, without a read.
        raise Refused(404, "connection_not_found", "no such webhook endpoint")
    app.context[_CONNECTION_KEY] = connection_id
    observability.bind(connection_id=connection_id)
    root = app.context[ROOT_KEY]
    event = app.current_event.raw_event
    outcome = intake(
        root.ports,
        connection_id,
        headers=_headers(event),
        query={k: v for k, v in (event.get("queryStringParameters") or {}).items() if isinstance(v, str)},
        raw_body=_raw_body(event, root.settings.max_webhook_bytes),
        received_at=_received_at(event),
    )
    return _answer(outcome)


def _answer(outcome: Outcome) -> Response[Any]:
    observability.bind(tenant_id=outcome.tenant_id)
    log = observability.logger
    if outcome.handshake is not None:
        log.info("webhook handshake answered", extra={"vendor": outcome.handshake.vendor})
        observability.count(observability.WEBHOOKS_IGNORED)
        return Response(200, outcome.handshake.content_type, outcome.handshake.body)
    if outcome.status != "queued":
        log.info("webhook without work", extra={"status": outcome.status})
        observability.count(observability.WEBHOOKS_IGNORED)
        return Response(200, content_types.APPLICATION_JSON, {"status": outcome.status})
    delivery_ids = [m.delivery_id for m in outcome.messages]
    log.info("webhook queued", extra={"delivery_ids": delivery_ids, "kind": outcome.messages[0].kind.value})
    observability.count(observability.WEBHOOKS_ACCEPTED)
    return Response(202, content_types.APPLICATION_JSON, {"status": "queued", "delivery_ids": delivery_ids})


# --- refusals ----------------------------------------------------------------------------------
def _error(status: int, code: str, message: str) -> Response[Any]:
    body = {"error": {"code": code, "message": message, "details": {}}}
    return Response(status, content_types.APPLICATION_JSON, body)


def _rejected(status: int, code: str, message: str) -> Response[Any]:
    connection_id = app.context.get(_CONNECTION_KEY)
    observability.logger.warning(
        "webhook rejected", extra={"reason": code, "status": status, "connection_id": connection_id}
    )
    observability.count_with(observability.WEBHOOKS_REJECTED, "reason", code)
    return _error(status, code, message)


def _on_refused(error: Refused) -> Response[Any]:
    return _rejected(error.status, error.code, error.message)


@app.not_found
def _on_no_route(_error: NotFoundError) -> Response[Any]:
    # A path API Gateway routed here that is no connection's (a "/" or "#" in the id ...).
    return _rejected(404, "connection_not_found", "no such webhook endpoint")


def _on_unknown_connection(_error: ConnectionNotFound) -> Response[Any]:
    return _rejected(404, "connection_not_found", "no such webhook endpoint")


def _on_disconnected(error: ConnectionDisconnected) -> Response[Any]:
    return _rejected(410, error.code, "the connection is disconnected: its webhooks are refused")


def _on_not_authentic(error: WebhookRejected) -> Response[Any]:
    # The reason names what failed (missing header, bad signature, stale timestamp): no value.
    return _rejected(401, "bad_signature", f"the request is not authentic: {error.reason}")


def _on_unparseable(_error: WebhookUnparseable) -> Response[Any]:
    return _rejected(400, "unparseable", "the body is not a webhook this provider sends")


def _on_not_queued(error: HrisSyncError) -> Response[Any]:
    # The queue (or a store) failed: nothing was queued, so the vendor must retry.
    observability.logger.error(
        "webhook not queued", extra={"error": error.code, "connection_id": app.context.get(_CONNECTION_KEY)}
    )
    return _error(503, error.code, "try again later")


# Powertools looks a raised error's classes up in order: the most specific handler answers.
app.exception_handler(Refused)(_on_refused)
app.exception_handler(ConnectionNotFound)(_on_unknown_connection)
app.exception_handler(ConnectionDisconnected)(_on_disconnected)
app.exception_handler(WebhookRejected)(_on_not_authentic)
app.exception_handler(WebhookUnparseable)(_on_unparseable)
app.exception_handler(HrisSyncError)(_on_not_queued)


# --- the request -------------------------------------------------------------------------------
def _raw_body(event: dict[str, Any], limit: int) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise Refused(400, "bad_request", "the request body is not text")
    if event.get("isBase64Encoded"):
        if len(body) > (limit + 2) // 3 * 4 + 4:
            raise Refused(413, "too_large", f"a webhook body is at most {limit} bytes")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, "bad_request", "the request body is not valid base64") from None
    else:
        raw = body.encode("utf-8")
    if len(raw) > limit:
        raise Refused(413, "too_large", f"a webhook body is at most {limit} bytes")
    return raw


def _headers(event: dict[str, Any]) -> dict[str, str]:
    headers = {k: v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if name not in headers and isinstance(values, list) and values and isinstance(values[0], str):
            headers[name] = values[0]
    return headers


def _received_at(event: dict[str, Any]) -> datetime:
    epoch_ms = (event.get("requestContext") or {}).get("requestTimeEpoch")
    if isinstance(epoch_ms, int | float) and epoch_ms > 0:
        return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return datetime.now(UTC)
