"""The composition root's building blocks: typed settings -> AWS adapters -> ``Ports``, built lazily.

A handler module declares what it needs at import time without building any of it::

    _ports = Lazy(lambda: build_ports(load(WebhookIngestSettings)))

and calls ``_ports.get()`` inside the handler: the first invocation of a container reads the
settings and creates the adapters (boto3 clients are created when an adapter is first used); later
invocations reuse them. Importing this module reads no environment and touches no AWS.

Tests inject their own objects with ``Lazy.set`` and forget everything with ``reset_all()`` (for
example after changing the environment or starting a new moto mock).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # pragma: no cover - the imports stay lazy: a handler's import stays cheap
    from shared.adapters.factory import AwsAdapters
    from shared.ports import ConnectionStore, SecretStore
    from shared.services.context import Ports, ServiceSettings
    from shared.settings import FunctionSettings


_ALL: list[Lazy[Any]] = []


class Lazy[T]:
    """A value built on first ``get()`` (once, even under concurrent first calls), then cached."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._built = False
        self._mutex = threading.Lock()
        _ALL.append(self)

    def get(self) -> T:
        if not self._built:
            with self._mutex:
                if not self._built:
                    self._value = self._build()
                    self._built = True
        return self._value  # type: ignore[return-value]

    def set(self, value: T) -> None:
        """Use ``value`` instead of building one (tests, the local stack)."""
        with self._mutex:
            self._value = value
            self._built = True

    def reset(self) -> None:
        with self._mutex:
            self._value = None
            self._built = False


def reset_all() -> None:
    """Forget every lazily built object and the cached settings (tests)."""
    from shared.settings import load  # noqa: PLC0415

    for lazy in _ALL:
        lazy.reset()
    load.cache_clear()


class _Deferred:
    """Stands for an adapter until its first attribute is used, then builds it (so a function
    creates only the boto3 clients it really calls: the webhook ingest never pays for SES)."""

    __slots__ = ("_make", "_target")

    def __init__(self, make: Callable[[], object]) -> None:
        self._make = make
        self._target: object | None = None

    def __getattr__(self, name: str) -> Any:
        if self._target is None:
            self._target = self._make()
        return getattr(self._target, name)


def build_ports(
    settings: FunctionSettings,
    *,
    adapters: AwsAdapters | None = None,
    connections: ConnectionStore | None = None,
    secrets: SecretStore | None = None,
    service_settings: ServiceSettings | None = None,
) -> Ports:
    """The services' ports on AWS, from a function's settings.

    ``connections`` and ``secrets`` replace the plain adapters (the webhook ingest passes cached
    ones). Each adapter (and its boto3 client) is built when a service first uses it.
    """
    from shared.adapters.factory import AwsAdapters  # noqa: PLC0415 - boto3: first invocation only
    from shared.ports import (  # noqa: PLC0415
        AuditLog,
        BlobStore,
        Clock,
        ConnectionLock,
        EventPublisher,
        IdGenerator,
        Mailer,
        MemberStore,
        PendingWebhooks,
        RunStore,
        Scheduler,
        TaskStore,
        WebhookGuardStore,
        Workflow,
    )
    from shared.services.context import Ports, ServiceSettings  # noqa: PLC0415
    from shared.services.provider_lookup import registry_lookup  # noqa: PLC0415 - httpx

    aws = adapters or AwsAdapters(settings.resources())
    return Ports(
        connections=connections or cast("ConnectionStore", _Deferred(lambda: aws.connections)),
        members=cast(MemberStore, _Deferred(lambda: aws.members)),
        tasks=cast(TaskStore, _Deferred(lambda: aws.tasks)),
        audit=cast(AuditLog, _Deferred(lambda: aws.audit)),
        runs=cast(RunStore, _Deferred(lambda: aws.runs)),
        lock=cast(ConnectionLock, _Deferred(lambda: aws.lock)),
        pending=cast(PendingWebhooks, _Deferred(lambda: aws.pending)),
        webhook_guard=cast(WebhookGuardStore, _Deferred(lambda: aws.webhook_guard)),
        token_lock=cast(ConnectionLock, _Deferred(lambda: aws.token_lock)),
        blobs=cast(BlobStore, _Deferred(lambda: aws.blobs)),
        secrets=secrets or cast("SecretStore", _Deferred(lambda: aws.secrets)),
        scheduler=cast(Scheduler, _Deferred(lambda: aws.scheduler)),
        workflow=cast(Workflow, _Deferred(lambda: aws.workflow)),
        mailer=cast(Mailer, _Deferred(lambda: aws.mailer)),
        events=cast(EventPublisher, _Deferred(lambda: aws.events)),
        clock=cast(Clock, _Deferred(lambda: aws.clock)),
        ids=cast(IdGenerator, _Deferred(lambda: aws.ids)),
        providers=registry_lookup(),
        settings=service_settings or ServiceSettings(),
    )
