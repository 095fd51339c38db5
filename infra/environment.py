"""The environment every function gets, as one typed model.

Field names are the variables' names in lower case; `variables()` gives what Lambda receives.
A field is set only for a function whose access needs it (infra/constructs/functions.py), and the
runtime's settings (shared/settings.py) read the same names.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FunctionEnvironment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str
    powertools_service_name: str
    powertools_metrics_namespace: str
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
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    invite_url_template: str | None = None
    max_connections: int | None = None
    oauth_return_origins: str | None = None  # comma-separated
    oauth_callback_url: str | None = None
    notification_base_url: str | None = None

    def variables(self) -> dict[str, str]:
        return {name.upper(): str(value) for name, value in self.model_dump(exclude_none=True).items()}
