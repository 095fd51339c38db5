"""The table built from the one definition has the keys, indexes, TTL and stream it declares."""

from __future__ import annotations

from shared.adapters.table_schema import TABLE, TTL_ATTRIBUTE


def test_table_is_built_from_the_one_definition(ddb):
    described = ddb.client.describe_table(TableName=ddb.table_name)["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in described["KeySchema"]} == {
        ("pk", "HASH"),
        ("sk", "RANGE"),
    }
    indexes = {i["IndexName"]: i for i in described["GlobalSecondaryIndexes"]}
    assert set(indexes) == {g.name for g in TABLE.global_indexes}
    for gsi in TABLE.global_indexes:
        keys = {(k["AttributeName"], k["KeyType"]) for k in indexes[gsi.name]["KeySchema"]}
        assert keys == {(gsi.partition_key.name, "HASH"), (gsi.sort_key.name, "RANGE")}
        assert indexes[gsi.name]["Projection"]["ProjectionType"] == gsi.projection
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ttl = ddb.client.describe_time_to_live(TableName=ddb.table_name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == TTL_ATTRIBUTE
