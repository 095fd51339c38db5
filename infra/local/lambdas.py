"""The service's Lambda functions, run in this process with the environment each would get.

Each function comes from the synthesized template: its name, ARN, handler (``functions.<name>.
handler.handler``) and environment variables (resolved to the local resources). A function's first
call is its cold start: it runs with exactly that function's variables set (under a lock, since
the environment is process-wide), so its typed settings are read from what Lambda would give it.
Later calls reuse the handler module and whatever its composition root built.

``invoke`` answers like Lambda: the handler's JSON result, or ``FunctionError`` carrying the
``errorType`` / ``errorMessage`` Lambda reports (Step Functions' Retry and Catch match on it).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from infra.local.calls import running_as
from infra.local.template import REPO_ROOT, Resolver, resources_of_type

Handler = Callable[[Any, Any], Any]


class UnknownFunction(LookupError):
    """No function of that name or ARN in the local stack (Lambda: ResourceNotFoundException)."""


class FunctionError(Exception):
    """The handler raised: Lambda's ``Unhandled`` function error."""

    def __init__(self, error_type: str, message: str, stack: list[str]) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.stack = stack

    def payload(self) -> dict[str, Any]:
        return {"errorType": self.error_type, "errorMessage": self.message, "stackTrace": self.stack}


def forget_composition(module: ModuleType) -> None:
    """A cold start: forget what the handler module's composition root (its ``functools`` cached
    ``ports()`` / ``root()``) built in an earlier stack of this process (clients of another endpoint)."""
    for value in vars(module).values():
        if (
            callable(getattr(value, "cache_clear", None))
            and getattr(value, "__module__", None) == module.__name__
        ):
            value.cache_clear()


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    logical_id: str
    key: str  # the catalog name: the folder under the functions root (admin_api, sync_steps ...)
    name: str  # the deployed function name (hris-sync-local-admin_api)
    arn: str
    handler_path: str  # functions.admin_api.handler.handler
    environment: dict[str, str]
    memory_mb: int
    timeout_seconds: int
    handler: Handler | None = None
    module: ModuleType | None = None
    invocations: int = 0
    seconds: float = 0.0


class LocalFunctions:
    """The functions of the template, callable in-process by name or ARN."""

    def __init__(self, functions: list[LocalFunction], *, functions_root: Path, base_env: Mapping[str, str]):
        quiet_disabled_metrics()
        self._by_key = {f.key: f for f in functions}
        self._lookup: dict[str, LocalFunction] = {}
        for function in functions:
            for alias in (function.key, function.name, function.arn):
                self._lookup[alias] = function
        self._root = functions_root
        self._base_env = dict(base_env)
        self._cold_start = threading.RLock()
        self._stats_lock = threading.Lock()
        # Called after every invocation with (function key, event, seconds): benchmarks use it.
        self.observers: list[Callable[[str, Any, float], None]] = []

    @classmethod
    def from_template(
        cls,
        template: Mapping[str, Any],
        resolve: Resolver,
        *,
        functions_root: Path,
        base_env: Mapping[str, str],
    ) -> LocalFunctions:
        functions: list[LocalFunction] = []
        for logical_id, resource in resources_of_type(template, "AWS::Lambda::Function").items():
            props = resource["Properties"]
            handler = str(props.get("Handler", ""))
            if not handler.startswith("functions."):
                continue  # CDK's own helpers (log retention, bucket notifications ...)
            physical = resolve.physical[logical_id]
            variables = resolve(props.get("Environment", {}).get("Variables", {}))
            functions.append(
                LocalFunction(
                    logical_id=logical_id,
                    key=handler.split(".")[1],
                    name=physical.ref,
                    arn=physical.attributes["Arn"],
                    handler_path=handler,
                    environment={k: str(v) for k, v in variables.items()},
                    memory_mb=int(props.get("MemorySize", 128)),
                    timeout_seconds=int(props.get("Timeout", 3)),
                )
            )
        return cls(functions, functions_root=functions_root, base_env=base_env)

    def shared_environment(self) -> dict[str, str]:
        """The variables the process keeps between cold starts: every function's, where they agree.

        A function's settings are read at its cold start, with exactly its own variables (so a
        variable its access does not give it is missing, as in Lambda). But Powertools also reads
        a few variables lazily, on later calls (the metrics namespace of a single metric, the
        service name of a log line), and the functions run side by side in one process: between
        cold starts the process holds the union of their variables. Where functions disagree (the
        service name), the app's name stands for all.
        """
        values: dict[str, set[str]] = {}
        for function in self._by_key.values():
            for key, value in function.environment.items():
                values.setdefault(key, set()).add(value)
        shared = {key: next(iter(found)) for key, found in values.items() if len(found) == 1}
        if "POWERTOOLS_SERVICE_NAME" in values and "POWERTOOLS_SERVICE_NAME" not in shared:
            shared["POWERTOOLS_SERVICE_NAME"] = "hris-sync"
        return shared

    def set_environment(self, key: str, variables: Mapping[str, str]) -> None:
        """Add ``variables`` to the function ``key``'s environment (read at its next cold start);
        a function the template does not hold is left out."""
        function = self._by_key.get(key)
        if function is not None:
            function.environment.update(variables)

    def environment_of(self, key: str) -> dict[str, str]:
        """The variables of the function ``key`` (``admin_api`` ...) as its template sets them."""
        return dict(self._by_key[key].environment)

    def __contains__(self, name_or_arn: str) -> bool:
        return self._find(name_or_arn) is not None

    @property
    def keys(self) -> list[str]:
        return sorted(self._by_key)

    def get(self, name_or_arn: str) -> LocalFunction:
        function = self._find(name_or_arn)
        if function is None:
            raise UnknownFunction(name_or_arn)
        return function

    def _find(self, name_or_arn: str) -> LocalFunction | None:
        found = self._lookup.get(name_or_arn)
        if found is None and name_or_arn.startswith("arn:aws:lambda:"):
            # A qualified ARN (…:function:name:alias) names the same function.
            parts = name_or_arn.split(":")
            found = self._lookup.get(":".join(parts[:7]))
        return found

    def invoke(self, name_or_arn: str, event: Any) -> Any:
        """Call the function's handler with ``event``; ``FunctionError`` when it raises."""
        function = self.get(name_or_arn)
        context = LambdaContext(
            function_name=function.name,
            invoked_function_arn=function.arn,
            memory_limit_in_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds,
        )
        started = time.perf_counter()
        try:
            with running_as(function.key):  # its AWS calls are this function's (infra.local.calls)
                if function.handler is None:
                    with self._cold_start:
                        if function.handler is None:
                            with self._environment(function):
                                handler = self._load(function)
                                result = handler(event, context)
                            function.handler = handler
                            return result
                return function.handler(event, context)
        except Exception as exc:
            raise FunctionError(
                type(exc).__name__, str(exc), traceback.format_exception(type(exc), exc, exc.__traceback__)
            ) from exc
        finally:
            seconds = time.perf_counter() - started
            with self._stats_lock:
                function.invocations += 1
                function.seconds += seconds
            for observer in self.observers:
                observer(function.key, event, seconds)

    def invoke_json(self, name_or_arn: str, payload: bytes) -> bytes:
        """Lambda's Invoke API: a raw JSON payload in, the JSON result out."""
        event = json.loads(payload) if payload.strip() else {}
        result = self.invoke(name_or_arn, event)
        return json.dumps(result, default=str).encode()

    @contextmanager
    def _environment(self, function: LocalFunction) -> Iterator[None]:
        """Exactly this function's variables (plus the process-wide AWS settings) while cold."""
        others = {k for f in self._by_key.values() for k in f.environment} - set(function.environment)
        saved = {k: os.environ.get(k) for k in (*others, *function.environment, "AWS_LAMBDA_FUNCTION_NAME")}
        try:
            for key in others:
                os.environ.pop(key, None)
            os.environ.update(function.environment)
            os.environ["AWS_LAMBDA_FUNCTION_NAME"] = function.name
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _load(self, function: LocalFunction) -> Handler:
        module_path, _, attribute = function.handler_path.rpartition(".")
        module = self._module(module_path, function.key)
        forget_composition(module)
        function.module = module
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise UnknownFunction(f"{function.handler_path} is not callable")
        return handler  # type: ignore[no-any-return]

    def _module(self, module_path: str, key: str) -> ModuleType:
        if self._root.resolve() == (REPO_ROOT / "functions").resolve():
            return importlib.import_module(module_path)
        # Another functions root (tests): load the handler file under a name of its own.
        path = self._root / key / "handler.py"
        spec = importlib.util.spec_from_file_location(f"_local_functions.{key}.handler", path)
        if spec is None or spec.loader is None:
            raise UnknownFunction(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses and pydantic look their module up
        spec.loader.exec_module(module)
        return module

    def stats(self) -> dict[str, dict[str, float]]:
        with self._stats_lock:
            return {
                f.key: {"invocations": f.invocations, "seconds": round(f.seconds, 3)}
                for f in self._by_key.values()
            }


def quiet_disabled_metrics() -> None:
    """Print no EMF document while POWERTOOLS_METRICS_DISABLED is set (the local stack's setting).

    Powertools' flush at the end of an invocation honours the switch, but its automatic flush
    when one metric reaches 100 values does not: with every function in one process the values
    pile up (a disabled flush does not clear them) and a 50,000-person import printed such a
    document in the middle of the benchmark's output. Its module's ``print`` now checks the
    switch; the values are still cleared by that automatic flush, as before.
    """
    import builtins  # noqa: PLC0415

    from aws_lambda_powertools.metrics.functions import is_metrics_disabled  # noqa: PLC0415
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf import cloudwatch  # noqa: PLC0415

    def print_unless_disabled(*args: Any, **kwargs: Any) -> None:
        if not is_metrics_disabled():
            builtins.print(*args, **kwargs)  # noqa: T201 - Powertools publishes EMF by printing

    cloudwatch.print = print_unless_disabled  # type: ignore[attr-defined]
