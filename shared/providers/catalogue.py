"""The provider catalogue: what each HR system is and how an admin connects it (``GET /v1/providers``).

Each connector declares its entry once, as the class attribute ``info`` (``describe`` derives the
tier, capabilities, webhook support and default schedule from the class's own attributes). A UI
renders a connect form from it, and connect checks a credentials body against it
(``credential_problems``): nothing about a vendor is hard-coded anywhere else.

Two kinds of credential names are accepted without being in the catalogue:

- ``INTERNAL_SETTINGS`` (``base_url``, ``oauth_base_url``): where a connector sends its requests
  when not to the vendor's own host (the local fake HR servers, a vendor sandbox). An admin never
  needs them, so no form shows them; ``checked_base_url`` still refuses anything but https (or
  plain http to loopback), so they cannot point a connector at an internal address.
  ``ca_certificate``: a PEM trust anchor for a connector that speaks mutual TLS (ADP), honoured
  only when those hosts are loopback (the fake HR servers make their own CA), refused otherwise.
- ``OAUTH_TOKEN_FIELDS``: what an OAuth connection stores once the vendor granted access (the
  OAuth callback writes them; an integrator holding tokens it obtained itself may send them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from shared.providers.base import Credentials, Tier


class ProviderKind(StrEnum):
    HRIS = "hris"  # an HR system: the employee record's owner
    DIRECTORY = "directory"  # an identity directory (Google Workspace, Microsoft 365, Slack)
    UNIFIED = "unified"  # one API in front of many HR systems (Merge, Finch)


class AuthMethod(StrEnum):
    API_KEY = "api_key"  # the admin pastes the credentials named by ``api_key_fields``
    OAUTH = "oauth"  # the admin is sent to the vendor to allow access


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One value an admin enters: under ``credentials.secrets`` when ``secret``, else ``settings``."""

    name: str
    label: str
    help: str
    secret: bool
    required: bool = True

    @property
    def place(self) -> str:
        return "secrets" if self.secret else "settings"


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    id: str
    name: str
    kind: ProviderKind
    methods: tuple[AuthMethod, ...]
    # What an API-key connection needs (empty when the provider connects through OAuth only).
    api_key_fields: tuple[CredentialField, ...]
    # The settings asked before an OAuth redirect (BambooHR's company domain).
    oauth_fields: tuple[CredentialField, ...]
    # The Employee fields every connection of this provider supplies (R15).
    capabilities: frozenset[str]
    tier: Tier
    # The tier's built-in default (R28); a deployment's settings may change it (``schedule_for``).
    default_schedule: str
    supports_webhooks: bool
    # What an OAuth install stores besides the tokens, taken from the vendor's answer or the
    # deployment's OAuth app (Slack's workspace id, the app's signing secret): never typed by an
    # admin, so no form shows them.
    oauth_stored_fields: tuple[CredentialField, ...] = ()
    # What the service itself stores on a connection (a delta link, a notification secret):
    # accepted in its credentials, never asked of an admin.
    managed_fields: tuple[CredentialField, ...] = ()
    # OAuth grants the app itself access (Microsoft's admin consent, then client credentials): the
    # connection keeps the app's client and asks for app-only tokens when it needs them, so an
    # access token is optional and the client id and secret are not.
    oauth_app_only: bool = False


# Settings every connector reads besides its catalogue fields (see the module's docstring).
INTERNAL_SETTINGS = frozenset({"base_url", "oauth_base_url", "ca_certificate"})

# What an OAuth connection stores: the tokens, the app's OAuth client (connectors refresh with
# it) and when the access token expires.
OAUTH_TOKEN_FIELDS = (
    CredentialField("access_token", "Access token", "The OAuth access token the HR system issued.", True),
    CredentialField(
        "refresh_token", "Refresh token", "Renews the access token before it expires.", True, required=False
    ),
    CredentialField("client_id", "OAuth client id", "The OAuth app's client id.", True, required=False),
    CredentialField(
        "client_secret", "OAuth client secret", "The OAuth app's client secret.", True, required=False
    ),
    CredentialField(
        "token_expires_at",
        "Access token expiry",
        "When the access token expires (ISO-8601 with a time zone).",
        False,
        required=False,
    ),
)
# What an app-only OAuth connection stores (``ProviderInfo.oauth_app_only``).
APP_ONLY_TOKEN_FIELDS = tuple(
    replace(f, required=f.name in {"client_id", "client_secret"}) for f in OAUTH_TOKEN_FIELDS
)


WEBHOOK_SECRET = "webhook_secret"  # noqa: S105 - the name of a credential (the webhook intake reads it)


def webhook_secret_field(label: str, help_text: str) -> CredentialField:
    """The optional webhook signing secret (the webhook intake's key), whatever the auth method."""
    return CredentialField(WEBHOOK_SECRET, label, help_text, secret=True, required=False)


def describe(
    *,
    id: str,
    name: str,
    kind: ProviderKind,
    tier: Tier,
    capabilities: frozenset[str],
    supports_webhooks: bool,
    api_key_fields: Iterable[CredentialField] = (),
    oauth_fields: Iterable[CredentialField] = (),
    oauth_stored_fields: Iterable[CredentialField] = (),
    oauth: bool = False,
    managed_fields: Iterable[CredentialField] = (),
    oauth_app_only: bool = False,
) -> ProviderInfo:
    """A connector's entry, from the attributes the connector already has (declared once).

    ``api_key`` is offered when there are ``api_key_fields``; ``oauth`` when the connector can
    send an admin to the vendor to allow access."""
    api_key = tuple(api_key_fields)
    methods = (*((AuthMethod.API_KEY,) if api_key else ()), *((AuthMethod.OAUTH,) if oauth else ()))
    if not methods:
        raise ValueError(f"{id}: a provider needs API-key fields or OAuth")
    return ProviderInfo(
        id=id,
        name=name,
        kind=kind,
        methods=methods,
        api_key_fields=api_key,
        oauth_fields=tuple(oauth_fields),
        capabilities=frozenset(capabilities),
        tier=tier,
        default_schedule=tier.default_schedule,
        supports_webhooks=supports_webhooks,
        oauth_stored_fields=tuple(oauth_stored_fields),
        managed_fields=tuple(managed_fields),
        oauth_app_only=oauth_app_only,
    )


# --- checking a credentials body against an entry ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Misplaced:
    name: str
    given_in: str  # "secrets" or "settings"
    belongs_in: str


@dataclass(frozen=True, slots=True)
class CredentialProblems:
    """What is wrong with a credentials body, by field name (never a value)."""

    method: AuthMethod
    missing: tuple[str, ...] = ()  # "secrets.api_key"
    misplaced: tuple[Misplaced, ...] = ()
    unknown: tuple[str, ...] = ()  # "settings.colour"
    hint: str | None = None

    def __bool__(self) -> bool:
        return bool(self.missing or self.misplaced or self.unknown)

    def summary(self) -> str:
        parts = [f"missing {', '.join(self.missing)}"] if self.missing else []
        parts += [f"{m.given_in}.{m.name} belongs in {m.belongs_in}" for m in self.misplaced]
        parts += [f"unknown {', '.join(self.unknown)}"] if self.unknown else []
        text = "; ".join(parts)
        return f"{text} ({self.hint})" if self.hint else text


def method_of(info: ProviderInfo, credentials: Credentials) -> AuthMethod:
    """Which way these credentials connect: OAuth when they carry a token and the provider offers
    it (or offers nothing else), else API key."""
    given = {*credentials.secrets, *credentials.settings}
    if AuthMethod.OAUTH in info.methods and (
        AuthMethod.API_KEY not in info.methods or given & {"access_token", "refresh_token"}
    ):
        return AuthMethod.OAUTH
    return AuthMethod.API_KEY


def fields_for(info: ProviderInfo, method: AuthMethod) -> tuple[CredentialField, ...]:
    """The fields a connection made this way holds (OAuth: the settings asked, the tokens, and the
    webhook secret where the provider has one: its webhooks are signed whichever way it connects;
    and what the provider's install stores besides, ``oauth_stored_fields``)."""
    if method is AuthMethod.API_KEY:
        return (*info.api_key_fields, *info.managed_fields)
    webhook = tuple(f for f in info.api_key_fields if f.name == WEBHOOK_SECRET)
    stored = tuple(f for f in info.oauth_stored_fields if f.name not in {w.name for w in webhook})
    tokens = APP_ONLY_TOKEN_FIELDS if info.oauth_app_only else OAUTH_TOKEN_FIELDS
    return (*info.oauth_fields, *tokens, *webhook, *stored, *info.managed_fields)


def credential_problems(info: ProviderInfo, credentials: Credentials) -> CredentialProblems:
    """Every missing, misplaced (a secret under settings, a setting under secrets) and unknown
    field of ``credentials`` for ``info``'s entry; empty (falsy) when they fit."""
    method = method_of(info, credentials)
    fields = fields_for(info, method)
    places: Mapping[str, set[str]] = {
        "secrets": set(credentials.secrets),
        "settings": set(credentials.settings),
    }
    internal = {("settings", name) for name in INTERNAL_SETTINGS}
    known = {(f.place, f.name) for f in fields} | internal
    missing: list[str] = []
    misplaced: list[Misplaced] = []
    for f in fields:
        other = "settings" if f.secret else "secrets"
        if f.name in places[other]:
            misplaced.append(Misplaced(f.name, other, f.place))
        elif f.required and f.name not in places[f.place]:
            missing.append(f"{f.place}.{f.name}")
    for name in sorted(INTERNAL_SETTINGS & places["secrets"]):
        misplaced.append(Misplaced(name, "secrets", "settings"))
    placed = {(m.given_in, m.name) for m in misplaced}
    unknown = sorted(
        f"{place}.{name}"
        for place, names in places.items()
        for name in names
        if (place, name) not in known and (place, name) not in placed
    )
    hint = None
    if method is AuthMethod.OAUTH and AuthMethod.API_KEY not in info.methods:
        hint = f"{info.name} connects through OAuth: POST /v1/connections/oauth/start"
    return CredentialProblems(method, tuple(missing), tuple(misplaced), tuple(unknown), hint)
