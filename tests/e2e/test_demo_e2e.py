"""`hris-sync demo` as a user runs it (its own process: it starts and stops its own local stack)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_connects_imports_plays_webhooks_and_a_scope_edit_then_exits_zero(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from infra.demo import run_demo; "
        f"run_demo(80, as_json=True, state_dir=Path({str(tmp_path)!r}))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["first_import"]["status"] == "completed"
    assert summary["first_import"]["applied"]["created"] > 60
    kinds = {c["change"]: c for c in summary["hr_changes"]}
    assert set(kinds) == {"hire", "termination", "manager change", "leave of absence"}
    assert kinds["hire"]["member_status"] in ("queued", "active")
    assert kinds["termination"]["member_status"] == "deactivated"
    assert kinds["leave of absence"]["deactivation_reason"] == "on_leave"
    assert summary["scope_edit"]["status"] == "completed"
    assert summary["members_by_status"]["deactivated"] >= 2
    assert any(e["subject"].startswith("Import from bamboohr finished") for e in summary["emails"])
    assert summary["events"]["member.created"] >= 60
    assert summary["timings"][0]["step"] == "start the local stack"
    assert summary["errors"] == []
    assert not (tmp_path / "state").exists()  # the demo keeps nothing between runs
