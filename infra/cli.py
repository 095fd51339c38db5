"""The `hris-sync` command line."""

from __future__ import annotations

from datetime import date

import typer

from infra.local.fake_hris import PROVIDERS
from infra.local.fake_hris.cli import serve

app = typer.Typer(
    name="hris-sync",
    help="HR-driven member sync: demo, local stack, fake HR servers, CDK synth and deploy.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """hris-sync's command line."""


def main() -> None:
    app()


@app.command("fake-hris")
def fake_hris(
    *,
    provider: str = typer.Option("bamboohr", help="bamboohr, personio, hibob, employment_hero or merge."),
    employees: int = typer.Option(100, min=0, help="Head count of the generated company."),
    port: int = typer.Option(0, min=0, max=65535, help="Port on 127.0.0.1 (0: a free one)."),
    seed: int = typer.Option(1, help="Seed of the generated company."),
    rate_limit: str | None = typer.Option(
        None, "--rate-limit", help="N/s, N/min or N/SECONDS; 'none' to lift the vendor's default."
    ),
    today: str | None = typer.Option(None, help="The company's today (YYYY-MM-DD); default: today."),
) -> None:
    """Serve a fake HR system that speaks a vendor's API, until Ctrl-C."""
    if provider.replace("-", "_") not in PROVIDERS:
        raise typer.BadParameter(f"one of {', '.join(PROVIDERS)}", param_hint="--provider")
    try:
        day = date.fromisoformat(today) if today else None
        serve(provider, employees=employees, port=port, seed=seed, rate_limit=rate_limit, today=day)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
