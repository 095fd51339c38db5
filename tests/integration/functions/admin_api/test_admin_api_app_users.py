"""R34 through the admin API on the in-memory ports: one app user (``POST /v1/members``), the bulk
import (``POST /v1/members/import``) with per-user results, and the new list filters."""

from __future__ import annotations

from typing import Any

from admin_api_client import Client

from shared.domain.models import MemberSource, MemberStatus
from shared.ports import MEMBER_CREATED, MEMBER_UPDATED
from tests.support.world import World, manual_member

T = "tenant-a"


def user(n: int, **fields: Any) -> dict[str, Any]:
    return {"email": f"user{n}@app.test", "first_name": f"First{n}", "last_name": "Last", **fields}


def test_r34_add_member_creates_a_manual_active_member_then_returns_it_again(
    world: World, api: Client
) -> None:
    body = user(1, external_id="auth0|u1", role="editor", groups=["Sales"], location="Berlin")

    created = api.post("/v1/members", body)

    assert created.status == 201, created.text
    out = created.json
    assert (out["external_id"], out["source"], out["status"]) == ("auth0|u1", "manual", "active")
    assert (out["role"], out["groups"], out["location"]) == ("editor", ["Sales"], "Berlin")
    assert out["profile"]["email"] == "user1@app.test"
    stored = world.members.get(T, out["id"])
    assert (stored.source, stored.status, stored.external_id) == (
        MemberSource.MANUAL,
        MemberStatus.ACTIVE,
        "auth0|u1",
    )
    [event] = world.events.published
    assert event.detail_type == MEMBER_CREATED
    assert (event.detail["member_id"], event.detail["external_id"]) == (out["id"], "auth0|u1")
    [entry] = world.audit.all()
    assert (entry.member_id, entry.actor.value, entry.actor_id, entry.action) == (
        out["id"],
        "admin",
        api.sub,
        "add_app_user",
    )
    assert world.tasks.items == {}  # existing users: no onboarding task
    assert world.mailer.sent == []  # and no invite

    again = api.post("/v1/members", body)

    assert again.status == 200, again.text
    assert again.json["id"] == out["id"]
    assert len(list(world.members.iter_all(T))) == 1
    assert len(world.events.published) == 1 and len(world.audit.all()) == 1  # nothing written again


def test_r34_add_member_without_external_id_is_idempotent_by_email(world: World, api: Client) -> None:
    first = api.post("/v1/members", {"email": "Ann@App.test"})
    again = api.post("/v1/members", {"email": "ann@APP.test", "first_name": "Other"})
    assert (first.status, again.status) == (201, 200)
    assert again.json["id"] == first.json["id"]
    assert again.json["profile"]["first_name"] is None  # existing: nothing changed


def test_r34_add_member_sets_the_external_id_of_the_member_with_that_email(world: World, api: Client) -> None:
    world.members.seed(
        manual_member(T, "m_hr", "ann@app.test", source=MemberSource.HRIS, connection_id="c1", hris_id="h1")
    )

    answer = api.post("/v1/members", {"email": "ANN@app.test", "external_id": "u-ann"})

    assert answer.status == 200, answer.text
    assert (answer.json["id"], answer.json["external_id"]) == ("m_hr", "u-ann")
    stored = world.members.get(T, "m_hr")
    assert (stored.external_id, stored.connection_id, stored.hris_id) == ("u-ann", "c1", "h1")
    [event] = world.events.published
    assert (event.detail_type, event.detail["changed"]) == (MEMBER_UPDATED, ["external_id"])
    [entry] = world.audit.all()
    assert (entry.action, entry.before, entry.after) == (
        "set_external_id",
        {"external_id": None},
        {"external_id": "u-ann"},
    )


def test_r34_add_member_conflict_names_both_members_and_writes_nothing(world: World, api: Client) -> None:
    world.members.seed(
        manual_member(T, "m_x", "x@app.test", external_id="u-x"),
        manual_member(T, "m_y", "y@app.test"),
        manual_member(T, "m_z", "z@app.test", external_id="u-z"),
    )
    writes = world.members.member_writes

    pair = api.post("/v1/members", {"email": "y@app.test", "external_id": "u-x"})
    other_id = api.post("/v1/members", {"email": "z@app.test", "external_id": "u-new"})

    assert (pair.status, pair.error_code) == (409, "member_conflict")
    assert pair.json["error"]["details"]["member_ids"] == ["m_x", "m_y"]
    assert (other_id.status, other_id.error_code) == (409, "member_conflict")
    assert other_id.json["error"]["details"]["member_ids"] == ["m_z"]
    assert world.members.member_writes == writes


def test_r34_add_member_validates_and_needs_the_admin_role(world: World, api: Client, viewer: Client) -> None:
    assert api.post("/v1/members", {"first_name": "No email"}).status == 422
    assert api.post("/v1/members", {"email": "not-an-address"}).status == 422
    assert api.post("/v1/members", {"email": "a@app.test", "external_id": " padded"}).status == 422
    assert api.post("/v1/members", {"email": "a@app.test", "external_id": "x" * 256}).status == 422
    assert api.post("/v1/members", {"email": "a@app.test", "nickname": "A"}).status == 422
    assert viewer.post("/v1/members", {"email": "a@app.test"}).status == 403
    assert list(world.members.iter_all(T)) == []


def test_r34_import_reports_each_user_and_bad_users_write_nothing(world: World, api: Client) -> None:
    world.members.seed(
        manual_member(T, "m_x", "x@app.test", external_id="u-x"),
        manual_member(T, "m_y", "y@app.test"),
        manual_member(T, "m_w", "w@app.test"),
    )
    users = [
        user(0, external_id="u-0"),  # created
        {"email": "not an address", "external_id": "u-1"},  # invalid (shape)
        user(2),  # created (no external id)
        {"email": "X@app.test"},  # existing (by email)
        {"email": "y@app.test", "external_id": "u-x"},  # conflict: u-x is m_x's, the email m_y's
        {"email": "w@app.test", "external_id": "u-w"},  # updated: m_w gets u-w
        user(6, external_id="u-0"),  # invalid: the same external id as user 0
        user(7, email="user0@app.test"),  # invalid: the same email as user 0
        {"email": "u8@app.test", "unknown": 1},  # invalid (unknown field)
    ]

    answer = api.post("/v1/members/import", {"users": users})

    assert answer.status == 200, answer.text
    results = answer.json["results"]
    assert [r["index"] for r in results] == list(range(len(users)))
    assert [r["outcome"] for r in results] == [
        "created",
        "invalid",
        "created",
        "existing",
        "conflict",
        "updated",
        "invalid",
        "invalid",
        "invalid",
    ]
    assert results[1]["reason"] == "invalid_fields"
    assert results[1]["problems"][0]["location"] == ["email"]
    assert "not an address" not in answer.text  # problems never echo the values sent
    assert results[3]["member_id"] == "m_x"
    assert results[4]["member_ids"] == ["m_x", "m_y"]
    assert (results[5]["member_id"], results[5]["external_id"]) == ("m_w", "u-w")
    assert [results[i]["reason"] for i in (6, 7, 8)] == [
        "duplicate_external_id",
        "duplicate_email",
        "invalid_fields",
    ]
    assert answer.json["counts"] == {"created": 2, "existing": 1, "updated": 1, "invalid": 4, "conflict": 1}
    emails = sorted(m.email_key or "" for m in world.members.iter_all(T))
    assert emails == ["user0@app.test", "user2@app.test", "w@app.test", "x@app.test", "y@app.test"]

    # Sent again: nothing changes (idempotent), the good users are all "existing" now.
    writes, events = world.members.member_writes, len(world.events.published)
    again = api.post("/v1/members/import", {"users": users})
    assert [r["outcome"] for r in again.json["results"]] == [
        "existing",
        "invalid",
        "existing",
        "existing",
        "conflict",
        "existing",
        "invalid",
        "invalid",
        "invalid",
    ]
    assert (world.members.member_writes, len(world.events.published)) == (writes, events)
    assert [r["member_id"] for r in again.json["results"]][:3:2] == [
        results[0]["member_id"],
        results[2]["member_id"],
    ]


def test_r34_import_takes_1000_users_and_refuses_more_or_none(world: World, api: Client) -> None:
    too_many = api.post("/v1/members/import", {"users": [user(n) for n in range(1001)]})
    assert (too_many.status, too_many.error_code) == (422, "validation_failed")
    assert api.post("/v1/members/import", {"users": []}).status == 422
    assert api.post("/v1/members/import", {"users": "x"}).status == 422
    assert list(world.members.iter_all(T)) == []

    answer = api.post("/v1/members/import", {"users": [user(n, external_id=f"u{n}") for n in range(1000)]})

    assert answer.status == 200, answer.text
    assert answer.json["counts"]["created"] == 1000
    assert len(list(world.members.iter_all(T))) == 1000
    assert len(world.audit.all()) == 1000


def test_r34_list_members_by_email_external_id_and_text(world: World, api: Client) -> None:
    api.post("/v1/members/import", {"users": [user(n, external_id=f"u{n}") for n in range(5)]})
    api.post("/v1/members", {"email": "zoe@elsewhere.test", "first_name": "Zoë", "last_name": "Quinn"})

    def ids(**query: str) -> list[str]:
        answer = api.get("/v1/members", query=query)
        assert answer.status == 200, answer.text
        return [m["profile"]["email"] for m in answer.json["items"]]

    assert ids(email="USER3@app.test") == ["user3@app.test"]
    assert ids(external_id="u4") == ["user4@app.test"]
    assert ids(external_id="U4") == []
    assert ids(q="zoë qu") == ["zoe@elsewhere.test"]
    assert ids(q="ELSEWHERE") == ["zoe@elsewhere.test"]
    assert len(ids(q="first")) == 5
    assert ids(q="first", source="hris") == []
    assert ids(email="user1@app.test", status="active") == ["user1@app.test"]
    assert api.get("/v1/members", query={"q": "x" * 101}).status == 422
    assert api.get("/v1/members", query={"external_id": "bad\u0001id"}).status == 422
