"""``POST /webhooks/{connection_id}``: verify the delivery with the connection's provider, queue it, 202.

401 bad or missing signature, 400 unreadable body, 404 unknown connection, 410 disconnected
connection (from the moment it is disconnected: its status is read on every delivery), 413 over the
size limit (1 MB), 200 for a handshake or a ping; 503 when the queue cannot take the delivery (the
vendor retries). Every rejection is logged with its reason and counted
(``WebhooksRejected`` by ``reason``); never a body, a header value or a secret.

Importing this module reads no settings and builds no client: the first invocation builds them
(``root``). A connection's tenant (which never changes) and its webhook
secret are then cached for ``connection_cache_seconds``; the connection itself is read on every
delivery (one item), so a disconnect or a changed ``require_signature`` applies at once.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

from shared import observability
from shared.adapters.caching import CachingConnectionStore, CachingSecretStore, TtlCache
from shared.adapters.factory import AwsAdapters
from shared.domain.ids import is_issued_id
from shared.errors import ConnectionDisconnected, ConnectionNotFound, HrisSyncError
from shared.observability import CORRELATION_API_GATEWAY, instrumented
from shared.providers.base import WebhookRejected, WebhookUnparseable
from shared.services.provider_lookup import registry_lookup
from shared.services.webhook_intake import IntakePorts, Outcome, intake
from shared.settings import WebhookIngestSettings, load


class Root(NamedTuple):
    settings: WebhookIngestSettings
    ports: IntakePorts


@functools.lru_cache(maxsize=1)
def root() -> Root:
    """The composition root: settings read on the first invocation, and only the adapters (and
    boto3 clients) the intake names built: DynamoDB, Secrets Manager, SQS."""
    settings = load(WebhookIngestSettings)
    aws = AwsAdapters(settings.resources())
    cache = TtlCache(settings.connection_cache_seconds)
    ports = IntakePorts(
        connections=CachingConnectionStore(aws.connections, cache),
        secrets=CachingSecretStore(aws.secrets, cache),
        providers=registry_lookup(),
        clock=aws.clock,
        queue=aws.webhook_queue,
    )
    return Root(settings=settings, ports=ports)


class _Reject(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _response(status: int, body: Any, content_type: str = "application/json") -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return {"statusCode": status, "headers": {"Content-Type": content_type}, "body": text}


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return _response(status, {"error": {"code": code, "message": message, "details": {}}})


def _raw_body(event: dict[str, Any], limit: int) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise _Reject(400, "bad_request", "the request body is not text")
    if event.get("isBase64Encoded"):
        if len(body) > (limit + 2) // 3 * 4 + 4:
            raise _Reject(413, "too_large", f"a webhook body is at most {limit} bytes")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _Reject(400, "bad_request", "the request body is not valid base64") from None
    else:
        raw = body.encode("utf-8")
    if len(raw) > limit:
        raise _Reject(413, "too_large", f"a webhook body is at most {limit} bytes")
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


def _rejected(status: int, code: str, message: str, connection_id: str | None) -> dict[str, Any]:
    observability.logger.warning(
        "webhook rejected", extra={"reason": code, "status": status, "connection_id": connection_id}
    )
    observability.count_with(observability.WEBHOOKS_REJECTED, "reason", code)
    return _error(status, code, message)


def _rejection(error: Exception) -> _Reject | None:
    """The answer to a request refused for what it is (never for our own failure)."""
    if isinstance(error, _Reject):
        return error
    if isinstance(error, ConnectionNotFound):
        return _Reject(404, "connection_not_found", "no such webhook endpoint")
    if isinstance(error, ConnectionDisconnected):
        return _Reject(410, error.code, "the connection is disconnected: its webhooks are refused")
    if isinstance(error, WebhookRejected):
        # The reason names what failed (missing header, bad signature, stale timestamp): no value.
        return _Reject(401, "bad_signature", f"the request is not authentic: {error.reason}")
    if isinstance(error, WebhookUnparseable):
        return _Reject(400, "unparseable", "the body is not a webhook this provider sends")
    return None


def _answer(outcome: Outcome) -> dict[str, Any]:
    observability.bind(tenant_id=outcome.tenant_id)
    log = observability.logger
    if outcome.handshake is not None:
        log.info("webhook handshake answered", extra={"vendor": outcome.handshake.vendor})
        observability.count(observability.WEBHOOKS_IGNORED)
        return _response(200, outcome.handshake.body, outcome.handshake.content_type)
    if outcome.status != "queued":
        log.info("webhook without work", extra={"status": outcome.status})
        observability.count(observability.WEBHOOKS_IGNORED)
        return _response(200, {"status": outcome.status})
    delivery_ids = [m.delivery_id for m in outcome.messages]
    log.info("webhook queued", extra={"delivery_ids": delivery_ids, "kind": outcome.messages[0].kind.value})
    observability.count(observability.WEBHOOKS_ACCEPTED)
    return _response(202, {"status": "queued", "delivery_ids": delivery_ids})


@instrumented(correlation_id_path=CORRELATION_API_GATEWAY)
def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    built = root()
    connection_id = (event.get("pathParameters") or {}).get("connection_id")
    if not isinstance(connection_id, str) or not is_issued_id(connection_id):
        # Not the shape of any connection id (a "#", 600 characters ...): unknown, without a read.
        return _rejected(404, "connection_not_found", "no such webhook endpoint", None)
    observability.bind(connection_id=connection_id)
    try:
        outcome = intake(
            built.ports,
            connection_id,
            headers=_headers(event),
            query={k: v for k, v in (event.get("queryStringParameters") or {}).items() if isinstance(v, str)},
            raw_body=_raw_body(event, built.settings.max_webhook_bytes),
            received_at=_received_at(event),
        )
    except (
        _Reject,
        ConnectionNotFound,
        ConnectionDisconnected,
        WebhookRejected,
        WebhookUnparseable,
    ) as refused:
        reject = _rejection(refused)
        assert reject is not None  # noqa: S101 - every type caught here has its answer
        return _rejected(reject.status, reject.code, reject.message, connection_id)
    except HrisSyncError as error:
        # The queue (or a store) failed: nothing was queued, so the vendor must retry.
        observability.logger.error(
            "webhook not queued", extra={"error": error.code, "connection_id": connection_id}
        )
        return _error(503, error.code, "try again later")
    return _answer(outcome)
