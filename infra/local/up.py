"""`hris-sync local up`: the admin API and the webhook endpoint on 127.0.0.1 until Ctrl-C.

State (the table, blobs, credentials, schedules, the outbox and the event log) is kept under
``.local/`` between runs; ``--reset`` starts clean. Events are printed as they are published.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from infra.local.client import AdminClient
from infra.local.stack import DEFAULT_STATE_DIR, LocalStack


def portal_link(stack: LocalStack, tenant: str, *, intent: str = "manage") -> str:
    """A fresh one-time link to the admin portal for ``tenant`` (asked for as its backend would)."""
    with AdminClient(stack.url, stack.token(tenant, subject="local-backend")) as api:
        link: dict[str, Any] = api.call("POST", "/v1/portal/links", json={"intent": intent})
    return str(link["url"])


def wait_until_stopped(stop: threading.Event) -> None:
    """Block until ``stop`` is set, by SIGINT/SIGTERM (Ctrl-C) or by the caller."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    if threading.current_thread() is threading.main_thread():
        for sig in previous:
            signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(
    *,
    port: int = 8000,
    tenant: str = "tenant-dev",
    reset: bool = False,
    state_dir: Path = DEFAULT_STATE_DIR,
    console: Console | None = None,
    stop: threading.Event | None = None,
    deploy: Mapping[str, Any] | None = None,
) -> None:
    """Run the stack until ``stop`` is set (or SIGINT/SIGTERM)."""
    console = console or Console()
    stop = stop or threading.Event()

    def show(event: dict[str, Any]) -> None:
        detail = event.get("detail") or {}
        who = detail.get("member_id") or detail.get("run_id") or ""
        console.print(f"[dim]event[/] {event.get('detail-type', '?'):<28} {who}")

    stack = LocalStack(
        state_dir=state_dir,
        reset=reset,
        persist=True,
        port=port,
        log_level="INFO",
        on_event=show,
        deploy=deploy,
    )
    with console.status("Starting the local stack"):
        stack.start()
    try:
        token = stack.token(tenant)
        restored = stack.restored
        console.rule("[bold]hris-sync local stack[/]")
        # soft_wrap: a long line is never folded, so a URL or the token copies as one piece
        console.print(f"Admin API     {stack.url}/v1/   (Swagger UI: {stack.url}/v1/docs)", soft_wrap=True)
        console.print(f"Webhooks      {stack.url}/webhooks/{{connection_id}}")
        console.print(f"Tables        DynamoDB Local at {stack.dynamodb.endpoint}", soft_wrap=True)
        console.print(f"Outbox        {state_dir / 'outbox'}/*.eml")
        console.print(f"Events        {state_dir / 'events.jsonl'}")
        console.print(
            f"State         {state_dir / 'state'} "
            + (f"(restored: {json.dumps(restored)})" if restored else "(fresh)")
        )
        console.print(f"Tenant        {tenant}")
        console.print(
            f"Admin portal  {portal_link(stack, tenant)}   (one-time: opens once, within 5 minutes)",
            soft_wrap=True,
        )
        console.print(f"Dev token     {token}", soft_wrap=True)
        console.print(
            f'\nTry:  curl -s -H "Authorization: Bearer $TOKEN" {stack.url}/v1/connections\n'
            "Stop with Ctrl-C (state is saved; --reset starts clean).",
            soft_wrap=True,
        )
        wait_until_stopped(stop)
    finally:
        with console.status("Saving state and stopping"):
            stack.stop()
        console.print("Stopped.")
