"""Key builders for the single table: the only place that spells a key (docs/table.md).

Every partition key starts with ``T#<tenant>``. ``#`` separates the parts of a key, so every value
that becomes a part is escaped first (``escape``): ``%`` becomes ``%25`` and ``#`` becomes ``%23``
(and a lone surrogate, which UTF-8 cannot carry, ``%uXXXX``); every other character stays as it is.
So no value can forge a separator or another item's key, ``begins_with`` on ``<part>#`` matches
exactly that part, keys stay readable (an ordinary id or email is its own key part), and
``unescape`` gives the value back. Any text can be keyed (R25: ``#``, ``/``, quotes, any Unicode).

DynamoDB limits a partition key to 2,048 bytes and a sort key to 1,024 (UTF-8, in the table and in
every index). A key that would be longer raises ``KeyTooLong`` (bad input) naming the part that made it long:
a lookup by an HR value finds nobody (no such item can exist), a member write reports it
unstorable, and the sync skips that record with a reason.
"""

from __future__ import annotations

import hashlib
import re

from shared.errors import InvalidInput, KeyTooLong

SEP = "#"
ESCAPE = "%"
PARTITION_KEY_MAX_BYTES = 2048
SORT_KEY_MAX_BYTES = 1024

# What ``escape`` replaces: the escape character, the separator, and lone surrogates.
_SPECIAL = re.compile("[%#\ud800-\udfff]")
_ESCAPED = re.compile("%(?:u([0-9A-F]{4})|([0-9A-F]{2}))")


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"%u{code:04X}" if code > 0xFF else f"%{code:02X}"


def escape(value: str) -> str:
    """``value`` as one key part: no separator in it, the same value back from ``unescape``."""
    if ESCAPE not in value and SEP not in value and value.isascii():
        return value  # the common case, without a regex
    return _SPECIAL.sub(_escape_one, value)


def unescape(part: str) -> str:
    """The value ``escape`` was given."""
    if ESCAPE not in part:
        return part
    return _ESCAPED.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), part)


def split(key: str) -> list[str]:
    """A key's parts, unescaped (the inverse of the builders below, for tests and people)."""
    return [unescape(p) for p in key.split(SEP)]


def part(value: str, what: str) -> str:
    """An identifier as a key part: escaped; an empty one names nothing."""
    if not value:
        raise InvalidInput(f"{what} must not be empty", field=what)
    return escape(value)


def _fit(key: str, limit: int, what: str) -> str:
    size = len(key.encode())  # escaped: no lone surrogate is left in a key
    if size > limit:
        raise KeyTooLong(what, size=size, limit=limit)
    return key


def _pk(key: str, what: str) -> str:
    """A partition key, at most 2,048 bytes; ``what`` names the part that can make it longer (the
    tenant and connection ids in a key are ours, and short)."""
    return _fit(key, PARTITION_KEY_MAX_BYTES, what)


def _sk(key: str, what: str) -> str:
    """A sort key, at most 1,024 bytes."""
    return _fit(key, SORT_KEY_MAX_BYTES, what)


def tenant_prefix(tenant_id: str) -> str:
    return f"T#{part(tenant_id, 'tenant_id')}"


# --- connections -------------------------------------------------------------------------------
def tenant_pk(tenant_id: str) -> str:
    """The partition holding a tenant's connections and their lock leases."""
    return _pk(tenant_prefix(tenant_id), "tenant_id")


def connection_sk(connection_id: str) -> str:
    return _sk(f"{CONNECTION_SK_PREFIX}{part(connection_id, 'connection_id')}", "connection_id")


CONNECTION_SK_PREFIX = "CONN#"


def lock_sk(connection_id: str) -> str:
    return _sk(f"LOCK#{part(connection_id, 'connection_id')}", "connection_id")


def token_lease_sk(connection_id: str) -> str:
    """The lease of one refresh of the connection's OAuth token (apart from the sync's lock)."""
    return f"TOKENLOCK#{part(connection_id, 'connection_id')}"


CONNECTION_COUNTER_SK = "COUNTER#CONNECTIONS"


def route_pk(connection_id: str) -> str:
    """connection id -> tenant (the webhook path names only the connection)."""
    return _pk(f"ROUTE#C#{part(connection_id, 'connection_id')}", "connection_id")


ROUTE_SK = "ROUTE"

# The connections that hold (or want) a vendor subscription, for the scheduled renewal sweep: one
# cross-tenant partition of references (tenant and connection ids, the expiry), like the route.
SUBSCRIBED_PK = "SUBSCRIBED"


def subscribed_sk(connection_id: str) -> str:
    return f"C#{part(connection_id, 'connection_id')}"


def oauth_state_pk(key: str) -> str:
    """A pending OAuth connect, by its state's digest: the public callback knows only the state
    (the item holds the owning tenant, like the route item)."""
    return _pk(f"OAUTH#{part(key, 'state')}", "state")


OAUTH_STATE_SK = "OAUTHSTATE"


# --- members -----------------------------------------------------------------------------------
def member_pk(tenant_id: str, member_id: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#M#{part(member_id, 'member_id')}", "member_id")


MEMBER_SK = "MEMBER"


def member_sort(member_id: str) -> str:
    """A member in the status and flag indexes, ordered by id."""
    return _sk(part(member_id, "member_id"), "member_id")


def email_pk(tenant_id: str, email: str) -> str:
    """The email guard: one item per (tenant, lower-cased email)."""
    normalised = email.strip().lower()  # compared case-insensitively (R05)
    return _pk(f"{tenant_prefix(tenant_id)}#E#{part(normalised, 'email')}", "email")


EMAIL_SK = "EMAIL"


def link_pk(tenant_id: str, connection_id: str, hris_id: str) -> str:
    """The link guard: one item per (tenant, connection, HR id) -> member id."""
    return _pk(
        f"{tenant_prefix(tenant_id)}#L#{part(connection_id, 'connection_id')}#{part(hris_id, 'hris_id')}",
        "hris_id",
    )


LINK_SK = "LINK"


def external_id_pk(tenant_id: str, external_id: str) -> str:
    """The external id guard (R34): one item per (tenant, the app's own user id) -> member id."""
    return _pk(f"{tenant_prefix(tenant_id)}#X#{part(external_id, 'external_id')}", "external_id")


EXTERNAL_ID_SK = "EXTID"


def member_status_gsi(tenant_id: str, status: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#MS#{part(status, 'status')}", "tenant_id")


def member_source_gsi(tenant_id: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#MEMBERS", "tenant_id")


def member_source_prefix(source: str) -> str:
    """``begins_with`` on the source index's sort key: the members of one source."""
    return f"{part(source, 'source')}{SEP}"


def member_source_sort(source: str, member_id: str) -> str:
    return _sk(f"{member_source_prefix(source)}{part(member_id, 'member_id')}", "member_id")


def member_flag_gsi(tenant_id: str, flag: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#MF#{part(flag, 'flag')}", "tenant_id")


# --- audit -------------------------------------------------------------------------------------
def audit_pk(tenant_id: str, entry_id: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#AUDIT#{part(entry_id, 'entry_id')}", "entry_id")


AUDIT_SK = "AUDIT"


def member_audit_gsi(tenant_id: str, member_id: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#M#{part(member_id, 'member_id')}#AUDIT", "member_id")


def tenant_audit_gsi(tenant_id: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#AUDIT", "tenant_id")


def time_sort(at_iso: str, item_id: str) -> str:
    """Sort keys that order by time, ties broken by id."""
    return _sk(f"{part(at_iso, 'at')}#{part(item_id, 'id')}", "id")


# --- tasks -------------------------------------------------------------------------------------
def task_pk(tenant_id: str, task_id: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#TASK#{part(task_id, 'task_id')}", "task_id")


TASK_SK = "TASK"


def task_type_status_gsi(tenant_id: str, task_type: str, status: str) -> str:
    return _pk(
        f"{tenant_prefix(tenant_id)}#TASKS#{part(task_type, 'type')}#{part(status, 'status')}", "tenant_id"
    )


def task_status_gsi(tenant_id: str, status: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#TASKS#S#{part(status, 'status')}", "tenant_id")


def tasks_gsi(tenant_id: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#TASKS", "tenant_id")


# --- runs --------------------------------------------------------------------------------------
def run_pk(tenant_id: str, run_id: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#R#{part(run_id, 'run_id')}", "run_id")


RUN_SK = "RUN"


def connection_runs_gsi(tenant_id: str, connection_id: str) -> str:
    return _pk(f"{tenant_prefix(tenant_id)}#C#{part(connection_id, 'connection_id')}#RUNS", "connection_id")


# --- webhooks that wait (R29) or are held (R30) -------------------------------------------------
def webhook_guard_sk(connection_id: str) -> str:
    """R30's state of a connection (the held run, the last decision), beside its lock."""
    return f"WHGUARD#{part(connection_id, 'connection_id')}"


def webhook_list_pk(tenant_id: str, connection_id: str, list_name: str) -> str:
    """One list of employees named by webhooks (``pending``, ``held:<run id>``); one item each."""
    return (
        f"{tenant_prefix(tenant_id)}#C#{part(connection_id, 'connection_id')}#WHL#{part(list_name, 'list')}"
    )


def webhook_list_sk(hris_id: str) -> str:
    """An HR id of any characters and length, as a fixed-width sort key (the id is an attribute)."""
    return hashlib.sha256(hris_id.encode()).hexdigest()


def webhook_deactivations_pk(tenant_id: str, connection_id: str) -> str:
    """R30's rolling window: one item per webhook deactivation, sorted by time."""
    return f"{tenant_prefix(tenant_id)}#C#{part(connection_id, 'connection_id')}#WHD"


# --- the admin portal --------------------------------------------------------------------------
# A portal link or session is found by its token alone (the browser knows nothing else), so, like
# the route item, its key is not under a tenant: it is the SHA-256 digest of the token (the token
# itself is never stored), and the item names its tenant.
def portal_link_pk(token_digest: str) -> str:
    return _pk(f"PORTAL#LINK#{part(token_digest, 'token')}", "token")


def portal_session_pk(token_digest: str) -> str:
    return _pk(f"PORTAL#SESSION#{part(token_digest, 'token')}", "token")


PORTAL_SK = "PORTAL"
