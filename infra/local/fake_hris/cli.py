"""`hris-sync fake-hris`: serve a fake HR system on loopback until Ctrl-C."""

from __future__ import annotations

import threading
from datetime import date
from typing import Literal

import typer

from . import PROVIDERS, fake_hris
from .server import RateLimit


def serve(
    provider: str,
    *,
    employees: int,
    port: int,
    seed: int,
    rate_limit: str | None,
    today: date | None,
    stop: threading.Event | None = None,
) -> None:
    """Start the fake, print how to connect, serve until ``stop`` is set or Ctrl-C."""
    limit: RateLimit | Literal["vendor"] | None = "vendor"
    if rate_limit is not None:
        limit = None if rate_limit.lower() in ("none", "off", "0") else RateLimit.parse(rate_limit)
    server = fake_hris(provider, employees=employees, seed=seed, today=today, port=port, rate_limit=limit)
    with server:
        typer.echo(f"Fake {provider} HR system with {len(server.company)} employees (seed {seed})")
        typer.echo(f"  base_url        {server.base_url}")
        typer.echo(f"  oauth_base_url  {server.oauth_base_url}")
        for name, value in server.credentials.items():
            typer.echo(f"  {name:<15} {value}")
        typer.echo(f"  admin           {server.base_url}/_admin/employees (JSON; POST to hire, ...)")
        typer.echo("Serving until Ctrl-C.")
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            typer.echo("Stopped.")


__all__ = ["PROVIDERS", "serve"]
