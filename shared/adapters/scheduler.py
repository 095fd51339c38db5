"""One EventBridge Scheduler schedule per connection, all in one schedule group (R28); and, for a
connection whose connector is an ``EventQueue`` (ADP), one more: its event poller's.

The expression and time zone are validated by us before the call (moto's Scheduler accepts
anything). The schedule's name is derived from (tenant, connection) with a hash, so it always fits
Scheduler's 64-character limit and two tenants can never share one; the description names both.
Each kind of schedule has its own name prefix (``sync-``, ``events-``) and target: one
``EventBridgeScheduler`` per kind (``AwsAdapters.scheduler``, ``AwsAdapters.poll_schedules``).
An invocation Scheduler cannot deliver (the target refused it, or its retries ran out) goes to the
stack's dead-letter queue (``DeadLetterConfig``), where an alarm sees it, instead of being dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.aws_errors import error_code, typed
from shared.adapters.clients import aws_client
from shared.errors import HrisSyncError, InvalidInput
from shared.schedule_expressions import validate_schedule_expression, validate_timezone

# The name prefix and description of each kind of schedule a connection may have.
SYNC_SCHEDULES = "sync"  # R28: its full syncs (the sync trigger)
EVENT_POLL_SCHEDULES = "events"  # draining its vendor's event queue (the event poller)
_PURPOSES = {SYNC_SCHEDULES: "full sync", EVENT_POLL_SCHEDULES: "event queue poll"}


def schedule_name(tenant_id: str, connection_id: str, kind: str = SYNC_SCHEDULES) -> str:
    digest = hashlib.sha256(f"{tenant_id}\x1f{connection_id}".encode()).hexdigest()
    return f"{kind}-{digest[:40]}"


class EventBridgeScheduler:
    """``Scheduler`` on EventBridge Scheduler: schedules of one ``kind``, all with one target (the
    sync trigger, state machine or function; or the event poller)."""

    def __init__(
        self,
        *,
        group_name: str,
        target_arn: str,
        role_arn: str,
        dead_letter_arn: str | None,
        client: Any | None = None,
        kind: str = SYNC_SCHEDULES,
    ) -> None:
        if kind not in _PURPOSES:
            raise ValueError(f"unknown kind of schedule {kind!r}")
        self._kind = kind
        self._group = group_name
        self._target_arn = target_arn
        self._role_arn = role_arn
        # The SQS queue undeliverable invocations go to (None: dropped, as Scheduler does by default).
        self._dead_letter_arn = dead_letter_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("scheduler")
        return self._client

    def upsert(
        self,
        tenant_id: str,
        connection_id: str,
        *,
        expression: str,
        timezone: str,
        payload: Mapping[str, Any],
    ) -> None:
        expression = validate_schedule_expression(expression)
        timezone = validate_timezone(timezone)
        body = json.dumps(dict(payload), sort_keys=True, default=str)
        if len(body) > 8192:
            raise InvalidInput("a schedule's payload is at most 8 KB", field="payload")
        target: dict[str, Any] = {
            "Arn": self._target_arn,
            "RoleArn": self._role_arn,
            "Input": body,
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
        }
        if self._dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self._dead_letter_arn}
        kwargs: dict[str, Any] = {
            "Name": self.name(tenant_id, connection_id),
            "GroupName": self._group,
            "Description": (
                f"hris-sync {_PURPOSES[self._kind]} of connection {connection_id} (tenant {tenant_id})"
            )[:512],
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": target,
        }
        try:
            self.client.create_schedule(**kwargs)
        except ClientError as error:
            if error_code(error) != "ConflictException":
                raise _typed(error, "CreateSchedule", connection_id) from None
            try:
                self.client.update_schedule(**kwargs)
            except ClientError as again:
                raise _typed(again, "UpdateSchedule", connection_id) from None

    def name(self, tenant_id: str, connection_id: str) -> str:
        """The schedule's name in the group (``<kind>-<hash>``)."""
        return schedule_name(tenant_id, connection_id, self._kind)

    def delete(self, tenant_id: str, connection_id: str) -> None:
        try:
            self.client.delete_schedule(Name=self.name(tenant_id, connection_id), GroupName=self._group)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return
            raise _typed(error, "DeleteSchedule", connection_id) from None

    def get(self, tenant_id: str, connection_id: str) -> dict[str, Any] | None:
        """The stored schedule (for the local ticker and tests), or None."""
        try:
            response: dict[str, Any] = self.client.get_schedule(
                Name=self.name(tenant_id, connection_id), GroupName=self._group
            )
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise _typed(error, "GetSchedule", connection_id) from None
        return response


def _typed(error: ClientError, operation: str, connection_id: str) -> HrisSyncError:
    if error_code(error) == "ValidationException":
        return InvalidInput(f"{operation} refused the schedule", field="schedule")
    # ResourceNotFoundException here is the schedule group (a deployment fault), not the schedule.
    return typed(error, operation, f"the schedule of connection {connection_id!r}")
