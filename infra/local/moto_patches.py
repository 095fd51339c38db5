"""What moto's server needs to carry the product's queues and events in one process (moto 5.2.5).

The tables are on DynamoDB Local (AWS's own engine), so none of these touches DynamoDB. Four
measured problems remain in the services still on moto, with four narrow fixes. ``MotoPatches``
applies them when the local stack starts and undoes them when it stops, so moto is moto again
for whatever runs next in the process (tests/integration/local_stack/test_moto_patches.py checks
the answers are AWS's with the patches on, and that stopping the stack restores every original).

1. **EventBridge input paths.** moto builds a new JSONPath parser (PLY tables) for every target
   of every event it delivers: 30 ms per PutEvents. The parser's results are cached per path
   (the expressions are immutable), so delivering an event costs what matching it does.
2. **Queue clocks.** Every SendMessage reads the queue's attributes, which count the messages
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
3. **Request routing.** moto finds the service of every request by listing its own package
   folder (``os.listdir`` and an ``isdir`` per entry, about 200) under a global lock. The list
   cannot change while the process runs, so it is read once. moto's name conversion
   (``camelcase_to_underscores``, a character loop run for every attribute of every queue
   read) is a pure function of its string, so its answers are kept.
4. **Queue deletes.** Deleting a message scans the queue twice per receipt handle, building a
   list of handles per message; a batch of ten on a queue of a thousand events cost 20 ms. One
   pass now finds the message, with the same answers (a handle deleted twice is accepted, an
   unknown one is refused).

(Delayed ACKs, moto's handler writing headers and body without TCP_NODELAY, 40 ms a call, need no
patch: ``infra.local.aws`` serves moto's app with a handler subclass that sets it.)
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

_local = threading.local()
_MISSING = object()


class MotoPatches:
    """The four fixes, applied by ``apply()`` and undone by ``undo()`` (each attribute put back
    as it was, in reverse order). One instance applies at most once; a second ``apply`` while
    another instance's patches are on is refused (two stacks in one process would undo each
    other's)."""

    _active: MotoPatches | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    @property
    def applied(self) -> bool:
        return bool(self._saved)

    def apply(self) -> None:
        with MotoPatches._guard:
            if MotoPatches._active is not None:
                raise RuntimeError("moto is already patched by another local stack in this process")
            MotoPatches._active = self
        try:
            self._cache_jsonpath()
            self._cheap_queue_clocks()
            self._routing_once()
            self._one_pass_queue_deletes()
        except BaseException:
            self.undo()
            raise

    def undo(self) -> None:
        while self._saved:
            owner, name, before = self._saved.pop()
            if before is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, before)
        with MotoPatches._guard:
            if MotoPatches._active is self:
                MotoPatches._active = None

    def _set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, value)

    # --- 1. EventBridge input paths

    def _cache_jsonpath(self) -> None:
        import jsonpath_ng.ext  # noqa: PLC0415 - moto's events module imports `parse` from it per call

        parse = jsonpath_ng.ext.parse  # type: ignore[attr-defined]  # the package re-exports it untyped
        self._set(jsonpath_ng.ext, "parse", functools.lru_cache(maxsize=512)(parse))

    # --- 2. Queue clocks

    def _cheap_queue_clocks(self) -> None:
        from moto.core import utils as clock  # noqa: PLC0415
        from moto.sqs import models  # noqa: PLC0415

        def visible(message: Any) -> bool:
            return bool(time.time() * 1000.0 > message.visible_at)

        def delayed(message: Any) -> bool:
            return bool(time.time() * 1000.0 < message.delayed_until)

        def unix_time(dt: Any = None) -> float:
            return time.time() if dt is None else float(clock.unix_time(dt))

        def unix_time_millis(dt: Any = None) -> float:
            return time.time() * 1000.0 if dt is None else float(clock.unix_time_millis(dt))

        letters = bytes(ord("a") + i % 26 for i in range(256))

        def generate_receipt_handle() -> str:
            return os.urandom(185).translate(letters).decode()

        self._set(models, "unix_time", unix_time)
        self._set(models, "unix_time_millis", unix_time_millis)
        self._set(models, "generate_receipt_handle", generate_receipt_handle)
        self._set(models.Message, "visible", property(visible))
        self._set(models.Message, "delayed", property(delayed))

        # The three counts are what make a queue's attributes cost a pass over its messages each.
        # They are taken only when a request asks for them: SendMessage reads only the queue's
        # deduplication setting, GetQueueAttributes may name other attributes alone.
        for name in (
            "approximate_number_of_messages",
            "approximate_number_of_messages_delayed",
            "approximate_number_of_messages_not_visible",
        ):
            self._set(models.Queue, name, property(_counted_only_when_asked(vars(models.Queue)[name])))

        send = models.SQSBackend.send_message
        read = models.SQSBackend.get_queue_attributes

        def send_message(backend: Any, *args: Any, **kwargs: Any) -> Any:
            with _uncounted(True):
                return send(backend, *args, **kwargs)

        def get_queue_attributes(backend: Any, queue_name: str, attribute_names: list[str]) -> Any:
            counts = any(n == "All" or n.startswith("Approximate") for n in attribute_names)
            with _uncounted(not counts):
                return read(backend, queue_name, attribute_names)

        def is_message_valid_based_on_retention_period(backend: Any, queue_name: str, message: Any) -> bool:
            retention = backend.get_queue(queue_name).message_retention_period
            return bool(retention + message.sent_timestamp / 1000 > time.time())

        self._set(models.SQSBackend, "send_message", send_message)
        self._set(models.SQSBackend, "get_queue_attributes", get_queue_attributes)
        self._set(
            models.SQSBackend,
            "is_message_valid_based_on_retention_period",
            is_message_valid_based_on_retention_period,
        )

    # --- 3. Request routing

    def _routing_once(self) -> None:
        from moto import backends  # noqa: PLC0415
        from moto.core import utils  # noqa: PLC0415

        modules = tuple(backends.list_of_moto_modules())
        self._set(backends, "list_of_moto_modules", lambda: modules)

        convert = utils.camelcase_to_underscores
        kept = functools.lru_cache(maxsize=8192)(convert)
        for name, module in list(sys.modules.items()):
            if name.startswith("moto") and vars(module).get("camelcase_to_underscores") is convert:
                self._set(module, "camelcase_to_underscores", kept)

    # --- 4. Queue deletes

    def _one_pass_queue_deletes(self) -> None:
        from moto.sqs import models  # noqa: PLC0415
        from moto.sqs.exceptions import ReceiptHandleIsInvalid  # noqa: PLC0415

        def delete_message(queue: Any, receipt_handle: str) -> None:
            if receipt_handle in queue.deleted_messages:
                return  # already deleted: SQS accepts deleting again
            kept, gone = [], []
            for message in queue._messages:
                if message.receipt_handle == receipt_handle or receipt_handle in message._old_receipt_handles:
                    gone.append(message)
                else:
                    kept.append(message)
            if not gone:
                raise ReceiptHandleIsInvalid()
            for message in gone:
                queue.pending_messages.discard(message)
                queue.deleted_messages.update(message.all_receipt_handles)
            queue._messages = kept

        self._set(models.Queue, "delete_message", delete_message)


def _counted_only_when_asked(counted: property) -> Callable[[Any], int]:
    def count(queue: Any) -> int:
        return 0 if getattr(_local, "uncounted", False) else int(counted.fget(queue))  # type: ignore[misc]

    return count


@contextlib.contextmanager
def _uncounted(skip: bool) -> Iterator[None]:
    before = getattr(_local, "uncounted", False)
    _local.uncounted = before or skip
    try:
        yield
    finally:
        _local.uncounted = before
