"""Connections: what an admin sends to connect or edit, and what the API shows of a connection.

Mapped on purpose from and to ``shared.domain.models.Connection``: the tenant, credentials and
the service's bookkeeping never appear; the enums are the domain's own vocabularies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, SecretStr, StringConstraints, field_validator, model_validator

from functions.admin_api.models.common import NEXT_CURSOR_DESCRIPTION, RequestModel, ResponseModel
from functions.admin_api.models.runs import RunOut, RunSummaryOut
from shared.domain.models import (
    MAX_WEBHOOK_WINDOW_MINUTES,
    ApprovalMode,
    ConnectionStatus,
    FieldPolicy,
    InviteMode,
    MappingMode,
    ScopeMode,
)
from shared.providers.base import Credentials, Directory, DirectoryEntry, Secret
from shared.providers.registry import display_name
from shared.services.connections import ConnectionStatusView

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
CredentialKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$", max_length=254)]
MAX_LIST = 1000
MAX_MAPPINGS = 500
REQUIRE_SIGNATURE_DESCRIPTION = (
    "Refuse webhook deliveries that carry no signature (`401 bad_signature`). HiBob signs "
    "(`bob-signature`) only when its webhook is set up with a secret, so unsigned deliveries are "
    "accepted unless this is on; the other providers' deliveries are always signed and verified."
)


# --- settings an admin may send ----------------------------------------------------------------


SCOPE_IDS = (
    "Ids from the connection's directory (`GET /v1/connections/{id}/directory/{kind}`); unknown ids "
    "are refused (422 `unknown_scope_ids`). A company or group name is taken as the ids of the "
    "entries so named (R33)."
)


class ScopeBody(RequestModel):
    """R01, R33: who is in scope; `companies`, `groups` and `people` modes select by directory id."""

    mode: ScopeMode = ScopeMode.EVERYONE
    companies: list[Name] = Field(default_factory=list, max_length=MAX_LIST, description=SCOPE_IDS)
    groups: list[Name] = Field(default_factory=list, max_length=MAX_LIST, description=SCOPE_IDS)
    people: list[Name] = Field(default_factory=list, max_length=MAX_LIST, description="HR system ids")

    @model_validator(mode="after")
    def _selects_something(self) -> ScopeBody:
        """R33: a `companies`, `groups` or `people` scope with nothing selected is refused."""
        selecting = self.mode in (ScopeMode.COMPANIES, ScopeMode.GROUPS, ScopeMode.PEOPLE)
        if selecting and not getattr(self, self.mode.value):
            raise ValueError(f"a {self.mode.value!r} scope must select at least one of its {self.mode.value}")
        return self


class MappingsBody(RequestModel):
    groups: dict[Name, Name] = Field(default_factory=dict, max_length=MAX_MAPPINGS)
    locations: dict[Name, Name] = Field(default_factory=dict, max_length=MAX_MAPPINGS)
    roles: dict[Name, Name] = Field(default_factory=dict, max_length=MAX_MAPPINGS)
    regions: dict[Name, Name] = Field(default_factory=dict, max_length=MAX_MAPPINGS)


class SafetyBody(RequestModel):
    max_deactivations: int = Field(default=50, ge=0, le=1_000_000)
    max_deactivation_pct: float = Field(default=20.0, ge=0, le=100)
    webhook_window_minutes: int = Field(
        default=60,
        ge=1,
        le=MAX_WEBHOOK_WINDOW_MINUTES,
        description="R30: webhook deactivations are counted against the thresholds over this rolling window",
    )


class ScheduleBody(RequestModel):
    expression: str | None = Field(
        default=None,
        max_length=256,
        description="`rate(...)` or `cron(...)` (EventBridge Scheduler); null = the provider's default",
    )
    timezone: str = Field(default="UTC", min_length=1, max_length=64)


class CredentialsBody(RequestModel):
    """Stored as a secret, never returned, echoed or logged."""

    secrets: dict[CredentialKey, SecretStr] = Field(
        default_factory=dict, max_length=20, description="API keys, tokens, client secrets, webhook secret"
    )
    settings: dict[CredentialKey, Annotated[str, StringConstraints(max_length=2048)]] = Field(
        default_factory=dict, max_length=20, description="Non-secret values: company domain, account id"
    )

    @field_validator("secrets")
    @classmethod
    def _bounded(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        if any(not 0 < len(v.get_secret_value()) <= 8192 for v in value.values()):
            raise ValueError("each secret value must be 1 to 8192 characters")
        return value

    def to_credentials(self) -> Credentials:
        return Credentials(
            secrets={k: Secret(v.get_secret_value()) for k, v in self.secrets.items()},
            settings=dict(self.settings),
        )


class ConnectionSettingsBody(RequestModel):
    """Quick settings and policies; a field left out keeps its current (or default) value."""

    scope: ScopeBody | None = None
    invites: InviteMode | None = None
    approval: ApprovalMode | None = None
    field_policy: FieldPolicy | None = None
    mapping_mode: MappingMode | None = None
    mappings: MappingsBody | None = None
    default_role: Name | None = None
    start_date_gating: bool | None = None
    deactivate_on_leave: bool | None = None
    resend_expired_invites: bool | None = None
    invite_ttl_days: int | None = Field(default=None, ge=1, le=365)
    safety: SafetyBody | None = None
    schedule: ScheduleBody | None = None
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    admin_emails: list[Email] | None = Field(default=None, max_length=50)
    require_signature: bool | None = Field(
        default=None,
        description=REQUIRE_SIGNATURE_DESCRIPTION + " Default `false`.",
    )

    def options(self, *exclude: str) -> dict[str, Any]:
        """The settings given, in the domain's field names (null counts as not given; an object
        given replaces the whole object)."""
        return self.model_dump(
            exclude_unset=True,
            exclude_none=True,
            exclude={"provider", "credentials", "expected_version", "draft", *exclude},
        )


class ConnectRequest(ConnectionSettingsBody):
    provider: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$", examples=["bamboohr", "personio"]
    )
    label: str = Field(min_length=1, max_length=120)
    credentials: CredentialsBody
    draft: bool = Field(
        default=False,
        description="R32: make a draft (201, no run): credentials checked, directory, preview and "
        "settings open, nothing scheduled, imported or emailed until `POST .../activate`. Drafts "
        "do not count against the connection limit (R22) until they are activated.",
    )


class ActivateRequest(RequestModel):
    expected_version: int | None = Field(
        default=None, ge=1, description="Refuse (409) if the draft changed since this version"
    )


class EditConnectionRequest(ConnectionSettingsBody):
    label: str | None = Field(default=None, min_length=1, max_length=120)
    credentials: CredentialsBody | None = Field(default=None, description="Replaces the stored credentials")
    expected_version: int | None = Field(
        default=None, ge=1, description="Refuse the edit (409) if the connection changed since this version"
    )


class MatchRequest(RequestModel):
    dry_run: bool = Field(default=True, description="Show the pairs without linking anyone")


# --- what the API shows ------------------------------------------------------------------------


class ScopeOut(ResponseModel):
    mode: ScopeMode
    companies: list[str]
    groups: list[str]
    people: list[str]


class MappingsOut(ResponseModel):
    groups: dict[str, str]
    locations: dict[str, str]
    roles: dict[str, str]
    regions: dict[str, str]


class SafetyOut(ResponseModel):
    max_deactivations: int
    max_deactivation_pct: float
    webhook_window_minutes: int


class ScheduleOut(ResponseModel):
    expression: str | None
    timezone: str


class ConnectionOut(ResponseModel):
    id: str
    provider: str
    provider_name: str = Field(description="The HR system's name as the catalogue shows it")
    label: str
    status: ConnectionStatus
    scope: ScopeOut
    invites: InviteMode
    approval: ApprovalMode
    field_policy: FieldPolicy
    mapping_mode: MappingMode
    mappings: MappingsOut
    default_role: str
    start_date_gating: bool
    deactivate_on_leave: bool
    resend_expired_invites: bool
    invite_ttl_days: int
    safety: SafetyOut
    schedule: ScheduleOut
    timezone: str
    admin_emails: list[str]
    require_signature: bool = Field(description=REQUIRE_SIGNATURE_DESCRIPTION)
    first_complete_sync_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    version: int = Field(description="Counts the connection's writes; send it back as `expected_version`")
    connected_by: str | None = Field(description="The admin who made the connection (the token's subject)")
    connected_by_email: str | None = Field(
        description="That admin's email (the token's `email` claim): its import finished, sync "
        "blocked and connection failing emails go there as well as to `admin_emails`"
    )
    activated_at: datetime | None = Field(description="When the connection became active; null for a draft")
    last_run: RunSummaryOut | None = Field(description="The newest run, of any trigger; null: none yet")
    next_run_at: datetime | None = Field(
        description="When the schedule next starts a sync; null for a draft or a disconnected connection"
    )
    effective_schedule: str | None = Field(
        description="The expression the connection runs on (or will, once activated): `schedule."
        "expression`, else the provider's default (R28); null once disconnected"
    )
    webhook_path: str = Field(
        description="Where the HR system posts its webhooks (below the API's URL), each verified by "
        "the provider's signature and answered `202` once queued (`200` for a handshake or a ping); "
        "`400` a body the provider never sends, `401` a bad or missing signature (see "
        "`require_signature`), `404` no such connection, `410` a disconnected connection (from the "
        "moment it is disconnected), `413` over 1 MB, `503` try again later. A draft's deliveries "
        'are verified and answered `200` `{"status": "draft"}`, then dropped (R32: its first '
        "import reads everyone)"
    )

    @classmethod
    def of(cls, view: ConnectionStatusView) -> ConnectionOut:
        c = view.connection
        return cls(
            id=c.connection_id,
            provider=c.provider,
            provider_name=display_name(c.provider),
            label=c.label,
            status=c.status,
            scope=ScopeOut(
                mode=c.scope.mode,
                companies=list(c.scope.companies),
                groups=list(c.scope.groups),
                people=list(c.scope.people),
            ),
            invites=c.invites,
            approval=c.approval,
            field_policy=c.field_policy,
            mapping_mode=c.mapping_mode,
            mappings=MappingsOut(
                groups=dict(c.mappings.groups),
                locations=dict(c.mappings.locations),
                roles=dict(c.mappings.roles),
                regions=dict(c.mappings.regions),
            ),
            default_role=c.default_role,
            start_date_gating=c.start_date_gating,
            deactivate_on_leave=c.deactivate_on_leave,
            resend_expired_invites=c.resend_expired_invites,
            invite_ttl_days=c.invite_ttl_days,
            safety=SafetyOut(
                max_deactivations=c.safety.max_deactivations,
                max_deactivation_pct=c.safety.max_deactivation_pct,
                webhook_window_minutes=c.safety.webhook_window_minutes,
            ),
            schedule=ScheduleOut(expression=c.schedule.expression, timezone=c.schedule.timezone),
            timezone=c.timezone,
            admin_emails=list(c.admin_emails),
            require_signature=c.require_signature,
            first_complete_sync_at=c.first_complete_sync_at,
            created_at=c.created_at,
            updated_at=c.updated_at,
            version=c.version,
            connected_by=c.connected_by,
            connected_by_email=c.connected_by_email,
            activated_at=c.activated_at,
            last_run=RunSummaryOut.of(view.last_run) if view.last_run else None,
            next_run_at=view.next_run_at,
            effective_schedule=view.effective_schedule,
            webhook_path=f"/webhooks/{c.connection_id}",
        )


class ConnectionList(ResponseModel):
    items: list[ConnectionOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DESCRIPTION)


class ConnectResponse(ResponseModel):
    connection: ConnectionOut
    run: RunOut | None = Field(
        description="The first import, started (or, for a repeated activation, the newest run); "
        "null for a draft"
    )


class EditConnectionResponse(ResponseModel):
    connection: ConnectionOut
    run: RunOut | None = Field(description="The sync a scope change started (R19)")
    running_run_id: str | None = Field(
        description="The sync already running when the scope changed: the new scope applies after it"
    )


# --- directory ---------------------------------------------------------------------------------


class DirectoryEntryOut(ResponseModel):
    id: str = Field(description="Stable; what a scope selects by (R33)")
    name: str = Field(description="For display")
    kind: str | None = Field(
        default=None,
        description="`company` (or the vendor's own: `legal_entity`, `organisation`); for groups the "
        "vendor's kind (`department`, `team`, `division` ...); null for people",
    )
    count: int | None = Field(
        default=None, description="People in it who are not terminated; null when the HR system does not say"
    )

    @classmethod
    def of(cls, e: DirectoryEntry) -> DirectoryEntryOut:
        return cls(id=e.id, name=e.name, kind=e.kind, count=e.count)


class DirectoryPage(ResponseModel):
    items: list[DirectoryEntryOut] = Field(description="One page of entries, sorted by name")
    total: int = Field(description="Entries matching `q`, over all pages")
    next_cursor: str | None = Field(description=NEXT_CURSOR_DESCRIPTION)


class DirectoryOut(ResponseModel):
    companies: list[DirectoryEntryOut]
    groups: list[DirectoryEntryOut]
    people: list[DirectoryEntryOut] = Field(description="One page of people (sorted by name)")
    people_total: int = Field(description="People matching `q`, over all pages")
    next_cursor: str | None = Field(description=NEXT_CURSOR_DESCRIPTION + " (of people)")
    notes: list[str] = Field(
        default_factory=list,
        description="What the HR system's directory could not list and why (e.g. Slack user groups "
        "without the usergroups:read scope)",
    )

    @classmethod
    def of(
        cls, d: Directory, people: list[DirectoryEntry], total: int, next_cursor: str | None
    ) -> DirectoryOut:
        return cls(
            companies=[DirectoryEntryOut.of(e) for e in d.companies],
            groups=[DirectoryEntryOut.of(e) for e in d.groups],
            people=[DirectoryEntryOut.of(e) for e in people],
            people_total=total,
            next_cursor=next_cursor,
            notes=list(d.notes),
        )


# --- OAuth connect -----------------------------------------------------------------------------


class OAuthStartRequest(ConnectionSettingsBody):
    """Start connecting a provider by the admin's consent at the vendor (OAuth)."""

    provider: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$", examples=["employment_hero", "bamboohr"]
    )
    label: str = Field(min_length=1, max_length=120)
    return_url: str = Field(
        min_length=1,
        max_length=2048,
        description="Where the admin's browser comes back to: `?connection_id=` on success, `?error=` "
        "otherwise. https (http only for 127.0.0.1 or localhost), on an origin the deployment "
        "allows (`oauth_return_origins`).",
        examples=["https://admin.example.com/connections/oauth-done"],
    )
    settings: dict[CredentialKey, Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=dict,
        max_length=10,
        description="The non-secret settings the provider needs before the redirect (BambooHR: "
        "`company_domain`). The OAuth app (client id and secret) is the deployment's, never sent here.",
    )


class OAuthStartResponse(ResponseModel):
    authorize_url: str = Field(description="Send the admin's browser here (the vendor's consent page)")
    state_expires_at: datetime = Field(description="The consent must come back before this time")
