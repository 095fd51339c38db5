"""``/v1/runs``: a run's status, progress, counts and skipped records; deciding a held plan (R23)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from functions.admin_api.deps import Admin, Caller, Services
from functions.admin_api.errors import responses
from functions.admin_api.models.runs import RunOut
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
