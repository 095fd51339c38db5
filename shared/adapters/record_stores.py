"""Tasks, audit entries and sync runs on the single table.

- Tasks are opened with conditional puts in transactions of 100 (so ``open`` can say which were
  new); a repeated chunk finds its tasks and reports them as existing. Three index entries per
  task answer "by type and status", "by status" and "all / by type" newest first.
- Audit entries are keyed by their deterministic id and written with BatchWriteItem (25 per
  request): a repeated chunk overwrites the same items. Index entries give a member's trail and
  the tenant's trail, newest first.
- A run is one item; ``record_chunk`` is a single conditional UpdateItem, so chunks applied in
  parallel add their counts without losing one and a repeated chunk adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters import keys
from shared.adapters.aws_errors import error_code
from shared.adapters.dynamo import (
    TRANSACT_LIMIT,
    DynamoTable,
    Item,
    doc_attributes,
    iso,
    key,
    model_attributes,
    model_from_doc,
    model_from_item,
    num_attr,
    serialize,
    str_attr,
)
from shared.adapters.table_schema import GSI_FLAG, GSI_SOURCE, GSI_STATUS
from shared.domain.models import PlanCounts, TaskType
from shared.domain.records import AuditEntry, SyncRun, Task, TaskStatus
from shared.errors import AlreadyExists, CorruptItem, InvalidInput, RunNotFound, TaskNotFound, VersionConflict
from shared.ports import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Page


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_LIMIT}", field="limit")


def _check_key(item: Item, expected_pk: str, what: str) -> None:
    if item["pk"]["S"] != expected_pk:
        raise CorruptItem(
            f"pk={item['pk']['S']!r} sk={item['sk']['S']!r}", f"{what} fields do not match the key"
        )


# ---------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------
TASK = "task"


def task_item(task: Task) -> Item:
    t = task.tenant_id
    order = keys.time_sort(iso(task.opened_at), task.task_id)
    return serialize(
        {
            "pk": keys.task_pk(t, task.task_id),
            "sk": keys.TASK_SK,
            "entity": TASK,
            "gsi1pk": keys.task_type_status_gsi(t, task.type.value, task.status.value),
            "gsi1sk": order,
            "gsi2pk": keys.task_status_gsi(t, task.status.value),
            "gsi2sk": order,
            "gsi3pk": keys.tasks_gsi(t),
            "gsi3sk": order,
            **model_attributes(task),
        }
    )


def task_from_item(item: Item) -> Task:
    task = model_from_item(Task, item, entity=TASK)
    _check_key(item, keys.task_pk(task.tenant_id, task.task_id), "task")
    return task


class DynamoTaskStore:
    """``TaskStore`` on the single table."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def open(self, tasks: Sequence[Task]) -> list[bool]:
        created: dict[int, bool] = {}
        pending = list(dict.fromkeys(range(len(tasks))))
        first_index: dict[tuple[str, str], int] = {}
        for i, task in enumerate(tasks):
            first = first_index.setdefault((task.tenant_id, task.task_id), i)
            if first != i:  # the same task twice in one call: the second one already exists
                created[i] = False
                pending.remove(i)
        attempts = 0
        while pending:
            batch, pending = pending[:TRANSACT_LIMIT], pending[TRANSACT_LIMIT:]
            items = [
                {
                    "Put": {
                        "TableName": self._table.table_name,
                        "Item": task_item(tasks[i]),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for i in batch
            ]
            cancelled = self._table.transact(items)
            if cancelled is None:
                created.update(dict.fromkeys(batch, True))
                continue
            retry = []
            for i, reason in zip(batch, cancelled.reasons, strict=True):
                if reason == "ConditionalCheckFailed":
                    created[i] = False
                elif reason is None or reason in ("TransactionConflict", "ThrottlingError"):
                    retry.append(i)
                else:
                    raise InvalidInput(f"task {tasks[i].task_id!r} cannot be stored: {reason}")
            if any(r not in (None, "ConditionalCheckFailed") for r in cancelled.reasons):
                attempts = self._table.backoff.wait(attempts, "TransactWriteItems")
            pending = retry + pending
        return [created[i] for i in range(len(tasks))]

    def get(self, tenant_id: str, task_id: str) -> Task:
        item = self._table.get(key(keys.task_pk(tenant_id, task_id), keys.TASK_SK))
        if item is None:
            raise TaskNotFound(task_id, tenant_id=tenant_id)
        return task_from_item(item)

    def query(
        self,
        tenant_id: str,
        *,
        type: TaskType | None = None,
        status: TaskStatus | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> Page[Task]:
        _check_limit(limit)
        filter_expression: str | None = None
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        if type is not None and status is not None:
            index, attr, partition = (
                GSI_STATUS,
                "gsi1",
                keys.task_type_status_gsi(tenant_id, type.value, status.value),
            )
        elif status is not None:
            index, attr, partition = GSI_SOURCE, "gsi2", keys.task_status_gsi(tenant_id, status.value)
        else:
            index, attr, partition = GSI_FLAG, "gsi3", keys.tasks_gsi(tenant_id)
            if type is not None:  # tasks of one type, any status: the tenant's tasks, filtered
                filter_expression = "#ty = :ty"
                names["#ty"], values[":ty"] = "type", str_attr(type.value)
        result = self._table.query_page(
            index=index,
            partition_attr=f"{attr}pk",
            partition_value=partition,
            sort_attr=f"{attr}sk",
            forward=False,
            limit=limit,
            cursor=cursor,
            filter_expression=filter_expression,
            filter_names=names,
            filter_values=values,
        )
        return Page(tuple(task_from_item(i) for i in result.items), result.next_cursor)

    def complete(self, tenant_id: str, task_id: str, *, by: str, at: datetime) -> Task:
        task = self.get(tenant_id, task_id)
        if task.status is TaskStatus.DONE:
            return task
        done = task.model_copy(update={"status": TaskStatus.DONE, "completed_at": at, "completed_by": by})
        try:
            self._table.put_item(
                TableName=self._table.table_name,
                Item=task_item(done),
                ConditionExpression="#st = :open",
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues={":open": str_attr(TaskStatus.OPEN.value)},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return self.get(tenant_id, task_id)  # completed meanwhile: return it as stored
        return done


# ---------------------------------------------------------------------------------------------
# Audit
# ---------------------------------------------------------------------------------------------
AUDIT = "audit"


def audit_item(entry: AuditEntry) -> Item:
    t = entry.tenant_id
    order = keys.time_sort(iso(entry.at), entry.entry_id)
    return serialize(
        {
            "pk": keys.audit_pk(t, entry.entry_id),
            "sk": keys.AUDIT_SK,
            "entity": AUDIT,
            "gsi1pk": keys.member_audit_gsi(t, entry.member_id),
            "gsi1sk": order,
            "gsi2pk": keys.tenant_audit_gsi(t),
            "gsi2sk": order,
            **doc_attributes(entry, "tenant_id", "member_id", "entry_id", "action"),
        }
    )


class DynamoAuditLog:
    """``AuditLog`` on the single table."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def append(self, entries: Sequence[AuditEntry]) -> None:
        self._table.batch_write([{"PutRequest": {"Item": audit_item(e)}} for e in entries])

    def query(
        self,
        tenant_id: str,
        *,
        member_id: str | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> Page[AuditEntry]:
        _check_limit(limit)
        if member_id is not None:
            index, attr, partition = GSI_STATUS, "gsi1", keys.member_audit_gsi(tenant_id, member_id)
        else:
            index, attr, partition = GSI_SOURCE, "gsi2", keys.tenant_audit_gsi(tenant_id)
        result = self._table.query_page(
            index=index,
            partition_attr=f"{attr}pk",
            partition_value=partition,
            sort_attr=f"{attr}sk",
            forward=False,
            limit=limit,
            cursor=cursor,
        )
        entries = []
        for item in result.items:
            entry = model_from_doc(AuditEntry, item, entity=AUDIT)
            _check_key(item, keys.audit_pk(entry.tenant_id, entry.entry_id), "audit entry")
            entries.append(entry)
        return Page(tuple(entries), result.next_cursor)


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------
RUN = "run"


def run_item(run: SyncRun) -> Item:
    t = run.tenant_id
    plain = {
        "pk": keys.run_pk(t, run.run_id),
        "sk": keys.RUN_SK,
        "entity": RUN,
        "gsi1pk": keys.connection_runs_gsi(t, run.connection_id),
        "gsi1sk": keys.time_sort(iso(run.started_at), run.run_id),
        **model_attributes(run),
    }
    plain["chunks_done"] = sorted(run.chunks_done)
    return serialize(plain)


def run_from_item(item: Item) -> SyncRun:
    run = model_from_item(SyncRun, item, entity=RUN)
    _check_key(item, keys.run_pk(run.tenant_id, run.run_id), "run")
    return run


class DynamoRunStore:
    """``RunStore`` on the single table."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def create(self, run: SyncRun) -> None:
        if run.version != 1:
            raise InvalidInput("a new run has version 1", field="version")
        try:
            self._table.put_item(
                TableName=self._table.table_name,
                Item=run_item(run),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise AlreadyExists("run", run.run_id) from None
            raise

    def get(self, tenant_id: str, run_id: str) -> SyncRun:
        item = self._table.get(key(keys.run_pk(tenant_id, run_id), keys.RUN_SK))
        if item is None:
            raise RunNotFound(run_id, tenant_id=tenant_id)
        return run_from_item(item)

    def list_for_connection(
        self,
        tenant_id: str,
        connection_id: str,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_LIMIT,
    ) -> Page[SyncRun]:
        _check_limit(limit)
        result = self._table.query_page(
            index=GSI_STATUS,
            partition_attr="gsi1pk",
            partition_value=keys.connection_runs_gsi(tenant_id, connection_id),
            sort_attr="gsi1sk",
            forward=False,
            limit=limit,
            cursor=cursor,
        )
        return Page(tuple(run_from_item(i) for i in result.items), result.next_cursor)

    def save(self, run: SyncRun, *, expected_version: int) -> None:
        if run.version != expected_version + 1:
            raise InvalidInput("a saved run's version is one more than the expected version")
        try:
            self._table.put_item(
                TableName=self._table.table_name,
                Item=run_item(run),
                ConditionExpression="attribute_exists(pk) AND #v = :v",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":v": num_attr(expected_version)},
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            self.get(run.tenant_id, run.run_id)  # RunNotFound when it is gone
            raise VersionConflict("run", run.run_id, expected_version) from None

    def record_chunk(self, tenant_id: str, run_id: str, chunk: int, applied: PlanCounts) -> SyncRun:
        names: dict[str, str] = {"#v": "version", "#a": "applied", "#p": "progress", "#cd": "chunks_done"}
        values: dict[str, Any] = {
            ":one": num_attr(1),
            ":zero": num_attr(0),
            ":chunk": num_attr(chunk),
            ":chunks": {"L": [num_attr(chunk)]},
        }
        sets = [
            "#v = #v + :one",
            "#p.chunks_applied = if_not_exists(#p.chunks_applied, :zero) + :one",
            "#cd = list_append(#cd, :chunks)",
        ]
        for i, (name, value) in enumerate(applied.model_dump().items()):
            names[f"#f{i}"] = name
            values[f":f{i}"] = num_attr(value)
            sets.append(f"#a.#f{i} = if_not_exists(#a.#f{i}, :zero) + :f{i}")
        try:
            response = self._table.update_item(
                TableName=self._table.table_name,
                Key=key(keys.run_pk(tenant_id, run_id), keys.RUN_SK),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(pk) AND NOT contains(#cd, :chunk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            return self.get(tenant_id, run_id)  # RunNotFound, or the chunk was recorded before
        return run_from_item(response["Attributes"])
