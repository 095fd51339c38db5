"""Deterministic identifiers, so that planning is pure and applying a plan twice is harmless."""

from __future__ import annotations

import re
import uuid

_MEMBERS = uuid.UUID("6f1c2d7e-4a59-4b8e-9d1e-3c0f5b2a7e11")

# Every id the service issues (``conn_<hex>``, ``run_<hex>``, ``m_<hex>``, ``task_<hex>``) matches
# this: a letter or digit, then letters, digits and ``_.:-``, at most ``MAX_ID_LENGTH`` characters.
# Where an outsider names one of our ids (an API path, a webhook URL), anything else names nothing.
MAX_ID_LENGTH = 200
ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{MAX_ID_LENGTH - 1}}}$"
_ID = re.compile(ID_PATTERN)


def is_issued_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id this service issues (a cheap check, no lookup)."""
    return _ID.fullmatch(value) is not None


# The app's own user id (R34, ``Member.external_id``): whatever the app uses (a UUID, a number,
# ``auth0|5f7c...``, an email), so any characters but control characters, no surrounding spaces, at
# most ``MAX_EXTERNAL_ID_LENGTH`` characters. Keys escape what would clash (``shared.adapters.keys``).
MAX_EXTERNAL_ID_LENGTH = 255
EXTERNAL_ID_PATTERN = (
    rf"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]{{0,{MAX_EXTERNAL_ID_LENGTH - 2}}}[^\s\x00-\x1f\x7f])?$"
)
_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)


def is_external_id(value: str) -> bool:
    """Whether ``value`` is an acceptable external id (R34): see ``EXTERNAL_ID_PATTERN``."""
    return _EXTERNAL_ID.fullmatch(value) is not None


def member_id_for(tenant_id: str, connection_id: str, hris_id: str) -> str:
    """The id of the member a connection creates for an employee (stable across retries)."""
    return "m_" + uuid.uuid5(_MEMBERS, f"{tenant_id}\x1f{connection_id}\x1f{hris_id}").hex
