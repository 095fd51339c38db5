"""Use cases: one function per admin action or sync step, taking ``Ports`` (never building them).

Admin API routes (DESIGN.md) and the function behind each:

- ``POST /v1/connections``: ``connections.connect``; ``GET /v1/connections``:
  ``connections.list_connections``; ``GET|PATCH|DELETE /v1/connections/{id}``:
  ``connections.get_connection`` / ``edit_connection`` / ``disconnect``.
- ``GET /v1/connections/{id}/directory``: ``connections.directory``;
  ``POST /v1/connections/{id}/preview``: ``connections.preview``;
  ``POST /v1/connections/{id}/match``: ``connections.match``.
- ``POST /v1/connections/{id}/sync``: ``full_sync.request_sync``; ``GET /v1/connections/{id}/runs``:
  ``full_sync.list_runs``; ``GET /v1/runs/{run_id}``: ``full_sync.get_run``;
  ``POST /v1/runs/{run_id}/confirm|discard``: ``full_sync.confirm_held_plan`` / ``discard_held_plan``.
- ``GET /v1/members``: ``members.list_members``; ``GET|PATCH /v1/members/{id}``:
  ``members.get_member`` / ``edit_member``; ``POST /v1/members/{id}/approve|reject|deactivate|
  reactivate|offboard|resync|archive``: ``members.approve`` / ``reject`` / ``deactivate`` /
  ``reactivate`` / ``offboard`` / ``resync_member`` / ``archive``.
- ``POST /v1/invites/send``: ``members.send_invites``; ``GET /v1/tasks``: ``members.list_tasks``;
  ``POST /v1/tasks/{id}/complete``: ``members.complete_task``; ``GET /v1/audit``:
  ``members.list_audit``.

Webhooks: ``POST /webhooks/{connection_id}``: ``webhook_ingest.intake`` (a handshake, or verify +
parse, then enqueue); the queue worker: ``webhook_apply.apply_webhook``.

The full-sync state machine's steps: ``full_sync.start_run``, ``full_sync.fetch_page`` (loop while not
``done``), ``full_sync.plan_run`` (``outcome`` apply / blocked / nothing), ``full_sync.apply_chunk`` (a Map
over ``chunks``), ``full_sync.finish_run``; on any error ``full_sync.fail_run``. A confirmed held plan
(``phase = "apply"``) runs ``full_sync.start_run`` (with the run id), ``full_sync.held_chunks``, the Map and
``full_sync.finish_run``.
"""
