"""moto's server as the local stack runs it (``infra/local/moto_patches.py``): the fixes that make
it fast enough for a whole company must leave DynamoDB's and SQS's answers as they were.

Each test states the AWS behaviour a patch could break: a cancelled transaction leaves every item
as it was (put, update, delete and condition check alike), the 400 KB item limit, conditions
answered per their values, queue counts when asked for, and long polling."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.local.aws import LocalAws
from shared.adapters.table_schema import create_table_kwargs


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    local = LocalAws().start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def table(aws: LocalAws) -> Iterator[tuple[Any, str]]:
    dynamodb = aws.client("dynamodb")
    name = f"patches-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(**create_table_kwargs(name))  # the service's own table, streams on
    yield dynamodb, name
    dynamodb.delete_table(TableName=name)


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "A"}}


def _item(pk: str, **attrs: str) -> dict[str, Any]:
    return {**_key(pk), **{k: {"S": v} for k, v in attrs.items()}}


def _get(dynamodb: Any, name: str, pk: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = dynamodb.get_item(TableName=name, Key=_key(pk)).get("Item")
    return found


def _reasons(error: ClientError) -> list[str]:
    return [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]


def test_a_cancelled_transaction_leaves_every_item_as_it_was(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item=_item("updated", colour="blue"))
    dynamodb.put_item(TableName=name, Item=_item("replaced", colour="green"))
    dynamodb.put_item(TableName=name, Item=_item("deleted", colour="red"))
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": name,
                        "Key": _key("updated"),
                        "UpdateExpression": "SET colour = :c, extra = :c",
                        "ExpressionAttributeValues": {":c": {"S": "changed"}},
                    }
                },
                {"Put": {"TableName": name, "Item": _item("replaced", colour="changed")}},
                {"Put": {"TableName": name, "Item": _item("created", colour="new")}},
                {"Delete": {"TableName": name, "Key": _key("deleted")}},
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": _key("missing"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _reasons(cancelled.value) == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert _get(dynamodb, name, "updated") == _item("updated", colour="blue")
    assert _get(dynamodb, name, "replaced") == _item("replaced", colour="green")
    assert _get(dynamodb, name, "deleted") == _item("deleted", colour="red")
    assert _get(dynamodb, name, "created") is None
    assert dynamodb.scan(TableName=name)["Count"] == 3


def test_a_transaction_that_passes_writes_every_item(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item=_item("updated", colour="blue"))
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": name,
                    "Key": _key("updated"),
                    "UpdateExpression": "SET colour = :c",
                    "ConditionExpression": "colour = :was",
                    "ExpressionAttributeValues": {":c": {"S": "changed"}, ":was": {"S": "blue"}},
                }
            },
            {
                "Put": {
                    "TableName": name,
                    "Item": _item("created", colour="new"),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )
    assert _get(dynamodb, name, "updated") == _item("updated", colour="changed")
    assert _get(dynamodb, name, "created") == _item("created", colour="new")


def test_a_transaction_naming_one_item_twice_is_refused_and_changes_nothing(
    table: tuple[Any, str],
) -> None:
    dynamodb, name = table
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": _item("twice", colour="one")}},
                {"Put": {"TableName": name, "Item": _item("twice", colour="two")}},
            ]
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _get(dynamodb, name, "twice") is None


def test_items_over_400_kb_are_refused_and_items_under_it_stored(table: tuple[Any, str]) -> None:
    dynamodb, name = table
    with pytest.raises(ClientError) as refused:
        dynamodb.put_item(TableName=name, Item=_item("big", blob="x" * 410_000))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "size" in refused.value.response["Error"]["Message"].lower()
    assert _get(dynamodb, name, "big") is None
    dynamodb.put_item(TableName=name, Item=_item("large", blob="x" * 390_000))
    stored = _get(dynamodb, name, "large")
    assert stored is not None
    assert len(stored["blob"]["S"]) == 390_000


def test_one_condition_answers_each_request_by_its_own_values(table: tuple[Any, str]) -> None:
    """The parsed-condition cache must not carry one request's values into the next."""
    dynamodb, name = table
    claim = "attribute_not_exists(pk) OR member_id = :m"

    def put(member: str) -> None:
        dynamodb.put_item(
            TableName=name,
            Item=_item("guard", member_id=member),
            ConditionExpression=claim,
            ExpressionAttributeValues={":m": {"S": member}},
        )

    put("m-1")
    put("m-1")  # the same member again: its own claim
    with pytest.raises(ClientError) as taken:
        put("m-2")
    assert taken.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert _get(dynamodb, name, "guard") == _item("guard", member_id="m-1")


def test_unused_attribute_names_are_refused_every_time(table: tuple[Any, str]) -> None:
    """The names a parsed condition found are kept with it: the request check still sees them."""
    dynamodb, name = table

    def put(names: dict[str, str]) -> None:
        dynamodb.put_item(
            TableName=name,
            Item=_item("named"),
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames=names,
        )

    for _ in range(2):  # the second time the parsed condition is a kept one
        with pytest.raises(ClientError) as refused:
            put({"#k": "pk", "#unused": "colour"})
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert "unused" in refused.value.response["Error"]["Message"]
    assert _get(dynamodb, name, "named") is None
    put({"#k": "pk"})
    assert _get(dynamodb, name, "named") == _item("named")


def test_queue_counts_are_exact_when_asked_for(aws: LocalAws) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"patches-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for body in ("one", "two", "three"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert len(received) == 1
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "2"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])
    asked = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert asked["Attributes"] == {"ApproximateNumberOfMessagesNotVisible": "0"}


def test_a_long_poll_returns_a_message_sent_while_it_waits(aws: LocalAws) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"patches-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sender = threading.Timer(0.3, lambda: sqs.send_message(QueueUrl=url, MessageBody="hello"))
    sender.start()
    received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
    sender.join()
    assert [m["Body"] for m in received] == ["hello"]  # the same call, not a later one


def test_binary_values_survive_every_item_request(table: tuple[Any, str]) -> None:
    """Requests carrying binary values still go through moto's model (base64 -> bytes)."""
    dynamodb, name = table
    item = {**_key("binary"), "blob": {"B": b"\x00\x01\xff"}, "blobs": {"BS": [b"a", b"\x00"]}}
    dynamodb.put_item(TableName=name, Item=item)
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": name,
                    "Item": {**_key("binary-2"), "blob": {"B": b"\xfe"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
    )
    stored = _get(dynamodb, name, "binary")
    assert stored is not None
    assert stored["blob"] == {"B": b"\x00\x01\xff"}
    assert sorted(stored["blobs"]["BS"]) == [b"\x00", b"a"]
    assert _get(dynamodb, name, "binary-2") == {**_key("binary-2"), "blob": {"B": b"\xfe"}}


def test_stream_records_carry_their_images_and_size(aws: LocalAws, table: tuple[Any, str]) -> None:
    dynamodb, name = table
    dynamodb.put_item(TableName=name, Item=_item("streamed", colour="blue"))
    dynamodb.put_item(TableName=name, Item=_item("streamed", colour="green"))
    streams = aws.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    assert records[1]["dynamodb"]["OldImage"]["colour"] == {"S": "blue"}
    assert records[1]["dynamodb"]["NewImage"]["colour"] == {"S": "green"}
    assert all(r["dynamodb"]["SizeBytes"] > 0 for r in records)


def test_deleting_a_message_twice_is_accepted_and_an_unknown_handle_refused(aws: LocalAws) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=f"patches-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for body in ("one", "two"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == ["one", "two"]
    handle = received[0]["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)  # SQS accepts a repeated delete
    with pytest.raises(ClientError) as unknown:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert unknown.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (left["ApproximateNumberOfMessages"], left["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")


def test_index_queries_see_every_write_since_the_last_query(table: tuple[Any, str]) -> None:
    """An index's partitions are kept between queries: every kind of write must show."""
    dynamodb, name = table

    def partition(value: str) -> list[str]:
        found = dynamodb.query(
            TableName=name,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues={":p": {"S": value}},
        )["Items"]
        return [i["pk"]["S"] for i in found]

    for pk, order in (("b", "2"), ("a", "1"), ("c", "3")):
        dynamodb.put_item(TableName=name, Item=_item(pk, gsi1pk="team", gsi1sk=order))
    assert partition("team") == ["a", "b", "c"]  # by the index's sort key
    assert partition("team") == ["a", "b", "c"]  # asked again, nothing written: the same
    dynamodb.update_item(
        TableName=name,
        Key=_key("b"),
        UpdateExpression="SET gsi1pk = :other",
        ExpressionAttributeValues={":other": {"S": "other"}},
    )
    assert (partition("team"), partition("other")) == (["a", "c"], ["b"])
    dynamodb.delete_item(TableName=name, Key=_key("a"))
    dynamodb.batch_write_item(
        RequestItems={name: [{"PutRequest": {"Item": _item("d", gsi1pk="team", gsi1sk="0")}}]}
    )
    assert partition("team") == ["d", "c"]
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": _item("e", gsi1pk="team", gsi1sk="9")}},
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": _key("x"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert partition("team") == ["d", "c"]  # the cancelled transaction's put is not there
