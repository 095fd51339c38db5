"""``/v1/providers``: the catalogue of HR systems a connection can be made with (any caller)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from functions.admin_api.deps import Caller, Services
from functions.admin_api.errors import responses
from functions.admin_api.models.providers import ProviderList, ProviderOut
from functions.admin_api.routers import new_router
from shared.services import providers

router = new_router()

TAG = "Providers"
ProviderId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$", description="The provider's id")
]


@router.get(
    "/v1/providers",
    tags=[TAG],
    summary="The HR systems a connection can be made with",
    description="Per provider: how it connects (API-key fields, each a secret or a setting, with a "
    "label and help; or OAuth), the fields it supplies, its default schedule and whether it pushes "
    "webhooks. `POST /v1/connections` checks `credentials` against it.",
    responses=responses(200, "Every provider, by id"),
)
def list_providers(caller: Caller, ports: Services) -> ProviderList:  # noqa: ARG001 - any caller
    return ProviderList(items=[ProviderOut.of(info) for info in providers.list_providers(ports)])


@router.get(
    "/v1/providers/<provider_id>",
    tags=[TAG],
    summary="One provider's catalogue entry",
    responses=responses(200, "The provider", 404),
)
def get_provider(provider_id: ProviderId, caller: Caller, ports: Services) -> ProviderOut:  # noqa: ARG001
    return ProviderOut.of(providers.get_provider_info(ports, provider_id))
