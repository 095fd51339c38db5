"""Slack end to end over HTTP: the OAuth v2 install through the journey (oauth/start -> the fake's
consent -> our callback -> a draft -> activate), the first import (bots and guests left out, user
groups in the directory), a signed ``team_join`` that creates a member, and a ``user_change`` with
``deleted: true`` that deactivates one; the ``url_verification`` handshake answered."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx

from infra.local.fake_hris import FakeHRServer
from infra.local.fake_hris import slack as fake_slack
from tests.support.local_stack import Tenant, until

RETURN_URL = "http://127.0.0.1:9/admin/connections/oauth-done"


def _install(tenant: Tenant, fake: FakeHRServer) -> str:
    tenant.register_oauth_app(fake, signing_secret=fake.credentials["signing_secret"])
    connection_id, authorize_url = tenant.connect_by_oauth(
        fake, RETURN_URL, label="Slack", invites="later", approval="auto"
    )
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["scope"] == ["users:read,users:read.email,usergroups:read,team:read"]
    return connection_id


def test_slack_install_import_and_events(tenant: Tenant) -> None:
    fake = tenant.fake("slack", employees=25, guests=2)
    connection_id = _install(tenant, fake)
    draft = tenant.api.call("GET", f"/v1/connections/{connection_id}")
    assert (draft["provider"], draft["status"]) == ("slack", "draft")

    directory = tenant.api.call("GET", f"/v1/connections/{connection_id}/directory", params={"limit": 200})
    kinds = {g["kind"] for g in directory["groups"]}
    assert kinds == {"user_group"} and all(g["id"].startswith("S") for g in directory["groups"])
    assert directory["notes"] == []

    # Slack asks for the Events API request URL: its url_verification is answered with the challenge.
    challenge = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"}).encode()
    shake = httpx.post(
        tenant.stack.webhook_url(connection_id),
        content=challenge,
        headers=fake_slack.sign(challenge, fake.credentials["signing_secret"], int(time.time())),
    )
    assert shake.status_code == 200 and shake.json() == {"challenge": "c-123"}

    activated = tenant.api.activate(connection_id)
    run = tenant.api.wait_run(activated["run"]["id"], timeout=120)
    assert run["status"] == "completed", run
    members = tenant.by_hris()
    expected = {e.hris_id for e in fake.expected_employees() if e.status.value == "active"}
    assert expected <= set(members)
    # Bots, Slackbot and guests are not members.
    assert not {h for h in members if h == "USLACKBOT" or h.startswith(("UGUEST", "UFAKEBOT"))}

    fake.webhooks_to(tenant.stack.webhook_url(connection_id), secret=fake.credentials["signing_secret"])
    hired = fake.hire("Nia", "Newcomer", department="Engineering")
    new_id = fake_slack.user_id(hired)
    assert fake.deliveries[-1].status == 202, fake.deliveries[-1]
    member = until("the team_join member", lambda: tenant.by_hris().get(new_id))
    assert member["profile"]["first_name"] == "Nia" and member["status"] != "deactivated"

    leaver = fake.company.people()[2]
    fake.terminate(leaver.id)
    assert fake.deliveries[-1].status == 202, fake.deliveries[-1]
    gone = until(
        "the deactivation",
        lambda: tenant.by_hris()[fake_slack.user_id(leaver)]["status"] == "deactivated" or None,
    )
    assert gone
