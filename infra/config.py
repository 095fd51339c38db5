"""Deploy-time parameters, read from CDK context (`cdk synth -c stage=prod -c ses_sender=...`)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator

from infra.constants import DEFAULT_FUNCTIONS_ROOT
from shared.domain.invite_links import check_template
from shared.settings import MAX_CONNECTIONS_CEILING

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class ConfigError(ValueError):
    """A context value is missing or malformed; the message names the key."""


class DeployConfig(BaseModel):
    """What differs between deployments. Every field has a context key of the same name."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = "dev"
    ses_sender: str = "no-reply@example.com"
    admin_email: str = "ops@example.com"
    # Empty issuer: a Cognito user pool of the stack issues the admins' tokens.
    oidc_issuer: HttpUrl | None = None
    oidc_audience: str | None = None
    cors_origins: tuple[str, ...] = ()
    # OAuth connect: the admin UI origins an OAuth return URL may name (no open redirect; empty:
    # OAuth connect refuses every return URL), and the callback URL registered with the vendors'
    # OAuth apps when the API is served on a custom domain (empty: the API's own URL).
    oauth_return_origins: tuple[str, ...] = ()
    oauth_callback_url: HttpUrl | None = None
    # Change notifications (Graph subscriptions, Google channels): the API's public base URL the
    # vendors notify (``<base>/webhooks/<connection_id>``) when it is a custom domain (empty: the
    # API's own URL, as the admin API's activating request reached it).
    notification_base_url: HttpUrl | None = None
    functions_root: str = DEFAULT_FUNCTIONS_ROOT
    removal: Literal["retain", "destroy"] = "retain"
    # R22: active connections per tenant (the admin API's MAX_CONNECTIONS).
    max_connections: int = Field(default=1, ge=1, le=MAX_CONNECTIONS_CEILING)
    # The invite email's link, e.g. https://app.example.com/invites/{member_id}?user={external_id}
    # (the invite-sending functions' INVITE_URL_TEMPLATE); unset: invites carry no link and tell
    # the member to sign in to the app.
    invite_url_template: str | None = None

    @field_validator("stage")
    @classmethod
    def _stage(cls, value: str) -> str:
        if not _STAGE.fullmatch(value):
            raise ValueError("lowercase letters, digits and '-', starting with a letter, at most 16")
        return value

    @field_validator("ses_sender", "admin_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.fullmatch(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("invite_url_template")
    @classmethod
    def _invite_url_template(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)  # its error is a ValueError

    @field_validator("cors_origins", "oauth_return_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):  # `-c cors_origins=https://a.example,https://b.example`
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_https(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not re.fullmatch(r"https://[a-z0-9.-]+(:\d+)?|http://(localhost|127\.0\.0\.1)(:\d+)?", origin):
                raise ValueError(f"{origin!r} is not an https origin (scheme://host[:port], no path)")
        return value

    @field_validator("oauth_return_origins")
    @classmethod
    def _return_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not re.fullmatch(
                r"https://[a-z0-9.-]+(:\d+)?|http://(localhost|127\.0\.0\.1)(:\d+|:\*)?", origin
            ):
                raise ValueError(
                    f"{origin!r} is not an https origin (scheme://host[:port], no path; "
                    "http only for localhost or 127.0.0.1, any port as ':*')"
                )
        return value

    @field_validator("oauth_callback_url")
    @classmethod
    def _callback_is_https(cls, value: HttpUrl | None) -> HttpUrl | None:
        if value is not None and (
            value.scheme != "https" or not (value.path or "").endswith("/oauth/callback")
        ):
            raise ValueError("an https URL ending with /oauth/callback (the API's callback route)")
        return value

    @field_validator("notification_base_url")
    @classmethod
    def _notification_base_is_https(cls, value: HttpUrl | None) -> HttpUrl | None:
        if value is not None and (value.scheme != "https" or value.query or value.fragment):
            raise ValueError("an https URL without query or fragment (the API's public base URL)")
        return value

    @property
    def uses_cognito(self) -> bool:
        return self.oidc_issuer is None

    @classmethod
    def from_context(cls, get: Any) -> DeployConfig:
        """Build from a context getter (`node.try_get_context`); bad values raise ConfigError."""
        raw = {name: get(name) for name in cls.model_fields}
        values = {name: value for name, value in raw.items() if value not in (None, "")}
        try:
            config = cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'context'}: {e['msg'].removeprefix('Value error, ')}"
                for e in error.errors()
            )
            raise ConfigError(f"bad deploy context ({problems})") from None
        if config.oidc_issuer is not None and not config.oidc_audience:
            raise ConfigError("bad deploy context (oidc_audience: required with oidc_issuer)")
        return config
