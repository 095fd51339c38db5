"""The one DynamoDB table, described once as plain data.

The CDK stack (``infra/``) and the local stack / tests both build the table from ``TABLE``, so the
two cannot drift. ``create_table_kwargs`` turns it into ``create_table`` arguments for boto3 and
``ttl_kwargs`` into ``update_time_to_live`` arguments.

Key design (docs/table.md has the full table of entity -> keys): every partition key starts with
``T#<tenant>``, so no key, query or index can reach another tenant's items (and an IAM policy can
pin a caller to ``dynamodb:LeadingKeys`` ``T#<tenant>*``). The one exception is the connection
route item ``ROUTE#C#<connection>`` that holds nothing but the owning tenant's id, so a webhook
(``POST /webhooks/{connection_id}``) can find its tenant. Every value in a key is escaped
(``keys.escape``), so any text can be keyed and none can forge another part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Projection = Literal["ALL", "KEYS_ONLY", "INCLUDE"]
StreamView = Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]


@dataclass(frozen=True, slots=True)
class KeyAttribute:
    name: str
    type: Literal["S", "N", "B"] = "S"


@dataclass(frozen=True, slots=True)
class GlobalIndex:
    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute
    projection: Projection = "ALL"
    non_key_attributes: tuple[str, ...] = ()
    # What the index answers (documentation, also shown in docs/table.md).
    purpose: str = ""


@dataclass(frozen=True, slots=True)
class TableSchema:
    partition_key: KeyAttribute
    sort_key: KeyAttribute
    global_indexes: tuple[GlobalIndex, ...] = ()
    ttl_attribute: str | None = None
    stream_view_type: StreamView | None = None
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST"
    point_in_time_recovery: bool = True
    deletion_protection: bool = True
    tags: dict[str, str] = field(default_factory=dict)

    def index(self, name: str) -> GlobalIndex:
        for gsi in self.global_indexes:
            if gsi.name == name:
                return gsi
        raise KeyError(name)

    @property
    def key_attributes(self) -> tuple[KeyAttribute, ...]:
        """Every attribute that appears in a key of the table or an index (each once)."""
        seen: dict[str, KeyAttribute] = {}
        for attr in (self.partition_key, self.sort_key):
            seen.setdefault(attr.name, attr)
        for gsi in self.global_indexes:
            for attr in (gsi.partition_key, gsi.sort_key):
                seen.setdefault(attr.name, attr)
        return tuple(seen.values())


# Index names, used by the adapters' queries.
GSI_STATUS = "gsi1"  # members by status; tasks by type+status; a connection's runs by start time
GSI_SOURCE = "gsi2"  # members by source (and all members of a tenant)
GSI_FLAG = "gsi3"  # members by flag (sparse)

# The TTL attribute (epoch seconds): lock leases, applied-chunk markers, held plans and finished
# runs' bookkeeping expire through it. DynamoDB deletes lazily, so readers never trust it alone.
TTL_ATTRIBUTE = "ttl"

TABLE = TableSchema(
    partition_key=KeyAttribute("pk"),
    sort_key=KeyAttribute("sk"),
    global_indexes=(
        GlobalIndex(
            name=GSI_STATUS,
            partition_key=KeyAttribute("gsi1pk"),
            sort_key=KeyAttribute("gsi1sk"),
            purpose="members by status; tasks by type and status; a connection's runs, newest first",
        ),
        GlobalIndex(
            name=GSI_SOURCE,
            partition_key=KeyAttribute("gsi2pk"),
            sort_key=KeyAttribute("gsi2sk"),
            purpose="all members of a tenant, and by source (begins_with on the sort key)",
        ),
        GlobalIndex(
            name=GSI_FLAG,
            partition_key=KeyAttribute("gsi3pk"),
            sort_key=KeyAttribute("gsi3sk"),
            purpose="members by flag (sparse: only flagged members carry the keys)",
        ),
    ),
    ttl_attribute=TTL_ATTRIBUTE,
    stream_view_type="NEW_AND_OLD_IMAGES",
)


def create_table_kwargs(table_name: str, schema: TableSchema = TABLE) -> dict[str, Any]:
    """``create_table`` arguments for boto3 (on-demand billing, streams on)."""
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": a.name, "AttributeType": a.type} for a in schema.key_attributes
        ],
        "KeySchema": [
            {"AttributeName": schema.partition_key.name, "KeyType": "HASH"},
            {"AttributeName": schema.sort_key.name, "KeyType": "RANGE"},
        ],
        "BillingMode": schema.billing_mode,
    }
    if schema.billing_mode == "PROVISIONED":  # pragma: no cover - the table is on-demand
        kwargs["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if schema.global_indexes:
        indexes: list[dict[str, Any]] = []
        for gsi in schema.global_indexes:
            projection: dict[str, Any] = {"ProjectionType": gsi.projection}
            if gsi.projection == "INCLUDE":
                projection["NonKeyAttributes"] = list(gsi.non_key_attributes)
            index: dict[str, Any] = {
                "IndexName": gsi.name,
                "KeySchema": [
                    {"AttributeName": gsi.partition_key.name, "KeyType": "HASH"},
                    {"AttributeName": gsi.sort_key.name, "KeyType": "RANGE"},
                ],
                "Projection": projection,
            }
            if schema.billing_mode == "PROVISIONED":  # pragma: no cover
                index["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            indexes.append(index)
        kwargs["GlobalSecondaryIndexes"] = indexes
    if schema.stream_view_type is not None:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": schema.stream_view_type}
    if schema.tags:
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(schema.tags.items())]
    return kwargs


def ttl_kwargs(table_name: str, schema: TableSchema = TABLE) -> dict[str, Any] | None:
    """``update_time_to_live`` arguments, or None when the table has no TTL attribute."""
    if schema.ttl_attribute is None:
        return None
    return {
        "TableName": table_name,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": schema.ttl_attribute},
    }


def create_table(client: Any, table_name: str, schema: TableSchema = TABLE) -> None:
    """Create the table with a boto3 DynamoDB client and wait until it is active (local stack, tests)."""
    client.create_table(**create_table_kwargs(table_name, schema))
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = ttl_kwargs(table_name, schema)
    if ttl is not None:
        client.update_time_to_live(**ttl)


# ---------------------------------------------------------------------------------------------
# The idempotency table (webhook worker): Powertools Idempotency records, one per delivery
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdempotencySchema:
    """Powertools' ``DynamoDBPersistenceLayer`` layout: a hash key ``id`` (the function name and a
    hash of connection + delivery id) and an ``expiration`` TTL. Its own table, not the main one:
    Powertools writes one static partition (``idempotency#<function>``) when given a sort key, which
    would break the main table's tenant-first keys; here every record has its own partition and
    disappears through TTL. Records hold only counts, never personal data."""

    key: KeyAttribute = KeyAttribute("id")
    ttl_attribute: str = "expiration"
    point_in_time_recovery: bool = True


IDEMPOTENCY_TABLE = IdempotencySchema()


def create_idempotency_table(
    client: Any, table_name: str, schema: IdempotencySchema = IDEMPOTENCY_TABLE
) -> None:
    """Create the idempotency table with a boto3 client and wait until it is active."""
    client.create_table(
        TableName=table_name,
        AttributeDefinitions=[{"AttributeName": schema.key.name, "AttributeType": schema.key.type}],
        KeySchema=[{"AttributeName": schema.key.name, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.ttl_attribute},
    )
