"""Builders and client doubles shared by the adapter tests."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from shared.adapters.clients import Backoff, aws_client
from shared.adapters.dynamo import DynamoTable
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
        backoff=Backoff(max_attempts=5, sleep=sleeps if sleeps is not None else Sleeps()),
    )


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class ScriptedAws:
    """A client built as the product builds it (``clients.aws_client``: botocore's retry mode and
    budget) whose network is a script: each request botocore sends of ``operation`` is answered by
    the next ``answers`` entry: an AWS error code (HTTP 400), or the body of a success (HTTP 200;
    ``None`` for ``{}``).

    The answers come from botocore's ``before-send`` hook, below its retry handler, so botocore
    decides whether to retry exactly as for AWS's answer (``sends`` counts the attempts it made).
    Nothing reaches a socket. ``waits`` holds the backoff botocore chose before each retry: the
    fixture ``botocore_waits`` records them instead of sleeping.
    """

    def __init__(self, service: str, operation: str, answers: list[str | dict[str, Any] | None]) -> None:
        self.client = aws_client(service, session=boto3.Session(region_name="eu-west-1"))
        self.answers = list(answers)
        self.sends = 0
        service_id = self.client.meta.service_model.service_id.hyphenize()
        self.client.meta.events.register(f"before-send.{service_id}.{operation}", self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        self.sends += 1
        if not self.answers:
            raise AssertionError(f"botocore sent more requests than scripted ({self.sends})")
        answer = self.answers.pop(0)
        headers = {"x-amzn-RequestId": f"scripted-{self.sends}", "Content-Type": "application/x-amz-json-1.0"}
        if isinstance(answer, str):
            error = json.dumps({"__type": answer, "message": "scripted"}).encode()
            return AWSResponse(request.url, 400, headers, _Body(error))
        return AWSResponse(request.url, 200, headers, _Body(json.dumps(answer or {}).encode()))


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
    """Delegates to a real client, but answers some calls as DynamoDB does under load:
    ``unprocessed`` is how many BatchWriteItem / BatchGetItem calls return half their items
    unprocessed (the other half is really written). (Throttled requests are botocore's to retry:
    ``ScriptedAws``.)
    """

    def __init__(self, client: Any, *, unprocessed: int = 0) -> None:
        self._client = client
        self.unprocessed = unprocessed
        self.meta = client.meta

    def __getattr__(self, name: str) -> Callable[..., Any]:
        real: Callable[..., Any] = getattr(self._client, name)
        if name == "batch_write_item":
            return self._batch_write
        if name == "batch_get_item":
            return self._batch_get
        return real

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
