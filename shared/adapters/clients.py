"""How every boto3 client is built, and how what a request leaves undone is re-sent.

Whole requests are retried by botocore itself, in its ``standard`` mode: throttling and transient
errors (5xx, ``TransactionInProgressException``, connection errors) are re-sent with exponential
backoff and full jitter, bounded in attempts and by a per-client retry quota. DynamoDB gets
botocore's own DynamoDB budget of 4 attempts (at most 1 + 2 + 4 = 7 s of waiting), the other
services 3. What outlasts the retries reaches the adapter as the ``ClientError`` it was, and
``aws_errors.typed`` makes it ``Throttled``.

A request that succeeds but leaves part of its work undone (a BatchWriteItem's
``UnprocessedItems``, a BatchGetItem's ``UnprocessedKeys``, a PutEvents' failed entries, the items
of a transaction cancelled by a conflict) is invisible to botocore: the adapter re-sends that part
after a ``Backoff`` wait, bounded the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from shared.errors import Throttled

# Attempts in all, the first included (botocore's ``total_max_attempts``; its ``max_attempts`` in
# a Config counts retries only). These are botocore's own standard-mode defaults, made explicit.
MAX_ATTEMPTS = {"dynamodb": 4}
DEFAULT_MAX_ATTEMPTS = 3


# DynamoDB requests are built only by the adapters (typed calls, checked by mypy against boto3's
# stubs) and DynamoDB validates every request itself (a ValidationException). botocore's own walk
# over each attribute value repeated that check at a fifth of a bulk import's process CPU
# (bench/apply.py with BENCH_PARAMETER_VALIDATION=on; figures in docs/decisions.md).
SKIP_PARAMETER_VALIDATION = frozenset({"dynamodb"})


def client_config(service: str) -> Config:
    """The configuration every client of ``service`` is built with (botocore does the retrying)."""
    attempts = MAX_ATTEMPTS.get(service, DEFAULT_MAX_ATTEMPTS)
    return Config(
        retries={"mode": "standard", "total_max_attempts": attempts},
        parameter_validation=service not in SKIP_PARAMETER_VALIDATION,
    )


def aws_client(service: str, *, session: Any | None = None) -> Any:
    """A client of ``service`` (from ``session`` when given) with ``client_config``."""
    maker: Any = session.client if session is not None else boto3.client
    return maker(service, config=client_config(service))


@dataclass(frozen=True, slots=True)
class Backoff:
    """Bounded exponential waits between re-sends of the part of a request left undone.

    ``sleep`` is injectable so tests do not wait.
    """

    max_attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 2.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.base_delay * (2**attempt)))

    def wait(self, attempt: int, operation: str) -> int:
        """Sleep before re-send ``attempt + 1``, or raise ``Throttled`` once the budget is spent."""
        attempt += 1
        if attempt >= self.max_attempts:
            raise Throttled(operation)
        self.sleep(self.delay(attempt))
        return attempt
