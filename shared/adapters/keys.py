"""Key builders for the single table: the only place that spells a key (docs/table.md).

Every partition key starts with ``T#<tenant>``. Identifiers are checked before they become part of
a key: one containing the separator ``#`` (or empty) could forge another item's key, so it is
refused with ``InvalidKeyPart``.
"""

from __future__ import annotations

SEP = "#"


class InvalidKeyPart(ValueError):
    """An identifier that cannot be part of a key (empty, or contains the separator)."""


def part(value: str, what: str) -> str:
    if not value or SEP in value or len(value) > 512:
        raise InvalidKeyPart(f"{what} must be 1-512 characters without {SEP!r}")
    return value


def tenant_prefix(tenant_id: str) -> str:
    return f"T#{part(tenant_id, 'tenant_id')}"


# --- connections -------------------------------------------------------------------------------
def tenant_pk(tenant_id: str) -> str:
    """The partition holding a tenant's connections and their lock leases."""
    return tenant_prefix(tenant_id)


def connection_sk(connection_id: str) -> str:
    return f"CONN#{part(connection_id, 'connection_id')}"


CONNECTION_SK_PREFIX = "CONN#"


def lock_sk(connection_id: str) -> str:
    return f"LOCK#{part(connection_id, 'connection_id')}"


def token_lease_sk(connection_id: str) -> str:
    """The lease of one refresh of the connection's OAuth token (apart from the sync's lock)."""
    return f"TOKENLOCK#{part(connection_id, 'connection_id')}"


CONNECTION_COUNTER_SK = "COUNTER#CONNECTIONS"


def route_pk(connection_id: str) -> str:
    """connection id -> tenant (the webhook path names only the connection)."""
    return f"ROUTE#C#{part(connection_id, 'connection_id')}"


ROUTE_SK = "ROUTE"


# --- members -----------------------------------------------------------------------------------
def member_pk(tenant_id: str, member_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}#M#{part(member_id, 'member_id')}"


MEMBER_SK = "MEMBER"


def email_pk(tenant_id: str, email_key: str) -> str:
    """The email guard: one item per (tenant, lower-cased email)."""
    return f"{tenant_prefix(tenant_id)}#E#{part(email_key.strip().lower(), 'email')}"


EMAIL_SK = "EMAIL"


def link_pk(tenant_id: str, connection_id: str, hris_id: str) -> str:
    """The link guard: one item per (tenant, connection, HR id) -> member id."""
    return f"{tenant_prefix(tenant_id)}#L#{part(connection_id, 'connection_id')}#{part(hris_id, 'hris_id')}"


LINK_SK = "LINK"


def member_status_gsi(tenant_id: str, status: str) -> str:
    return f"{tenant_prefix(tenant_id)}#MS#{status}"


def member_source_gsi(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}#MEMBERS"


def member_source_sort(source: str, member_id: str) -> str:
    return f"{source}#{member_id}"


def member_flag_gsi(tenant_id: str, flag: str) -> str:
    return f"{tenant_prefix(tenant_id)}#MF#{flag}"


# --- audit -------------------------------------------------------------------------------------
def audit_pk(tenant_id: str, entry_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}#AUDIT#{part(entry_id, 'entry_id')}"


AUDIT_SK = "AUDIT"


def member_audit_gsi(tenant_id: str, member_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}#M#{part(member_id, 'member_id')}#AUDIT"


def tenant_audit_gsi(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}#AUDIT"


def time_sort(at_iso: str, item_id: str) -> str:
    """Sort keys that order by time, ties broken by id."""
    return f"{at_iso}#{item_id}"


# --- tasks -------------------------------------------------------------------------------------
def task_pk(tenant_id: str, task_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}#TASK#{part(task_id, 'task_id')}"


TASK_SK = "TASK"


def task_type_status_gsi(tenant_id: str, task_type: str, status: str) -> str:
    return f"{tenant_prefix(tenant_id)}#TASKS#{task_type}#{status}"


def task_status_gsi(tenant_id: str, status: str) -> str:
    return f"{tenant_prefix(tenant_id)}#TASKS#S#{status}"


def tasks_gsi(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}#TASKS"


# --- runs --------------------------------------------------------------------------------------
def run_pk(tenant_id: str, run_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}#R#{part(run_id, 'run_id')}"


RUN_SK = "RUN"


def connection_runs_gsi(tenant_id: str, connection_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}#C#{part(connection_id, 'connection_id')}#RUNS"
