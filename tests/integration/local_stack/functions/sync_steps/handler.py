"""A scripted stand-in for functions/sync_steps: it follows the step contract of docs/state-machine.md
(it answers each step with the new state) and records every call, so a test sees what the
locally executed state machine did."""

from __future__ import annotations

import os
from typing import Any

CALLS: list[tuple[str, dict[str, Any]]] = []
ENVIRONMENT: dict[str, str] = {}


class ChunkFailed(Exception):
    """A chunk the script was told to fail."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not ENVIRONMENT:
        ENVIRONMENT.update(os.environ)
    step, state = event["step"], dict(event["state"])
    CALLS.append((step, state))
    script = state.get("script", {})
    if step == "start":
        # A scheduled start has no run yet: the step creates it (the real one takes the lock too).
        state.setdefault("run_id", f"run-for-{context.aws_request_id[:8]}")
        state.update(phase=state.get("phase", "fetch"), cursor=None, has_more=True, pages=0)
        if state["phase"] == "apply":
            state["chunks"] = list(range(script.get("chunks", 2)))
    elif step == "fetch_page":
        state["pages"] += 1
        state["cursor"] = f"page-{state['pages']}"
        state["has_more"] = state["pages"] < script.get("pages", 3)
    elif step == "plan":
        state["verdict"] = "blocked" if script.get("block") else "apply"
        state["chunks"] = [f"chunk-{i}" for i in range(script.get("chunks", 2))]
        if "fail_chunk" in script:  # the chunk's own item is all an apply_chunk call sees
            state["chunks"][script["fail_chunk"]] = "failing-chunk"
    elif step == "apply_chunk" and state["chunk"] == "failing-chunk":
        raise ChunkFailed(f"chunk {state['chunk']} failed")
    return state
