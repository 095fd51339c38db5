"""R34 under a read that catches a concurrent add half-way: DynamoDB's BatchGetItem is read-committed
per item, so a user's email guard and external-id guard, written in one transaction by another
request, can be read one after and one before it. That view is the same user, never a conflict."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shared.ports import MemberLookup
from shared.services.app_users import AppUser, Outcome, add_member, import_users
from tests.support.world import World

T = "tenant-a"


@pytest.mark.parametrize("seen", ["email only", "external id only"])
def test_r34_a_read_half_way_through_a_concurrent_add_of_the_same_user_finds_it(seen: str) -> None:
    world = World()
    user = AppUser(email="Ann@App.test", external_id="app|ann #1")
    created, outcome = add_member(world.ports, T, user, admin_id="admin-1")
    assert outcome is Outcome.CREATED
    members: Any = world.members
    whole = members.find_many

    def half_seen(tenant_id: str, **values: Any) -> MemberLookup:
        found: MemberLookup = whole(tenant_id, **values)
        if seen == "email only":
            return replace(found, by_external_id={})
        return replace(found, by_email={})

    members.find_many = half_seen

    [result] = import_users(world.ports, T, [user], admin_id="admin-2")

    assert result.outcome is Outcome.EXISTING and result.member is not None
    assert result.member.member_id == created.member_id


def test_r34_an_email_held_by_a_member_with_another_external_id_is_still_a_conflict() -> None:
    world = World()
    add_member(world.ports, T, AppUser(email="ann@app.test", external_id="app|ann"), admin_id="admin-1")

    [result] = import_users(
        world.ports, T, [AppUser(email="ann@app.test", external_id="app|other")], admin_id="admin-1"
    )

    assert (result.outcome, result.reason) == (Outcome.CONFLICT, "email_of_a_member_with_another_external_id")
