"""The admin API as a Powertools resolver: routers by resource, validation on, one error shape,
the OpenAPI document at ``/v1/openapi.json`` and Swagger UI at ``/v1/docs``.

``create_app()`` builds it (reading only Powertools' own switches, ``POWERTOOLS_DEV`` ...; the
handler builds it at import, as the Powertools cookbook does). The document is the same whether
served or generated for ``docs/openapi.json`` (``python -m functions.admin_api.openapi``).

Powertools' OpenAPI models (a large pydantic import) are needed only to describe the API, not to
validate requests: they are imported when a document route is first asked for, which keeps them
out of every cold start. Swagger UI is Powertools' own page with the JavaScript and CSS that
Powertools ships inlined (what ``enable_swagger`` serves without ``swagger_base_url``): no CDN.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from functions.admin_api import errors
from functions.admin_api.routers import (
    audit,
    connections,
    invites,
    members,
    oauth,
    portal,
    providers,
    runs,
    tasks,
)
from shared import json_bounds

TITLE = "hris-sync admin API"
VERSION = "1.0.0"
OPENAPI_PATH = "/v1/openapi.json"
DOCS_PATH = "/v1/docs"
SECURITY_SCHEME = "bearerAuth"
DESCRIPTION = """\
Connect HR systems, pick who belongs, and manage the members they produce.

**Authentication.** Every route needs a JWT verified by API Gateway's authorizer (the stack's
Cognito user pool, or a token authorizer for another OIDC issuer). The tenant comes from the
claim `tenant_id` (Cognito: `custom:tenant_id`), never from the path or body; the caller's id is
`sub`. Reading needs only that; every `POST`, `PATCH` and `DELETE` also needs the admin role:
group `admins` (`cognito:groups`), scope `hris-sync/admin`, or `role: admin`.

**Errors** have one shape, `{"error": {"code", "message", "details"}}`, for every status. Another
tenant's resources are `404`, exactly like missing ones. Ids are letters, digits and `_.:-` (at most
200 characters): any other id is `422`. Bodies are JSON only (`415` otherwise), at most 64 levels
deep and without integers over 64 digits (`422`). A method a path does not have is `405`, with the
path's methods in `Allow`; an unknown path is `404`. API Gateway itself answers `429` over the
request rate and `413` over its 10 MB payload limit, and its firewall `403` for a body over 64 KB
or a known bad input, on any route.

**Lists** page with an opaque `cursor` (the previous page's `next_cursor`) and a `limit` of 1 to 200.
"""
TAGS = {
    "Providers": "The HR systems a connection can be made with, and how each connects",
    "Connections": "HR system connections, their scope, syncs and runs",
    "Runs": "Full syncs and the plans the safety guard holds (R23)",
    "Members": "Members and the admin's actions on them",
    "Invites": "Invites of queued members (R08)",
    "Tasks": "Onboarding and offboarding tasks (R26, R27)",
    "Audit": "Who changed what, when",
    "Portal": "One-time links to the admin portal, the screens an admin clicks through",
}
PUBLIC_PATHS = (oauth.CALLBACK_PATH,)
ROUTERS = (
    oauth.router,
    providers.router,
    connections.router,
    runs.router,
    members.router,
    invites.router,
    tasks.router,
    audit.router,
    portal.router,
)


def _configure_openapi(app: APIGatewayRestResolver) -> None:
    from aws_lambda_powertools.event_handler.openapi.models import (  # noqa: PLC0415 - see above
        HTTPBearer,
        Server,
        Tag,
    )

    app.configure_openapi(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        tags=[Tag(name=name, description=text) for name, text in TAGS.items()],
        servers=[Server(url="/")],
        security_schemes={
            SECURITY_SCHEME: HTTPBearer(
                bearerFormat="JWT",
                description="A token of the deployment's identity provider, verified by API Gateway",
            )
        },
        security=[{SECURITY_SCHEME: []}],
    )


def openapi_json(app: APIGatewayRestResolver) -> str:
    """The OpenAPI document, as committed in ``docs/openapi.json`` (ends with a newline).

    The public routes outside the authorizer (OAuth connect's callback) say so: an empty
    ``security`` (Powertools drops an empty list given to the route)."""
    _configure_openapi(app)
    document = json.loads(app.get_openapi_json_schema())
    for path in PUBLIC_PATHS:
        for operation in document["paths"].get(path, {}).values():
            operation["security"] = []
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def swagger_html(document: str, base_path: str) -> str:
    """Powertools' Swagger UI page for ``document``, its assets inlined; "Try it out" calls go to
    ``base_path`` (the stage, as API Gateway's default URL includes it)."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui  # noqa: PLC0415

    spec: dict[str, Any] = json.loads(document)
    spec["servers"] = [{"url": base_path or "/"}]
    assets = Path(swagger_ui.__file__).parent
    return swagger_ui.generate_swagger_html(
        json.dumps(spec).replace("</", "<\\/"),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
    )


def create_app() -> APIGatewayRestResolver:
    # Bodies are read within bounds: too deep or too long a number is 422 json_invalid, never a crash.
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=json_bounds.loads)
    for router in ROUTERS:
        app.include_router(router)

    document: list[str] = []  # generated on the first request for it (or a 404 / 405), then kept

    def current_document() -> str:
        if not document:
            document.append(openapi_json(app))
        return document[0]

    errors.register(app, errors.Routes(current_document, {OPENAPI_PATH: "GET", DOCS_PATH: "GET"}))

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi_document() -> Response[str]:
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=current_document())

    @app.get(DOCS_PATH, include_in_schema=False)
    def swagger_ui() -> Response[str]:
        context = app.current_event.request_context
        stage = context.stage
        base = f"/{stage}" if stage and (context.path or "").startswith(f"/{stage}/") else ""
        return Response(
            status_code=200, content_type="text/html", body=swagger_html(current_document(), base)
        )

    return app
