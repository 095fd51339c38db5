"""JSON from outside (an admin API body, a webhook delivery), read within bounds.

``json.loads`` alone lets hostile input escape as other exceptions than a decode error: nesting
deeper than the interpreter's recursion limit raises ``RecursionError``, and an integer longer than
Python's int-from-string limit (4,300 digits) raises a bare ``ValueError``; nesting just under the
limit parses, and then costs every recursive reader after it (validation, logging, serializing).
``loads`` refuses all three as ``JsonOutOfBounds``, a ``json.JSONDecodeError``, so a caller that
already answers a decode error (Powertools' validation: 422 ``json_invalid``; a connector:
``WebhookUnparseable``) answers these the same way. No document we accept comes near the bounds.
"""

from __future__ import annotations

import json
from typing import Any

# The deepest nesting accepted (an API body nests 3 levels, a vendor's webhook about 5).
MAX_DEPTH = 64
# The longest integer accepted, in digits (the largest we read is a 19-digit HiBob id).
MAX_INT_DIGITS = 64


class JsonOutOfBounds(json.JSONDecodeError):
    """Valid JSON syntax, or as good as, beyond what any sender of ours produces."""


class _IntTooLong(Exception):
    pass


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS + 1:  # + a minus sign
        raise _IntTooLong
    return int(text)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` levels (iterative: no recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def loads(text: str | bytes) -> Any:
    """``json.loads`` that raises ``json.JSONDecodeError`` (``JsonOutOfBounds`` for the bounds) and
    nothing else for any input; bytes must be UTF-8 (else ``UnicodeDecodeError``, as ``bytes.decode``)."""
    document = text.decode("utf-8") if isinstance(text, bytes) else text
    try:
        value = json.loads(document, parse_int=_bounded_int)
    except _IntTooLong:
        raise JsonOutOfBounds(f"an integer longer than {MAX_INT_DIGITS} digits", document, 0) from None
    except RecursionError:
        raise JsonOutOfBounds(f"nested deeper than {MAX_DEPTH} levels", document, 0) from None
    if _deeper_than(value, MAX_DEPTH):
        raise JsonOutOfBounds(f"nested deeper than {MAX_DEPTH} levels", document, 0)
    return value
