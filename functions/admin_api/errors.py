"""Every error of the API in one shape: ``{"error": {"code", "message", "details"}}``.

Our typed errors answer with their own ``http_status`` and ``code``; request validation is 422
with the failing locations (never the input values: a credential could be one), and so is a query
parameter the route does not declare (``refuse_unknown_query``) and a body
that is not JSON or is beyond ``shared.json_bounds`` (too deep, too long a number); an unknown
path is 404, a method the path does not have 405 with ``Allow``; a body that is not UTF-8 text is
400, one sent as another content type than JSON (a form, multipart with or without a boundary) 415.
A bug (any other exception) is not caught here: Powertools logs it and the invocation fails, so
API Gateway answers its own 5xx in the same shape (``infra/constructs/api.py``, gateway
responses) and the error is counted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import get_flat_dependant
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from functions.admin_api.models.common import ErrorInfo, ErrorResponse
from shared import observability
from shared.errors import HrisSyncError

API_ERRORS = "AdminApiErrors"  # metric: count, dimension ``code``
_MAX_VALIDATION_ERRORS = 20

# What each status means in this API, for the OpenAPI document.
_MEANING: dict[int, str] = {
    400: "The request cannot be read",
    401: "No verified identity with a tenant (authorizer context)",
    403: "The caller lacks the admin role this action needs",
    404: "No such resource for this tenant",
    409: "The resource's state or version forbids the action",
    413: "The body is over API Gateway's 10 MB limit",
    415: "The body is not JSON",
    422: "The request does not validate (ids, parameters, body; a body that is not JSON)",
    429: "Over the API's request rate (API Gateway's throttling); retry later",
    500: "An internal fault (logged; shown only by its code)",
    502: "The HR system failed or refused the connection's credentials, or SES refused an email",
    503: "Throttled by AWS, or the sync could not be started (the run is closed); retry later",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body = ErrorResponse(error=ErrorInfo(code=code, message=message, details=details or {}))
    observability.count_with(API_ERRORS, "code", code)
    return body.model_dump(mode="json")


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=error_body(code, message, details),
        headers=headers,
    )


def _validation_details(errors: Iterable[Any]) -> dict[str, Any]:
    listed = [
        {
            "location": [str(part) for part in error.get("loc", ())],
            "type": str(error.get("type", "invalid")),
            # pydantic's messages describe the expectation, never the input value
            "message": str(error.get("msg", "invalid value")),
        }
        for error in errors
    ]
    return {"errors": listed[:_MAX_VALIDATION_ERRORS], "count": len(listed)}


def on_service_error(exc: HrisSyncError) -> Response[dict[str, Any]]:
    if exc.http_status >= 500 and exc.http_status not in (502, 503):
        # An internal fault (a corrupt item ...): logged in full, shown only by its code.
        observability.logger.error("internal error", extra={"code": exc.code, "error": exc.message})
        return error_response(exc.http_status, exc.code, "internal error; it has been logged")
    return error_response(exc.http_status, exc.code, exc.message, dict(exc.details))


def on_validation_error(exc: RequestValidationError) -> Response[dict[str, Any]]:
    return error_response(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "validation_failed",
        "the request does not validate",
        _validation_details(exc.errors()),
    )


def on_unsupported_content_type(_exc: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    return error_response(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send application/json"
    )


def on_undecodable_body(_exc: UnicodeDecodeError) -> Response[dict[str, Any]]:
    # Raised only where Powertools decodes the request body (base64 of bytes that are not UTF-8).
    return error_response(HTTPStatus.BAD_REQUEST, "invalid_body", "the body is not UTF-8 JSON text")


class Routes:
    """Which methods each path of the API has, from the OpenAPI document (the routes it describes
    and the ones it leaves out), so that a method a path does not have is 405 with ``Allow``."""

    def __init__(self, document: Callable[[], str], undocumented: Mapping[str, str]) -> None:
        self._document = document
        self._undocumented = undocumented
        self._table: list[tuple[re.Pattern[str], tuple[str, ...]]] = []

    def _build(self) -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
        paths: dict[str, set[str]] = {path: {method} for path, method in self._undocumented.items()}
        for path, operations in json.loads(self._document())["paths"].items():
            paths.setdefault(path, set()).update(m.upper() for m in operations if m in _HTTP_METHODS)
        return [(_path_pattern(path), tuple(sorted(methods))) for path, methods in paths.items()]

    def allowed(self, path: str) -> tuple[str, ...]:
        """The methods ``path`` has (none: no such path)."""
        if not self._table:
            self._table = self._build()
        return next((methods for pattern, methods in self._table if pattern.fullmatch(path)), ())


def _path_pattern(path: str) -> re.Pattern[str]:
    """``/v1/members/{member_id}`` -> a pattern matching ``/v1/members/<one segment>``."""
    return re.compile(
        "/".join("[^/]+" if s.startswith("{") and s.endswith("}") else re.escape(s) for s in path.split("/"))
    )


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def not_found_handler(
    app: APIGatewayRestResolver, routes: Routes
) -> Callable[[NotFoundError], Response[Any]]:
    def on_not_found(_exc: NotFoundError) -> Response[dict[str, Any]]:
        event = app.current_event
        allowed = routes.allowed(event.path)
        if allowed and event.http_method.upper() not in allowed:
            return error_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "method_not_allowed",
                f"{event.http_method[:16]} is not allowed here; allowed: {', '.join(allowed)}",
                {"allowed": list(allowed)},
                headers={"Allow": ", ".join(allowed)},
            )
        return error_response(HTTPStatus.NOT_FOUND, "route_not_found", "no such route")

    return on_not_found


_MAX_NAMED_PARAMETERS = 20
_MAX_PARAMETER_NAME = 100


def unknown_query(app: APIGatewayRestResolver) -> Response[dict[str, Any]] | None:
    """422 ``unknown_query_parameter`` for a query parameter the matched route does not declare
    (as an unknown body field already is): a misspelt filter (``?stauts=active``) must not list
    everything. The declared parameters come from the route's own signature (Powertools'
    dependant), so every route, documented or not, is covered without a list to keep."""
    route = app.context.get("_route")
    event = app.current_event
    sent = set(event.multi_value_query_string_parameters or {}) | set(event.query_string_parameters or {})
    if route is None or not sent:
        return None
    declared = {field.alias for field in get_flat_dependant(route.dependant).query_params}
    unknown = sorted(sent - declared)
    if not unknown:
        return None
    named = [name[:_MAX_PARAMETER_NAME] for name in unknown[:_MAX_NAMED_PARAMETERS]]
    return error_response(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "unknown_query_parameter",
        f"unknown query parameter(s): {', '.join(named)}",
        {"parameters": named, "allowed": sorted(declared)},
    )


def refuse_unknown_query(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Global middleware: ``unknown_query`` for requests that validate."""
    return unknown_query(app) or next_middleware(app)


def register(app: APIGatewayRestResolver, routes: Routes) -> None:
    # Powertools validates a request before any middleware of ours runs: a request that does not
    # validate is checked for unknown query parameters in the validation error's handler, so the
    # answer names them either way.
    app.use(middlewares=[refuse_unknown_query])
    app.exception_handler(HrisSyncError)(on_service_error)
    app.exception_handler(RequestValidationError)(lambda exc: unknown_query(app) or on_validation_error(exc))
    app.exception_handler(RequestUnsupportedContentType)(on_unsupported_content_type)
    app.exception_handler(UnicodeDecodeError)(on_undecodable_body)
    app.not_found(not_found_handler(app, routes))


# Bodies Powertools would read as something else than JSON (it parses forms and multipart, and a
# multipart type without a boundary fails it with a bare ValueError): this API takes only JSON.
_NOT_JSON_BODIES = ("application/x-www-form-urlencoded", "multipart/")


def refused_media_type(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The 415 answer (an API Gateway proxy response) to a form or multipart body, else None.

    Checked before the resolver: Powertools' validation reads the body before any middleware of
    ours runs, and reads these media types in its own ways."""
    if not event.get("body"):
        return None
    headers = event.get("headers") or {}
    content_type = next(
        (str(v) for k, v in headers.items() if str(k).lower() == "content-type" and v is not None), ""
    )
    if not content_type.strip().lower().startswith(_NOT_JSON_BODIES):
        return None
    return {
        "statusCode": HTTPStatus.UNSUPPORTED_MEDIA_TYPE.value,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "multiValueHeaders": {},
        "body": json.dumps(error_body("unsupported_media_type", "send application/json")),
        "isBase64Encoded": False,
    }


# What a route with a request body may answer besides: a body that cannot be read, is too large
# or is not JSON.
BODY = (400, 413, 415)


def responses(success: int, description: str, *errors: int) -> dict[int, OpenAPIResponse]:
    """A route's documented responses: its success (schema from the return annotation), the
    errors every route can answer (401 no identity, 422 validation, 429 API Gateway's throttling,
    500 / 503 from the stores) and the ones named."""
    documented: dict[int, OpenAPIResponse] = {success: {"description": description}}
    for status in sorted({401, 422, 429, 500, 503, *errors}):
        documented[status] = {
            "description": _MEANING[status],
            "content": {content_types.APPLICATION_JSON: {"model": ErrorResponse}},
        }
    return documented
