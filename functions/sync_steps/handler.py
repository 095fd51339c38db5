"""The full-sync state machine's tasks: ``{"step": <name>, "state": {...}}`` -> the new state.

One function answers every task (``shared.services.sync_machine.STEPS``; docs/state-machine.md).
An error is raised, not answered: Step Functions retries ``Throttled`` and ``ProviderUnavailable``
by their class name and sends everything else to the ``fail`` step.

Importing this module reads no environment and builds nothing: the first invocation does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.bootstrap import Lazy
from shared.observability import instrumented

if TYPE_CHECKING:
    from shared.services.context import Ports


def _build() -> Ports:
    from shared.bootstrap import build_ports  # noqa: PLC0415 - cold start: built on first call
    from shared.settings import SyncStepsSettings, load  # noqa: PLC0415

    return build_ports(load(SyncStepsSettings))


_ports = Lazy(_build)


class UnknownStep(Exception):
    """The machine asked for a step this function does not have (a deployment mismatch)."""


@instrumented()
def handler(event: dict[str, Any], _context: object) -> dict[str, Any]:
    from shared import observability  # noqa: PLC0415
    from shared.services.sync_machine import STEPS, ChunkResult, FinishResult  # noqa: PLC0415

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
    result = step(_ports.get(), state)
    if isinstance(result, ChunkResult):
        observability.count_members(result.counts)
    if isinstance(result, FinishResult):
        observability.seconds(observability.SYNC_DURATION, result.duration_seconds)
        observability.logger().info("sync finished", extra={"status": result.status.value})
    return result.model_dump(mode="json")
