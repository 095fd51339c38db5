"""``POST /webhooks/{connection_id}``: verify the delivery with the connection's provider, queue it, 202.

The route and every answer (401, 400, 404, 410 from the moment a connection is disconnected, 413
over 1 MB, 503, 202, 200 for a handshake or a ping) are the Powertools resolver's in ``app.py``.

Importing this module reads no settings and builds no client: the first invocation builds them
(``root``). A connection's tenant (which never changes) and its webhook secret are then cached for
``connection_cache_seconds``; the connection itself is read on every delivery (one item), so a
disconnect or a changed ``require_signature`` applies at once.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from functions.webhook_ingest.app import ROOT_KEY, app
from shared.adapters.caching import CachingConnectionStore, CachingSecretStore, TtlCache
from shared.adapters.factory import AwsAdapters
from shared.observability import CORRELATION_API_GATEWAY, instrumented
from shared.services.provider_lookup import registry_lookup
from shared.services.webhook_ingest import IntakePorts
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


@instrumented(correlation_id_path=CORRELATION_API_GATEWAY)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    app.context[ROOT_KEY] = root()  # cleared by resolve() after each request
    return app.resolve(event, context)
