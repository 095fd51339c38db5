"""A small client of the admin API over HTTP, for the demo, the end-to-end tests and the benchmark.

It speaks only HTTP to the gateway (the way an admin UI would) with a bearer token; nothing here
reaches into the stack. ``ApiError`` carries the status and the API's error code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from infra.local.fake_hris import FakeHRServer
from shared.providers.catalogue import INTERNAL_SETTINGS, AuthMethod, fields_for
from shared.providers.registry import provider_info


class ApiError(RuntimeError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code


def fake_credentials(
    fake: FakeHRServer, webhook_secret: str | None = None, *, method: AuthMethod | None = None
) -> dict[str, Any]:
    """What an admin would send to connect a fake HR system, field by field as the provider's
    catalogue entry asks (``GET /v1/providers``): ``method``'s fields, by default the API-key ones
    when it offers them (so BambooHR connects with its API key), else the OAuth token set. The
    fake's host goes in the internal ``base_url`` / ``oauth_base_url`` settings, which no admin
    form shows; so does a fake's own TLS trust anchor (``ca_certificate``: ADP's fake serves
    mutual TLS with a CA it made at start)."""
    info = provider_info(fake.vendor.name)
    if method is None:
        method = AuthMethod.API_KEY if AuthMethod.API_KEY in info.methods else AuthMethod.OAUTH
    values = {**fake.credentials, "company_domain": fake.credentials.get("subdomain", "")}
    if webhook_secret is not None:
        values["webhook_secret"] = webhook_secret
    given: dict[str, dict[str, str]] = {"secrets": {}, "settings": {}}
    for item in fields_for(info, method):
        if values.get(item.name):
            given[item.place][item.name] = values[item.name]
    given["settings"].update(base_url=fake.base_url, oauth_base_url=fake.oauth_base_url)
    for name in sorted(INTERNAL_SETTINGS - {"base_url", "oauth_base_url"}):
        if fake.credentials.get(name):
            given["settings"][name] = fake.credentials[name]
    return given


class AdminClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(
        self, method: str, path: str, *, expect: int | tuple[int, ...] = (200, 201, 202), **kw: Any
    ) -> Any:
        answer = self.http.request(method, path, **kw)
        wanted = (expect,) if isinstance(expect, int) else expect
        if answer.status_code not in wanted:
            try:
                error = answer.json().get("error", {})
            except ValueError:
                error = {}
            raise ApiError(
                answer.status_code, str(error.get("code", "")), str(error.get("message", answer.text))
            )
        return answer.json() if answer.content else None

    # --- connections and runs

    def connect(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/v1/connections", json=body)
        return result

    def activate(self, connection_id: str, **body: Any) -> dict[str, Any]:
        """R32: a draft (``connect(draft=True, ...)``) becomes active; its first import starts."""
        result: dict[str, Any] = self.call("POST", f"/v1/connections/{connection_id}/activate", json=body)
        return result

    def edit(self, connection_id: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("PATCH", f"/v1/connections/{connection_id}", json=body)
        return result

    def disconnect(self, connection_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("DELETE", f"/v1/connections/{connection_id}")
        return result

    def sync(self, connection_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", f"/v1/connections/{connection_id}/sync")
        return result

    def run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/v1/runs/{run_id}")
        return result

    def runs(self, connection_id: str) -> list[dict[str, Any]]:
        return list(self.pages(f"/v1/connections/{connection_id}/runs"))

    def confirm(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", f"/v1/runs/{run_id}/confirm")
        return result

    def wait_run(
        self,
        run_id: str,
        *,
        timeout: float = 600.0,
        interval: float = 0.1,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the run until it is no longer running (finished, or held by the guard); its last state."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if on_progress is not None:
                on_progress(run)
            if run["status"] != "running":  # completed, partial, failed, blocked (R23), discarded
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still running after {timeout:.0f} s")
            time.sleep(interval)

    # --- members, tasks

    def pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            query = {k: v for k, v in {**params, "cursor": cursor}.items() if v is not None}
            page = self.call("GET", path, params=query)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def connections(self) -> list[dict[str, Any]]:
        return list(self.pages("/v1/connections", limit=100))

    def members(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.pages("/v1/members", limit=100, **filters))

    def member(self, member_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/v1/members/{member_id}")
        return result

    def tasks(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.pages("/v1/tasks", limit=100, **filters))
