"""What moto's server needs to carry a whole product in one process (moto 5.2.5).

Six measured problems, six narrow fixes, applied once when the local stack starts:

1. **Delayed ACKs.** moto's request handler writes headers and body separately without
   TCP_NODELAY, so every AWS call waits out a delayed ACK (~40 ms): a sync step's 181 calls took
   16 s. ``disable_nagle_algorithm`` on its handler class (as on our Lambda proxy).
2. **Concurrent DynamoDB requests.** moto's DynamoDB is not thread-safe: a TransactWriteItems backs
   up the tables it touches while another request thread writes to them ("dictionary changed
   size during iteration", HTTP 500). The state machine applies chunks concurrently, so moto's
   DynamoDB actions run one at a time here (real DynamoDB needs no such thing).
3. **Transaction backups.** moto backs a transaction up by deep-copying the whole table once per
   item of the request: a 100-item transaction on a 40,000-item table copies four million items.
   The backup becomes one shallow snapshot per table per request (partition dicts copied, items
   shared) plus a deep copy of the items the transaction targets, which is everything a rollback
   restores: a cancelled transaction still leaves every item as it was.
4. **EventBridge input paths.** moto builds a new JSONPath parser (PLY tables) for every target
   of every event it delivers: 30 ms per PutEvents. The parser's results are cached per path
   (the expressions are immutable), so delivering an event costs what matching it does.
5. **Index queries.** A query on a global secondary index sorts every item of the table (slow
   DynamoType comparisons) before it looks at the partition asked for: 1.4 s per query on a
   table of a few thousand items, every webhook and every member list paying it. The query now
   sees only the items of that index partition (found by comparing raw values), in the same
   order; its result is the same.
6. **Read responses.** moto serializes a DynamoDB answer attribute by attribute through the
   service model: 3 s for a query returning 1,000 members. Items are already in DynamoDB's JSON
   form, so Query, Scan, GetItem and BatchGetItem answers are written with ``json.dumps``
   (binary values base64-encoded, as the wire format has them).
7. **Queue clocks.** Every SendMessage reads the queue's attributes, which count the messages
   waiting, delayed and in flight by asking each message whether it is visible and delayed,
   each answer built from two timezone-aware datetimes (4 µs): the event log's queue of a few
   thousand member events made one send cost tens of milliseconds, and a first import of 2,000
   people 8 minutes. A message now answers from ``time.time()`` (the same milliseconds since
   the epoch moto stores), and a send that only needs the queue's deduplication setting does not
   count its messages.
8. **Request routing.** moto finds the service of every request by listing its own package
   folder (``os.listdir`` and an ``isdir`` per entry, about 200) under a global lock. The list
   cannot change while the process runs, so it is read once.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import threading
import time
import types
from collections import defaultdict
from typing import Any

_APPLIED = threading.Lock()
_DONE: list[bool] = []
_DYNAMODB_LOCK = threading.RLock()
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
        _DONE.append(True)


def _no_delayed_acks() -> None:
    from moto.moto_server.werkzeug_app import MotoRequestHandler  # noqa: PLC0415

    MotoRequestHandler.disable_nagle_algorithm = True


def _serialize_dynamodb() -> None:
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with _DYNAMODB_LOCK:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def _cheap_transaction_backups() -> None:
    from moto.dynamodb import models  # noqa: PLC0415
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415
    from moto.dynamodb.models.table import Table  # noqa: PLC0415

    def snapshot(table: Any) -> Any:
        clone = copy.copy(table)
        clone.items = defaultdict(
            dict, {h: (dict(v) if isinstance(v, dict) else v) for h, v in table.items.items()}
        )
        for key in _local.targets.get(table.name, ()):
            hash_value = DynamoType(key[table.hash_key_attr])
            if table.range_key_attr is None:
                if hash_value in clone.items:
                    clone.items[hash_value] = copy.deepcopy(clone.items[hash_value])
                continue
            range_value = DynamoType(key[table.range_key_attr])
            partition = clone.items.get(hash_value)
            if partition is not None and range_value in partition:
                partition[range_value] = copy.deepcopy(partition[range_value])
        return clone

    def deepcopy(value: Any, memo: Any = None) -> Any:
        snapshots = getattr(_local, "snapshots", None)
        if snapshots is not None and isinstance(value, Table):
            if value.name not in snapshots:
                snapshots[value.name] = snapshot(value)
            return snapshots[value.name]
        return copy.deepcopy(value, memo)

    # The models module's own `copy`: its deepcopy makes the snapshot inside a transaction only.
    shim = types.SimpleNamespace(copy=copy.copy, deepcopy=deepcopy, Error=copy.Error)
    models.copy = shim  # type: ignore[attr-defined]
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        targets: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in transact_items:
            for op in entry.values():
                if isinstance(op, dict) and "TableName" in op:
                    targets[op["TableName"]].append(op.get("Key") or op.get("Item") or {})
        _local.targets, _local.snapshots = targets, {}
        try:
            original(self, transact_items)
        finally:
            _local.targets, _local.snapshots = {}, None

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _cache_jsonpath() -> None:
    import jsonpath_ng.ext  # noqa: PLC0415 - moto's events module imports `parse` from it per call

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=512)(jsonpath_ng.ext.parse)


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
        wanted = [(name, value.type, value.value) for name, value in conditions]
        subset = []
        for partition in self.items.values():
            for item in partition.values() if isinstance(partition, dict) else (partition,):
                attrs = item.attrs
                if all(
                    (found := attrs.get(name)) is not None and found.type == kind and found.value == raw
                    for name, kind, raw in wanted
                ):
                    subset.append(item)
        subset.sort(key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
        self.all_items = lambda: subset  # the lock above keeps DynamoDB requests one at a time
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]


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
    from moto.sqs import models  # noqa: PLC0415

    def visible(self: Any) -> bool:
        return bool(time.time() * 1000.0 > self.visible_at)

    def delayed(self: Any) -> bool:
        return bool(time.time() * 1000.0 < self.delayed_until)

    models.Message.visible = property(visible)  # type: ignore[assignment,method-assign]
    models.Message.delayed = property(delayed)  # type: ignore[assignment,method-assign]

    counted = models.Queue.attributes

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(_local, "sending", False):  # send_message reads only the deduplication flag
            return {"ContentBasedDeduplication": str(bool(self.content_based_deduplication)).lower()}
        return counted.fget(self)  # type: ignore[no-any-return]

    models.Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    original = models.SQSBackend.send_message

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _local.sending = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _local.sending = False

    models.SQSBackend.send_message = send_message  # type: ignore[method-assign]


def _routing_once() -> None:
    from moto import backends  # noqa: PLC0415

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
