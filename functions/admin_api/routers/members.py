"""``/v1/members``: list and read members, edit a profile (R16), and the one-member actions:
approve/reject (R07), deactivate/reactivate (R10), offboard (R27), resync (R16), archive (R14)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from functions.admin_api.deps import Admin, AdminServices, Caller, Services
from functions.admin_api.errors import BODY, responses
from functions.admin_api.models.common import DEFAULT_LIMIT, Cursor, Limit
from functions.admin_api.models.members import MemberEditRequest, MemberList, MemberOut
from functions.admin_api.routers import new_router
from shared.domain.ids import ID_PATTERN, MAX_ID_LENGTH
from shared.domain.models import Member, MemberFlag, MemberSource, MemberStatus
from shared.services import members

router = new_router()

TAG = "Members"
MemberId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, description="The member's id")
]
Action = Callable[[AdminServices, str, str, str], Member]


@router.get(
    "/v1/members",
    tags=[TAG],
    summary="List members",
    description="Filters combine; in a stable order, one page at a time.",
    responses=responses(200, "One page of members"),
)
def list_members(
    *,
    caller: Caller,
    ports: Services,
    status: Annotated[MemberStatus | None, Query()] = None,
    flag: Annotated[MemberFlag | None, Query()] = None,
    source: Annotated[MemberSource | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> MemberList:
    page = members.list_members(
        ports, caller.tenant_id, status=status, flag=flag, source=source, cursor=cursor, limit=limit
    )
    return MemberList(items=[MemberOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.get(
    "/v1/members/<member_id>",
    tags=[TAG],
    summary="Read a member",
    responses=responses(200, "The member", 404),
)
def get_member(member_id: MemberId, caller: Caller, ports: Services) -> MemberOut:
    return MemberOut.of(members.get_member(ports, caller.tenant_id, member_id))


@router.patch(
    "/v1/members/<member_id>",
    tags=[TAG],
    summary="Edit a member's profile",
    description="For a member synced from an HR system each edited field becomes an override that "
    "later syncs respect until a resync (R16). 409 `email_taken` when another member has the email.",
    responses=responses(200, "The edited member", 403, 404, 409, *BODY),
)
def edit_member(
    member_id: MemberId, body: Annotated[MemberEditRequest, Body()], caller: Admin, ports: Services
) -> MemberOut:
    return MemberOut.of(
        members.edit_member(ports, caller.tenant_id, member_id, caller.subject, body.changes())
    )


def _action(name: str, action: Action, summary: str, *errors: int) -> None:
    """``POST /v1/members/{member_id}/<name>``: one admin action on one member."""

    def route(member_id: MemberId, caller: Admin, ports: Services) -> MemberOut:
        return MemberOut.of(action(ports, caller.tenant_id, member_id, caller.subject))

    route.__name__ = f"{name}_member"
    router.post(
        f"/v1/members/<member_id>/{name}",
        tags=[TAG],
        summary=summary,
        operation_id=f"{name}_member",
        responses=responses(200, "The member afterwards", 403, 404, 409, *errors),
    )(route)


# 502: approved and invited, but SES refused the invite email (the error names its answer).
_action("approve", members.approve, "Approve a member waiting for approval (R07): invited or queued", 502)
_action("reject", members.reject, "Reject a member waiting for approval (R07): deactivated, never re-added")
_action("deactivate", members.deactivate, "Deactivate (R10): no sync reactivates the member")
_action("reactivate", members.reactivate, "Reactivate a deactivated member (R10) with its earlier status")
_action("offboard", members.offboard, "Offboard now (R27): deactivate and open an offboarding task")
_action("resync", members.resync_member, "Drop the member's overrides and take the HR values now (R16)", 502)
_action("archive", members.archive, "Archive (R14): syncs never change or re-create the member")
