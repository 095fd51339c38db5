"""Deterministic identifiers, so that planning is pure and applying a plan twice is harmless."""

from __future__ import annotations

import uuid

_MEMBERS = uuid.UUID("6f1c2d7e-4a59-4b8e-9d1e-3c0f5b2a7e11")


def member_id_for(tenant_id: str, connection_id: str, hris_id: str) -> str:
    """The id of the member a connection creates for an employee (stable across retries)."""
    return "m_" + uuid.uuid5(_MEMBERS, f"{tenant_id}\x1f{connection_id}\x1f{hris_id}").hex
