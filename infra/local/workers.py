"""The local stack's background work: what AWS does between the functions.

- ``QueuePoller``: Lambda's SQS event source for the webhook worker. Batches of up to the
  template's batch size, the worker's ``batchItemFailures`` honoured (only those records come
  back; a handler error returns the whole batch), the rest deleted. A record that failed comes
  back after ``retry_seconds`` (AWS waits for the queue's visibility timeout, minutes; locally a
  retry while a full sync holds the lock should not take that long). The queue's redrive policy
  moves a record that keeps failing to the dead-letter queue, as in AWS.
- ``ScheduleTicker``: EventBridge Scheduler. Reads the schedules of the group from the Scheduler
  API and, when one is due, invokes its target (the sync trigger function) with its input.
- ``Outbox``: every email SES accepted, written as an ``.eml`` file.
- ``EventLog``: every event put on the bus (copied to a queue by a rule), kept, written as JSON
  lines and handed to a listener.
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from infra.local.lambdas import FunctionError, LocalFunctions
from infra.local.template import ACCOUNT, REGION
from shared.schedule_expressions import next_fire


class _Loop:
    """A daemon thread calling ``step()`` every ``interval`` seconds until stopped."""

    name = "local-loop"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []
        self._busy = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._busy:
                    worked = self.step()
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                worked = False
            if not worked:
                self._stop.wait(self.interval)

    def step(self) -> bool:
        raise NotImplementedError


class QueuePoller(_Loop):
    name = "sqs-poller"

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        functions: LocalFunctions,
        function: str,
        *,
        batch_size: int = 10,
        retry_seconds: int = 1,
        interval: float = 0.05,
        wait_seconds: int = 1,
    ) -> None:
        super().__init__(interval)
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.functions = functions
        self.function = function
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.wait_seconds = wait_seconds  # long polling: an idle queue costs one request a second
        self.delivered = 0
        self.failed = 0

    def step(self) -> bool:
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return False
        event = {"Records": [self._record(m) for m in received]}
        try:
            result = self.functions.invoke(self.function, event)
            failures = {str(f["itemIdentifier"]) for f in (result or {}).get("batchItemFailures", [])}
        except FunctionError as error:
            self.errors.append(f"{error.error_type}: {error.message}")
            failures = {m["MessageId"] for m in received}
        for message in received:
            if message["MessageId"] in failures:
                self.failed += 1
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self.retry_seconds,
                )
            else:
                self.delivered += 1
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return True

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }

    def pending(self) -> int:
        """Records waiting or in flight (0 when the queue is drained)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is queued or being worked on; False on timeout.

        A record being worked on is in flight (not visible) until the poller deletes it after the
        worker returned, so an empty queue by SQS's counts means the worker is done with it.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            time.sleep(0.05)
        return False


class ScheduleTicker(_Loop):
    name = "scheduler-ticker"

    def __init__(
        self,
        scheduler: Any,
        group: str,
        invoke_target: Callable[[str, str], None],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        interval: float = 1.0,
    ) -> None:
        super().__init__(interval)
        self.scheduler = scheduler
        self.group = group
        self.invoke_target = invoke_target
        self.clock = clock
        self.fired: list[tuple[str, datetime]] = []
        # The last time each schedule fired (or was first seen): the next fire is after it.
        self._last: dict[str, datetime] = {}

    def step(self) -> bool:
        self.tick(self.clock())
        return False

    def tick(self, now: datetime) -> list[str]:
        """Fire every schedule due at ``now``; the names fired."""
        fired: list[str] = []
        names: list[str] = []
        paginator = self.scheduler.get_paginator("list_schedules")
        for page in paginator.paginate(GroupName=self.group):
            names.extend(s["Name"] for s in page.get("Schedules", []))
        for name in names:
            try:
                schedule = self.scheduler.get_schedule(Name=name, GroupName=self.group)
            except self.scheduler.exceptions.ResourceNotFoundException:
                continue  # deleted since the listing (a disconnect): nothing to fire
            if schedule.get("State", "ENABLED") != "ENABLED":
                continue
            created = _aware(schedule.get("CreationDate")) or now
            last = self._last.setdefault(name, created if created <= now else now)
            due = next_fire(
                schedule["ScheduleExpression"],
                schedule.get("ScheduleExpressionTimezone") or "UTC",
                last,
                created=created,
            )
            if due is None or due > now:
                continue
            self._last[name] = now
            target = schedule["Target"]
            self.invoke_target(str(target["Arn"]), str(target.get("Input") or "{}"))
            self.fired.append((name, now))
            fired.append(name)
        for gone in set(self._last) - set(names):
            del self._last[gone]
        return fired


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


class Outbox(_Loop):
    """SES's sent mail (read from moto's SES backend in this process) as ``.eml`` files."""

    name = "ses-outbox"

    def __init__(self, folder: Path, *, interval: float = 0.2) -> None:
        super().__init__(interval)
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written: list[Path] = []
        self._seen = 0
        self._start = len(list(folder.glob("*.eml")))

    @staticmethod
    def _sent() -> list[Any]:
        from moto.ses.models import ses_backends  # noqa: PLC0415 - moto runs in this process

        return list(ses_backends[ACCOUNT][REGION].sent_messages)

    def step(self) -> bool:
        sent = self._sent()
        if len(sent) <= self._seen:
            return False
        for message in sent[self._seen :]:
            self._write(message)
        self._seen = len(sent)
        return True

    def collect(self) -> list[Path]:
        """Write whatever was sent since the last call (the loop also does it in the background)."""
        with self._busy:
            self.step()
        return list(self.written)

    def _write(self, message: Any) -> None:
        number = self._start + len(self.written) + 1
        raw = getattr(message, "raw_data", None)
        if raw:
            data = raw.encode() if isinstance(raw, str) else bytes(raw)
            subject = _header(data, "Subject")
        else:
            mail = EmailMessage()
            mail["From"] = str(getattr(message, "source", ""))
            destinations = getattr(message, "destinations", {}) or {}
            to = destinations.get("ToAddresses", []) if isinstance(destinations, dict) else destinations
            mail["To"] = ", ".join(to)
            if isinstance(destinations, dict) and destinations.get("CcAddresses"):
                mail["Cc"] = ", ".join(destinations["CcAddresses"])
            subject = str(getattr(message, "subject", "") or "")
            mail["Subject"] = subject
            mail["Date"] = email.utils.formatdate(localtime=False)
            mail["Message-ID"] = f"<{getattr(message, 'id', number)}@local.hris-sync>"
            body = str(getattr(message, "body", "") or "")
            if body.lstrip().startswith("<"):
                mail.set_content(re.sub(r"<[^>]+>", "", body))
                mail.add_alternative(body, subtype="html")
            else:
                mail.set_content(body)
            data = bytes(mail)
        slug = re.sub(r"[^a-z0-9]+", "-", subject.lower()).strip("-")[:60] or "message"
        path = self.folder / f"{number:04d}-{slug}.eml"
        path.write_bytes(data)
        self.written.append(path)


def _header(data: bytes, name: str) -> str:
    from email import message_from_bytes  # noqa: PLC0415

    return str(message_from_bytes(data).get(name, ""))


class EventLog(_Loop):
    """The service's events, copied from the bus to a queue by a rule, kept in order.

    The queue is read from moto's SQS backend in this process (as the outbox reads SES's): the log
    only observes the bus, and through the SQS API every ten events cost a receive and a delete,
    two requests on each side of HTTP, a tenth of a 10,000-person import. The rule, its pattern
    (the template's) and the queue are the real ones; only the reading is direct.
    """

    name = "event-log"

    def __init__(
        self,
        queue_name: str,
        path: Path,
        *,
        listener: Callable[[dict[str, Any]], None] | None = None,
        interval: float = 0.1,
        wait_seconds: int = 0,
        batch: int = 100,
    ) -> None:
        super().__init__(interval)
        self.queue_name = queue_name
        # Short polls: in-process, an empty receive costs next to nothing, and ``collect`` (which
        # waits for the loop's current step) must not wait out a long poll after every webhook.
        self.wait_seconds = wait_seconds
        self.batch = batch
        self.path = path
        self.listener = listener
        # Kept as the JSON text until asked for: a string is no work for the garbage collector,
        # while 100,000 event dicts made its full passes a noticeable part of a large import.
        self._lines: list[str] = []
        self.events: list[dict[str, Any]] = []  # parsed by ``collect``
        self._lock = threading.Lock()

    def step(self, wait_seconds: int | None = None) -> bool:
        from moto.sqs.models import sqs_backends  # noqa: PLC0415 - moto runs in this process

        backend = sqs_backends[ACCOUNT][REGION]
        messages = backend.receive_message(
            self.queue_name,
            count=self.batch,
            wait_seconds_timeout=self.wait_seconds if wait_seconds is None else wait_seconds,
            visibility_timeout=30,
        )
        if not messages:
            return False
        with self.path.open("a", encoding="utf-8") as out:
            for message in messages:
                line = message.body.replace("\n", " ")  # the bus's JSON, one line
                with self._lock:
                    self._lines.append(line)
                out.write(line + "\n")
                if self.listener is not None:
                    self.listener(json.loads(line))
        for message in messages:
            handle = message.receipt_handle
            if handle is None:  # moto gives one to every message it hands out; its type allows None
                raise RuntimeError(f"moto handed out message {message.id} without a receipt handle")
            backend.delete_message(self.queue_name, handle)
        return True

    def collect(self) -> list[dict[str, Any]]:
        """Every event so far, in order (read from the queue up to now)."""
        with self._busy:
            while self.step(wait_seconds=0):
                pass
        with self._lock:
            self.events.extend(json.loads(line) for line in self._lines[len(self.events) :])
            return list(self.events)
