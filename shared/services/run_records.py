"""Changing a run's record: optimistic versioning with re-reads (steps and workers of one run
record themselves concurrently), and the emails SES refused during it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.domain.records import SyncRun
from shared.errors import VersionConflict
from shared.services import notify
from shared.services.context import WithRuns

_ATTEMPTS = 8


def mutate_run(
    ports: WithRuns, tenant_id: str, run_id: str, change: Callable[[SyncRun], Mapping[str, Any]]
) -> SyncRun:
    """Save ``change(run)`` on the latest version of the run, re-reading on a conflict."""
    for _ in range(_ATTEMPTS):
        run = ports.runs.get(tenant_id, run_id)
        updated = run.model_copy(update={**change(run), "version": run.version + 1})
        try:
            ports.runs.save(updated, expected_version=run.version)
        except VersionConflict:
            continue
        return updated
    raise VersionConflict("run", run_id, None)


def record_unsent(ports: WithRuns, run: SyncRun, unsent: Sequence[notify.Unsent]) -> SyncRun:
    """Fold the emails SES did not take into the run's ``emails_not_sent`` (shown as warnings)."""
    if not unsent:
        return run
    return mutate_run(
        ports,
        run.tenant_id,
        run.run_id,
        lambda r: {"emails_not_sent": notify.merge(r.emails_not_sent, unsent)},
    )
