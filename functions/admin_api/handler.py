"""The admin API's Lambda handler and composition root.

Importing this module builds nothing, calls no AWS and reads no environment: the resolver, the
settings and the adapters are built on the first invocation (``Lazy``) and reused by the warm
container. Tests and the local stack hand in their own ports with ``PORTS.set(...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared import observability
from shared.bootstrap import Lazy, build_ports

if TYPE_CHECKING:  # pragma: no cover - the imports stay lazy: the handler's import stays cheap
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from shared.services.context import Ports


def _build_app() -> APIGatewayRestResolver:
    from functions.admin_api.app import create_app  # noqa: PLC0415 - first invocation only

    return create_app()


def _build_ports() -> Ports:
    from shared.settings import AdminApiSettings, load  # noqa: PLC0415

    return build_ports(load(AdminApiSettings))


APP: Lazy[APIGatewayRestResolver] = Lazy(_build_app)
PORTS: Lazy[Ports] = Lazy(_build_ports)


@observability.instrumented(observability.CORRELATION_API_GATEWAY)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from functions.admin_api.deps import PORTS_KEY  # noqa: PLC0415
    from functions.admin_api.errors import refused_media_type  # noqa: PLC0415

    app = APP.get()
    answer = refused_media_type(event)
    if answer is None:
        app.context[PORTS_KEY] = PORTS.get()
        answer = app.resolve(event, context)
    # One line per request: the route and the outcome, never a body (it may carry credentials).
    observability.logger().info(
        "admin api request",
        extra={
            "method": event.get("httpMethod"),
            "path": event.get("path"),
            "status": answer.get("statusCode"),
        },
    )
    return answer
