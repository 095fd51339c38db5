"""The `hris-sync` command line."""

from __future__ import annotations

import typer

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
) -> None:
    """The product on one machine (interim: the reconciler on a generated company)."""
    from infra.demo import run_demo  # noqa: PLC0415 (lazy: the command line starts fast)

    run_demo(employees, as_json=as_json)


def main() -> None:
    app()
