"""`hris-sync fake-hris`: serve a fake HR system on loopback until Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import Literal

import typer

from infra.local.client import fake_credentials

from . import PROVIDERS, FakeHRServer, fake_hris
from .server import RateLimit

CREDENTIALS_FILE = "credentials.json"


def write_credentials(server: FakeHRServer, folder: Path) -> dict[str, Path]:
    """The fake's multi-line credentials (PEM certificates and keys) as files, and
    ``credentials.json``: the credentials body that connects it (``POST /v1/connections``), in a
    folder only this user can read (0700, files 0600)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    pems = {name: value for name, value in server.credentials.items() if "\n" in value}
    documents = {f"{name}.pem": value for name, value in pems.items()}
    documents[CREDENTIALS_FILE] = json.dumps(fake_credentials(server), indent=2)
    for file_name, content in documents.items():
        path = folder / file_name
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(content)
        written[file_name.removesuffix(".pem")] = path
    return written


def serve(
    provider: str,
    *,
    employees: int,
    port: int,
    seed: int,
    rate_limit: str | None,
    today: date | None,
    stop: threading.Event | None = None,
    credentials_dir: Path | None = None,
    ready: threading.Event | None = None,
) -> None:
    """Start the fake, print how to connect, serve until ``stop`` is set or Ctrl-C.

    A fake whose credentials hold certificates (ADP's mutual TLS) writes them, and the whole
    credentials body, to ``credentials_dir`` (default: a private temporary folder removed on exit)
    and prints the paths; ``ready`` is set once it serves."""
    limit: RateLimit | Literal["vendor"] | None = "vendor"
    if rate_limit is not None:
        limit = None if rate_limit.lower() in ("none", "off", "0") else RateLimit.parse(rate_limit)
    server = fake_hris(provider, employees=employees, seed=seed, today=today, port=port, rate_limit=limit)
    made: Path | None = None
    with server:
        typer.echo(f"Fake {provider} HR system with {len(server.company)} employees (seed {seed})")
        typer.echo(f"  base_url        {server.base_url}")
        typer.echo(f"  oauth_base_url  {server.oauth_base_url}")
        files: dict[str, Path] = {}
        if any("\n" in value for value in server.credentials.values()):
            folder = credentials_dir
            if folder is None:
                folder = made = Path(tempfile.mkdtemp(prefix=f"fake-{provider}-"))
            files = write_credentials(server, folder)
        for name, value in server.credentials.items():
            shown = f"{files[name]} (PEM)" if name in files else value
            typer.echo(f"  {name:<15} {shown}")
        if files:
            typer.echo(f"  credentials     {files[CREDENTIALS_FILE]} (the body of POST /v1/connections)")
        if server.tls is not None and server.tls.client_ca is not None:
            typer.echo(
                "  mutual TLS      every request presents client_certificate and client_key (admin too)"
            )
        typer.echo(f"  admin           {server.base_url}/_admin/employees (JSON; POST to hire, ...)")
        typer.echo("Serving until Ctrl-C.")
        if ready is not None:
            ready.set()
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            typer.echo("Stopped.")
        finally:
            if made is not None:
                shutil.rmtree(made, ignore_errors=True)


__all__ = ["PROVIDERS", "serve", "write_credentials"]
