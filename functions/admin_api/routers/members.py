"""``/v1/members``: list and read members, bring in the app's own users (R34, one or in bulk), edit a
profile (R16), and the one-member actions: approve/reject (R07), deactivate/reactivate (R10),
offboard (R27), resync (R16), archive (R14)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import TypeAdapter, ValidationError

from functions.admin_api.deps import Admin, AdminServices, Caller, Services
from functions.admin_api.errors import BODY, responses
from functions.admin_api.models.common import DEFAULT_LIMIT, Cursor, Limit
from functions.admin_api.models.members import (
    EXTERNAL_ID_DESCRIPTION,
    AppUserImportRequest,
    AppUserIn,
    FieldProblemOut,
    ImportedUserOut,
    ImportResultOut,
    MemberEditRequest,
    MemberList,
    MemberOut,
)
from functions.admin_api.routers import new_router
from shared.domain.ids import EXTERNAL_ID_PATTERN, ID_PATTERN, MAX_EXTERNAL_ID_LENGTH, MAX_ID_LENGTH
from shared.domain.models import Member, MemberFlag, MemberSource, MemberStatus
from shared.services import app_users, members

router = new_router()

TAG = "Members"
MemberId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, description="The member's id")
]
Action = Callable[[AdminServices, str, str, str], Member]
MAX_TEXT_QUERY = 100
_APP_USER: TypeAdapter[AppUserIn] = TypeAdapter(AppUserIn)
_MAX_PROBLEMS = 20


@router.get(
    "/v1/members",
    tags=[TAG],
    summary="List members",
    description="Filters combine; in a stable order, one page at a time. `email` and `external_id` "
    "find at most one member (one page, no cursor). With `q` a page may hold fewer than `limit` "
    "members, even none, and still have a `next_cursor`: each call looks at a bounded number of "
    "members; page until `next_cursor` is null.",
    responses=responses(200, "One page of members"),
)
def list_members(
    *,
    caller: Caller,
    ports: Services,
    status: Annotated[MemberStatus | None, Query()] = None,
    flag: Annotated[MemberFlag | None, Query()] = None,
    source: Annotated[MemberSource | None, Query()] = None,
    email: Annotated[
        str | None,
        Query(min_length=1, max_length=254, description="The member with this email (case-insensitive)"),
    ] = None,
    external_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_EXTERNAL_ID_LENGTH,
            pattern=EXTERNAL_ID_PATTERN,
            description=f"The member with this external id (exact). {EXTERNAL_ID_DESCRIPTION}",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_TEXT_QUERY,
            description="Text in the first name, last name or email (case-insensitive)",
        ),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> MemberList:
    page = members.list_members(
        ports,
        caller.tenant_id,
        status=status,
        flag=flag,
        source=source,
        email=email,
        external_id=external_id,
        text=q,
        cursor=cursor,
        limit=limit,
    )
    return MemberList(items=[MemberOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.post(
    "/v1/members",
    tags=[TAG],
    summary="Add one of the app's users as a manual member (R34)",
    description="Idempotent: the member with this `external_id` (or, without one, this email) is "
    "returned with 200 instead of a second member; a member with this email and no external id "
    "gets this one (200). 201 when created: `manual` (R13, a sync never touches it until an "
    "employee with its email links it, R05, keeping its id and external id), `active`, no invite. "
    "409 `member_conflict` when the external id and the email are two different members' (both "
    "named in `details.member_ids`) or the email's member has another external id.",
    status_code=201,
    responses={
        **responses(201, "Created", 403, 409, *BODY),
        200: {"description": "The member that already exists (or that got this external id)"},
    },
)
def add_member(body: Annotated[AppUserIn, Body()], caller: Admin, ports: Services) -> Response[MemberOut]:
    member, outcome = app_users.add_member(ports, caller.tenant_id, body.user(), admin_id=caller.subject)
    return Response(
        status_code=201 if outcome is app_users.Outcome.CREATED else 200,
        content_type=content_types.APPLICATION_JSON,
        body=MemberOut.of(member),
    )


@router.post(
    "/v1/members/import",
    tags=[TAG],
    summary="Bring in up to 1,000 of the app's users (R34)",
    description="One result per user, in order: `created`, `existing`, `updated`, `invalid` or "
    "`conflict` (as `POST /v1/members` decides one user). Each user is validated on its own: an "
    "invalid one is reported and writes nothing, the others are taken. Idempotent: sending the "
    "same users again changes nothing (all `existing`), so a failed or timed-out call can simply "
    "be sent again. More than 1,000 users, or none, is 422.",
    responses=responses(200, "The result of each user", 403, *BODY),
)
def import_members(
    body: Annotated[AppUserImportRequest, Body()], caller: Admin, ports: Services
) -> ImportResultOut:
    results: dict[int, ImportedUserOut] = {}
    valid: list[tuple[int, AppUserIn]] = []
    for index, raw in enumerate(body.users):
        try:
            valid.append((index, _APP_USER.validate_python(raw)))
        except ValidationError as error:
            results[index] = ImportedUserOut.invalid(index, _problems(error))
    done = app_users.import_users(
        ports, caller.tenant_id, [user.user() for _, user in valid], admin_id=caller.subject
    )
    for (index, _), result in zip(valid, done, strict=True):
        results[index] = ImportedUserOut.of(result).model_copy(update={"index": index})
    return ImportResultOut.of([results[i] for i in range(len(body.users))])


def _problems(error: ValidationError) -> list[FieldProblemOut]:
    """What does not validate, by location and expectation (never the value sent)."""
    return [
        FieldProblemOut(location=[str(p) for p in e["loc"]], type=e["type"], message=e["msg"])
        for e in error.errors(include_input=False, include_url=False)[:_MAX_PROBLEMS]
    ]


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
