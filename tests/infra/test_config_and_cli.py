"""Deploy-time parameters from context, and the synth/deploy commands up to the CDK CLI call."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra import cli
from infra.config import ConfigError, DeployConfig
from tests.infra.conftest import FIXTURE_FUNCTIONS, NO_BUNDLING


def _config(**context: Any) -> DeployConfig:
    return DeployConfig.from_context(context.get)


def test_defaults_make_a_dev_stack_with_cognito() -> None:
    config = _config()
    assert (config.stage, config.functions_root, config.uses_cognito) == ("dev", "functions", True)
    assert config.cors_origins == ()


def test_context_values_are_parsed_and_validated() -> None:
    config = _config(
        stage="prod",
        ses_sender="hr-sync@acme.example",
        admin_email="ops@acme.example",
        oidc_issuer="https://auth.acme.example/",
        oidc_audience="hris-sync",
        cors_origins="https://admin.acme.example, https://staging.acme.example",
    )
    assert config.cors_origins == ("https://admin.acme.example", "https://staging.acme.example")
    assert not config.uses_cognito


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"stage": "Prod!"}, "stage"),
        ({"ses_sender": "not-an-address"}, "ses_sender"),
        ({"admin_email": "ops@"}, "admin_email"),
        ({"cors_origins": "http://admin.acme.example"}, "cors_origins"),
        ({"cors_origins": "https://admin.acme.example/path"}, "cors_origins"),
        ({"oidc_issuer": "not a url", "oidc_audience": "x"}, "oidc_issuer"),
        ({"oidc_issuer": "https://auth.acme.example/"}, "oidc_audience"),
        ({"max_connections": "0"}, "max_connections"),
        ({"max_connections": "101"}, "max_connections"),
        ({"max_connections": "two"}, "max_connections"),
        ({"invite_url_template": "http://app.acme.example/i/{member_id}"}, "invite_url_template: .*https"),
        ({"invite_url_template": "https://app.acme.example/i/{user}"}, r"unknown placeholder \{user\}"),
        ({"notification_base_url": "http://hris.acme.example"}, "notification_base_url: an https URL"),
        ({"notification_base_url": "https://hris.acme.example/?x=1"}, "notification_base_url"),
    ],
)
def test_bad_context_is_a_clear_error_naming_the_key(context: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        _config(**context)


def test_deploy_settings_of_the_app_come_from_context() -> None:
    assert (_config().max_connections, _config().invite_url_template) == (1, None)
    template = "https://app.acme.example/invites/{member_id}?user={external_id}&t={tenant_id}"
    config = _config(max_connections="3", invite_url_template=template)
    assert (config.max_connections, config.invite_url_template) == (3, template)


def test_a_bad_invite_url_template_fails_the_synth_with_a_clear_message(tmp_path: Path) -> None:
    from aws_cdk import App

    from infra.app import build

    context = {**NO_BUNDLING, "invite_url_template": "https://{tenant_id}.acme.example/invite"}
    with pytest.raises(ConfigError) as refused:
        build(App(outdir=str(tmp_path / "out"), context=context))
    assert str(refused.value) == (
        "bad deploy context (invite_url_template: the invite URL template must start with "
        "https://<host> (placeholders may only follow the host))"
    )


def test_an_oidc_issuer_without_its_authorizer_handler_is_refused(tmp_path: Path) -> None:
    from aws_cdk import App

    from infra.app import build

    root = tmp_path / "functions"
    shutil.copytree(FIXTURE_FUNCTIONS / "admin_api", root / "admin_api")
    context = {
        **NO_BUNDLING,
        "functions_root": str(root),
        "oidc_issuer": "https://auth.acme.example/",
        "oidc_audience": "hris-sync",
    }
    with pytest.raises(ConfigError, match="api_authorizer"):
        build(App(outdir=str(tmp_path / "out"), context=context))


def test_cdk_json_runs_the_app_with_the_project_venv() -> None:
    import json

    from tests.infra.conftest import REPO_ROOT

    settings = json.loads((REPO_ROOT / "cdk.json").read_text())
    assert settings["app"] == ".venv/bin/python -m infra.app"
    assert settings["context"]["functions_root"] == "functions"


def test_synth_command_is_offline_and_passes_context() -> None:
    command = cli.cdk_command("synth", ["stage=prod", "cors_origins=https://a.example,https://b.example"])
    assert command[0] == str(cli.CDK_CLI)
    assert command[1] == "synth"
    for flag in ("--no-notices", "--no-version-reporting", "--no-lookups", "--quiet"):
        assert flag in command
    assert command.count("--context") == 2
    assert "stage=prod" in command
    assert "cors_origins=https://a.example,https://b.example" in command


def test_deploy_command_asks_before_broadening_permissions() -> None:
    command = cli.cdk_command("deploy", ["stage=prod"])
    assert command[1] == "deploy"
    assert command[command.index("--require-approval") + 1] == "broadening"


@pytest.mark.parametrize("entry", ["stage", "=prod", ""])
def test_a_malformed_context_entry_is_refused(entry: str) -> None:
    result = CliRunner().invoke(cli.app, ["synth", "-c", entry])
    assert result.exit_code == 2
    assert "key=value" in result.output


def test_deploy_runs_the_project_cdk_cli_from_the_repo_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_cli = tmp_path / "cdk"
    fake_cli.write_text("")
    monkeypatch.setattr(cli, "CDK_CLI", fake_cli)
    calls: list[dict[str, Any]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append({"command": command, **kwargs})
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(cli.subprocess, "run", run)
    result = CliRunner().invoke(cli.app, ["deploy", "-c", "stage=prod", "-c", "ses_sender=hr@acme.example"])
    assert result.exit_code == 0, result.output
    (call,) = calls
    assert call["command"][:2] == [str(fake_cli), "deploy"]
    assert call["cwd"] == cli.REPO_ROOT
    assert call["env"]["CDK_DISABLE_CLI_TELEMETRY"] == "true"
    assert "ses_sender=hr@acme.example" in call["command"]


def test_synth_without_the_cdk_cli_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cli, "CDK_CLI", tmp_path / "missing" / "cdk")
    monkeypatch.setattr(cli, "REPO_ROOT", tmp_path)
    result = CliRunner().invoke(cli.app, ["synth"])
    assert result.exit_code == 2
    assert "make cdk-cli" in result.output


def test_local_up_passes_the_deploy_settings_to_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.local import up

    started: list[dict[str, Any]] = []
    monkeypatch.setattr(cli, "_dynamodb_local", lambda: None)
    monkeypatch.setattr(up, "serve", lambda **kwargs: started.append(kwargs["deploy"]))
    template = "http://localhost:3000/invites/{member_id}"
    args = ["local", "up", "--max-connections", "3", "--invite-url-template", template]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert started == [{"max_connections": 3, "invite_url_template": template}]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--max-connections", "0"], "--max-connections"),
        (["--max-connections", "101"], "--max-connections"),
        (["--invite-url-template", "https://app.example/{user}"], "unknown placeholder"),
    ],
)
def test_local_up_refuses_bad_deploy_settings_before_starting(
    monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    from infra.local import up

    monkeypatch.setattr(cli, "_dynamodb_local", lambda: pytest.fail("started"))
    monkeypatch.setattr(up, "serve", lambda **_: pytest.fail("started"))
    result = CliRunner().invoke(cli.app, ["local", "up", *args])
    assert result.exit_code == 2
    assert says in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("given", "served"),
    [
        ("microsoft_365", "microsoft365"),
        ("microsoft365", "microsoft365"),
        ("google_workspace", "google_workspace"),
        ("google-workspace", "google_workspace"),
        ("slack", "slack"),
        ("finch", "finch"),
    ],
)
def test_fake_hris_serves_every_fake_by_any_of_its_names(
    given: str, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr("infra.local.fake_hris.cli.serve", lambda provider, **_: calls.append(provider))
    result = CliRunner().invoke(cli.app, ["fake-hris", "--provider", given, "--employees", "3"])
    assert result.exit_code == 0, result.output
    assert calls == [served]


def test_fake_hris_refuses_an_unknown_vendor_naming_the_known_ones() -> None:
    result = CliRunner().invoke(cli.app, ["fake-hris", "--provider", "workday"])
    assert result.exit_code == 2
    assert "microsoft365" in result.output and "google_workspace" in result.output
