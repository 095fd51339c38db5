"""The admin portal in a real browser: Debian's Chromium driven by Playwright (no browser
download), against one local stack for the whole folder (module-scoped: started once, stopped
after the folder's last test). ``make test`` installs both (``make browser-deps``); without them
the folder is skipped with the reason."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from infra.local.stack import LocalStack
from tests.support.local_stack import Tenant

CHROMIUM = Path("/usr/bin/chromium")
# Measured here (docs: DESIGN.md "Facts measured on this machine"): as root Chromium needs
# --no-sandbox; the closed network refuses Chromium's own background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Where the tests save each main screen: docs/portal/ with `make screenshots` (the README shows
# them), else a scratch folder (the screens are still rendered and saved, the docs untouched).
SCREENSHOTS = Path(
    os.environ.get("HRIS_SYNC_SCREENSHOTS") or Path(tempfile.gettempdir()) / "hris-sync-portal-screens"
).resolve()
# `make test` installs Chromium and Playwright: there a missing one is a failure, not a skip.
REQUIRED = os.environ.get("HRIS_SYNC_BROWSER") == "required"


def _unavailable(reason: str) -> NoReturn:
    if REQUIRED:
        pytest.fail(f"{reason} (HRIS_SYNC_BROWSER=required)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("playwright is not installed (make browser-deps)")
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        _unavailable("Debian's chromium is not installed (make browser-deps)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    running = LocalStack(state_dir=tmp_path_factory.mktemp("portal-stack"), reset=True, persist=False)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def tenant(stack: LocalStack) -> Iterator[Tenant]:
    made = Tenant(stack)
    try:
        yield made
    finally:
        made.close()
