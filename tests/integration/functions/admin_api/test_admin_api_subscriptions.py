"""The vendors' change notifications are addressed under the API's own public URL: derived from
what API Gateway put in the activating request (its domain and stage), or the deployment's
``notification_base_url``; the full URL is kept on the connection, so a scheduled renewal or a new
subscription later needs no request."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from admin_api_client import TENANT_A, Client
from admin_api_scenarios import connect_body

from functions.admin_api import handler as admin_handler
from shared.services import subscriptions
from tests.support.subscribing import SubscribingHR
from tests.support.world import World

# What the base event's request context names: API Gateway's domain, stage "prod".
API_BASE = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"


@pytest.fixture
def subscribing(monkeypatch: pytest.MonkeyPatch) -> tuple[World, SubscribingHR]:
    hr = SubscribingHR()
    world = World(hr=hr)
    hr.now = world.clock.now()
    monkeypatch.setattr(admin_handler, "ports", lambda: world.ports)
    return world, hr


def test_activation_subscribes_under_the_apis_own_url_from_the_request_context(
    subscribing: tuple[World, SubscribingHR],
) -> None:
    world, hr = subscribing
    api = Client(tenant=TENANT_A, sub="admin-a")
    draft = api.post("/v1/connections", connect_body(draft=True))
    assert draft.status == 201 and hr.made == []  # a draft subscribes to nothing
    cid = draft.json["connection"]["id"]

    activated = api.post(f"/v1/connections/{cid}/activate")

    assert activated.status == 202, activated.text
    url = f"{API_BASE}/webhooks/{cid}"
    assert hr.made == [("sub-1", url)]
    stored = world.connections.get(TENANT_A, cid)
    assert stored.notification_url == url and stored.subscription is not None


def test_a_renewal_without_any_request_subscribes_again_at_the_kept_url(
    subscribing: tuple[World, SubscribingHR],
) -> None:
    world, hr = subscribing
    api = Client(tenant=TENANT_A, sub="admin-a")
    cid = api.post("/v1/connections", connect_body()).json["connection"]["id"]
    world.clock.advance(timedelta(days=4))
    hr.now = world.clock.now()
    hr.live.clear()  # lapsed and forgotten by the vendor

    swept = subscriptions.renew_due(world.ports, world.connections.get(TENANT_A, cid))

    assert swept.subscription is not None and swept.subscription.id == "sub-2"
    assert hr.made[-1] == ("sub-2", f"{API_BASE}/webhooks/{cid}")


def test_the_deployments_notification_base_url_wins_over_the_request(
    subscribing: tuple[World, SubscribingHR],
) -> None:
    world, hr = subscribing
    world.settings = dataclasses.replace(world.settings, notification_base_url="https://hris.acme.example/")
    api = Client(tenant=TENANT_A, sub="admin-a")
    cid = api.post("/v1/connections", connect_body()).json["connection"]["id"]
    assert hr.made == [("sub-1", f"https://hris.acme.example/webhooks/{cid}")]


def test_an_edit_subscribes_an_active_connection_a_failed_attempt_left_without_one(
    subscribing: tuple[World, SubscribingHR],
) -> None:
    world, hr = subscribing
    hr.fail = {"subscribe"}
    api = Client(tenant=TENANT_A, sub="admin-a")
    cid = api.post("/v1/connections", connect_body()).json["connection"]["id"]
    assert world.connections.get(TENANT_A, cid).subscription is None
    hr.fail = set()

    edited = api.patch(f"/v1/connections/{cid}", {"label": "Acme HR (EU)"})

    assert edited.status == 200, edited.text
    assert hr.made == [("sub-1", f"{API_BASE}/webhooks/{cid}")]
