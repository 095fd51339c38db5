"""What moto's server needs to carry a whole product in one process (moto 5.2.5).

Thirteen measured problems, thirteen narrow fixes, applied once when the local stack starts (each
keeps the answers AWS gives; tests/integration/local_stack/test_moto_patches.py checks them):

1. **Delayed ACKs.** moto's request handler writes headers and body separately without
   TCP_NODELAY, so every AWS call waits out a delayed ACK (~40 ms): a sync step's 181 calls took
   16 s. ``disable_nagle_algorithm`` on its handler class (as on our Lambda proxy).
2. **Concurrent DynamoDB requests.** moto's DynamoDB is not thread-safe: a TransactWriteItems backs
   up the tables it touches while another request thread writes to them ("dictionary changed
   size during iteration", HTTP 500). The state machine applies chunks concurrently, so moto's
   DynamoDB actions run one at a time here (real DynamoDB needs no such thing).
3. **Transaction backups.** moto backs a transaction up by deep-copying the whole table once per
   item of the request: a 100-item transaction on a 40,000-item table copies four million items.
   Even one shallow snapshot per request (every partition dict copied, every key rehashed) made
   each transaction cost the size of the table. The backup is a journal instead: before the
   request, each item it names as it was (a deep copy only for an update, which changes the
   item in place); on cancellation those items are put back, which is everything a rollback
   restores: a cancelled transaction still leaves every item as it was.
4. **EventBridge input paths.** moto builds a new JSONPath parser (PLY tables) for every target
   of every event it delivers: 30 ms per PutEvents. The parser's results are cached per path
   (the expressions are immutable), so delivering an event costs what matching it does.
5. **Index queries.** A query on a global secondary index sorts every item of the table (slow
   DynamoType comparisons) before it looks at the partition asked for: 1.4 s per query on a
   table of a few thousand items, every webhook and every member list paying it. The query now
   sees only the items of that index partition (found by comparing raw values), in the same
   order; its result is the same. The table's items are grouped by index partition once and kept
   until the next request that is not a read, so paging through 2,000 members reads each page's
   partition instead of the whole table (171 ms a query in the demo before).
6. **Read responses.** moto serializes a DynamoDB answer attribute by attribute through the
   service model: 3 s for a query returning 1,000 members. Items are already in DynamoDB's JSON
   form, so Query, Scan, GetItem and BatchGetItem answers are written with ``json.dumps``
   (binary values base64-encoded, as the wire format has them).
7. **Queue clocks.** Every SendMessage reads the queue's attributes, which count the messages
   waiting, delayed and in flight by asking each message whether it is visible and delayed,
   each answer built from two timezone-aware datetimes (4 µs): the event log's queue of a few
   thousand member events made one send cost tens of milliseconds, and a first import of 2,000
   people 8 minutes. A message now answers from ``time.time()`` (the same milliseconds since
   the epoch moto stores), and the counts are taken only by a request that asks for them
   (a send reads the queue's deduplication setting; a receive its retention period, once per
   message, which made a receive's cost grow with the square of the queue). The queue models'
   other clock readings take ``time.time()`` too (a received message's retention check reads
   the queue's retention period itself instead of building all its attributes three times), and
   a receipt handle (185 random lowercase letters, drawn one ``random.choice`` at a time: 0.2 ms
   a message) is drawn in one call.
8. **Request routing.** moto finds the service of every request by listing its own package
   folder (``os.listdir`` and an ``isdir`` per entry, about 200) under a global lock. The list
   cannot change while the process runs, so it is read once. moto's name conversion
   (``camelcase_to_underscores``, a character loop run for every attribute of every queue
   read) is a pure function of its string, so its answers are kept.
9. **Item sizes.** moto checks the 400 KB item limit on every attribute it sets by summing the
   sizes of all the attributes already set, so building an item costs the square of its
   attribute count (0.8 ms for a member). A new item's size is summed once, with the same
   limit and the same error.
10. **Condition parsing.** A conditional put inside a transaction has its condition parsed three
   times (the request check, the transaction, the put), 0.4 ms each. Parsed conditions are kept
   per (expression, names, values); evaluating one reads only the item it is given, so the
   answer is the same.
11. **Request parsing.** moto reads every request by walking the service model over the parsed
   JSON: for each attribute value it visits the ten members an AttributeValue may have, 27 ms
   for a 100-item transaction. DynamoDB's item requests are JSON whose parsed form is the
   answer already, except for binary values (base64 on the wire, bytes once parsed): a body
   with no binary value (``"B":``/``"BS":`` appears nowhere in it) is taken from ``json.loads``;
   any other still goes through the model.
12. **Stream records.** The table has a stream (as in AWS) that nothing reads locally; moto sizes
   every stream record by serialising it to JSON again. The size is computed when a record is
   read, from the same record.
13. **Queue deletes.** Deleting a message scans the queue twice per receipt handle, building a
   list of handles per message; a batch of ten on a queue of a thousand events cost 20 ms. One
   pass now finds the message, with the same answers (a handle deleted twice is accepted, an
   unknown one is refused).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import json
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

_APPLIED = threading.Lock()
_DONE: list[bool] = []
_DYNAMODB_LOCK = threading.RLock()
_WRITES = [0]  # DynamoDB requests other than reads so far (an index's partitions are kept per count)
_DYNAMODB_READS = frozenset(
    {"BatchGetItem", "DescribeTable", "GetItem", "ListTables", "Query", "Scan", "TransactGetItems"}
)
_local = threading.local()


def apply() -> None:
    with _APPLIED:
        if _DONE:
            return
        _no_delayed_acks()
        _serialize_dynamodb()
        _cheap_transaction_backups()
        _cache_jsonpath()
        _narrow_index_queries()
        _plain_json_reads()
        _cheap_queue_clocks()
        _routing_once()
        _item_size_once()
        _parse_conditions_once()
        _plain_json_item_requests()
        _stream_sizes_when_read()
        _one_pass_queue_deletes()
        _DONE.append(True)


def _no_delayed_acks() -> None:
    from moto.moto_server.werkzeug_app import MotoRequestHandler  # noqa: PLC0415

    MotoRequestHandler.disable_nagle_algorithm = True


def _serialize_dynamodb() -> None:
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _DYNAMODB_LOCK:
            try:
                return original(self)
            finally:
                if self._get_action() not in _DYNAMODB_READS:
                    _WRITES[0] += 1  # any other request may have changed items: indexes rebuild

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def _cheap_transaction_backups() -> None:
    from moto.dynamodb import models  # noqa: PLC0415
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if getattr(_local, "journal", False) and isinstance(value, Table):
            return value  # moto's "restore the backup" becomes a no-op; the journal restores
        return copy.deepcopy(value, memo)

    # The models module's own `copy`: its deepcopy skips the table copy inside a transaction only.
    shim = types.SimpleNamespace(copy=copy.copy, deepcopy=deepcopy, Error=copy.Error)
    models.copy = shim  # type: ignore[attr-defined, assignment]
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        entries = _journal(self, transact_items)
        _local.journal = True
        try:
            original(self, transact_items)
        except BaseException:
            _restore(entries)
            raise
        finally:
            _local.journal = False

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _journal(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash, range, item before) for every item the transaction names."""
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

    entries = []
    for entry in transact_items:
        for kind, op in entry.items():
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            key = (op.get("Key") or op.get("Item")) if table is not None else None
            if table is None or not key or table.hash_key_attr not in key:
                continue  # moto answers the malformed request itself
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in key:
                    continue
                range_value = DynamoType(key[table.range_key_attr])
            before = table.get_item(hash_value, range_value)
            # An update changes the item object in place; a put or delete replaces it.
            if before is not None and kind == "Update":
                before = copy.deepcopy(before)
            entries.append((table, hash_value, range_value, before))
    return entries


def _restore(entries: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, hash_value, range_value, before in reversed(entries):
        if range_value is None:
            if before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
        elif before is None:
            table.items[hash_value].pop(range_value, None)
        else:
            table.items[hash_value][range_value] = before


def _cache_jsonpath() -> None:
    import jsonpath_ng.ext  # noqa: PLC0415 - moto's events module imports `parse` from it per call

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=512)(jsonpath_ng.ext.parse)  # type: ignore[attr-defined]


def _narrow_index_queries() -> None:
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    original = Table.query
    index_position = 7  # query(hash_key, range_comparison, range_objs, limit, exclusive_start_key,
    # scan_index_forward, projection_expressions, index_name, ...)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[index_position] if len(args) > index_position else None)
        conditions = kwargs.get("hash_key_conditions") or []
        if not index_name or not conditions:
            return original(self, *args, **kwargs)
        names = tuple(name for name, _ in conditions)
        partitions = _index_partitions(self, index_name, names)
        subset = partitions.get(tuple((value.type, value.value) for _, value in conditions), [])
        self.all_items = lambda: subset  # the lock above keeps DynamoDB requests one at a time
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]


def _index_partitions(table: Any, index_name: str, names: tuple[str, ...]) -> dict[Any, list[Any]]:
    """The table's items by their values of ``names`` (an index's partition key), each partition
    in the order moto's own query sorts the whole table; kept until the next write request."""
    kept: dict[Any, tuple[int, dict[Any, list[Any]]]] = table.__dict__.setdefault("_index_partitions", {})
    found = kept.get((index_name, names))
    if found is not None and found[0] == _WRITES[0]:
        return found[1]
    partitions: dict[Any, list[Any]] = {}
    for partition in table.items.values():
        for item in partition.values() if isinstance(partition, dict) else (partition,):
            attrs = item.attrs
            values = []
            for name in names:
                value = attrs.get(name)
                if value is None or value.type not in ("S", "N", "B"):  # no key: not in the index
                    break
                values.append((value.type, value.value))
            else:
                partitions.setdefault(tuple(values), []).append(item)
    for items in partitions.values():
        items.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
    kept[(index_name, names)] = (_WRITES[0], partitions)
    return partitions


_Found = tuple[Any, tuple[str, ...], tuple[str, ...]]  # a parsed condition, names and values found
_FAST_READS = frozenset({"Query", "Scan", "GetItem", "BatchGetItem"})


def _wire(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _plain_json_reads() -> None:
    from moto.dynamodb.responses import DynamoHandler, DynamoResult  # noqa: PLC0415

    original = DynamoHandler.serialized

    def serialized(self: Any, action_result: Any) -> Any:
        if isinstance(action_result, DynamoResult) and self._get_action() in _FAST_READS:
            try:
                body = json.dumps(action_result.result, default=_wire)
            except TypeError:
                return original(self, action_result)
            headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
            return 200, headers, body
        return original(self, action_result)

    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


def _cheap_queue_clocks() -> None:
    from moto.core import utils as clock  # noqa: PLC0415
    from moto.sqs import models  # noqa: PLC0415

    def visible(self: Any) -> bool:
        return bool(time.time() * 1000.0 > self.visible_at)

    def delayed(self: Any) -> bool:
        return bool(time.time() * 1000.0 < self.delayed_until)

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(clock.unix_time(dt))

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else float(clock.unix_time_millis(dt))

    letters = bytes(ord("a") + i % 26 for i in range(256))

    def generate_receipt_handle() -> str:
        return os.urandom(185).translate(letters).decode()

    models.unix_time = unix_time  # type: ignore[attr-defined]
    models.unix_time_millis = unix_time_millis  # type: ignore[attr-defined]
    models.generate_receipt_handle = generate_receipt_handle  # type: ignore[attr-defined]
    models.Message.visible = property(visible)  # type: ignore[assignment,method-assign]
    models.Message.delayed = property(delayed)  # type: ignore[assignment,method-assign]

    # The three counts are what make a queue's attributes cost a pass over its messages each.
    # They are taken only when a request asks for them: SendMessage reads only the queue's
    # deduplication setting, GetQueueAttributes may name other attributes alone.
    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        setattr(models.Queue, name, property(_counted_only_when_asked(getattr(models.Queue, name))))

    send = models.SQSBackend.send_message
    read = models.SQSBackend.get_queue_attributes

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _uncounted(True):
            return send(self, *args, **kwargs)

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> Any:
        counts = any(n == "All" or n.startswith("Approximate") for n in attribute_names)
        with _uncounted(not counts):
            return read(self, queue_name, attribute_names)

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = self.get_queue(queue_name).message_retention_period
        return bool(retention + message.sent_timestamp / 1000 > time.time())

    models.SQSBackend.send_message = send_message  # type: ignore[method-assign]
    models.SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]
    models.SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


def _counted_only_when_asked(counted: property) -> Callable[[Any], int]:
    def count(self: Any) -> int:
        return 0 if getattr(_local, "uncounted", False) else int(counted.fget(self))  # type: ignore[misc]

    return count


@contextlib.contextmanager
def _uncounted(skip: bool) -> Iterator[None]:
    before = getattr(_local, "uncounted", False)
    _local.uncounted = before or skip
    try:
        yield
    finally:
        _local.uncounted = before


def _routing_once() -> None:
    from moto import backends  # noqa: PLC0415

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    from moto.core import utils  # noqa: PLC0415

    convert = utils.camelcase_to_underscores
    kept = functools.lru_cache(maxsize=8192)(convert)
    for name, module in list(sys.modules.items()):
        if name.startswith("moto") and getattr(module, "camelcase_to_underscores", None) is convert:
            module.camelcase_to_underscores = kept  # type: ignore[attr-defined]


def _item_size_once() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge  # noqa: PLC0415
    from moto.dynamodb.models import dynamo_type  # noqa: PLC0415
    from moto.dynamodb.models.utilities import bytesize  # noqa: PLC0415

    limit = 405_000  # moto's LimitedSizeDict limit (between DynamoDB's real 409 and 410 KB)
    dynamo = dynamo_type.DynamoType

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:  # noqa: N807
        self.hash_key = hash_key
        self.range_key = range_key
        converted = {key: dynamo(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in converted.items()) > limit:
            raise ItemSizeTooLarge
        self.attrs = dynamo_type.LimitedSizeDict()
        dict.update(self.attrs, converted)  # later sets still go through the checked __setitem__

    dynamo_type.Item.__init__ = __init__  # type: ignore[method-assign]


def _parse_conditions_once() -> None:
    from moto.dynamodb import comparisons, models, responses  # noqa: PLC0415
    from moto.dynamodb.models import table  # noqa: PLC0415

    original_parser = comparisons.create_condition_expression_parser
    original_filter = comparisons.get_filter_expression

    def parse_now(expression: str | None, names: Any, values: Any) -> _Found:
        parser = original_parser(expression, names, values)
        op = parser.parse()
        return op, tuple(parser.expr_attr_names_found), tuple(parser.expr_attr_values_found)

    kept: dict[tuple[str | None, str, str], _Found] = {}

    def parse(expression: str | None, names: Any, values: Any) -> _Found:
        # None and {} parse alike when parsing succeeds (no name or value was looked up), and a
        # failure is never kept: the request check passes {} where the transaction passes None;
        # repr: a C-speed, type-preserving key (bytes included); two orders of one dict only
        # miss the cache
        key = (expression, repr(names or {}), repr(values or {}))
        found = kept.get(key)
        if found is None:
            found = parse_now(expression, names, values)
            if len(kept) >= 4096:
                kept.clear()
            kept[key] = found
        return found

    class Parsed:
        """What the request handlers use of a parser: ``parse()`` and the names and values it found."""

        def __init__(self, expression: str | None, names: Any, values: Any) -> None:
            self.expr_attr_names_found: list[str] = []
            self.expr_attr_values_found: list[str] = []
            self._args = expression, names, values

        def parse(self) -> Any:
            op, names_found, values_found = parse(*self._args)
            self.expr_attr_names_found.extend(names_found)
            self.expr_attr_values_found.extend(values_found)
            return op

    def get_filter_expression(expression: str | None, names: Any, values: Any) -> Any:
        return parse(expression, names, values)[0]

    for module in (comparisons, models, table, responses):
        if getattr(module, "get_filter_expression", None) is original_filter:
            module.get_filter_expression = get_filter_expression  # type: ignore[attr-defined]
    responses.create_condition_expression_parser = Parsed  # type: ignore[attr-defined,assignment]


_PLAIN_JSON_REQUESTS = frozenset(
    {
        "BatchGetItem",
        "BatchWriteItem",
        "DeleteItem",
        "GetItem",
        "PutItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "TransactWriteItems",
        "UpdateItem",
    }
)


def _plain_json_item_requests() -> None:
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415

    original = DynamoHandler.parse_parameters

    def parse_parameters(self: Any, request: Any) -> None:
        body = request.data
        if (
            body
            and self._get_action() in _PLAIN_JSON_REQUESTS
            and b'"B":' not in body
            and b'"BS":' not in body
        ):
            self.params = json.loads(body)
            return
        original(self, request)

    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]


def _stream_sizes_when_read() -> None:
    from moto.dynamodb.models import table  # noqa: PLC0415

    dump = table.dynamo_json_dump  # type: ignore[attr-defined]  # here used only to size a stream record
    table.dynamo_json_dump = lambda _record: ""  # type: ignore[attr-defined, assignment]  # SizeBytes 0 until read (a real one is never 0)

    def to_json(self: Any) -> dict[str, Any]:
        image = self.record["dynamodb"]
        if image["SizeBytes"] == 0:
            image["SizeBytes"] = len(dump(image))
        return self.record  # type: ignore[no-any-return]

    table.StreamRecord.to_json = to_json  # type: ignore[method-assign]


def _one_pass_queue_deletes() -> None:
    from moto.sqs import models  # noqa: PLC0415
    from moto.sqs.exceptions import ReceiptHandleIsInvalid  # noqa: PLC0415

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: SQS accepts deleting again
        kept, gone = [], []
        for message in self._messages:
            if message.receipt_handle == receipt_handle or receipt_handle in message._old_receipt_handles:
                gone.append(message)
            else:
                kept.append(message)
        if not gone:
            raise ReceiptHandleIsInvalid()
        for message in gone:
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
        self._messages = kept

    models.Queue.delete_message = delete_message  # type: ignore[method-assign]
