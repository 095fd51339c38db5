"""Paging of lists the API holds whole (a tenant's few connections, a directory's people).

Stores page their own lists with their own opaque cursors; this does the same for lists a service
returns at once: an offset behind an opaque cursor that is valid only for the listing it came from.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from shared.errors import InvalidInput


def _encode(listing: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{listing}|{offset}".encode()).decode().rstrip("=")


def _decode(listing: str, cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        got, _, offset = raw.rpartition("|")
        position = int(offset)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidInput("invalid cursor", field="cursor") from exc
    if got != listing or position < 0:
        raise InvalidInput("invalid cursor", field="cursor")
    return position


def page_of[T](
    items: Sequence[T], *, listing: str, cursor: str | None, limit: int
) -> tuple[list[T], str | None]:
    """One page of ``items`` and the cursor of the next (None on the last page)."""
    start = 0 if cursor is None else _decode(listing, cursor)
    page = list(items[start : start + limit])
    end = start + len(page)
    return page, (_encode(listing, end) if end < len(items) else None)
