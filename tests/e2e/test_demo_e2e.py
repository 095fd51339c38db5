"""`hris-sync demo` as a user runs it (its own process: it starts and stops its own local stack)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_walks_the_connect_journey_imports_plays_webhooks_and_a_scope_edit_then_exits_zero(
    tmp_path: Path,
) -> None:
    code = (
        "import sys; from pathlib import Path; from infra.demo import run_demo; "
        f"run_demo(80, as_json=True, state_dir=Path({str(tmp_path)!r}))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    # The journey: catalogue, the app's users, a draft, its directory, scope by ids, preview, activate.
    assert summary["catalogue"] == {
        "provider": "bamboohr",
        "fields": ["company_domain", "api_key", "webhook_secret"],
    }
    assert summary["app_users"]["imported"]["created"] == 5
    assert (summary["app_users"]["linked"], summary["app_users"]["manual"]) == (3, 2)  # R05, R13, R34
    assert summary["draft"]["status"] == "draft" and summary["draft"]["run"] is None
    assert summary["draft"]["scope_groups"] == summary["draft"]["departments"] - 1
    scope_counts = summary["preview"]["scope_counts"]
    assert len(scope_counts) == summary["draft"]["scope_groups"]
    assert all(key.startswith("department:") for key in scope_counts)
    assert "department:Communications" not in scope_counts
    # The three matching app users are linked, not created: the preview counts them apart.
    created = summary["preview"]["counts"]["created"]
    assert summary["first_import"]["status"] == "completed"
    assert summary["first_import"]["applied"]["created"] == created > 50
    assert summary["first_import"]["applied"]["linked"] == 3
    kinds = {c["change"]: c for c in summary["hr_changes"]}
    assert set(kinds) == {"hire", "termination", "manager change", "leave of absence"}
    assert kinds["hire"]["member_status"] in ("queued", "active")
    assert kinds["termination"]["member_status"] == "deactivated"
    assert kinds["leave of absence"]["deactivation_reason"] == "on_leave"
    assert summary["scope_edit"]["status"] == "completed"
    assert summary["scope_edit"]["applied"]["created"] > 0  # Communications joins (R19)
    assert summary["members_by_status"]["deactivated"] >= 2
    # The completion email reaches the admin who connected (the token's email claim, R32).
    assert summary["draft"]["connected_by_email"] == "it-admin@northwind.example"
    assert any(
        e["subject"].startswith("Import from BambooHR finished") and e["to"] == "it-admin@northwind.example"
        for e in summary["emails"]
    )
    assert summary["events"]["member.created"] >= 50
    assert summary["timings"][0]["step"] == "start the local stack"
    assert summary["errors"] == []
    assert not (tmp_path / "state").exists()  # the demo keeps nothing between runs
