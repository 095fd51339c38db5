"""Tenant A can neither read nor change anything of tenant B, through every route of the API.

The route table below must name every operation of the OpenAPI document (a test checks it), so a
new route cannot be added without its isolation case. Routes naming a resource of B answer 404
exactly as for a missing one (never 403); lists and creates show A only A's data; and B's whole
state is unchanged afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from admin_api_client import Client
from admin_api_scenarios import STRICT_GUARD, Tenant, connect_body, connected, held_run

from functions.admin_api.openapi import document
from shared.codecs import to_json
from shared.domain.models import TaskType
from tests.support.world import World


@dataclass(frozen=True)
class Case:
    method: str
    template: str  # with {connection_id}, {run_id}, {member_id}, {task_id} of tenant B
    body: Any = None
    query: dict[str, str] | None = None
    # "404": names B's resource; "list": A's own listing; "create": makes A's own resource
    expect: str = "404"

    @property
    def id(self) -> str:
        return f"{self.method} {self.template}" + (f"?{next(iter(self.query))}" if self.query else "")


def _actions() -> list[Case]:
    names = ("approve", "reject", "deactivate", "reactivate", "offboard", "resync", "archive")
    return [Case("POST", f"/v1/members/{{member_id}}/{name}") for name in names]


# The provider catalogue holds no tenant's data: every caller reads the same (tested in
# test_admin_api_providers).
SHARED_BY_ALL_TENANTS = {("GET", "/v1/providers"), ("GET", "/v1/providers/{provider_id}")}
ROUTES: list[Case] = [
    Case("POST", "/v1/connections", body=connect_body(), expect="create"),
    Case("GET", "/v1/connections", expect="list"),
    Case("GET", "/v1/connections/{connection_id}"),
    Case(
        "PATCH", "/v1/connections/{connection_id}", body={"label": "taken over", "scope": {"mode": "manual"}}
    ),
    Case("DELETE", "/v1/connections/{connection_id}"),
    Case("GET", "/v1/connections/{connection_id}/directory"),
    Case("GET", "/v1/connections/{connection_id}/directory/groups"),
    Case("POST", "/v1/connections/{connection_id}/preview"),
    Case("POST", "/v1/connections/{connection_id}/match", body={"dry_run": False}),
    Case("POST", "/v1/connections/{connection_id}/sync"),
    Case("POST", "/v1/connections/{connection_id}/activate", body={"expected_version": 1}),
    Case("GET", "/v1/connections/{connection_id}/runs"),
    Case("GET", "/v1/runs/{run_id}"),
    Case("GET", "/v1/runs/{run_id}/actions", query={"type": "deactivate"}),
    Case("POST", "/v1/runs/{run_id}/confirm"),
    Case("POST", "/v1/runs/{run_id}/discard"),
    Case("GET", "/v1/members", expect="list"),
    Case("GET", "/v1/members", query={"status": "queued"}, expect="list"),
    Case("GET", "/v1/members", query={"email": "cyd@acme.test"}, expect="list"),
    Case("GET", "/v1/members", query={"q": "acme"}, expect="list"),
    # R34: A's own members by these emails (B has the same emails): A's are changed, never B's.
    Case("POST", "/v1/members", body={"email": "ann@acme.test", "external_id": "app-ann"}, expect="create"),
    Case(
        "POST",
        "/v1/members/import",
        body={"users": [{"email": "bob@acme.test", "external_id": "app-bob"}, {"email": "new@acme.test"}]},
        expect="create",
    ),
    Case("GET", "/v1/members/{member_id}"),
    Case("PATCH", "/v1/members/{member_id}", body={"first_name": "Mallory", "email": "mallory@evil.test"}),
    *_actions(),
    Case("POST", "/v1/invites/send", body={"member_ids": ["{member_id}"]}, expect="invites"),
    Case("POST", "/v1/invites/send", body={"all": True}, expect="invites"),
    Case("GET", "/v1/tasks", expect="list"),
    Case("POST", "/v1/tasks/{task_id}/complete"),
    Case("GET", "/v1/audit", expect="list"),
    Case("GET", "/v1/audit", query={"member_id": "{member_id}"}),
    # OAuth connect: A's own pending authorization; the public callback with a state A never got.
    Case(
        "POST",
        "/v1/connections/oauth/start",
        body={"provider": "employment_hero", "label": "EH", "return_url": "https://evil.example/"},
        expect="create",
    ),
    Case("GET", "/oauth/callback", query={"state": "{connection_id}", "code": "x"}, expect="callback"),
    Case("POST", "/v1/portal/links", body={"intent": "manage"}, expect="create"),
]


@dataclass
class Scene:
    a: Tenant
    b: Tenant
    ids: dict[str, str]  # B's resource ids by placeholder


def _state_of(world: World, tenant: str, connection_id: str) -> str:
    """Everything of a tenant, as one comparable text."""
    state = {
        "members": sorted(to_json(m) for m in world.members.iter_all(tenant)),
        "connections": [c.model_dump_json() for c in world.connections.list_for_tenant(tenant)],
        "runs": [
            r.model_dump_json()
            for r in world.runs.list_for_connection(tenant, connection_id, limit=200).items
        ],
        "tasks": [t.model_dump_json() for t in world.tasks.query(tenant, limit=200).items],
        "audit": [e.model_dump_json() for e in world.audit.query(tenant, limit=200).items],
        "secret": sorted(
            (k, v.reveal()) for k, v in world.secrets.get(tenant, connection_id).secrets.items()
        ),
        "schedule": repr(world.scheduler.items.get((tenant, connection_id))),
        "lock": repr(world.lock.current(tenant, connection_id, world.clock.now())),
    }
    return json.dumps(state, sort_keys=True)


@pytest.fixture
def scene(world: World, api: Client, other: Client) -> Scene:
    a = connected(world, api, "ann", "bob", "cyd", "dan")
    b = connected(world, other, "ann", "bob", "cyd", "dan", invites="later", **STRICT_GUARD)
    b_member = b.member_id(world, "ann")
    assert other.post(f"/v1/members/{b.member_id(world, 'dan')}/offboard").status == 200
    [task] = world.tasks.query("tenant-b", type=TaskType.OFFBOARDING).items
    run_id = held_run(world, b, "cyd")
    return Scene(
        a=a,
        b=b,
        ids={
            "connection_id": b.connection_id,
            "run_id": run_id,
            "member_id": b_member,
            "task_id": task.task_id,
        },
    )


def _fill(value: Any, ids: dict[str, str]) -> Any:
    text = json.dumps(value)
    for key, real in ids.items():
        text = text.replace("{" + key + "}", real)
    return json.loads(text)


def _b_ids_in(answer_text: str, scene: Scene, world: World) -> set[str]:
    b_ids = {m.member_id for m in world.members.iter_all("tenant-b")} | set(scene.ids.values())
    return {i for i in b_ids if i in answer_text}


@pytest.mark.parametrize("case", ROUTES, ids=lambda c: c.id)
def test_tenant_a_can_neither_read_nor_change_tenant_b(
    world: World, scene: Scene, api: Client, case: Case
) -> None:
    before = _state_of(world, "tenant-b", scene.b.connection_id)
    path, body, query = (
        _fill(case.template, scene.ids),
        _fill(case.body, scene.ids),
        _fill(case.query, scene.ids),
    )
    answer = api.request(case.method, path, body=body, query=query)
    if case.expect == "404":
        assert answer.status == 404, answer.text
        assert answer.json["error"]["code"].endswith("not_found")
    elif case.expect == "invites":
        assert answer.status == 200, answer.text
        assert answer.json["sent"] == []
    else:
        assert answer.status < 400 or case.expect in ("create", "callback"), answer.text
    # Nothing of B shows, beyond the ids A itself sent (echoed by a 404's message).
    sent = path + json.dumps(body) + json.dumps(query)
    assert {i for i in _b_ids_in(answer.text, scene, world) if i not in sent} == set()
    assert _state_of(world, "tenant-b", scene.b.connection_id) == before


@pytest.mark.parametrize("case", [c for c in ROUTES if c.expect == "404"], ids=lambda c: c.id)
def test_another_tenants_resource_is_indistinguishable_from_a_missing_one(
    world: World, scene: Scene, api: Client, case: Case
) -> None:
    b_answer = api.request(
        case.method,
        _fill(case.template, scene.ids),
        body=_fill(case.body, scene.ids),
        query=_fill(case.query, scene.ids),
    )
    missing = {k: f"{v}-missing" for k, v in scene.ids.items()}
    m_answer = api.request(
        case.method,
        _fill(case.template, missing),
        body=_fill(case.body, missing),
        query=_fill(case.query, missing),
    )
    assert (b_answer.status, b_answer.json["error"]["code"]) == (
        m_answer.status,
        m_answer.json["error"]["code"],
    )
    assert b_answer.json["error"]["message"].replace(scene.ids[_placeholder(case)], "X") == (
        m_answer.json["error"]["message"].replace(missing[_placeholder(case)], "X")
    )


def _placeholder(case: Case) -> str:
    text = case.template + json.dumps(case.query or {})
    return next(k for k in ("connection_id", "run_id", "member_id", "task_id") if "{" + k + "}" in text)


def test_tenant_b_still_sees_and_uses_its_own_resources(world: World, scene: Scene, other: Client) -> None:
    assert other.get(f"/v1/connections/{scene.b.connection_id}").status == 200
    assert other.get(f"/v1/runs/{scene.ids['run_id']}").json["status"] == "blocked"
    assert other.get(f"/v1/members/{scene.ids['member_id']}").status == 200


def test_the_route_table_covers_every_operation_of_the_document() -> None:
    doc = json.loads(document())
    operations = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    # The directory's lists are one operation; the table tries it with ``groups`` as its kind.
    templates = {(c.method, c.template.replace("/directory/groups", "/directory/{kind}")) for c in ROUTES}
    assert operations == templates | SHARED_BY_ALL_TENANTS
