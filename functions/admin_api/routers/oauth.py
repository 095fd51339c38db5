"""OAuth connect: ``POST /v1/connections/oauth/start`` (an admin) and ``GET /oauth/callback``
(public: the vendor sends the admin's browser there, carrying no token of ours).

The callback answers a browser: ``302`` to the return URL the start validated (with
``connection_id`` or ``error``), or, when no pending authorization vouches for a return URL (an
unknown, reused or malformed state), a small HTML page naming the error code. Neither the code,
the state nor any token is logged, echoed or put on the page.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Annotated, cast

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from functions.admin_api.deps import Admin, Services
from functions.admin_api.errors import BODY, responses
from functions.admin_api.models.common import ErrorResponse
from functions.admin_api.models.connections import OAuthStartRequest, OAuthStartResponse
from functions.admin_api.routers import new_router, public_base_url
from shared.services import oauth_connect

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

router = new_router()

TAG = "Connections"
CALLBACK_PATH = "/oauth/callback"
START_PATH = "/v1/connections/oauth/start"
_PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_MESSAGES = {
    oauth_connect.CallbackError.INVALID_STATE: "This sign-in link is not valid, or was already used.",
    oauth_connect.CallbackError.EXPIRED_STATE: "This sign-in link has expired.",
}
CallbackParam = Annotated[str | None, Query(max_length=4096, description="Set by the vendor")]


def _redirect_uri(configured: str) -> str:
    """The callback URL: the deployment's (a custom domain), else this API's own, from what API
    Gateway itself put in the request (its domain and stage, never a client's Host header)."""
    if configured:
        return configured
    return public_base_url(cast("APIGatewayProxyEvent", router.current_event)) + CALLBACK_PATH


@router.post(
    START_PATH,
    tags=[TAG],
    summary="Start connecting an HR system by the admin's consent (OAuth)",
    description="Returns the vendor's authorize URL: send the admin's browser there. The state and "
    "the PKCE verifier stay server-side (single use, a few minutes). After consent the vendor "
    f"sends the browser to `GET {CALLBACK_PATH}`, which creates the connection as a draft "
    "(no schedule, no import yet) and sends the browser on to `return_url` with "
    "`?connection_id=<id>`, or with `?error=` `access_denied`, `expired_state`, `exchange_failed`, "
    "`authorization_failed`, `connect_failed`. 422 for a provider without OAuth, a return URL "
    "outside the allowed origins, or a setting the provider does not take.",
    responses=responses(200, "The vendor's authorize URL", 403, *BODY),
)
def start(body: Annotated[OAuthStartRequest, Body()], caller: Admin, ports: Services) -> OAuthStartResponse:
    started = oauth_connect.start(
        ports,
        caller.tenant_id,
        provider=body.provider,
        label=body.label,
        return_url=body.return_url,
        redirect_uri=_redirect_uri(ports.settings.oauth_callback_url),
        subject=caller.subject,
        email=caller.email,
        settings=body.settings,
        options=body.options("label", "return_url", "settings"),
    )
    return OAuthStartResponse(authorize_url=started.authorize_url, state_expires_at=started.state_expires_at)


@router.get(
    CALLBACK_PATH,
    tags=[TAG],
    summary="The vendor's redirect after the admin's consent (public)",
    description="No token: the vendor's redirect carries none. Consumes the state (once), exchanges "
    "the code, stores the tokens as the new connection's secret, creates the draft and answers "
    "`302` to the start's `return_url` with `connection_id` or `error`. An unknown, reused or "
    "missing state is a `400` HTML page (no redirect: nothing vouches for a return URL). "
    "`session_state` (Microsoft's sign-in session) is accepted and ignored; nothing but the "
    "code's exchange decides the vendor account (Microsoft 365: the signed id_token's tenant).",
    security=[],
    responses={
        302: {"description": "Back to the admin UI's return URL (`Location`)"},
        400: {
            "description": "An HTML page: the state is unknown, reused or missing",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        422: {
            "description": "A query parameter longer than any vendor sends",
            "content": {"application/json": {"model": ErrorResponse}},
        },
    },
)
def callback(  # noqa: PLR0917 - FastAPI reads each query parameter from the signature
    ports: Services,
    code: CallbackParam = None,
    state: CallbackParam = None,
    error: CallbackParam = None,
    error_description: CallbackParam = None,  # noqa: ARG001 - the vendor's words are never shown
    session_state: CallbackParam = None,  # noqa: ARG001 - Microsoft's session id, not ours to use
) -> Response[str]:
    finished = oauth_connect.finish(ports, state=state, code=code, error=error)
    if finished.redirect is not None:
        return Response(
            status_code=302,
            body="",
            headers={
                "Location": finished.redirect,
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )
    failure = finished.error or oauth_connect.CallbackError.INVALID_STATE
    return Response(status_code=400, body=error_page(failure), headers=_PAGE_HEADERS)


def error_page(failure: oauth_connect.CallbackError) -> str:
    message = _MESSAGES.get(failure, "The connection could not be completed.")
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Connection not completed</title>"
        "<body style='font-family:sans-serif;max-width:36em;margin:4em auto'>"
        f"<h1>Connection not completed</h1><p>{html.escape(message)}</p>"
        "<p>Go back to the admin console and start connecting again.</p>"
        f"<p><small>Error: <code>{html.escape(failure.value)}</code></small></p></body></html>"
    )
