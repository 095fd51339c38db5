"""Typed settings of every function, read from the environment once per cold start.

The variable names are the ones the CDK stack sets (``infra/environment.py``: field names in upper
case), and each function's model requires exactly what its declared access gives it
(``infra/catalog.py``), so a missing variable fails the first invocation with a clear
``ValidationError`` instead of a ``KeyError`` deep in an adapter.

Nothing here reads the environment at import: call ``load(SettingsClass)`` (cached per class) from
a composition root, on the first invocation.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.domain.invite_links import check_template

if TYPE_CHECKING:  # pragma: no cover - the factory imports boto3: only when resources() is called
    from shared.adapters.factory import AwsResources
    from shared.services.context import ServiceSettings

# Webhook bodies larger than this are refused with 413 (API Gateway's own limit is 10 MB).
DEFAULT_MAX_WEBHOOK_BYTES = 1_048_576
# R22: the most active connections a deployment may allow a tenant (``max_connections``).
MAX_CONNECTIONS_CEILING = 100


class FunctionSettings(BaseSettings):
    """What every function gets (``stage`` and Powertools' own two variables)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    stage: str = Field(min_length=1)
    powertools_service_name: str = Field(min_length=1)
    powertools_metrics_namespace: str = Field(min_length=1)

    # Optional everywhere; a subclass re-declares as required what its function needs.
    table_name: str | None = None
    bucket_name: str | None = None
    secrets_prefix: str | None = None
    webhook_queue_url: str | None = None
    idempotency_table_name: str | None = None
    state_machine_arn: str | None = None
    schedule_group: str | None = None
    schedule_target_arn: str | None = None
    scheduler_role_arn: str | None = None
    schedule_dead_letter_arn: str | None = None
    event_poller_arn: str | None = None
    event_bus_name: str | None = None
    ses_sender: str | None = None
    ses_configuration_set: str | None = None
    # The invite email's link (functions that send invites); unset: no link.
    invite_url_template: str | None = None
    # The API's public base URL for vendors' change notifications when deployed on a custom
    # domain (functions that make subscriptions); unset: derived from the activating request.
    notification_base_url: str | None = None

    @field_validator("invite_url_template")
    @classmethod
    def _invite_url_template(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)

    def services(self) -> ServiceSettings:
        """The use cases' settings this function's environment decides."""
        from shared.services.context import ServiceSettings  # noqa: PLC0415

        return ServiceSettings(
            invite_url_template=self.invite_url_template, notification_base_url=self.notification_base_url
        )

    def resources(self) -> AwsResources:
        """The resource names the adapters factory needs (unset ones keep harmless defaults: the
        function's IAM policy does not allow it to use them anyway)."""
        from shared.adapters.factory import AwsResources  # noqa: PLC0415

        defaults = AwsResources(table_name="")
        return AwsResources(
            table_name=self.table_name or "",
            bucket=self.bucket_name or defaults.bucket,
            secret_prefix=self.secrets_prefix or defaults.secret_prefix,
            schedule_group=self.schedule_group or defaults.schedule_group,
            schedule_target_arn=self.schedule_target_arn or defaults.schedule_target_arn,
            schedule_role_arn=self.scheduler_role_arn or defaults.schedule_role_arn,
            schedule_dead_letter_arn=self.schedule_dead_letter_arn or defaults.schedule_dead_letter_arn,
            event_poller_arn=self.event_poller_arn or defaults.event_poller_arn,
            state_machine_arn=self.state_machine_arn or defaults.state_machine_arn,
            event_bus=self.event_bus_name or defaults.event_bus,
            mail_sender=self.ses_sender or defaults.mail_sender,
            mail_configuration_set=self.ses_configuration_set or defaults.mail_configuration_set,
            webhook_queue_url=self.webhook_queue_url or defaults.webhook_queue_url,
        )


class AdminApiSettings(FunctionSettings):
    table_name: str = Field(min_length=1)
    bucket_name: str = Field(min_length=1)
    secrets_prefix: str = Field(min_length=1)
    state_machine_arn: str = Field(min_length=1)
    schedule_group: str = Field(min_length=1)
    schedule_target_arn: str | None = None  # absent when sync_trigger is not deployed
    scheduler_role_arn: str = Field(min_length=1)
    # The queue the schedules' undeliverable invocations go to (each schedule's DeadLetterConfig).
    schedule_dead_letter_arn: str = Field(min_length=1)
    # The target of the poll schedules of EventQueue connections (absent when it is not deployed).
    event_poller_arn: str | None = None
    event_bus_name: str = Field(min_length=1)
    ses_sender: str = Field(min_length=1)
    ses_configuration_set: str | None = None
    # R22: active connections per tenant.
    max_connections: int = Field(default=1, ge=1, le=MAX_CONNECTIONS_CEILING)

    # OAuth connect: the admin UI origins a return URL may name (comma-separated in the
    # environment; ``http://127.0.0.1:*`` allows any port), and the callback URL registered with
    # the vendors' OAuth apps when the API is behind a custom domain (else derived per request).
    oauth_return_origins: Annotated[tuple[str, ...], NoDecode] = ()
    oauth_callback_url: str | None = None

    @field_validator("oauth_return_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def services(self) -> ServiceSettings:
        return dataclasses.replace(
            super().services(),
            max_connections=self.max_connections,
            oauth_return_origins=self.oauth_return_origins,
            oauth_callback_url=self.oauth_callback_url or "",
        )


class WebhookIngestSettings(FunctionSettings):
    table_name: str = Field(min_length=1)
    secrets_prefix: str = Field(min_length=1)
    webhook_queue_url: str = Field(min_length=1)
    # How long a connection, its tenant and its webhook secret are cached in a warm container.
    connection_cache_seconds: float = Field(default=60.0, ge=0, le=900)
    max_webhook_bytes: int = Field(default=DEFAULT_MAX_WEBHOOK_BYTES, ge=1)


class WebhookWorkerSettings(FunctionSettings):
    table_name: str = Field(min_length=1)
    secrets_prefix: str = Field(min_length=1)
    idempotency_table_name: str = Field(min_length=1)
    event_bus_name: str = Field(min_length=1)
    # The full sync a lifecycle notification calls for (missed changes, a removed subscription).
    state_machine_arn: str = Field(min_length=1)
    ses_sender: str = Field(min_length=1)
    ses_configuration_set: str | None = None
    # How long a processed delivery is remembered (R24: replays within it change nothing; after it
    # the services' per-action keys still make a replay harmless).
    idempotency_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)


class SubscriptionRenewerSettings(FunctionSettings):
    table_name: str = Field(min_length=1)
    secrets_prefix: str = Field(min_length=1)


class EventPollerSettings(FunctionSettings):
    """The event poller (``functions/event_poller``): one connection's vendor event queue drained
    into the webhook queue, a full sync started for a message it cannot read, the connection's poll
    schedule deleted once it is gone."""

    table_name: str = Field(min_length=1)
    secrets_prefix: str = Field(min_length=1)
    webhook_queue_url: str = Field(min_length=1)
    state_machine_arn: str = Field(min_length=1)
    event_bus_name: str = Field(min_length=1)
    schedule_group: str = Field(min_length=1)
    # How long one run long-polls (its schedule fires every minute): kept below the function's
    # timeout (``infra.catalog.EVENT_POLLER``, 90 s) by the whole of a last message's calls. Zero:
    # drain until the queue is empty once (the local stack: its ticker waits for each target).
    event_poll_window_seconds: float = Field(default=50.0, ge=0, le=55)
    # The pause after an empty queue before the next look.
    event_poll_pause_seconds: float = Field(default=5.0, ge=0.5, le=30)
    # Messages one run takes at most (the rest wait for the next run).
    event_poll_max_messages: int = Field(default=200, ge=1, le=10_000)


class SyncStepsSettings(FunctionSettings):
    table_name: str = Field(min_length=1)
    bucket_name: str = Field(min_length=1)
    secrets_prefix: str = Field(min_length=1)
    event_bus_name: str = Field(min_length=1)
    ses_sender: str = Field(min_length=1)
    ses_configuration_set: str | None = None


class SyncTriggerSettings(FunctionSettings):
    table_name: str = Field(min_length=1)
    state_machine_arn: str = Field(min_length=1)


class ApiAuthorizerSettings(FunctionSettings):
    """The OIDC issuer whose JWTs the token authorizer accepts, and the audience they must name."""

    oidc_issuer: str = Field(min_length=1)
    oidc_audience: str = Field(min_length=1)
    # How long the issuer's keys are trusted before they are fetched again (an unknown ``kid``
    # refetches sooner), and the clock skew tolerated on ``exp``/``nbf``/``iat``.
    jwks_cache_seconds: float = Field(default=600.0, ge=0, le=86_400)
    token_leeway_seconds: int = Field(default=60, ge=0, le=300)


@cache
def load[S: FunctionSettings](settings_class: type[S]) -> S:
    """The function's settings, read from the environment the first time (then cached)."""
    return settings_class()
