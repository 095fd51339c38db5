"""``/v1/connections``: connect (or draft, R32), activate, list, read, edit, disconnect; directory,
preview, match, sync now, runs of a connection. Each route reads the request, calls one service and
shapes the answer; a connection is shown with its status (last run, next run, effective schedule)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Literal, cast

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from functions.admin_api.deps import Admin, Caller, Services
from functions.admin_api.errors import BODY, responses
from functions.admin_api.models.common import DEFAULT_LIMIT, Cursor, Limit
from functions.admin_api.models.connections import (
    ActivateRequest,
    ConnectionList,
    ConnectionOut,
    ConnectRequest,
    ConnectResponse,
    DirectoryEntryOut,
    DirectoryOut,
    DirectoryPage,
    EditConnectionRequest,
    EditConnectionResponse,
    MatchRequest,
)
from functions.admin_api.models.runs import MatchOut, PreviewOut, RunList, RunOut, RunSummaryOut
from functions.admin_api.paging import page_of
from functions.admin_api.routers import new_router, public_base_url
from shared.domain.ids import ID_PATTERN, MAX_ID_LENGTH
from shared.domain.models import Connection
from shared.providers.base import DirectoryEntry
from shared.services import connections, full_sync

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

router = new_router()

TAG = "Connections"
ConnectionId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, description="The connection's id")
]
# Preview and match compute their answer on each call: they cap what they show instead of paging.
ShowLimit = Annotated[int, Query(ge=1, le=1000, description="How many actions, warnings or pairs to show")]


def _shown(ports: Services, connection: Connection) -> ConnectionOut:
    return ConnectionOut.of(connections.status_of(ports, connection))


@router.post(
    "/v1/connections",
    tags=[TAG],
    summary="Connect an HR system, or make a draft connection",
    description="Validates the settings, checks the credentials with one call to the HR system "
    "(a refusal is a 4xx in its words) and stores them as a secret (never returned). Then, "
    "without `draft`: schedules the connection (R28) and starts the first import (R22: one active "
    'connection per tenant by default), `202`. With `"draft": true` (R32): `201` with the '
    "draft and no run; browse its directory, set its scope and settings, preview it, then "
    "`POST /v1/connections/{id}/activate`. The emails of the connection go to the calling admin's "
    "address (the token's `email` claim) as well as to `admin_emails`.",
    status_code=202,
    responses={
        **responses(202, "Connected; the first import is running", 403, 409, *BODY),
        201: {
            "description": "A draft (R32): nothing scheduled, imported or emailed; `run` is null",
            "content": {content_types.APPLICATION_JSON: {"model": ConnectResponse}},
        },
    },
)
def connect(
    body: Annotated[ConnectRequest, Body()], caller: Admin, ports: Services
) -> Response[ConnectResponse]:
    credentials = body.credentials.to_credentials()
    if body.draft:
        made = connections.create_draft(
            ports,
            caller.tenant_id,
            provider=body.provider,
            label=body.label,
            credentials=credentials,
            options=body.options("label"),
            connected_by=caller.subject,
            connected_by_email=caller.email,
        )
        return _answer(201, ConnectResponse(connection=_shown(ports, made), run=None))
    result = connections.connect(
        ports,
        caller.tenant_id,
        provider=body.provider,
        label=body.label,
        credentials=credentials,
        options=body.options("label"),
        connected_by=caller.subject,
        connected_by_email=caller.email,
        notification_base_url=_api_base_url(),
    )
    shown = _shown(ports, result.connection)
    return _answer(202, ConnectResponse(connection=shown, run=RunOut.of(result.run)))


def _api_base_url() -> str:
    """This API's public URL as this request reached it: the vendors' change notifications are
    addressed under it (unless the deployment names one: ``notification_base_url``)."""
    return public_base_url(cast("APIGatewayProxyEvent", router.current_event))


def _answer(status: int, body: ConnectResponse) -> Response[ConnectResponse]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@router.post(
    "/v1/connections/<connection_id>/activate",
    tags=[TAG],
    summary="Activate a draft connection: schedule it and start its first import",
    description="R32: the draft takes a slot (R22: `409 connection_limit_reached` past "
    "`max_connections`), is scheduled (R28) and its first import starts; that import's first "
    "complete sync claims the tenant's HRIS-managed members (R21). Activating an active connection "
    "again changes nothing and answers with its newest run, so a retried request is harmless.",
    status_code=202,
    responses=responses(202, "Active; the first import is running", 403, 404, 409, *BODY),
)
def activate(
    connection_id: ConnectionId,
    caller: Admin,
    ports: Services,
    body: Annotated[ActivateRequest | None, Body()] = None,
) -> ConnectResponse:
    result = connections.activate(
        ports,
        caller.tenant_id,
        connection_id,
        expected_version=body.expected_version if body is not None else None,
        notification_base_url=_api_base_url(),
    )
    return ConnectResponse(connection=_shown(ports, result.connection), run=RunOut.of(result.run))


@router.get(
    "/v1/connections",
    tags=[TAG],
    summary="List the tenant's connections",
    description="Oldest first, drafts and disconnected ones included, each with its status.",
    responses=responses(200, "One page of connections"),
)
def list_connections(
    caller: Caller, ports: Services, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> ConnectionList:
    everything = connections.list_connections(ports, caller.tenant_id)
    page, next_cursor = page_of(everything, listing="connections", cursor=cursor, limit=limit)
    return ConnectionList(items=[_shown(ports, c) for c in page], next_cursor=next_cursor)


@router.get(
    "/v1/connections/<connection_id>",
    tags=[TAG],
    summary="Read a connection",
    description="With its status: the last run, when the schedule next fires and the effective "
    "schedule (R28).",
    responses=responses(200, "The connection", 404),
)
def get_connection(connection_id: ConnectionId, caller: Caller, ports: Services) -> ConnectionOut:
    return _shown(ports, connections.get_connection(ports, caller.tenant_id, connection_id))


@router.patch(
    "/v1/connections/<connection_id>",
    tags=[TAG],
    summary="Edit a connection's scope, settings or credentials",
    description="A changed scope starts a sync at once (R19), or applies after the sync already "
    "running; on a draft it starts nothing (R32: it applies from the activation). Objects given "
    "(scope, mappings, safety, schedule) replace the whole object.",
    responses=responses(200, "The edited connection", 403, 404, 409, *BODY),
)
def edit_connection(
    connection_id: ConnectionId,
    body: Annotated[EditConnectionRequest, Body()],
    caller: Admin,
    ports: Services,
) -> EditConnectionResponse:
    result = connections.edit_connection(
        ports,
        caller.tenant_id,
        connection_id,
        body.options(),
        credentials=body.credentials.to_credentials() if body.credentials else None,
        expected_version=body.expected_version,
        notification_base_url=_api_base_url(),
    )
    return EditConnectionResponse(
        connection=_shown(ports, result.connection),
        run=RunOut.of(result.run) if result.run else None,
        running_run_id=result.running_run_id,
    )


@router.delete(
    "/v1/connections/<connection_id>",
    tags=[TAG],
    summary="Disconnect",
    description="Removes the schedule and the credentials; members and their links stay (R20). "
    "Disconnecting twice is harmless. Disconnecting a draft deletes it for good (its secret).",
    responses=responses(200, "The disconnected connection", 403, 404),
)
def disconnect(connection_id: ConnectionId, caller: Admin, ports: Services) -> ConnectionOut:
    return _shown(ports, connections.disconnect(ports, caller.tenant_id, connection_id))


Search = Annotated[
    str | None, Query(min_length=1, max_length=100, description="Part of an entry's name or id (any case)")
]


def _matching(entries: Sequence[DirectoryEntry], q: str | None) -> list[DirectoryEntry]:
    """The entries whose name or id contains ``q`` (any case), sorted by name then id."""
    needle = q.casefold() if q else None
    return sorted(
        (e for e in entries if needle is None or needle in e.name.casefold() or needle in e.id.casefold()),
        key=lambda e: (e.name.casefold(), e.id),
    )


@router.get(
    "/v1/connections/<connection_id>/directory",
    tags=[TAG],
    summary="The HR system's companies, groups and people, for picking a scope",
    description="Companies and groups whole; people paged, optionally filtered by `q`. Each entry's "
    "`id` is what a scope selects by (R33). Search and page companies or groups with "
    "`/directory/{kind}`.",
    responses=responses(200, "The directory", 404, 409, 502),
)
def directory(
    *,
    connection_id: ConnectionId,
    caller: Caller,
    ports: Services,
    q: Search = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> DirectoryOut:
    found = connections.directory(ports, caller.tenant_id, connection_id)
    people = _matching(found.people, q)
    page, next_cursor = page_of(
        people, listing=f"people:{connection_id}:{q or ''}", cursor=cursor, limit=limit
    )
    return DirectoryOut.of(found, page, len(people), next_cursor)


@router.get(
    "/v1/connections/<connection_id>/directory/<kind>",
    tags=[TAG],
    summary="One list of the directory (companies, groups or people), searched and paged",
    description="Entries whose name or id contains `q` (any case), sorted by name. Each `id` is what "
    "a scope of that kind selects by (R33); `kind` and `count` show what the HR system says of it.",
    responses=responses(200, "One page of entries", 404, 409, 502),
)
def directory_list(
    *,
    connection_id: ConnectionId,
    kind: Annotated[Literal["companies", "groups", "people"], Path(description="Which list")],
    caller: Caller,
    ports: Services,
    q: Search = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> DirectoryPage:
    found = connections.directory(ports, caller.tenant_id, connection_id)
    lists = {"companies": found.companies, "groups": found.groups, "people": found.people}
    entries = _matching(lists[kind], q)
    page, next_cursor = page_of(
        entries, listing=f"{kind}:{connection_id}:{q or ''}", cursor=cursor, limit=limit
    )
    return DirectoryPage(
        items=[DirectoryEntryOut.of(e) for e in page], total=len(entries), next_cursor=next_cursor
    )


@router.post(
    "/v1/connections/<connection_id>/preview",
    tags=[TAG],
    summary="The plan a sync would apply now, applying nothing",
    description="Also how many people each company, group or person of the scope selects now (R33).",
    responses=responses(200, "The plan", 403, 404, 409, 502),
)
def preview(
    connection_id: ConnectionId, caller: Admin, ports: Services, limit: ShowLimit = 100
) -> PreviewOut:
    return PreviewOut.of(connections.preview(ports, caller.tenant_id, connection_id), limit)


@router.post(
    "/v1/connections/<connection_id>/match",
    tags=[TAG],
    summary="Pair employees with existing members (R05)",
    description="By stored link, then by email (case-insensitive). With `dry_run` (the default) "
    "nothing is stored; otherwise the new links are stored and nothing else changes (a draft: "
    "`409 connection_not_active`, R32).",
    responses=responses(200, "The pairs", 403, 404, 409, 502, *BODY),
)
def match(
    connection_id: ConnectionId,
    caller: Admin,
    ports: Services,
    body: Annotated[MatchRequest | None, Body()] = None,
    limit: ShowLimit = 100,
) -> MatchOut:
    dry_run = body.dry_run if body is not None else True
    result = connections.match(
        ports, caller.tenant_id, connection_id, dry_run=dry_run, admin_id=caller.subject
    )
    return MatchOut.of(result, limit)


@router.post(
    "/v1/connections/<connection_id>/sync",
    tags=[TAG],
    summary="Sync now",
    description="Starts a full sync; 409 `sync_running` (naming the running run) while one runs (R29), "
    "409 `connection_not_active` for a draft (R32: activate it).",
    status_code=202,
    responses=responses(202, "The run, started", 403, 404, 409),
)
def sync_now(connection_id: ConnectionId, caller: Admin, ports: Services) -> RunOut:
    return RunOut.of(full_sync.request_sync(ports, caller.tenant_id, connection_id))


@router.get(
    "/v1/connections/<connection_id>/runs",
    tags=[TAG],
    summary="The connection's sync runs, newest first",
    responses=responses(200, "One page of runs", 404),
)
def list_runs(
    connection_id: ConnectionId,
    caller: Caller,
    ports: Services,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> RunList:
    page = full_sync.list_runs(ports, caller.tenant_id, connection_id, cursor=cursor, limit=limit)
    return RunList(items=[RunSummaryOut.of(r) for r in page.items], next_cursor=page.next_cursor)
