"""What every DynamoDB store shares: the client, typed errors, batching, cursors, item mapping.

``DynamoTable`` wraps one boto3 DynamoDB client (built lazily when none is given, with
``clients.client_config``: botocore retries throttled and failed requests) and one table:
- the typed call wrappers (``put_item`` ...) turn ``ClientError`` codes into our errors (a missing
  table -> ``NotFound``, the rest ``aws_errors.typed``: throttling that outlasted botocore's
  retries is ``Throttled``); only conditional failures and cancelled transactions stay
  ``ClientError``, for the callers, who know what the condition meant.
- ``batch_write`` sends BatchWriteItem requests of 25 and re-sends unprocessed items after a
  bounded ``Backoff``; ``transact`` sends one TransactWriteItems request and returns the
  cancellation reasons instead of raising, so callers can tell which item failed.
- ``query_page`` pages a query with an opaque cursor bound to the query's partition key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Unpack, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from shared.adapters.aws_errors import error_code, typed
from shared.adapters.clients import Backoff, aws_client
from shared.errors import CorruptItem, InvalidInput, NotFound

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        DeleteItemInputTypeDef,
        DeleteItemOutputTypeDef,
        PutItemInputTypeDef,
        PutItemOutputTypeDef,
        QueryInputTypeDef,
        QueryOutputTypeDef,
        TransactWriteItemTypeDef,
        UpdateItemInputTypeDef,
        UpdateItemOutputTypeDef,
        WriteRequestUnionTypeDef,
    )

Item = dict[str, Any]  # an item in DynamoDB's typed JSON ({"pk": {"S": "..."}})

BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
TRANSACT_LIMIT = 100

# Attributes the stores add around a model's fields; stripped before a model is read back.
KEY_ATTRIBUTES = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")
META_ATTRIBUTES = (*KEY_ATTRIBUTES, "entity", "ttl", "last_action")
DOC_ATTRIBUTE = "doc"

# The codes ``call`` leaves to its caller (a failed condition means something only there).
_CALLER_HANDLES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


# --- values ------------------------------------------------------------------------------------
def to_dynamo_value(value: Any) -> Any:
    """JSON-safe python -> what boto3's serializer accepts (floats as Decimal, tuples as lists)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {str(k): to_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo_value(v) for v in value]
    return value


def from_dynamo_value(value: Any) -> Any:
    """The reverse: Decimal -> int or float, sets -> sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(from_dynamo_value(v) for v in value)
    return value


def serialize(plain: Mapping[str, Any]) -> Item:
    return {k: _serializer.serialize(to_dynamo_value(v)) for k, v in plain.items()}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_dynamo_value(_deserializer.deserialize(v)) for k, v in item.items()}


def str_attr(value: str) -> dict[str, str]:
    return {"S": value}


def num_attr(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def key(pk: str, sk: str) -> Item:
    return {"pk": str_attr(pk), "sk": str_attr(sk)}


def describe_key(item_key: Mapping[str, Any]) -> str:
    pk = item_key.get("pk", {}).get("S", "?") if isinstance(item_key.get("pk"), dict) else "?"
    sk = item_key.get("sk", {}).get("S", "?") if isinstance(item_key.get("sk"), dict) else "?"
    return f"pk={pk!r} sk={sk!r}"


def iso(at: datetime) -> str:
    """A sortable UTC timestamp for sort keys; naive datetimes are refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput("timestamps must be timezone-aware", value=str(at))
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def model_attributes(model: BaseModel) -> dict[str, Any]:
    """A model's fields as stored attributes (JSON-safe values)."""
    return dict(model.model_dump(mode="json"))


def model_from_item[M: BaseModel](model_type: type[M], item: Mapping[str, Any], *, entity: str) -> M:
    """Read a stored item back as its model, or raise ``CorruptItem`` naming the key."""
    where = describe_key(item)
    try:
        plain = deserialize(item)
    except (TypeError, ValueError) as error:
        raise CorruptItem(where, f"unreadable attribute ({type(error).__name__})") from error
    stored_entity = plain.get("entity")
    if stored_entity != entity:
        raise CorruptItem(where, f"expected a {entity} item, found entity {stored_entity!r}")
    fields = {k: v for k, v in plain.items() if k not in META_ATTRIBUTES}
    try:
        return model_type.model_validate(fields)
    except ValidationError as error:
        raise CorruptItem(where, validation_problems(error)) from error


def doc_attributes(model: BaseModel, *top_level: str) -> dict[str, Any]:
    """A model stored as one JSON document (``doc``) plus copies of the fields that conditions,
    filters and people reading the table need at the top level.

    Used for the big, many-field items (members, audit entries): a flat item is cheaper to write,
    read and serialise than dozens of nested attributes, and the whole model is replaced on every
    write anyway (never updated field by field).
    """
    plain = model.model_dump(mode="json")
    attributes: dict[str, Any] = {name: plain[name] for name in top_level}
    attributes[DOC_ATTRIBUTE] = model.model_dump_json()
    return attributes


def model_from_doc[M: BaseModel](model_type: type[M], item: Mapping[str, Any], *, entity: str) -> M:
    """Read a ``doc`` item back, or raise ``CorruptItem`` naming the key."""
    where = describe_key(item)
    stored_entity = item.get("entity", {}).get("S") if isinstance(item.get("entity"), dict) else None
    if stored_entity != entity:
        raise CorruptItem(where, f"expected a {entity} item, found entity {stored_entity!r}")
    doc = item.get(DOC_ATTRIBUTE)
    if not isinstance(doc, dict) or "S" not in doc:
        raise CorruptItem(where, f"no {DOC_ATTRIBUTE!r} document")
    try:
        return model_type.model_validate_json(doc["S"])
    except ValidationError as error:
        raise CorruptItem(where, validation_problems(error)) from error


def validation_problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(item)'}: {e['msg']}" for e in error.errors()[:5]
    )


# --- cursors -----------------------------------------------------------------------------------
def encode_cursor(last_key: Mapping[str, Any]) -> str:
    raw = json.dumps({k: v["S"] for k, v in sorted(last_key.items())}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str, *, key_names: Sequence[str], partition_attr: str, partition_value: str
) -> Item:
    """A cursor back into an ExclusiveStartKey; refused unless it belongs to this very query."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise InvalidInput("invalid cursor", field="cursor") from error
    if (
        not isinstance(plain, dict)
        or set(plain) != set(key_names)
        or not all(isinstance(v, str) for v in plain.values())
        or plain.get(partition_attr) != partition_value
    ):
        raise InvalidInput("invalid cursor", field="cursor")
    return {k: str_attr(v) for k, v in plain.items()}


@dataclass(frozen=True, slots=True)
class QueryResult:
    items: list[Item]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A cancelled transaction: one reason code per item (None where the item was fine)."""

    reasons: list[str | None]


class DynamoTable:
    """One table and one client, with our errors and paging; botocore retries whole requests.

    Every request goes through a typed client call (mypy checks it against boto3's stubs); the
    wrappers below only turn ``ClientError`` codes into our errors.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.table_name = table_name
        self._client = client
        self.backoff = backoff or Backoff()

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = cast("DynamoDBClient", aws_client("dynamodb"))
        return self._client

    def error(self, error: ClientError, operation: str) -> Exception:
        """What a failed call raises: ``NotFound`` for a missing table, the ``ClientError`` itself
        for a failed condition or a cancelled transaction (the caller knows what the condition
        meant), else ``aws_errors.typed`` (throttling that outlasted botocore's retries is
        ``Throttled``)."""
        code = error_code(error)
        if code in _CALLER_HANDLES:
            return error
        if code == "ResourceNotFoundException":
            return NotFound(self.table_name)
        return typed(error, operation, f"table {self.table_name!r}")

    # --- single calls ---------------------------------------------------------------------------
    def put_item(self, **request: Unpack[PutItemInputTypeDef]) -> PutItemOutputTypeDef:
        try:
            return self.client.put_item(**request)
        except ClientError as error:
            raise self.error(error, "PutItem") from None

    def update_item(self, **request: Unpack[UpdateItemInputTypeDef]) -> UpdateItemOutputTypeDef:
        try:
            return self.client.update_item(**request)
        except ClientError as error:
            raise self.error(error, "UpdateItem") from None

    def delete_item(self, **request: Unpack[DeleteItemInputTypeDef]) -> DeleteItemOutputTypeDef:
        try:
            return self.client.delete_item(**request)
        except ClientError as error:
            raise self.error(error, "DeleteItem") from None

    def query(self, **request: Unpack[QueryInputTypeDef]) -> QueryOutputTypeDef:
        try:
            return self.client.query(**request)
        except ClientError as error:
            raise self.error(error, "Query") from None

    def get(self, item_key: Item, *, consistent: bool = True) -> Item | None:
        try:
            response = self.client.get_item(
                TableName=self.table_name, Key=item_key, ConsistentRead=consistent
            )
        except ClientError as error:
            raise self.error(error, "GetItem") from None
        item = response.get("Item")
        return dict(item) if item else None

    # --- batches --------------------------------------------------------------------------------
    def batch_get(self, keys: Sequence[Item], *, consistent: bool = True) -> list[Item]:
        """Every existing item among ``keys`` (100 per request; unprocessed keys asked again)."""
        found: list[Item] = []
        unique = list({describe_key(k): k for k in keys}.values())
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            pending: Sequence[Item] = unique[start : start + BATCH_GET_LIMIT]
            attempt = 0
            while pending:
                try:
                    response = self.client.batch_get_item(
                        RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": consistent}}
                    )
                except ClientError as error:
                    raise self.error(error, "BatchGetItem") from None
                found.extend(response.get("Responses", {}).get(self.table_name, []))
                unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name)
                pending = unprocessed["Keys"] if unprocessed else []
                if pending:
                    attempt = self.backoff.wait(attempt, "BatchGetItem")
        return found

    def batch_write(self, requests: Sequence[Item]) -> None:
        """Put/Delete requests (``{"PutRequest": {...}}``) 25 at a time, unprocessed ones re-sent.

        Requests on the same key collapse to the last one (BatchWriteItem refuses duplicates).
        Not boto3's ``Table.batch_writer``: it re-sends unprocessed items at once and without bound.
        """
        unique: dict[str, Item] = {}
        for request in requests:
            body = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
            unique[describe_key(body or {})] = request
        ordered = cast("list[WriteRequestUnionTypeDef]", list(unique.values()))
        for start in range(0, len(ordered), BATCH_WRITE_LIMIT):
            pending: Sequence[WriteRequestUnionTypeDef] = ordered[start : start + BATCH_WRITE_LIMIT]
            attempt = 0
            while pending:
                try:
                    response = self.client.batch_write_item(RequestItems={self.table_name: pending})
                except ClientError as error:
                    raise self.error(error, "BatchWriteItem") from None
                pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
                if pending:
                    attempt = self.backoff.wait(attempt, "BatchWriteItem")

    def transact(self, items: Sequence[Item], *, token: str | None = None) -> Cancelled | None:
        """One TransactWriteItems request; None when it succeeded, else the reasons per item.

        Throttling of the whole request is retried (bounded) by botocore.
        """
        if not items:
            return None
        if len(items) == 1:
            return self._single(items[0])
        if len(items) > TRANSACT_LIMIT:
            raise ValueError(f"a transaction holds at most {TRANSACT_LIMIT} items")
        transact_items = cast("list[TransactWriteItemTypeDef]", list(items))
        try:
            if token is None:
                self.client.transact_write_items(TransactItems=transact_items)
            else:
                self.client.transact_write_items(TransactItems=transact_items, ClientRequestToken=token)
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise self.error(error, "TransactWriteItems") from None
            raw = error.response.get("CancellationReasons") or []
            reasons: list[str | None] = [
                (r.get("Code") if r.get("Code") not in (None, "None") else None) for r in raw
            ]
            if len(reasons) != len(items):  # an engine that gave no per-item reasons
                reasons = ["Unknown"] * len(items)
            return Cancelled(reasons)
        return None

    def _single(self, item: Item) -> Cancelled | None:
        """A one-item "transaction" as the plain conditional write it is (half the write units)."""
        ((kind, body),) = item.items()
        try:
            if kind == "Put":
                self.put_item(**body)
            elif kind == "Update":
                self.update_item(**body)
            elif kind == "Delete":
                self.delete_item(**body)
            else:
                raise ValueError(f"unsupported transaction item {kind!r}")
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return Cancelled(["ConditionalCheckFailed"])
        return None

    # --- queries --------------------------------------------------------------------------------
    def query_page(
        self,
        *,
        partition_attr: str,
        partition_value: str,
        index: str | None = None,
        sort_attr: str | None = None,
        sort_prefix: str | None = None,
        forward: bool = True,
        limit: int,
        cursor: str | None,
        filter_expression: str | None = None,
        filter_names: Mapping[str, str] | None = None,
        filter_values: Mapping[str, Any] | None = None,
    ) -> QueryResult:
        """Up to ``limit`` items of one partition (of the table or an index), after ``cursor``.

        The cursor is built from the last returned item's keys, so a page cut short by ``limit``
        (or lengthened by a filter) resumes exactly after the last item the caller saw.
        """
        key_names = ["pk", "sk"]
        if index is not None:
            key_names += [partition_attr, sort_attr or ""]
        names: dict[str, str] = {"#p": partition_attr}
        values: dict[str, Any] = {":p": str_attr(partition_value)}
        condition = "#p = :p"
        if sort_prefix is not None and sort_attr is not None:
            names["#s"] = sort_attr
            values[":s"] = str_attr(sort_prefix)
            condition += " AND begins_with(#s, :s)"
        if filter_names:
            names.update(filter_names)
        if filter_values:
            values.update(filter_values)
        request: QueryInputTypeDef = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
        }
        if index is not None:
            request["IndexName"] = index
        else:
            request["ConsistentRead"] = True
        if filter_expression:
            request["FilterExpression"] = filter_expression
        if cursor is not None:
            request["ExclusiveStartKey"] = decode_cursor(
                cursor, key_names=key_names, partition_attr=partition_attr, partition_value=partition_value
            )
        collected: list[Item] = []
        more = True
        while more and len(collected) < limit:
            request["Limit"] = limit - len(collected) if not filter_expression else max(limit, 100)
            response = self.query(**request)
            collected.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            more = last is not None
            if last is not None:
                request["ExclusiveStartKey"] = last
        page = collected[:limit]
        cut_short = len(collected) > limit or more
        next_cursor = None
        if page and cut_short:
            last_item = page[-1]
            missing = [name for name in key_names if name not in last_item]
            if missing:
                raise CorruptItem(describe_key(last_item), f"missing key attribute(s) {missing}")
            next_cursor = encode_cursor({name: last_item[name] for name in key_names})
        return QueryResult(page, next_cursor)

    def query_all(self, **kwargs: Any) -> Iterator[Item]:
        """Every item of a partition, page after page."""
        cursor: str | None = None
        while True:
            result = self.query_page(limit=500, cursor=cursor, **kwargs)
            yield from result.items
            if result.next_cursor is None:
                return
            cursor = result.next_cursor


def epoch(at: datetime) -> int:
    return int(at.timestamp())
