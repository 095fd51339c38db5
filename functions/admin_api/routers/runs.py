"""``/v1/runs``: a run's status, progress, counts and skipped records; its plan's actions (who a
held plan would deactivate, and why); deciding a held plan (R23)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from functions.admin_api.deps import Admin, Caller, Services
from functions.admin_api.errors import responses
from functions.admin_api.models.common import DEFAULT_LIMIT, Cursor, Limit
from functions.admin_api.models.runs import ActionOut, RunActionPage, RunOut
from functions.admin_api.paging import page_of
from functions.admin_api.routers import new_router
from shared.domain.ids import ID_PATTERN, MAX_ID_LENGTH
from shared.services import full_sync

router = new_router()

TAG = "Runs"
RunId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, description="The run's id")
]


@router.get(
    "/v1/runs/<run_id>",
    tags=[TAG],
    summary="Read a run",
    description="Status, progress, counts planned and applied, skipped records with reasons.",
    responses=responses(200, "The run", 404),
)
def get_run(run_id: RunId, caller: Caller, ports: Services) -> RunOut:
    return RunOut.of(full_sync.get_run(ports, caller.tenant_id, run_id))


ActionKind = Literal[
    "create",
    "link",
    "update",
    "deactivate",
    "reactivate",
    "send_invite",
    "resend_invite",
    "open_task",
    "flag",
    "skip",
]


@router.get(
    "/v1/runs/<run_id>/actions",
    tags=[TAG],
    summary="A run's planned actions, with the members they concern",
    description="In plan order, optionally only one `type`: `?type=deactivate` on a held run (R23, "
    "R30) lists who would be deactivated, by name and email, and why (`reason`: terminated, "
    "left_hris, out_of_scope, on_leave). Empty for a run that has not planned yet.",
    responses=responses(200, "One page of the plan's actions", 404),
)
def list_run_actions(
    *,
    run_id: RunId,
    caller: Caller,
    ports: Services,
    type: Annotated[ActionKind | None, Query(description="Only actions of this kind")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> RunActionPage:
    found = full_sync.run_actions(ports, caller.tenant_id, run_id, type)
    page, next_cursor = page_of(found, listing=f"actions:{run_id}:{type or ''}", cursor=cursor, limit=limit)
    return RunActionPage(
        items=[ActionOut.of(a.action, a.member) for a in page], total=len(found), next_cursor=next_cursor
    )


@router.post(
    "/v1/runs/<run_id>/confirm",
    tags=[TAG],
    summary="Apply a plan the safety guard held (R23), or the deactivations the webhook guard held (R30)",
    description="A held full-sync plan is applied by the sync workflow (the run answers `running`); "
    "held webhook deactivations are applied at once (the run answers `completed`).",
    status_code=202,
    responses=responses(202, "The run, applying", 403, 404, 409),
)
def confirm(run_id: RunId, caller: Admin, ports: Services) -> RunOut:
    return RunOut.of(full_sync.confirm_held_plan(ports, caller.tenant_id, run_id, caller.subject))


@router.post(
    "/v1/runs/<run_id>/discard",
    tags=[TAG],
    summary="Discard a plan the safety guard (R23) or the webhook guard (R30) held: nothing of it is applied",
    responses=responses(200, "The run, discarded", 403, 404, 409),
)
def discard(run_id: RunId, caller: Admin, ports: Services) -> RunOut:
    return RunOut.of(full_sync.discard_held_plan(ports, caller.tenant_id, run_id, caller.subject))
