"""The admin API's routes, one router per resource."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler.api_gateway import Router

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent


def new_router() -> Router:
    return Router()  # type: ignore[no-untyped-call]  # Powertools leaves its __init__ unannotated


def public_base_url(event: APIGatewayProxyEvent) -> str:
    """This API's public URL (``https://<domain>[/<stage>]``) from what API Gateway itself put in
    the request context (its domain and stage), never from a client's ``Host`` header. The OAuth
    callback and the vendors' change notifications are addressed under it."""
    context = event.request_context
    domain = context.domain_name or ""
    stage = context.stage
    base = f"/{stage}" if stage and (context.path or "").startswith(f"/{stage}/") else ""
    host = domain.split(":")[0]
    scheme = "http" if host in ("127.0.0.1", "localhost") else "https"
    return f"{scheme}://{domain}{base}"
