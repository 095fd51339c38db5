"""The services' own cost: a first import of N employees and a no-change resync, step by step as
the state machine runs them, on in-memory ports (no AWS, no HTTP), so the figures are planning,
chunking, applying and bookkeeping alone.

    .venv/bin/python bench/services.py [N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.services.context import ServiceSettings
from tests.support.world import World, connect, employee


def main(n: int) -> None:
    world = World(settings=ServiceSettings(chunk_size=250))
    world.hr.page_size = 500
    world.hr.set(
        *(
            employee(f"e{i:06d}", department=f"Dept {i % 40}", company="Acme", job_title="Engineer")
            for i in range(n)
        )
    )
    started = time.perf_counter()
    result = connect(world)
    run = world.drive(result.run)
    first = time.perf_counter() - started
    writes_first = world.members.member_writes
    events_first = len(world.events.published)
    print(f"first import of {n:,} employees: {first:.2f} s, status {run.status.value}")
    print(
        f"  members created {run.applied.created:,}, member writes {writes_first:,}, "
        f"write calls {world.members.write_calls:,} ({run.progress.chunks_total} chunks), "
        f"events {events_first:,}, emails {len(world.mailer.sent):,}, tasks {len(world.tasks.items):,}"
    )
    calls = world.members.write_calls
    started = time.perf_counter()
    again = world.sync_now("tenant-a", result.connection.connection_id)
    second = time.perf_counter() - started
    print(f"no-change resync: {second:.2f} s, status {again.status.value}")
    print(
        f"  member writes {world.members.member_writes - writes_first}, "
        f"write calls {world.members.write_calls - calls}, "
        f"events {len(world.events.published) - events_first}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
