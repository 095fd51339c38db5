"""Use cases: one function per admin action or sync step, taking ``Ports`` (never building them).

Admin API routes (DESIGN.md) and the function behind each:

- ``POST /v1/connections``: ``connections.connect``; ``GET /v1/connections``:
  ``connections.list_connections``; ``GET|PATCH|DELETE /v1/connections/{id}``:
  ``connections.get_connection`` / ``edit_connection`` / ``disconnect``.
- ``GET /v1/connections/{id}/directory``: ``connections.directory``;
  ``POST /v1/connections/{id}/preview``: ``connections.preview``;
  ``POST /v1/connections/{id}/match``: ``connections.match``.
- ``POST /v1/connections/{id}/sync``: ``sync.request_sync``; ``GET /v1/connections/{id}/runs``:
  ``sync.list_runs``; ``GET /v1/runs/{run_id}``: ``sync.get_run``;
  ``POST /v1/runs/{run_id}/confirm|discard``: ``sync.confirm_held_plan`` / ``discard_held_plan``.
- ``GET /v1/members``: ``members.list_members``; ``GET|PATCH /v1/members/{id}``:
  ``members.get_member`` / ``edit_member``; ``POST /v1/members/{id}/approve|reject|deactivate|
  reactivate|offboard|resync|archive``: ``members.approve`` / ``reject`` / ``deactivate`` /
  ``reactivate`` / ``offboard`` / ``resync_member`` / ``archive``.
- ``POST /v1/invites/send``: ``members.send_invites``; ``GET /v1/tasks``: ``members.list_tasks``;
  ``POST /v1/tasks/{id}/complete``: ``members.complete_task``; ``GET /v1/audit``:
  ``members.list_audit``.

Webhooks: ``POST /webhooks/{connection_id}``: ``webhooks.receive_webhook`` (verify + parse, then
enqueue ``receipt.message()``); the queue worker: ``webhooks.apply_webhook``.

The full-sync state machine's steps: ``sync.start_run``, ``sync.fetch_page`` (loop while not
``done``), ``sync.plan_run`` (``outcome`` apply / blocked / nothing), ``sync.apply_chunk`` (a Map
over ``chunks``), ``sync.finish_run``; on any error ``sync.fail_run``. A confirmed held plan
(``phase = "apply"``) runs ``sync.start_run`` (with the run id), ``sync.held_chunks``, the Map and
``sync.finish_run``.
"""
