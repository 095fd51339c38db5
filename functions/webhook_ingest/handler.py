"""``POST /webhooks/{connection_id}``: verify the delivery with the connection's provider, queue it, 202.

The route and every answer (401, 400, 404, 410 from the moment a connection is disconnected, 413
over 1 MB, 503, 202, 200 for a handshake or a ping) are the Powertools resolver's in ``app.py``.

Importing this module reads no environment and imports neither boto3 nor the connectors: the first
invocation builds them (``_root``) and imports the resolver. A connection's tenant (which never
changes) and its webhook secret are then cached for ``connection_cache_seconds``; the connection
itself is read on every delivery (one item), so a disconnect or a changed ``require_signature``
applies at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from shared.bootstrap import Lazy
from shared.observability import CORRELATION_API_GATEWAY, instrumented

if TYPE_CHECKING:
    from shared.ports import MessageQueue
    from shared.services.context import Ports
    from shared.settings import WebhookIngestSettings


class _Root(NamedTuple):
    settings: WebhookIngestSettings
    ports: Ports
    queue: MessageQueue


def _build() -> _Root:
    from shared.adapters.caching import (  # noqa: PLC0415 - cold start: built on first call
        CachingConnectionStore,
        CachingSecretStore,
        TtlCache,
    )
    from shared.adapters.factory import AwsAdapters  # noqa: PLC0415
    from shared.bootstrap import build_ports  # noqa: PLC0415
    from shared.settings import WebhookIngestSettings, load  # noqa: PLC0415

    settings = load(WebhookIngestSettings)
    aws = AwsAdapters(settings.resources())
    cache = TtlCache(settings.connection_cache_seconds)
    ports = build_ports(
        settings,
        adapters=aws,
        connections=CachingConnectionStore(aws.connections, cache),
        secrets=CachingSecretStore(aws.secrets, cache),
    )
    return _Root(settings=settings, ports=ports, queue=aws.webhook_queue)


_root = Lazy(_build)


@instrumented(correlation_id_path=CORRELATION_API_GATEWAY)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from functions.webhook_ingest.app import ROOT_KEY, app  # noqa: PLC0415 - first invocation only

    app.context[ROOT_KEY] = _root.get()  # cleared by resolve() after each request
    return app.resolve(event, context)
