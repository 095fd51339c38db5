"""The full-sync state machine's tasks: ``{"step": <name>, "state": {...}}`` -> the new state.

One function answers every task (``shared.services.sync_machine.STEPS``; docs/state-machine.md).
An error is raised, not answered: Step Functions retries ``Throttled`` and ``ProviderUnavailable``
by their class name and sends everything else to the ``fail`` step.

Importing this module reads no settings and builds no client: the first invocation does (``ports``).
"""

from __future__ import annotations

import functools
from typing import Any

from shared import observability
from shared.bootstrap import build_ports
from shared.observability import instrumented
from shared.services.context import Ports
from shared.services.sync_machine import STEPS, ChunkResult, FinishResult
from shared.settings import SyncStepsSettings, load


@functools.lru_cache(maxsize=1)
def ports() -> Ports:
    """The composition root: settings read and adapters built on the first invocation."""
    return build_ports(load(SyncStepsSettings))


class UnknownStep(Exception):
    """The machine asked for a step this function does not have (a deployment mismatch)."""


@instrumented()
def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    name = event.get("step")
    state = event.get("state")
    step = STEPS.get(name) if isinstance(name, str) else None
    if step is None or not isinstance(state, dict):
        raise UnknownStep(f"expected {{'step': one of {sorted(STEPS)}, 'state': {{...}}}}, got step {name!r}")
    observability.bind(
        step=name,
        tenant_id=state.get("tenant_id"),
        connection_id=state.get("connection_id"),
        run_id=state.get("run_id"),
    )
    result = step(ports(), state)
    if isinstance(result, ChunkResult):
        observability.count_members(result.counts)
    if isinstance(result, FinishResult):
        observability.seconds(observability.SYNC_DURATION, result.duration_seconds)
        observability.logger.info("sync finished", extra={"status": result.status.value})
    return result.model_dump(mode="json")
