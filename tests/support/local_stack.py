"""A tenant of the local stack for the end-to-end tests: its admin client (HTTP only), fake HR
servers wired to the stack's webhook endpoint, and its mail in the outbox."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from email import message_from_bytes
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from infra.local.client import AdminClient, fake_credentials
from infra.local.fake_hris import FakeHRServer, Fault, fake_hris
from infra.local.stack import LocalStack
from shared.adapters.scheduler import EVENT_POLL_SCHEDULES, schedule_name


def until[Found](
    what: str, check: Callable[[], Found], *, tenant: Tenant | None = None, seconds: float = 60
) -> Found:
    """Poll ``check()`` until it is truthy (draining ``tenant``'s stack queues first when given),
    for at most ``seconds``: a bounded wait, not a timed assertion."""
    deadline = time.monotonic() + seconds
    while True:
        if tenant is not None:
            tenant.stack.drain()
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.25)


def poll_schedule(stack: LocalStack, tenant_id: str, connection_id: str) -> dict[str, Any] | None:
    """The connection's event-queue poll schedule (``events-<hash>``), or None."""
    assert stack.resources is not None
    scheduler = stack.client("scheduler")
    try:
        found: dict[str, Any] = scheduler.get_schedule(
            GroupName=stack.resources.schedule_group,
            Name=schedule_name(tenant_id, connection_id, EVENT_POLL_SCHEDULES),
        )
    except scheduler.exceptions.ResourceNotFoundException:
        return None
    return found


def fire(stack: LocalStack, schedule: dict[str, Any]) -> Any:
    """What a schedule does when it fires: invoke its target with its input (at once, rather than
    at the next minute the local ticker would)."""
    assert stack.functions is not None
    target = schedule["Target"]
    return stack.functions.invoke(target["Arn"], json.loads(target["Input"]))


def a_short_page_deactivates_nobody(tenant: Tenant, fake: FakeHRServer, connection_id: str) -> None:
    """R31/R09 end to end: a sync whose first page comes back short while the vendor says more
    follow ends ``partial``, and nobody is deactivated for being missing from it."""
    before = {k: m["status"] for k, m in tenant.by_hris().items()}
    fake.add_fault(Fault(kind="short_page", page=1, times=None))
    try:
        faulty = tenant.api.wait_run(tenant.api.sync(connection_id)["id"], timeout=120)
    finally:
        fake.clear_faults()
    assert faulty["status"] == "partial", faulty
    newly_deactivated = [
        k
        for k, m in tenant.by_hris().items()
        if m["status"] == "deactivated" and before.get(k) != "deactivated"
    ]
    assert newly_deactivated == []


class Tenant:
    """A fresh tenant with its own admin token, HR fakes and outbox address."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.tenant_id = f"t-{uuid.uuid4().hex[:10]}"
        self.admin_email = f"admin@{self.tenant_id}.example"
        self.api = AdminClient(stack.url, stack.token(self.tenant_id, subject=f"admin-{self.tenant_id}"))
        self.fakes: list[FakeHRServer] = []
        self.webhook_secret = uuid.uuid4().hex

    def fake(self, provider: str = "bamboohr", **options: Any) -> FakeHRServer:
        options.setdefault("employees", 120)
        options.setdefault("seed", 11)
        server = fake_hris(provider, rate_limit=None, **options).start()
        self.fakes.append(server)
        return server

    def connect(self, fake: FakeHRServer, **settings: Any) -> tuple[str, dict[str, Any]]:
        """Connect ``fake`` (webhooks wired to the stack) and wait for the first import."""
        body: dict[str, Any] = {
            "provider": fake.vendor.name,
            "label": f"{fake.vendor.name} of {self.tenant_id}",
            "credentials": fake_credentials(fake, self.webhook_secret),
            "scope": {"mode": "everyone"},
            "invites": "later",
            "approval": "auto",
            "admin_emails": [self.admin_email],
            **settings,
        }
        connected = self.api.connect(**body)
        connection_id = connected["connection"]["id"]
        fake.webhooks_to(self.stack.webhook_url(connection_id), secret=self.webhook_secret)
        return connection_id, self.api.wait_run(connected["run"]["id"], timeout=120)

    def register_oauth_app(self, fake: FakeHRServer, **secrets: str) -> None:
        """The deployment's OAuth app for the fake's vendor, pointed at the fake's hosts;
        ``secrets`` are the app's other secrets (a webhook signing secret)."""
        self.stack.register_oauth_app(
            fake.vendor.name,
            client_id=fake.credentials["client_id"],
            client_secret=fake.credentials["client_secret"],
            settings={"base_url": fake.base_url, "oauth_base_url": fake.oauth_base_url},
            secrets=secrets,
        )

    def connect_by_oauth(self, fake: FakeHRServer, return_url: str, **body: Any) -> tuple[str, str]:
        """oauth/start for the fake's vendor, the fake consenting as the admin (a 302 to our
        callback), our callback (a 302 to ``return_url`` with the draft's id): the draft's id and
        the authorize URL the admin was sent to."""
        started = self.api.call(
            "POST",
            "/v1/connections/oauth/start",
            json={"provider": fake.vendor.name, "return_url": return_url, **body},
        )
        with httpx.Client(timeout=30) as browser:
            at_vendor = browser.get(started["authorize_url"])
            assert at_vendor.status_code == 302, at_vendor.text
            back = browser.get(at_vendor.headers["Location"])
        assert back.status_code == 302, back.text
        assert back.headers["Location"].startswith(return_url)
        [connection_id] = parse_qs(urlsplit(back.headers["Location"]).query)["connection_id"]
        return connection_id, started["authorize_url"]

    def emails(self) -> list[dict[str, str]]:
        """Subjects of the outbox's messages to this tenant's admin."""
        found: list[dict[str, str]] = []
        for path in self.stack.mail():
            message = message_from_bytes(path.read_bytes())
            if self.admin_email in str(message.get("To", "")):
                found.append({"subject": str(message.get("Subject", "")), "file": path.name})
        return found

    def by_hris(self) -> dict[str, dict[str, Any]]:
        return {m["hris_id"]: m for m in self.api.members() if m.get("hris_id")}

    def close(self) -> None:
        self.api.close()
        for server in self.fakes:
            server.stop()
