"""Set-ups the admin API tests share: a tenant connected through the API, its first import run to
its end (the way the state machine would), members in the state a test needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from admin_api_client import Client

from shared.domain.records import RunStatus
from tests.support.world import World, hire

SECRET_API_KEY = "sk-live-4f9a8b7c6d5e-DO-NOT-LEAK"
SECRET_WEBHOOK = "whsec-0a1b2c3d4e5f-DO-NOT-LEAK"


def connect_body(**settings: Any) -> dict[str, Any]:
    return {
        "provider": "fakehr",
        "label": "Acme HR",
        "credentials": {
            "secrets": {"api_key": SECRET_API_KEY, "webhook_secret": SECRET_WEBHOOK},
            "settings": {"company_domain": "acme"},
        },
        "admin_emails": ["it@acme.test"],
        **settings,
    }


@dataclass
class Tenant:
    client: Client
    connection_id: str
    run_id: str

    def member_id(self, world: World, hris_id: str) -> str:
        return world.member_by_hris(self.client.tenant, self.connection_id, hris_id).member_id


def connected(world: World, client: Client, *employees: str, **settings: Any) -> Tenant:
    """Connect through the API and run the first import to its end."""
    hire(world, *(employees or ("ann", "bob", "cyd")))
    answer = client.post("/v1/connections", connect_body(**settings))
    assert answer.status == 202, answer.text
    connection_id = answer.json["connection"]["id"]
    run_id = answer.json["run"]["id"]
    run = world.drive(world.runs.get(client.tenant, run_id))
    assert run.status is RunStatus.COMPLETED, run
    return Tenant(client=client, connection_id=connection_id, run_id=run_id)


def held_run(world: World, tenant: Tenant, *leavers: str) -> str:
    """A full sync whose plan the guard holds (R23): the leavers are gone from the HR system."""
    world.hr.remove(*leavers)
    answer = tenant.client.post(f"/v1/connections/{tenant.connection_id}/sync")
    assert answer.status == 202, answer.text
    run = world.drive(world.runs.get(tenant.client.tenant, answer.json["id"]))
    assert run.status is RunStatus.BLOCKED, run
    return run.run_id


STRICT_GUARD = {"safety": {"max_deactivations": 0, "max_deactivation_pct": 0}}
