"""The connection lock (R29) as a lease on one item: ``T#<t>`` / ``LOCK#<c>``.

Taking it is one conditional PutItem: it succeeds when no lease exists, when the lease is the
same holder's (a renewal) or when the lease has expired (a takeover). Expiry is compared in
milliseconds since the epoch against the caller's ``now`` (no clock read here). The item also
carries the table's TTL attribute, a day after expiry, so abandoned leases are cleaned up;
readers never rely on TTL (its deletes are lazy).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from shared.adapters import keys
from shared.adapters.aws_errors import error_code
from shared.adapters.dynamo import (
    DynamoTable,
    Item,
    deserialize,
    epoch,
    iso,
    key,
    num_attr,
    str_attr,
)
from shared.errors import CorruptItem, InvalidInput, LockHeld, LockLost
from shared.ports import Lease

_CLEANUP_AFTER = timedelta(days=1)
_TAKE_ATTEMPTS = 3


def _ms(at: datetime) -> int:
    if at.tzinfo is None:
        raise InvalidInput("timestamps must be timezone-aware")
    return int(at.timestamp() * 1000)


class DynamoConnectionLock:
    """``ConnectionLock`` on the single table; ``sort_key`` names which of a connection's leases
    it is (the sync's lock by default, ``keys.token_lease_sk`` for its token refreshes)."""

    def __init__(self, table: DynamoTable, *, sort_key: Callable[[str], str] = keys.lock_sk) -> None:
        self._table = table
        self._sort_key = sort_key

    def _key(self, tenant_id: str, connection_id: str) -> Item:
        return key(keys.tenant_pk(tenant_id), self._sort_key(connection_id))

    def acquire(
        self, tenant_id: str, connection_id: str, holder: str, now: datetime, ttl: timedelta
    ) -> Lease:
        if ttl <= timedelta(0):
            raise InvalidInput("a lease needs a positive duration", field="ttl")
        expires = now + ttl
        item = {
            **self._key(tenant_id, connection_id),
            "entity": str_attr("lock"),
            "tenant_id": str_attr(tenant_id),
            "connection_id": str_attr(connection_id),
            "holder": str_attr(holder),
            "expires_at": str_attr(iso(expires)),
            "expires_ms": num_attr(_ms(expires)),
            "ttl": num_attr(epoch(expires + _CLEANUP_AFTER)),
        }
        for _ in range(_TAKE_ATTEMPTS):
            try:
                self._table.put_item(
                    TableName=self._table.table_name,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR holder = :h OR expires_ms <= :now",
                    ExpressionAttributeValues={":h": str_attr(holder), ":now": num_attr(_ms(now))},
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                current = self.current(tenant_id, connection_id, now)
                if current is not None:
                    raise LockHeld(connection_id, current.holder, current.expires_at) from None
                continue  # released or expired between our put and our read: try again
            return Lease(tenant_id, connection_id, holder, expires.astimezone(UTC))
        raise LockHeld(connection_id, "unknown", now)

    def renew(self, lease: Lease, now: datetime, ttl: timedelta) -> Lease:
        expires = now + ttl
        try:
            self._table.update_item(
                TableName=self._table.table_name,
                Key=self._key(lease.tenant_id, lease.connection_id),
                UpdateExpression="SET expires_at = :at, expires_ms = :ms, #ttl = :ttl",
                ConditionExpression="holder = :h",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":h": str_attr(lease.holder),
                    ":at": str_attr(iso(expires)),
                    ":ms": num_attr(_ms(expires)),
                    ":ttl": num_attr(epoch(expires + _CLEANUP_AFTER)),
                },
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            raise LockLost(lease.connection_id, lease.holder) from None
        return Lease(lease.tenant_id, lease.connection_id, lease.holder, expires.astimezone(UTC))

    def release(self, lease: Lease) -> None:
        try:
            self._table.delete_item(
                TableName=self._table.table_name,
                Key=self._key(lease.tenant_id, lease.connection_id),
                ConditionExpression="holder = :h",
                ExpressionAttributeValues={":h": str_attr(lease.holder)},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise

    def current(self, tenant_id: str, connection_id: str, now: datetime) -> Lease | None:
        item_key = self._key(tenant_id, connection_id)
        item = self._table.get(item_key)
        if item is None:
            return None
        plain = deserialize(item)
        try:
            holder = str(plain["holder"])
            expires_ms = int(plain["expires_ms"])
        except (KeyError, TypeError, ValueError) as error:
            raise CorruptItem(
                f"pk={item_key['pk']['S']!r} sk={item_key['sk']['S']!r}", "lease unreadable"
            ) from error
        if expires_ms <= _ms(now):
            return None
        expires = datetime.fromtimestamp(expires_ms / 1000, tz=UTC)
        return Lease(tenant_id, connection_id, holder, expires)
