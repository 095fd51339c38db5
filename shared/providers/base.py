"""The provider framework's contract: what every HR-system connector offers the services.

A connector knows httpx and the domain models, nothing else of ours (DESIGN.md, dependency rules).
The services fetch a full snapshot page by page (a state machine step per page), follow webhooks up
with ``get_employees`` and show ``directory`` in scope pickers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from shared.domain.models import Employee

if TYPE_CHECKING:  # pragma: no cover - types only (the catalogue imports this module)
    from shared.providers.catalogue import ProviderInfo


class Secret:
    """A credential value that never shows itself in a repr, a log line or an exception."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Credentials:
    """A connection's credentials: named secret values plus non-secret settings (subdomain ...).

    ``secrets`` holds what must never be shown (API keys, tokens, client secrets, webhook keys);
    ``settings`` holds what may be (company domain, account id, token expiry).
    """

    secrets: Mapping[str, Secret] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)


class Tier(StrEnum):
    FULL = "full"  # HR systems: every 6 hours by default (R28)
    BASIC = "basic"  # directory connectors: every 24 hours by default

    @property
    def default_schedule(self) -> str:
        """R28's built-in default for the tier (``ServiceSettings.schedule_for`` may override it)."""
        return _TIER_SCHEDULES[self]


_TIER_SCHEDULES = {Tier.FULL: "rate(6 hours)", Tier.BASIC: "rate(24 hours)"}


@dataclass(frozen=True, slots=True)
class EmployeePage:
    employees: Sequence[Employee]
    # Opaque; None when the provider said there is nothing more.
    next_cursor: str | None
    # Set when a connector refreshed an OAuth token: the caller stores these.
    refreshed_credentials: Credentials | None = None


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One company, group or person an admin may pick (R33: scopes hold ``id``).

    ``kind``: what the vendor calls a group (``department``, ``team``, ``division`` ...) or
    ``company`` for companies (``legal_entity`` where the vendor has those); ``None`` for people.
    ``count``: the people in it (not terminated), where the vendor gives it or the listing that
    built the directory shows it exactly; ``None`` when unknown.
    """

    id: str
    name: str
    kind: str | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class Directory:
    """What an admin picks a scope from (R01)."""

    companies: Sequence[DirectoryEntry]
    groups: Sequence[DirectoryEntry]
    people: Sequence[DirectoryEntry]
    # Set when listing refreshed an OAuth token (rotated refresh tokens): the caller stores these.
    refreshed_credentials: Credentials | None = None
    # What the listing could not show and why, for the admin (Slack: "user groups are not
    # listed: the app was not granted usergroups:read"); never a credential.
    notes: tuple[str, ...] = ()


class WebhookKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    PING = "ping"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    kind: WebhookKind
    employee_ids: tuple[str, ...]
    # The vendor's delivery id when it sends one, else a digest of the body (to drop duplicates).
    delivery_id: str
    occurred_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A vendor-side subscription to changes (a Graph subscription, a Google ``users.watch`` channel)."""

    id: str  # the vendor's subscription / channel id
    expires_at: datetime
    resource: str = ""  # what it watches (vendor-specific, shown to admins)
    # secret pieces (Graph clientState, Google channel token) live in the connection's credentials


@runtime_checkable
class Subscribes(Protocol):
    """A connector whose notifications need a subscription made, renewed and removed
    (``shared.services.subscriptions``)."""

    def subscribe(
        self, credentials: Credentials, notification_url: str
    ) -> tuple[Subscription, Credentials]: ...

    def renew(self, credentials: Credentials, subscription: Subscription) -> Subscription: ...

    def unsubscribe(self, credentials: Credentials, subscription: Subscription) -> None: ...


@dataclass(frozen=True, slots=True)
class ChangesSince:
    """What changed since the starting point kept in a connection's credentials (Graph's delta link)."""

    # Employees changed or removed since then (a removed one reads back as terminated: an explicit
    # leaver, R09); every employee when ``baseline``.
    employee_ids: tuple[str, ...]
    # The credentials to store: the new starting point in them (and a token refreshed on the way).
    credentials: Credentials
    # No starting point was kept: this read set one and lists everyone, not what changed.
    baseline: bool = False


@runtime_checkable
class IncrementalChanges(Protocol):
    """A connector that reads only what changed since a starting point kept in the credentials
    (``shared.services.subscriptions``: a ``missed`` notification's cheap catch-up)."""

    def changes_since(self, credentials: Credentials) -> ChangesSince: ...


@runtime_checkable
class LifecycleNotifications(Protocol):
    """A connector whose subscription sends lifecycle notifications beside the changes (Graph's
    ``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``), in a verified delivery."""

    def lifecycle_events(self, raw_body: bytes) -> tuple[tuple[str, str], ...]:
        """(lifecycle event, the vendor's subscription id) of each lifecycle notification."""
        ...


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """The head of a vendor's event queue (ADP's event notification messages), not yet removed.

    ``message_id`` is what acknowledging removes (ADP's ``adp-msg-msgid``). ``event`` is the
    message as a targeted plan's input (``PING`` when it names nobody the sync reads), or None when
    the message cannot be read (``problem`` says why, bounded, never a value): whoever drains the
    queue then requests a full sync before acknowledging it, so nothing is lost."""

    message_id: str
    event: WebhookEvent | None
    problem: str | None = None


@runtime_checkable
class EventQueue(Protocol):
    """A connector whose changes arrive on a queue the vendor keeps and we pull, instead of a
    webhook (ADP Workforce Now): ``shared.services.event_queue`` reads the head, queues it durably
    on our side, and only then acknowledges it; a crash in between replays it (R24)."""

    def next_message(self, credentials: Credentials) -> QueuedMessage | None:
        """The queue's head message (it stays until acknowledged), or None when the queue is empty.

        Raises ``ProviderAuthError`` / ``ProviderUnavailable`` like any call."""
        ...

    def acknowledge(self, credentials: Credentials, message_id: str) -> None:
        """Remove the message from the vendor's queue; one already gone is not an error."""
        ...


@runtime_checkable
class Provider(Protocol):
    name: str
    tier: Tier
    # The Employee fields every connection of this provider supplies (R15).
    capabilities: frozenset[str]
    supports_webhooks: bool
    # Its catalogue entry: how an admin connects it (``shared.providers.catalogue``).
    info: ProviderInfo

    def check_credentials(self, credentials: Credentials) -> None:
        """One light call to the HR system that needs these credentials (connecting a draft, R32).

        Raises ``ProviderAuthError`` (with the HR system's own words, never a secret) when it
        refuses them, ``ProviderUnavailable`` when it does not answer usefully.
        """

    def capabilities_for(self, credentials: Credentials) -> frozenset[str]:
        """The fields a connection with these credentials supplies (R15): what the plan syncs.

        Some vendors supply more through one kind of credentials (BambooHR's API key reads the
        Datasets API, which has fields its OAuth endpoints lack); a field outside this set is
        never blanked by the connection.
        """

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage: ...

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage: ...

    def directory(self, credentials: Credentials) -> Directory: ...

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        secret: Secret,
        now: datetime,
        *,
        require_signature: bool = False,
    ) -> None:
        """Raise ``WebhookRejected`` unless the request is authentic and fresh.

        ``require_signature`` (the connection's setting) refuses an unsigned delivery where the
        vendor's signing is optional (HiBob); where it is not, a signature is always required.
        """

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        """Raise ``WebhookUnparseable`` for a body the vendor would never send."""


class ProviderError(Exception):
    """Base of every error a connector raises. Messages never contain credentials."""


class ProviderUnavailable(ProviderError):
    """The HR system did not answer usefully after bounded retries: the snapshot is incomplete."""


class IncompleteListing(ProviderUnavailable):
    """The HR system's list broke its own paging contract (R31): a page shorter than asked for
    while it still reports more, a next cursor it had handed out before, a page other than the one
    asked for, or more pages than the company can fill. The snapshot is incomplete (R09)."""


class ProviderAuthError(ProviderError):
    """The HR system refused the credentials (expired, revoked, wrong).

    ``vendor_message`` is what the HR system said about it (bounded, control characters and any
    credential sent with the request removed), when it said anything."""

    def __init__(self, message: str, *, vendor_message: str | None = None) -> None:
        super().__init__(message)
        self.vendor_message = vendor_message


class ProviderResponseError(ProviderError):
    """The HR system answered something the connector cannot read."""


class WebhookRejected(ProviderError):
    """Bad or missing signature, stale timestamp, replay: HTTP 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookUnparseable(ProviderError):
    """A body the provider cannot parse: HTTP 400."""


class ProviderSettingsError(ProviderError):
    """A connection setting a connector cannot use (a base_url that is not https, a bad domain)."""


class InvalidCursor(ProviderError):
    """A cursor this provider never issued (or for another connection): restart the snapshot."""
