"""Webhooks that wait, on the single table: pending lists (R29), held deactivations and the
webhook guard's rolling window (R30).

- A list entry is one item, ``T#<t>#C#<c>#WHL#<list>`` / ``<sha256 of the HR id>``: adding an HR id
  again replaces its item (deduplicated by the key), any id fits (it is an attribute, the key is
  its digest), and a list of any length is read a page at a time. ``remove`` deletes an entry only
  while it carries the token that was read (a conditional delete), so a newer webhook for the
  same employee survives a drain of the older one.
- The window is one item per webhook deactivation, ``T#<t>#C#<c>#WHD`` / ``<at>#<member id>``:
  counting "since" is one ``Select=COUNT`` query on a sort-key range. The table's TTL removes
  entries two maximum windows after they were logged.
- The guard's state is one item beside the connection's lock, ``T#<t>`` / ``WHGUARD#<c>``: the
  held run is set with ``attribute_not_exists`` (the first worker wins) and cleared only by its
  own run's decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

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
    str_attr,
)
from shared.domain.models import MAX_WEBHOOK_WINDOW_MINUTES
from shared.errors import CorruptItem, InvalidInput

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import QueryInputTypeDef
from shared.ports import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, GuardState, Page, PendingEmployee

ENTRY = "webhook_entry"
DEACTIVATION = "webhook_deactivation"
GUARD = "webhook_guard"

# Window entries outlive the longest window twice over before the table's TTL removes them.
_WINDOW_KEEP = timedelta(minutes=2 * MAX_WEBHOOK_WINDOW_MINUTES)
# Entries of a list nobody drained (a connection deleted mid-sync) are removed after this.
_ENTRY_KEEP = timedelta(days=90)


def _entry_item(tenant_id: str, connection_id: str, list_name: str, entry: PendingEmployee) -> Item:
    if not entry.hris_id:
        raise InvalidInput("a listed employee needs an HR id", field="hris_id")
    item: Item = {
        **key(keys.webhook_list_pk(tenant_id, connection_id, list_name), keys.webhook_list_sk(entry.hris_id)),
        "entity": str_attr(ENTRY),
        "hris_id": str_attr(entry.hris_id),
        "token": str_attr(entry.token),
        "added_at": str_attr(iso(entry.added_at)),
        "ttl": {"N": str(epoch(entry.added_at + _ENTRY_KEEP))},
    }
    if entry.member_id is not None:
        item["member_id"] = str_attr(entry.member_id)
    if entry.reason is not None:
        item["reason"] = str_attr(entry.reason)
    return item


def _entry_from_item(item: Item) -> PendingEmployee:
    plain = deserialize(item)
    try:
        if plain["entity"] != ENTRY:
            raise ValueError(plain["entity"])
        return PendingEmployee(
            hris_id=str(plain["hris_id"]),
            token=str(plain["token"]),
            added_at=datetime.fromisoformat(str(plain["added_at"])),
            member_id=plain.get("member_id"),
            reason=plain.get("reason"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptItem(f"pk={plain.get('pk')!r} sk={plain.get('sk')!r}", "webhook list entry") from error


class DynamoPendingWebhooks:
    """``PendingWebhooks`` on the single table."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def add(
        self, tenant_id: str, connection_id: str, list_name: str, entries: Sequence[PendingEmployee]
    ) -> None:
        latest = {e.hris_id: e for e in entries}  # one request may not name a key twice
        self._table.batch_write(
            [
                {"PutRequest": {"Item": _entry_item(tenant_id, connection_id, list_name, e)}}
                for e in latest.values()
            ]
        )

    def read(
        self,
        tenant_id: str,
        connection_id: str,
        list_name: str,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> Page[PendingEmployee]:
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_LIMIT}", field="limit")
        result = self._table.query_page(
            partition_attr="pk",
            partition_value=keys.webhook_list_pk(tenant_id, connection_id, list_name),
            limit=limit,
            cursor=cursor,
        )
        return Page(tuple(_entry_from_item(i) for i in result.items), result.next_cursor)

    def remove(
        self, tenant_id: str, connection_id: str, list_name: str, entries: Sequence[PendingEmployee]
    ) -> None:
        pk = keys.webhook_list_pk(tenant_id, connection_id, list_name)
        for entry in entries:
            try:
                self._table.delete_item(
                    TableName=self._table.table_name,
                    Key=key(pk, keys.webhook_list_sk(entry.hris_id)),
                    ConditionExpression="attribute_not_exists(pk) OR #t = :t",
                    ExpressionAttributeNames={"#t": "token"},
                    ExpressionAttributeValues={":t": str_attr(entry.token)},
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                # Written again by a newer delivery since it was read: it stays for the next drain.

    def discard(self, tenant_id: str, connection_id: str, list_name: str, hris_ids: Sequence[str]) -> None:
        pk = keys.webhook_list_pk(tenant_id, connection_id, list_name)
        self._table.batch_write(
            [{"DeleteRequest": {"Key": key(pk, keys.webhook_list_sk(i))}} for i in dict.fromkeys(hris_ids)]
        )


class DynamoWebhookGuardStore:
    """``WebhookGuardStore`` on the single table."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def record_deactivations(
        self, tenant_id: str, connection_id: str, member_ids: Sequence[str], at: datetime
    ) -> None:
        pk = keys.webhook_deactivations_pk(tenant_id, connection_id)
        self._table.batch_write(
            [
                {
                    "PutRequest": {
                        "Item": {
                            **key(pk, keys.time_sort(iso(at), keys.part(member_id, "member_id"))),
                            "entity": str_attr(DEACTIVATION),
                            "member_id": str_attr(member_id),
                            "ttl": {"N": str(epoch(at + _WINDOW_KEEP))},
                        }
                    }
                }
                for member_id in dict.fromkeys(member_ids)
            ]
        )

    def count_deactivations(self, tenant_id: str, connection_id: str, since: datetime) -> int:
        request: QueryInputTypeDef = {
            "TableName": self._table.table_name,
            "KeyConditionExpression": "pk = :p AND sk >= :since",
            "ExpressionAttributeValues": {
                ":p": str_attr(keys.webhook_deactivations_pk(tenant_id, connection_id)),
                ":since": str_attr(iso(since)),
            },
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        total = 0
        while True:
            response = self._table.query(**request)
            total += int(response.get("Count", 0))
            last = response.get("LastEvaluatedKey")
            if last is None:
                return total
            request["ExclusiveStartKey"] = last

    def _key(self, tenant_id: str, connection_id: str) -> Item:
        return key(keys.tenant_pk(tenant_id), keys.webhook_guard_sk(connection_id))

    def state(self, tenant_id: str, connection_id: str) -> GuardState:
        item = self._table.get(self._key(tenant_id, connection_id))
        if item is None:
            return GuardState()
        plain = deserialize(item)
        try:
            decided = plain.get("decided_at")
            return GuardState(
                held_run_id=plain.get("held_run_id"),
                decided_at=datetime.fromisoformat(str(decided)) if decided else None,
            )
        except (TypeError, ValueError) as error:
            raise CorruptItem(f"pk={plain.get('pk')!r} sk={plain.get('sk')!r}", "webhook guard") from error

    def hold(self, tenant_id: str, connection_id: str, run_id: str) -> str:
        try:
            self._table.update_item(
                TableName=self._table.table_name,
                Key=self._key(tenant_id, connection_id),
                UpdateExpression="SET entity = :e, held_run_id = :r",
                ConditionExpression="attribute_not_exists(held_run_id)",
                ExpressionAttributeValues={":e": str_attr(GUARD), ":r": str_attr(run_id)},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            held = self.state(tenant_id, connection_id).held_run_id
            if held is None:  # decided between our write and our read: hold again
                return self.hold(tenant_id, connection_id, run_id)
            return held
        return run_id

    def decide(self, tenant_id: str, connection_id: str, run_id: str, at: datetime) -> None:
        try:
            self._table.update_item(
                TableName=self._table.table_name,
                Key=self._key(tenant_id, connection_id),
                UpdateExpression="SET decided_at = :at REMOVE held_run_id",
                ConditionExpression="held_run_id = :r",
                ExpressionAttributeValues={":r": str_attr(run_id), ":at": str_attr(iso(at))},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
