"""What routes receive through ``Depends``: the caller and the services' ports.

The ports are put into the resolver's context by the composition root (``handler.py``) on each
invocation, so the routers never import the root and tests can hand the app any ``Ports``.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.request import Request

from functions.admin_api.identity import Principal, principal_from
from shared import observability
from shared.services.context import Ports

PORTS_KEY = "ports"


def principal(request: Request) -> Principal:
    """The authenticated caller (any role), or 401."""
    caller = principal_from(request.resolved_event.raw_event.get("requestContext"))
    observability.bind(tenant_id=caller.tenant_id, admin_id=caller.subject)
    return caller


def admin(caller: Annotated[Principal, Depends(principal)]) -> Principal:
    """The authenticated caller with the admin role, or 401 / 403."""
    return caller.require_admin()


def ports(request: Request) -> Ports:
    found = request.context.get(PORTS_KEY)
    if not isinstance(found, Ports):
        raise TypeError("the composition root did not provide the services' ports")
    return found


Caller = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
Services = Annotated[Ports, Depends(ports)]
