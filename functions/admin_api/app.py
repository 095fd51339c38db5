"""The admin API as a Powertools resolver: routers by resource, validation on, one error shape,
the OpenAPI document at ``/v1/openapi.json`` and Swagger UI at ``/v1/docs``.

``create_app()`` builds it (reading Powertools' debug switches from the environment, so the
handler calls it on its first invocation, never at import). The document is the same whether
served or generated for ``docs/openapi.json`` (``python -m functions.admin_api.openapi``).
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server, Tag

from functions.admin_api import errors
from functions.admin_api.routers import audit, connections, invites, members, runs, tasks

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
tenant's resources are `404`, exactly like missing ones.

**Lists** page with an opaque `cursor` (the previous page's `next_cursor`) and a `limit` of 1 to 200.
"""
TAGS = [
    Tag(name="Connections", description="HR system connections, their scope, syncs and runs"),
    Tag(name="Runs", description="Full syncs and the plans the safety guard holds (R23)"),
    Tag(name="Members", description="Members and the admin's actions on them"),
    Tag(name="Invites", description="Invites of queued members (R08)"),
    Tag(name="Tasks", description="Onboarding and offboarding tasks (R26, R27)"),
    Tag(name="Audit", description="Who changed what, when"),
]
ROUTERS = (connections.router, runs.router, members.router, invites.router, tasks.router, audit.router)


def _configure_openapi(app: APIGatewayRestResolver) -> None:
    app.configure_openapi(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        tags=list(TAGS),
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
    """The OpenAPI document, as committed in ``docs/openapi.json`` (ends with a newline)."""
    return app.get_openapi_json_schema() + "\n"


def create_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    for router in ROUTERS:
        app.include_router(router)
    errors.register(app)
    _configure_openapi(app)

    document: list[str] = []  # generated on the first request for it, then kept

    @app.get(OPENAPI_PATH, include_in_schema=False)
    def openapi_document() -> Response[str]:
        if not document:
            document.append(openapi_json(app))
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document[0])

    # Swagger UI with its JavaScript and CSS inlined from the Powertools package: no CDN.
    app.enable_swagger(path=DOCS_PATH, title=TITLE, version=VERSION)
    return app
