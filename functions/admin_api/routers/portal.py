"""``/v1/portal/links``: a one-time link to the admin portal for the caller's tenant.

The link's origin is the one the caller reached the API on (``Host``, ``X-Forwarded-Proto`` as API
Gateway sets them, and the stage when the URL carries it): the portal is served by the same API
(``functions.admin_api.portal_web``), so a link asked for through a custom domain points there too.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from functions.admin_api.deps import Admin, Services
from functions.admin_api.errors import BODY, responses
from functions.admin_api.models.portal import PortalLinkOut, PortalLinkRequest
from functions.admin_api.routers import new_router
from shared.services import portal

router = new_router()

TAG = "Portal"
OPEN_PATH = "/portal/open"


def public_base(request: Request) -> str:
    """``scheme://host[/stage]``: where this request reached the API."""
    event = request.resolved_event
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    context = APIGatewayProxyEvent(event.raw_event).request_context
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip().lower()
    if scheme not in ("http", "https"):
        scheme = "https"
    host = headers.get("host") or context.domain_name or ""
    stage = context.stage
    prefix = f"/{stage}" if stage and (context.path or "").startswith(f"/{stage}/") else ""
    return f"{scheme}://{host}{prefix}"


@router.post(
    "/v1/portal/links",
    tags=[TAG],
    summary="Create a one-time portal link",
    description="For the SaaS team's backend: a link to send the tenant's admin to. It opens the "
    "admin portal once, within a few minutes, and starts a session for this tenant with admin rights "
    "for a few hours. A link opened twice or too late shows a page that says so.",
    status_code=201,
    responses=responses(201, "The link", 403, *BODY),
)
def create_link(
    body: Annotated[PortalLinkRequest, Body()], caller: Admin, ports: Services, request: Request
) -> PortalLinkOut:
    issued = portal.create_link(
        ports,
        caller.tenant_id,
        created_by=caller.subject,
        intent=body.intent,
        return_url=body.return_url,
        email=body.email,
    )
    return PortalLinkOut(
        url=f"{public_base(request)}{OPEN_PATH}?token={issued.token}",
        intent=issued.link.intent,
        expires_at=issued.link.expires_at,
    )
