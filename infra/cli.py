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


def main() -> None:
    app()
