"""``/v1/tasks``: onboarding and offboarding tasks (R26, R27)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from functions.admin_api.deps import Admin, Caller, Services
from functions.admin_api.errors import responses
from functions.admin_api.models.common import DEFAULT_LIMIT, Cursor, Limit
from functions.admin_api.models.members import TaskList, TaskOut
from functions.admin_api.routers import new_router
from shared.domain.ids import ID_PATTERN, MAX_ID_LENGTH
from shared.domain.models import TaskType
from shared.domain.records import TaskStatus
from shared.services import members

router = new_router()

TAG = "Tasks"


@router.get(
    "/v1/tasks",
    tags=[TAG],
    summary="List tasks, newest first",
    responses=responses(200, "One page of tasks"),
)
def list_tasks(
    *,
    caller: Caller,
    ports: Services,
    type: Annotated[TaskType | None, Query()] = None,
    status: Annotated[TaskStatus | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> TaskList:
    page = members.list_tasks(ports, caller.tenant_id, type=type, status=status, cursor=cursor, limit=limit)
    return TaskList(items=[TaskOut.of(t) for t in page.items], next_cursor=page.next_cursor)


@router.post(
    "/v1/tasks/<task_id>/complete",
    tags=[TAG],
    summary="Complete a task (completing a done task changes nothing)",
    responses=responses(200, "The task", 403, 404),
)
def complete_task(
    task_id: Annotated[
        str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, description="The task's id")
    ],
    caller: Admin,
    ports: Services,
) -> TaskOut:
    return TaskOut.of(members.complete_task(ports, caller.tenant_id, task_id, caller.subject))
