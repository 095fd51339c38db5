"""What routes receive through ``Depends``: the caller and the services' ports.

The ports are put into the resolver's context by the composition root (``handler.py``) on each
invocation, so the routers never import the root and tests can hand the app any ``Ports``. Routes
see them as ``AdminServices``: the ports only, read as properties, so the root's lazily built
adapters (``handler.AdminPorts``) build a client only when a route's use case touches its port.
"""

from __future__ import annotations

from typing import Annotated, Protocol

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.request import Request

from functions.admin_api.identity import Principal, principal_from
from shared import observability
from shared.services.context import (
    WithAudit,
    WithBlobs,
    WithClock,
    WithConnections,
    WithEvents,
    WithIds,
    WithLock,
    WithMailer,
    WithMembers,
    WithOAuthApps,
    WithOAuthStates,
    WithPending,
    WithPollSchedules,
    WithPortal,
    WithProviders,
    WithRuns,
    WithScheduler,
    WithSecrets,
    WithSettings,
    WithTasks,
    WithTokenLock,
    WithWebhookGuard,
    WithWorkflow,
)

PORTS_KEY = "ports"


class AdminServices(
    WithConnections,
    WithMembers,
    WithTasks,
    WithAudit,
    WithRuns,
    WithLock,
    WithPending,
    WithWebhookGuard,
    WithTokenLock,
    WithBlobs,
    WithSecrets,
    WithOAuthStates,
    WithOAuthApps,
    WithScheduler,
    WithPollSchedules,
    WithWorkflow,
    WithMailer,
    WithEvents,
    WithClock,
    WithIds,
    WithProviders,
    WithPortal,
    WithSettings,
    Protocol,
):
    """Every port the admin API's use cases name between them (all but the webhook queue)."""


def principal(request: Request) -> Principal:
    """The authenticated caller (any role), or 401."""
    caller = principal_from(request.resolved_event.raw_event.get("requestContext"))
    observability.bind(tenant_id=caller.tenant_id, admin_id=caller.subject)
    return caller


def admin(caller: Annotated[Principal, Depends(principal)]) -> Principal:
    """The authenticated caller with the admin role, or 401 / 403."""
    return caller.require_admin()


def ports(request: Request) -> AdminServices:
    # Not an isinstance check against the protocol: that reads every property, building every port.
    found: AdminServices | None = request.context.get(PORTS_KEY)
    if found is None:
        raise TypeError("the composition root did not provide the services' ports")
    return found


Caller = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
Services = Annotated[AdminServices, Depends(ports)]
