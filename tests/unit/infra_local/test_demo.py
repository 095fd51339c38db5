"""The interim demo: a first import, HR changes, a second sync; tables or JSON."""

from __future__ import annotations

import io
import json

from rich.console import Console
from typer.testing import CliRunner

from infra.cli import app
from infra.demo import run_demo


def test_demo_imports_then_plays_a_hire_a_leaver_a_move_and_a_leave() -> None:
    out = io.StringIO()

    summary = run_demo(120, as_json=True, console=Console(file=out))

    assert json.loads(out.getvalue()) == summary
    first, second = summary["steps"]
    assert first["counts"]["created"] > 100
    assert first["members_by_status"] == {"queued": first["counts"]["created"]}
    assert second["counts"]["created"] == 1
    assert second["counts"]["deactivated"] == 2  # the termination and the leave
    assert second["tasks_opened"] == {"offboarding": 1, "onboarding": 1}
    assert len(summary["hr_changes"]) == 4
    kinds = [a["kind"] for a in second["actions"]]
    assert "update" in kinds  # the manager change


def test_demo_command_prints_tables_and_exits_zero() -> None:
    result = CliRunner().invoke(app, ["demo", "--employees", "80"])

    assert result.exit_code == 0, result.output
    assert "First import" in result.output
    assert "What the second sync does" in result.output
