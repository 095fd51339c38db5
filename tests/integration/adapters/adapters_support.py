"""Builders and client doubles shared by the adapter tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.adapters.dynamo import DynamoTable, RetryPolicy
from shared.domain.ids import member_id_for
from shared.domain.models import Member, MemberFlag, MemberSource, MemberStatus, Profile
from shared.ports import MemberWrite


def needs_atomic_engine(engine: Any) -> None:
    """Concurrency tests run on DynamoDB Local only: moto's in-process backend checks a condition
    and writes without a lock, so two threads can both pass one condition (real DynamoDB and
    DynamoDB Local serialise them)."""
    if engine.name == "moto":
        pytest.skip("moto does not serialise concurrent conditional writes; proven on DynamoDB Local")


NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


class Sleeps(list[float]):
    """An injectable sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def table_for(engine: Any, *, client: Any | None = None, sleeps: Sleeps | None = None) -> DynamoTable:
    return DynamoTable(
        engine.table_name,
        client=client or engine.client,
        retry=RetryPolicy(max_attempts=5, sleep=sleeps if sleeps is not None else Sleeps()),
    )


def member(
    tenant: str = "t1",
    hris_id: str = "e1",
    *,
    connection: str | None = "c1",
    email: str | None = None,
    status: MemberStatus = MemberStatus.INVITED,
    source: MemberSource = MemberSource.HRIS,
    flags: frozenset[MemberFlag] = frozenset(),
    version: int = 1,
    member_id: str | None = None,
    **profile: Any,
) -> Member:
    return Member(
        member_id=member_id or member_id_for(tenant, connection or "manual", hris_id),
        tenant_id=tenant,
        source=source,
        connection_id=connection if source is MemberSource.HRIS else None,
        hris_id=hris_id if source is MemberSource.HRIS else None,
        status=status,
        profile=Profile(email=email or f"{hris_id}@example.com", first_name=hris_id.title(), **profile),
        flags=flags,
        version=version,
        created_at=NOW,
        updated_at=NOW,
    )


def create(m: Member, key: str = "run1#0") -> MemberWrite:
    return MemberWrite(member=m, previous=None, action_key=key)


def update(previous: Member, key: str = "run2#0", **changes: Any) -> MemberWrite:
    after = replace(previous, **{**changes, "version": previous.version + 1})
    return MemberWrite(member=after, previous=previous, action_key=key)


class CallCounter:
    """Counts DynamoDB API calls made through a client (botocore's before-call hook)."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    @property
    def writes(self) -> int:
        return sum(self.calls[name] for name in WRITE_OPERATIONS)


class FlakyClient:
    """Delegates to a real client, but answers some calls as DynamoDB does under load.

    ``unprocessed``: how many BatchWriteItem / BatchGetItem calls return half their items unprocessed
    (the other half is really written). ``throttle``: how many calls of ``throttle_operation`` fail
    with ProvisionedThroughputExceededException before reaching the engine.
    """

    def __init__(
        self,
        client: Any,
        *,
        unprocessed: int = 0,
        throttle: int = 0,
        throttle_operation: str = "transact_write_items",
    ) -> None:
        self._client = client
        self.unprocessed = unprocessed
        self.throttle = throttle
        self.throttle_operation = throttle_operation
        self.meta = client.meta

    def __getattr__(self, name: str) -> Callable[..., Any]:
        real: Callable[..., Any] = getattr(self._client, name)
        if name == self.throttle_operation:
            return self._throttled(real, name)
        if name == "batch_write_item":
            return self._batch_write
        if name == "batch_get_item":
            return self._batch_get
        return real

    def _throttled(self, real: Callable[..., Any], name: str) -> Callable[..., Any]:
        def call(**kwargs: Any) -> Any:
            if self.throttle > 0:
                self.throttle -= 1
                raise ClientError(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                    name,
                )
            return real(**kwargs)

        return call

    def _batch_get(self, **kwargs: Any) -> Any:
        if self.unprocessed <= 0:
            return self._client.batch_get_item(**kwargs)
        self.unprocessed -= 1
        ((table, request),) = kwargs["RequestItems"].items()
        keys = request["Keys"]
        half = len(keys) // 2 or len(keys)
        response = self._client.batch_get_item(RequestItems={table: {**request, "Keys": keys[:half]}})
        left = keys[half:]
        response["UnprocessedKeys"] = {table: {**request, "Keys": left}} if left else {}
        return response

    def _batch_write(self, **kwargs: Any) -> Any:
        if self.unprocessed <= 0:
            return self._client.batch_write_item(**kwargs)
        self.unprocessed -= 1
        ((table, requests),) = kwargs["RequestItems"].items()
        half = len(requests) // 2 or len(requests)
        done, left = requests[:half], requests[half:]
        response = self._client.batch_write_item(RequestItems={table: done})
        response["UnprocessedItems"] = {table: left} if left else {}
        return response
