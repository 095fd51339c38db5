"""Credentials sent on connect (or edit) are stored as a secret and never echoed, logged or
returned: not in any answer, not in a validation error, not in a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from admin_api_client import Client
from admin_api_scenarios import SECRET_API_KEY, SECRET_WEBHOOK, connect_body, connected

from shared import observability
from tests.support.world import World

SECRETS = (SECRET_API_KEY, SECRET_WEBHOOK)


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Every line the function's logger writes (as Powertools formats it, at DEBUG)."""
    caplog.set_level(logging.DEBUG)
    logger = observability.logger
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_credentials_are_stored_as_a_secret_and_appear_in_no_answer_or_log(
    world: World,
    api: Client,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    log_lines: io.StringIO,
) -> None:
    tenant = connected(world, api)
    answers = [
        api.get("/v1/connections"),
        api.get(f"/v1/connections/{tenant.connection_id}"),
        api.patch(f"/v1/connections/{tenant.connection_id}", {"label": "Renamed"}),
        api.get(f"/v1/runs/{tenant.run_id}"),
        api.get(f"/v1/connections/{tenant.connection_id}/directory"),
        api.post(f"/v1/connections/{tenant.connection_id}/preview"),
        api.delete(f"/v1/connections/{tenant.connection_id}"),
    ]
    connect = api.post("/v1/connections", connect_body())
    answers.append(connect)
    stored = world.secrets.get("tenant-a", connect.json["connection"]["id"])
    assert stored.secrets["api_key"].reveal() == SECRET_API_KEY
    assert stored.secrets["webhook_secret"].reveal() == SECRET_WEBHOOK
    assert (
        world.hr.credentials_seen
        and world.hr.credentials_seen[0].secrets["api_key"].reveal() == SECRET_API_KEY
    )
    for answer in answers:
        assert answer.status < 400, answer.text
        assert _leaks(answer.text) == []
    logged = log_lines.getvalue()
    assert logged.count('"message":"admin api request"') == len(answers) + 1  # + the first connect
    captured = capsys.readouterr()
    assert _leaks(logged + captured.out + captured.err + caplog.text) == []


@pytest.mark.parametrize(
    "broken",
    [
        {"provider": "Not A Provider"},
        {"label": ""},
        {"unknown_field": True},
        {"schedule": {"expression": "whenever"}},
        {"admin_emails": ["not-an-email"]},
    ],
    ids=["bad-provider", "empty-label", "unknown-field", "bad-schedule", "bad-email"],
)
def test_a_refused_connect_never_echoes_the_credentials(
    world: World, api: Client, log_lines: io.StringIO, broken: dict[str, object]
) -> None:
    answer = api.post("/v1/connections", {**connect_body(), **broken})
    assert 400 <= answer.status < 500
    assert _leaks(answer.text + log_lines.getvalue()) == []


def test_a_wrongly_typed_secret_is_refused_without_echoing_the_others(
    world: World, api: Client, log_lines: io.StringIO
) -> None:
    body = connect_body()
    body["credentials"]["secrets"]["client_id"] = ["not", "a", "string"]
    body["credentials"]["secrets"]["bad key!"] = SECRET_API_KEY
    answer = api.post("/v1/connections", body)
    assert answer.status == 422
    assert _leaks(answer.text + log_lines.getvalue()) == []
    assert world.connections.list_for_tenant("tenant-a") == []


def test_rotated_credentials_are_not_echoed_or_logged(
    world: World, api: Client, log_lines: io.StringIO
) -> None:
    tenant = connected(world, api)
    rotated = "sk-rotated-9z8y7x-DO-NOT-LEAK"
    answer = api.patch(
        f"/v1/connections/{tenant.connection_id}", {"credentials": {"secrets": {"api_key": rotated}}}
    )
    assert answer.status == 200
    assert rotated not in answer.text + log_lines.getvalue()
