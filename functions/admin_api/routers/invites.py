"""``/v1/invites/send``: send the invites of some or all queued members (R08)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from functions.admin_api.deps import Admin, Services
from functions.admin_api.errors import BODY, responses
from functions.admin_api.models.members import InviteRequest, InviteResultOut
from functions.admin_api.routers import new_router
from shared.services import members

router = new_router()


@router.post(
    "/v1/invites/send",
    tags=["Invites"],
    summary="Send queued invites",
    description="Each named (or every) queued member is invited; the others are listed with why not.",
    responses=responses(200, "Who was invited and who was not", 403, *BODY),
)
def send_invites(body: Annotated[InviteRequest, Body()], caller: Admin, ports: Services) -> InviteResultOut:
    member_ids = None if body.all else body.member_ids
    return InviteResultOut.of(members.send_invites(ports, caller.tenant_id, caller.subject, member_ids))
