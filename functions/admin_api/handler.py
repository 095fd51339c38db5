"""The admin API's Lambda handler and composition root.

The resolver is built at import (``app``, the routers and Powertools' own switches); the settings
and the adapters on the first invocation (``ports``), reused by the warm container. Importing this
module reads no settings and builds no client. Tests and the local stack hand in their own ports
by patching ``ports``.
"""

from __future__ import annotations

import functools
from typing import Any

from functions.admin_api.app import create_app
from functions.admin_api.deps import PORTS_KEY
from functions.admin_api.errors import refused_media_type
from shared import observability
from shared.bootstrap import build_ports
from shared.services.context import Ports
from shared.settings import AdminApiSettings, load

app = create_app()


@functools.lru_cache(maxsize=1)
def ports() -> Ports:
    """The composition root: settings read and adapters built on the first invocation."""
    return build_ports(load(AdminApiSettings))


@observability.instrumented(observability.CORRELATION_API_GATEWAY)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    answer = refused_media_type(event)
    if answer is None:
        app.context[PORTS_KEY] = ports()
        answer = app.resolve(event, context)
    # One line per request: the route and the outcome, never a body (it may carry credentials).
    observability.logger.info(
        "admin api request",
        extra={
            "method": event.get("httpMethod"),
            "path": event.get("path"),
            "status": answer.get("statusCode"),
        },
    )
    return answer
