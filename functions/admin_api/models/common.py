"""What every resource's API models share: the base classes, the error shape, paging parameters."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field

from shared.domain.ids import ID_PATTERN, MAX_ID_LENGTH
from shared.ports import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT


class RequestModel(BaseModel):
    """A request body: unknown fields are refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- errors ------------------------------------------------------------------------------------


class ErrorInfo(ResponseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `member_not_found`")
    message: str = Field(description="A human sentence; never a credential or a stack trace")
    details: dict[str, Any] = Field(default_factory=dict, description="Code-specific, JSON-safe")


class ErrorResponse(ResponseModel):
    """The one error shape of the API, for every status."""

    error: ErrorInfo


# --- paging ------------------------------------------------------------------------------------

MAX_CURSOR_LENGTH = 4096

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_PAGE_LIMIT, description=f"Items per page (1 to {MAX_PAGE_LIMIT})"),
]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        description="The `next_cursor` of the previous page (opaque); omit for the first page",
    ),
]
DEFAULT_LIMIT = DEFAULT_PAGE_LIMIT

NEXT_CURSOR_DESCRIPTION = "Pass it back as `cursor` for the next page; null on the last page"
# An id in a path, query or body has the shape of the ids the service issues
# (``shared.domain.ids.ID_PATTERN``): anything else (a ``#``, a space, 10 KB) is 422 before any store
# is asked, so no id can be mistaken for part of a key.
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
