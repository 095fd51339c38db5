"""The provider catalogue: what a UI renders a connect form from (``shared.providers.catalogue``)."""

from __future__ import annotations

from pydantic import Field

from functions.admin_api.models.common import ResponseModel
from shared.providers.base import Tier
from shared.providers.catalogue import AuthMethod, CredentialField, ProviderInfo, ProviderKind


class CredentialFieldOut(ResponseModel):
    name: str = Field(description="The key under `credentials.secrets` (secret) or `credentials.settings`")
    label: str
    help: str = Field(description="Where in the HR system to find or create the value")
    secret: bool = Field(
        description="Send it under `credentials.secrets` (never shown again), else `settings`"
    )
    required: bool

    @classmethod
    def of(cls, field: CredentialField) -> CredentialFieldOut:
        return cls(
            name=field.name, label=field.label, help=field.help, secret=field.secret, required=field.required
        )


class ProviderOut(ResponseModel):
    id: str = Field(description="The `provider` to connect with")
    name: str
    kind: ProviderKind
    methods: list[AuthMethod] = Field(
        description="`api_key`: send `api_key_fields` to `POST /v1/connections`; "
        "`oauth`: start at `POST /v1/connections/oauth/start` with `oauth_fields`"
    )
    api_key_fields: list[CredentialFieldOut]
    oauth_fields: list[CredentialFieldOut] = Field(description="Settings asked before the OAuth redirect")
    capabilities: list[str] = Field(description="The member fields every connection of it supplies (R15)")
    tier: Tier
    default_schedule: str = Field(description="The schedule of a connection that names none (R28)")
    supports_webhooks: bool = Field(description="Whether it pushes changes between scheduled syncs")

    @classmethod
    def of(cls, info: ProviderInfo) -> ProviderOut:
        return cls(
            id=info.id,
            name=info.name,
            kind=info.kind,
            methods=list(info.methods),
            api_key_fields=[CredentialFieldOut.of(f) for f in info.api_key_fields],
            oauth_fields=[CredentialFieldOut.of(f) for f in info.oauth_fields],
            capabilities=sorted(info.capabilities),
            tier=info.tier,
            default_schedule=info.default_schedule,
            supports_webhooks=info.supports_webhooks,
        )


class ProviderList(ResponseModel):
    items: list[ProviderOut]
