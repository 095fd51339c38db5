"""Every error of the API in one shape: ``{"error": {"code", "message", "details"}}``.

Our typed errors answer with their own ``http_status`` and ``code``; request validation is 422
with the failing locations (never the input values: a credential could be one); an unknown route
is 404; a body that is not UTF-8 text is 400, one sent as another content type than JSON 415.
A bug (any other exception) is not caught here: Powertools logs it and the invocation fails, so
API Gateway answers its own 5xx in the same shape (``infra/constructs/api.py``, gateway
responses) and the error is counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
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
    415: "The body is not JSON",
    422: "The request does not validate",
    500: "An internal fault (logged; shown only by its code)",
    502: "The HR system failed or refused the connection's credentials, or SES refused an email",
    503: "Throttled by AWS, or the sync could not be started (the run is closed); retry later",
}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response[dict[str, Any]]:
    body = ErrorResponse(error=ErrorInfo(code=code, message=message, details=details or {}))
    observability.count_with(API_ERRORS, "code", code)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(mode="json"),
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
        observability.logger().error("internal error", extra={"code": exc.code, "error": exc.message})
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


def on_not_found(_exc: NotFoundError) -> Response[dict[str, Any]]:
    return error_response(HTTPStatus.NOT_FOUND, "route_not_found", "no such route")


def register(app: APIGatewayRestResolver) -> None:
    app.exception_handler(HrisSyncError)(on_service_error)
    app.exception_handler(RequestValidationError)(on_validation_error)
    app.exception_handler(RequestUnsupportedContentType)(on_unsupported_content_type)
    app.exception_handler(UnicodeDecodeError)(on_undecodable_body)
    app.not_found(on_not_found)


# What a route with a request body may answer besides: a body that cannot be read, or is not JSON.
BODY = (400, 415)


def responses(success: int, description: str, *errors: int) -> dict[int, OpenAPIResponse]:
    """A route's documented responses: its success (schema from the return annotation), the
    errors every route can answer (401, 422, and 500 / 503 from the stores) and the ones named."""
    documented: dict[int, OpenAPIResponse] = {success: {"description": description}}
    for status in sorted({401, 422, 500, 503, *errors}):
        documented[status] = {
            "description": _MEANING[status],
            "content": {content_types.APPLICATION_JSON: {"model": ErrorResponse}},
        }
    return documented
