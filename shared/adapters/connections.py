"""Connections on DynamoDB, with a per-tenant counter that enforces R22 atomically.

Items: the connection (``T#<t>`` / ``CONN#<c>``), its route (``ROUTE#C#<c>``: connection -> tenant,
for webhooks) and the tenant's counter of connections that are neither drafts nor disconnected
(``T#<t>`` / ``COUNTER#CONNECTIONS``). A create writes all three in one transaction, so two
concurrent connects can never both pass the limit; a draft's activation (R32) writes the
connection and the counter, conditioned on the limit, in one transaction too.

A connection that holds or wants a vendor subscription also has a reference in the cross-tenant
``SUBSCRIBED`` partition (``C#<c>``: its tenant, its id, the subscription's expiry), written or
deleted in the same transaction as the connection: the renewal sweep's list.
"""

from __future__ import annotations

from typing import Any

from shared.adapters import keys
from shared.adapters.dynamo import (
    DynamoTable,
    Item,
    key,
    model_attributes,
    model_from_item,
    num_attr,
    serialize,
)
from shared.domain.models import Connection, ConnectionStatus
from shared.errors import (
    AlreadyExists,
    ConnectionLimitReached,
    ConnectionNotFound,
    CorruptItem,
    InvalidInput,
    VersionConflict,
)

ENTITY = "connection"


def _counts(connection: Connection) -> bool:
    """R22 counts active and failing connections; drafts (R32) and disconnected ones are free."""
    return connection.status not in (ConnectionStatus.DISCONNECTED, ConnectionStatus.DRAFT)


class DynamoConnectionStore:
    """``ConnectionStore`` on the single table (plus ``tenant_of`` for webhook routing)."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def _item(self, connection: Connection) -> Item:
        return serialize(
            {
                "pk": keys.tenant_pk(connection.tenant_id),
                "sk": keys.connection_sk(connection.connection_id),
                "entity": ENTITY,
                **model_attributes(connection),
            }
        )

    def _counter(self, tenant_id: str, delta: int, *, limit: int | None = None) -> Item:
        update: dict[str, Any] = {
            "TableName": self._table.table_name,
            "Key": key(keys.tenant_pk(tenant_id), keys.CONNECTION_COUNTER_SK),
            "UpdateExpression": "SET active = if_not_exists(active, :zero) + :d, entity = :e",
            "ExpressionAttributeValues": {
                ":zero": num_attr(0),
                ":d": num_attr(delta),
                ":e": {"S": "counter"},
            },
        }
        if limit is not None:
            update["ConditionExpression"] = "attribute_not_exists(active) OR active < :max"
            update["ExpressionAttributeValues"][":max"] = num_attr(limit)
        return {"Update": update}

    def create(self, connection: Connection, *, max_active: int) -> None:
        if connection.version != 1:
            raise InvalidInput("a new connection has version 1", field="version")
        t, c = connection.tenant_id, connection.connection_id
        items: list[Item] = [
            {
                "Put": {
                    "TableName": self._table.table_name,
                    "Item": self._item(connection),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table.table_name,
                    "Item": serialize(
                        {"pk": keys.route_pk(c), "sk": keys.ROUTE_SK, "entity": "route", "tenant_id": t}
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if _counts(connection):
            items.append(self._counter(t, +1, limit=max_active))
        cancelled = self._table.transact(items)
        if cancelled is None:
            return
        reasons = cancelled.reasons
        if "ConditionalCheckFailed" in reasons[:2]:
            raise AlreadyExists("connection", c)
        if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
            raise ConnectionLimitReached(max_active)
        raise InvalidInput(f"connection {c!r} cannot be stored: {sorted(set(filter(None, reasons)))}")

    def get(self, tenant_id: str, connection_id: str) -> Connection:
        item = self._table.get(key(keys.tenant_pk(tenant_id), keys.connection_sk(connection_id)))
        if item is None:
            raise ConnectionNotFound(connection_id, tenant_id=tenant_id)
        return self._read(item)

    def _read(self, item: Item) -> Connection:
        connection = model_from_item(Connection, item, entity=ENTITY)
        if item["pk"]["S"] != keys.tenant_pk(connection.tenant_id) or item["sk"]["S"] != keys.connection_sk(
            connection.connection_id
        ):
            raise CorruptItem(f"pk={item['pk']['S']!r} sk={item['sk']['S']!r}", "fields do not match the key")
        return connection

    def list_for_tenant(self, tenant_id: str) -> list[Connection]:
        connections = [
            self._read(item)
            for item in self._table.query_all(
                partition_attr="pk",
                partition_value=keys.tenant_pk(tenant_id),
                sort_attr="sk",
                sort_prefix=keys.CONNECTION_SK_PREFIX,
            )
        ]
        return sorted(connections, key=lambda c: (c.created_at is not None, c.created_at, c.connection_id))

    def save(self, connection: Connection, *, expected_version: int, max_active: int | None = None) -> None:
        if connection.version != expected_version + 1:
            raise InvalidInput("a saved connection's version is one more than the expected version")
        stored = self.get(connection.tenant_id, connection.connection_id)
        if stored.version != expected_version:
            raise VersionConflict("connection", connection.connection_id, expected_version)
        takes_slot = _counts(connection) and not _counts(stored)
        if takes_slot and max_active is None:
            raise InvalidInput("a save that activates a connection names the limit (R22)", field="max_active")
        items: list[Item] = [
            {
                "Put": {
                    "TableName": self._table.table_name,
                    "Item": self._item(connection),
                    "ConditionExpression": "#v = :v",
                    "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": {":v": num_attr(expected_version)},
                }
            }
        ]
        if _counts(stored) != _counts(connection):
            delta = +1 if takes_slot else -1
            items.append(self._counter(connection.tenant_id, delta, limit=max_active if takes_slot else None))
        reference = self._reference(stored, connection)
        if reference is not None:
            items.append(reference)  # last: the reasons above keep their places
        cancelled = self._table.transact(items)
        if cancelled is None:
            return
        if cancelled.reasons[0] == "ConditionalCheckFailed":
            raise VersionConflict("connection", connection.connection_id, expected_version)
        if takes_slot and max_active is not None and cancelled.reasons[1:2] == ["ConditionalCheckFailed"]:
            raise ConnectionLimitReached(max_active)
        raise InvalidInput(f"connection cannot be saved: {sorted(set(filter(None, cancelled.reasons)))}")

    def _reference(self, stored: Connection, connection: Connection) -> Item | None:
        """The sweep's reference written (or deleted) when the connection's need changed."""
        pk, sk = keys.SUBSCRIBED_PK, keys.subscribed_sk(connection.connection_id)
        if connection.in_subscription_sweep:
            if stored.in_subscription_sweep and stored.subscription == connection.subscription:
                return None
            held = connection.subscription
            return {
                "Put": {
                    "TableName": self._table.table_name,
                    "Item": serialize(
                        {
                            "pk": pk,
                            "sk": sk,
                            "entity": "subscribed",
                            "tenant_id": connection.tenant_id,
                            "connection_id": connection.connection_id,
                            "expires_at": held.expires_at.isoformat() if held is not None else "",
                        }
                    ),
                }
            }
        if not stored.in_subscription_sweep:
            return None
        return {"Delete": {"TableName": self._table.table_name, "Key": key(pk, sk)}}

    def list_subscribed(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for item in self._table.query_all(partition_attr="pk", partition_value=keys.SUBSCRIBED_PK):
            tenant, connection = item.get("tenant_id", {}).get("S"), item.get("connection_id", {}).get("S")
            if not tenant or not connection:
                raise CorruptItem(f"pk={keys.SUBSCRIBED_PK!r} sk={item['sk']['S']!r}", "names no connection")
            found.append((str(tenant), str(connection)))
        return found

    def tenant_of(self, connection_id: str) -> str:
        """The tenant that owns a connection (webhooks name only the connection)."""
        item = self._table.get(key(keys.route_pk(connection_id), keys.ROUTE_SK))
        if item is None:
            raise ConnectionNotFound(connection_id)
        tenant = item.get("tenant_id", {}).get("S")
        if not tenant:
            raise CorruptItem(f"pk={keys.route_pk(connection_id)!r} sk='ROUTE'", "route names no tenant")
        return str(tenant)
