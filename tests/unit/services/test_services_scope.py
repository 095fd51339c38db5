"""R33 in the service: a scope is checked against the connection's directory when it is saved
(connect, edit), refused typed before anything runs; the preview counts each choice."""

from __future__ import annotations

import pytest

from shared.domain.models import ScopeLabel, ScopeMode
from shared.errors import ConnectionNotFound, EmptyScope, ProviderFailure, UnknownScopeIds
from shared.providers.base import ProviderUnavailable
from shared.services import connections
from tests.support.world import T, World, connect, hire, imported


def _directory_reads(world: World) -> int:
    return sum(1 for call, _ in world.hr.calls if call == "directory")


@pytest.mark.parametrize("mode", ["companies", "groups", "people"])
def test_r33_connect_with_nothing_selected_is_refused_before_anything_runs(world: World, mode: str) -> None:
    with pytest.raises(EmptyScope) as refused:
        connect(world, scope={"mode": mode})

    assert refused.value.http_status == 422 and refused.value.field == f"scope.{mode}"
    assert connections.list_connections(world.ports, T) == []
    assert world.hr.calls == [] and not world.workflow.executions and not world.secrets.items


def test_r33_connect_with_ids_the_directory_does_not_list_is_refused_naming_them(world: World) -> None:
    hire(world, "ann", company="North", company_id="c-north")

    with pytest.raises(UnknownScopeIds) as refused:
        connect(world, scope={"mode": "companies", "companies": ["c-north", "c-nope", "South"]})

    assert refused.value.http_status == 422
    assert refused.value.details["values"] == ["c-nope", "South"]
    assert "'c-nope', 'South'" in refused.value.message
    assert connections.list_connections(world.ports, T) == []
    assert not world.workflow.executions and not world.secrets.items


def test_r33_an_edit_to_unknown_or_empty_ids_is_refused_and_the_scope_stays(world: World) -> None:
    hire(world, "ann", groups=("Sales",), group_ids=("g-sales",))
    conn = imported(world)

    with pytest.raises(UnknownScopeIds):
        connections.edit_connection(
            world.ports, T, conn.connection_id, {"scope": {"mode": "groups", "groups": ["g-x"]}}
        )
    with pytest.raises(EmptyScope):
        connections.edit_connection(world.ports, T, conn.connection_id, {"scope": {"mode": "people"}})

    assert world.connections.get(T, conn.connection_id) == conn


def test_r33_an_hr_outage_while_a_scope_is_saved_is_a_502_not_a_silent_accept(world: World) -> None:
    hire(world, "ann", groups=("Sales",), group_ids=("g-sales",))
    conn = imported(world)
    world.hr.fail_directory = ProviderUnavailable("503 after retries")

    with pytest.raises(ProviderFailure) as failed:
        connections.edit_connection(
            world.ports, T, conn.connection_id, {"scope": {"mode": "groups", "groups": ["g-sales"]}}
        )

    assert failed.value.http_status == 502
    assert world.connections.get(T, conn.connection_id) == conn


def test_r33_ids_are_saved_with_their_labels_and_a_name_as_the_ids_so_named(world: World) -> None:
    hire(world, "ann", groups=("Sales",), group_ids=("g-sales",))
    hire(world, "bob", groups=("Ops",), group_ids=("g-ops",))
    conn = imported(world)

    by_id = connections.edit_connection(
        world.ports, T, conn.connection_id, {"scope": {"mode": "groups", "groups": ["g-sales"]}}
    ).connection
    by_name = connections.edit_connection(
        world.ports, T, conn.connection_id, {"scope": {"mode": "groups", "groups": ["Ops", "g-sales"]}}
    ).connection

    assert by_id.scope.groups == ("g-sales",)
    assert by_id.scope.labels == {"g-sales": ScopeLabel(name="Sales", kind="group")}
    assert by_name.scope.groups == ("g-ops", "g-sales")
    assert by_name.scope.labels["g-ops"] == ScopeLabel(name="Ops", kind="group")


def test_r33_a_saved_scope_sent_again_reads_no_directory_and_starts_no_sync(world: World) -> None:
    hire(world, "ann", groups=("Sales",), group_ids=("g-sales",))
    conn = imported(world, scope={"mode": "groups", "groups": ["g-sales"]})
    reads = _directory_reads(world)

    again = connections.edit_connection(
        world.ports,
        T,
        conn.connection_id,
        {"scope": {"mode": "groups", "groups": ["g-sales"]}, "label": "Renamed"},
    )

    assert _directory_reads(world) == reads
    assert again.run is None and again.connection.scope == conn.scope


def test_r33_connect_everyone_or_manual_reads_no_directory(world: World) -> None:
    connect(world, scope={"mode": "manual"})

    assert _directory_reads(world) == 0


def test_r33_preview_counts_the_people_each_scope_choice_selects(world: World) -> None:
    hire(world, "ann", "bob", groups=("Sales",), group_ids=("g-sales",))
    hire(world, "cid", groups=("Ops",), group_ids=("g-ops",))
    hire(world, "dan", groups=("Ops",), group_ids=("g-ops",), status="terminated")
    conn = imported(world, scope={"mode": "groups", "groups": ["g-ops", "g-sales"]})

    preview = connections.preview(world.ports, T, conn.connection_id)

    assert [(c.id, c.kind, c.people) for c in preview.scope_counts] == [
        ("g-ops", "group", 1),
        ("g-sales", "group", 2),
    ]
    assert preview.plan.complete


def test_r33_preview_counts_people_by_name(world: World) -> None:
    hire(world, "ann", "bob")
    conn = imported(world, scope={"mode": "people", "people": ["bob"]})

    (count,) = connections.preview(world.ports, T, conn.connection_id).scope_counts

    assert (count.id, count.name, count.kind, count.people) == ("bob", "Bob Person", None, 1)
    assert conn.scope.mode is ScopeMode.PEOPLE


def test_r33_preview_of_an_unknown_connection_is_not_found(world: World) -> None:
    with pytest.raises(ConnectionNotFound):
        connections.preview(world.ports, T, "conn_nope")
