"""The whole product on one machine: ``LocalStack`` starts and stops every part.

    with LocalStack(state_dir=Path(".local")) as stack:
        stack.url                       # the gateway: /v1/* (admin API), /webhooks/{connection_id}
        stack.token("tenant-a")         # a dev token for that tenant's admin
        stack.drain()                   # webhook queue empty, executions finished, mail and events in

Start order: DynamoDB Local (launched first: the JVM starts while the rest does), the template
(synthesized once, cached), moto and the Lambda proxy, the resources, the functions with their
environments, saved state (unless reset), the queue poller, the scheduler ticker, the outbox, the
event log, and the gateway. ``stop()`` undoes all of it, including the process environment it set
and moto's patches, saves the data when ``persist`` is on, and kills DynamoDB Local.

The tables (and their streams) are on DynamoDB Local, AWS's own engine; every other service is on
moto. botocore's per-service endpoint (``AWS_ENDPOINT_URL_DYNAMODB``) sends the handlers' DynamoDB
clients there while ``AWS_ENDPOINT_URL`` sends the rest to moto.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from infra.local import state
from infra.local.aws import BASE_ENVIRONMENT, LocalAws
from infra.local.calls import AwsCallLog
from infra.local.dynamodb_local import DynamoDBLocal
from infra.local.gateway import Gateway, routes_from_template
from infra.local.iam import FunctionPolicies
from infra.local.lambdas import LocalFunctions
from infra.local.resources import EVENT_TAP_QUEUE, LocalResources, create_resources, physical_ids
from infra.local.template import REPO_ROOT, Resolver, load_template, resources_of_type
from infra.local.tokens import DevTokens
from infra.local.workers import EventLog, Outbox, QueuePoller, ScheduleTicker
from shared import bootstrap, observability
from shared.adapters.oauth import oauth_app_secret_name

DEFAULT_STATE_DIR = REPO_ROOT / ".local"
# What the local stack sets on top of a function's template environment. The event poller drains
# its vendor's queue until it is empty once (no long poll): the ticker invokes each due target in
# turn and waits for it, so a 50 s window would hold every other schedule back for that long
# (locally, a change on the fake's queue is then picked up by the next minute's run, or at once by
# invoking the poller).
LOCAL_FUNCTION_ENVIRONMENT: dict[str, dict[str, str]] = {
    "event_poller": {"EVENT_POLL_WINDOW_SECONDS": "0"},
}
_ON_DYNAMODB_LOCAL = frozenset({"dynamodb", "dynamodbstreams"})
_GC_THRESHOLDS = (50_000, 20, 10)  # generation 0, 1, 2 (CPython's defaults: 700, 10, 10)


@dataclass(frozen=True)
class Execution:
    """A state machine execution as the demo and the benchmark report it."""

    name: str
    status: str
    started: datetime
    stopped: datetime | None

    @property
    def seconds(self) -> float | None:
        return None if self.stopped is None else (self.stopped - self.started).total_seconds()


class LocalStack:
    def __init__(
        self,
        *,
        state_dir: Path = DEFAULT_STATE_DIR,
        synth_dir: Path = DEFAULT_STATE_DIR / "synth",
        reset: bool = True,
        persist: bool = False,
        port: int = 0,
        functions_root: Path | None = None,
        log_level: str = "WARNING",
        on_event: Callable[[dict[str, Any]], None] | None = None,
        ticker_interval: float = 1.0,
        deploy: Mapping[str, Any] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.synth_dir = synth_dir
        self.reset = reset
        self.persist = persist
        self.requested_port = port
        self.functions_root = functions_root or REPO_ROOT / "functions"
        self.log_level = log_level
        self.on_event = on_event
        self.ticker_interval = ticker_interval
        # Deploy-time context of this stack's synth (``-c max_connections=3`` ...).
        self.deploy = dict(deploy or {})
        self.aws = LocalAws()
        self.dynamodb = DynamoDBLocal(log_path=state_dir / "dynamodb-local.log")
        # Every AWS call each function makes, to check against its IAM policy (iam_denied()).
        self.calls = AwsCallLog()
        self.template: dict[str, Any] = {}
        self._resolve: Resolver | None = None
        self.resources: LocalResources | None = None
        self.functions: LocalFunctions | None = None
        self.gateway: Gateway | None = None
        self.poller: QueuePoller | None = None
        self.ticker: ScheduleTicker | None = None
        self.outbox: Outbox | None = None
        self.event_log: EventLog | None = None
        self.tokens = DevTokens.from_dir(state_dir)
        self.restored: dict[str, int] | None = None
        self._saved_env: dict[str, str | None] = {}
        self._clients: dict[str, Any] = {}
        self.started_seconds = 0.0
        self._saved_gc: tuple[int, int, int] | None = None

    # --- lifecycle

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        began = time.perf_counter()
        # Powertools warns on every invocation that publishes no metric; Lambda would log it quietly.
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        if self.reset:
            for name in ("state", "outbox", "events.jsonl"):
                path = self.state_dir / name
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.dynamodb.launch()
        try:
            root = self._functions_root_context()
            self.template = load_template(self.synth_dir, functions_root=root, deploy=self.deploy)
            self.aws.start()
            self.dynamodb.wait_ready()
            self._start_rest()
        except BaseException:
            self.stop()
            raise
        self._tune_gc()
        self.started_seconds = time.perf_counter() - began
        return self

    def _functions_root_context(self) -> str | None:
        if self.functions_root.resolve() == (REPO_ROOT / "functions").resolve():
            return None
        return os.path.relpath(self.functions_root.resolve(), REPO_ROOT)

    def _start_rest(self) -> None:
        env = {
            **BASE_ENVIRONMENT,
            "AWS_ENDPOINT_URL": self.aws.endpoint,
            # The tables and their streams on DynamoDB Local; every other service on moto.
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb.endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": self.dynamodb.endpoint,
            "POWERTOOLS_LOG_LEVEL": self.log_level,
            "POWERTOOLS_DEV": "false",
        }
        self._set_env(env)
        # Clients the handlers build from now on carry the call log's hook; handler modules a
        # previous stack of this process loaded forget what they built (this stack starts cold).
        self.calls.install()
        bootstrap.reset_all()
        observability.logger.setLevel(self.log_level)  # built once per process, at its first import
        resolve = Resolver(physical_ids(self.template, queue_endpoint=self.aws.endpoint))
        self._resolve = resolve
        self.resources = create_resources(self.template, resolve, self.client)
        self.functions = LocalFunctions.from_template(
            self.template, resolve, functions_root=self.functions_root, base_env=env
        )
        for key, variables in LOCAL_FUNCTION_ENVIRONMENT.items():
            self.functions.set_environment(key, variables)
        self._set_env(self.functions.shared_environment())
        self.aws.answer_lambda_with(self.functions.invoke_json)
        if not self.reset:
            self.restored = state.load(self.state_dir / "state", self.resources, self.client)
        self._register_fake_oauth_apps()

        worker = self._function_key("webhook_worker")
        if worker is not None:
            batch = self._worker_batch_size()
            self.poller = QueuePoller(
                self.client("sqs"),
                self.resources.webhook_queue_url,
                resolve.physical[self._queue_logical_id()].attributes["Arn"],
                self.functions,
                worker,
                batch_size=batch,
            )
            self.poller.start()
        self.ticker = ScheduleTicker(
            self.client("scheduler"),
            self.resources.schedule_group,
            self._fire_target,
            interval=self.ticker_interval,
        )
        self.ticker.start()
        self.outbox = Outbox(self.state_dir / "outbox")
        self.outbox.start()
        self.event_log = EventLog(
            EVENT_TAP_QUEUE,
            self.state_dir / "events.jsonl",
            listener=self.on_event,
        )
        self.event_log.start()
        names = {logical: resolve.physical[logical].ref for logical in resolve.physical}
        self.gateway = Gateway(
            routes_from_template(self.template), self.functions, self.tokens, function_names=names
        )
        self.gateway.start(self.requested_port)

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        for loop in (self.poller, self.ticker, self.outbox, self.event_log):
            if loop is not None:
                loop.stop()
        if self.outbox is not None:
            self.outbox.collect()
        if self.persist and self.resources is not None:
            state.save(self.state_dir / "state", self.resources, self.client)
        self.aws.stop()
        self.dynamodb.stop()
        self.calls.uninstall()
        self._restore_env()
        self._restore_gc()
        self.gateway = None
        self.poller = self.ticker = None
        self._clients.clear()

    def _register_fake_oauth_apps(self) -> None:
        """The deployment's OAuth apps, as the fakes know them (their default client id and secret;
        the vendors' real hosts until ``register_oauth_app`` names a fake's)."""
        from infra.local.fake_hris import bamboohr, employment_hero, finch, slack  # noqa: PLC0415

        for provider, (client_id, client_secret) in (
            ("bamboohr", bamboohr.OAUTH_CLIENT),
            ("employment_hero", employment_hero.OAUTH_CLIENT),
        ):
            self.register_oauth_app(provider, client_id=client_id, client_secret=client_secret)
        # Slack's app also has its signing secret (every Events API request is signed with it).
        self.register_oauth_app(
            "slack",
            client_id=slack.OAUTH_CLIENT[0],
            client_secret=slack.OAUTH_CLIENT[1],
            secrets={"signing_secret": slack.SIGNING_SECRET},
        )
        # Finch's app signs its webhooks with one secret for every employer connected through it.
        self.register_oauth_app(
            "finch",
            client_id=finch.OAUTH_CLIENT[0],
            client_secret=finch.OAUTH_CLIENT[1],
            secrets={"webhook_secret": finch.WEBHOOK_SECRET},
        )

    def register_oauth_app(
        self,
        provider: str,
        *,
        client_id: str,
        client_secret: str,
        settings: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
    ) -> None:
        """Configure the SaaS team's OAuth app for ``provider`` (what a deployment does with the
        secret ``<prefix>/oauth-apps/<provider>``); ``settings`` may point it at a fake's hosts,
        ``secrets`` add the app's other secrets (Slack's signing secret)."""
        assert self.functions is not None, "start the stack first"  # noqa: S101
        prefix = self.functions.environment_of("admin_api")["SECRETS_PREFIX"]
        name = oauth_app_secret_name(prefix, provider)
        value = json.dumps(
            {
                "secrets": {"client_id": client_id, "client_secret": client_secret, **(secrets or {})},
                "settings": settings or {},
            }
        )
        manager = self.client("secretsmanager")
        try:
            manager.create_secret(Name=name, SecretString=value)
        except manager.exceptions.ResourceExistsException:
            manager.put_secret_value(SecretId=name, SecretString=value)

    def _tune_gc(self) -> None:
        """Collect garbage less often while the stack runs (measured: a 4,000-person import spent
        7 s of 40 in the cyclic collector, most of it in 14 full passes over moto's items).

        Everything loaded to start the stack (modules, the template, moto's models) lives until
        it stops, so it is frozen out of every collection; the youngest generation is collected
        every 50,000 allocations instead of 700. Restored on stop.
        """
        if self._saved_gc is None and gc.get_freeze_count() == 0:
            self._saved_gc = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(*_GC_THRESHOLDS)

    def _restore_gc(self) -> None:
        if self._saved_gc is not None:
            gc.set_threshold(*self._saved_gc)
            gc.unfreeze()
            self._saved_gc = None

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    # --- what callers use

    @property
    def url(self) -> str:
        assert self.gateway is not None, "start the stack first"  # noqa: S101
        return self.gateway.url

    def webhook_url(self, connection_id: str) -> str:
        return f"{self.url}/webhooks/{connection_id}"

    def token(self, tenant_id: str, *, subject: str = "local-admin", admin: bool = True) -> str:
        return self.tokens.issue(tenant_id, datetime.now(UTC), subject=subject, admin=admin)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            if service in _ON_DYNAMODB_LOCAL:
                self._clients[service] = self.dynamodb.client(service=service)
            else:
                self._clients[service] = self.aws.client(service)
        return self._clients[service]

    def _function_key(self, key: str) -> str | None:
        return key if self.functions is not None and key in self.functions else None

    def _queue_logical_id(self) -> str:
        for logical_id, body in resources_of_type(self.template, "AWS::SQS::Queue").items():
            if (body.get("Properties") or {}).get("RedrivePolicy"):
                return logical_id
        raise LookupError("no webhook queue")

    def _worker_batch_size(self) -> int:
        for mapping in resources_of_type(self.template, "AWS::Lambda::EventSourceMapping").values():
            return int((mapping.get("Properties") or {}).get("BatchSize", 10))
        return 10

    def _fire_target(self, arn: str, payload: str) -> None:
        """A schedule's target: a function in-process, or a state machine execution."""
        assert self.functions is not None  # noqa: S101
        if ":states:" in arn and ":stateMachine:" in arn:
            name = f"scheduled-{int(time.time() * 1000)}"
            self.client("stepfunctions").start_execution(stateMachineArn=arn, name=name, input=payload)
            return
        self.functions.invoke(arn, json.loads(payload or "{}"))

    def executions(self) -> list[Execution]:
        """Every execution of the full-sync state machine, oldest first."""
        if self.resources is None or self.resources.state_machine_arn is None:
            return []
        sfn = self.client("stepfunctions")
        found: list[Execution] = []
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.resources.state_machine_arn
        ):
            for item in page.get("executions", []):
                found.append(Execution(item["name"], item["status"], item["startDate"], item.get("stopDate")))
        return sorted(found, key=lambda e: e.started)

    def wait_for_executions(self, timeout: float = 300.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(e.status != "RUNNING" for e in self.executions()):
                return True
            time.sleep(0.05)
        return False

    def drain(self, timeout: float = 120.0) -> None:
        """Wait until queued webhooks are applied and executions finished; collect mail and events."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            idle = self.wait_for_executions(max(0.0, deadline - time.monotonic()))
            if self.poller is not None:
                idle = self.poller.drain(max(0.0, deadline - time.monotonic())) and idle
            if idle and all(e.status != "RUNNING" for e in self.executions()):
                break
        if self.outbox is not None:
            self.outbox.collect()
        if self.event_log is not None:
            self.event_log.collect()

    def mail(self) -> list[Path]:
        return self.outbox.collect() if self.outbox is not None else []

    def events(self) -> list[dict[str, Any]]:
        return self.event_log.collect() if self.event_log is not None else []

    def policies(self) -> FunctionPolicies:
        """Each function's IAM statements from the synthesized template, resolved to local ARNs."""
        assert self._resolve is not None, "start the stack first"  # noqa: S101
        return FunctionPolicies.from_template(self.template, self._resolve)

    def iam_denied(self) -> list[str]:
        """Each AWS call a function made that its policy in the template does not allow (and each
        call whose resource could not be named), as "<function> may not <service>:<operation> ..."."""
        denied = [str(d) for d in self.policies().denied(self.calls.calls())]
        return denied + [f"unmapped call {u}" for u in self.calls.unmapped()]

    def errors(self) -> list[str]:
        """What the background loops reported (a healthy stack reports nothing)."""
        return [
            f"{loop.name}: {error}"
            for loop in (self.poller, self.ticker, self.outbox, self.event_log)
            if loop is not None
            for error in loop.errors
        ]


@contextmanager
def running(**options: Any) -> Iterator[LocalStack]:
    stack = LocalStack(**options)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
