"""``/v1/audit``: who or what changed members, when, before and after."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from functions.admin_api.deps import Caller, Services
from functions.admin_api.errors import responses
from functions.admin_api.models.common import DEFAULT_LIMIT, Cursor, Limit
from functions.admin_api.models.members import AuditEntryOut, AuditList
from functions.admin_api.routers import new_router
from shared.domain.ids import ID_PATTERN, MAX_ID_LENGTH
from shared.services import members

router = new_router()


@router.get(
    "/v1/audit",
    tags=["Audit"],
    summary="The audit trail, newest first: one member's, or the tenant's",
    responses=responses(200, "One page of entries", 404),
)
def list_audit(
    caller: Caller,
    ports: Services,
    member_id: Annotated[
        str | None, Query(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> AuditList:
    page = members.list_audit(ports, caller.tenant_id, member_id=member_id, cursor=cursor, limit=limit)
    return AuditList(items=[AuditEntryOut.of(e) for e in page.items], next_cursor=page.next_cursor)
