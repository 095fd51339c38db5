"""Fixtures for the fake HR servers' behaviour tests: a small generated company, a webhook sink."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fakes_support import TODAY, Received, Sink

from infra.local.company import generate_company
from shared.domain.models import Employee


@pytest.fixture(scope="session")
def people() -> list[Employee]:
    return generate_company(230, 9, TODAY)


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.sink.received.append(Received(self.path, headers, body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def sink() -> Iterator[Sink]:
    """An HTTP endpoint on loopback that records every webhook delivered to it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.sink = Sink(f"http://127.0.0.1:{server.server_address[1]}/webhooks/c1")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.sink  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
