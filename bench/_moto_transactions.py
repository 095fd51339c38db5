"""Make moto's TransactWriteItems affordable on a large table (benchmarks only).

moto 5.2.5 backs a transaction up by deep-copying the whole table once per item of the request
(``copy.deepcopy(self.tables[name])`` inside its loop), so one 99-item transaction on a table of
30,000 items deep-copies three million items. That is moto's cost, not DynamoDB's, and it would make
a 10,000-member benchmark run for hours. ``fast_transactions()`` keeps moto's logic and replaces
that backup with one shallow snapshot per request (the partition dicts are copied, the items are
shared): a cancelled transaction still rolls back its puts and deletes. Nothing in ``shared/`` or the
tests uses this; the tests run on moto as it is, and on DynamoDB Local.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table


def _snapshot(table: Table) -> Table:
    clone = copy.copy(table)
    clone.items = defaultdict(
        dict, {h: (dict(v) if isinstance(v, dict) else v) for h, v in table.items.items()}
    )
    return clone


@contextmanager
def fast_transactions() -> Iterator[None]:
    real_transact = DynamoDBBackend.transact_write_items
    real_deepcopy = copy.deepcopy

    def transact(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        snapshots: dict[int, Table] = {}

        def deepcopy(obj: Any, memo: Any = None) -> Any:
            if isinstance(obj, Table):
                if id(obj) not in snapshots:
                    snapshots[id(obj)] = _snapshot(obj)
                return snapshots[id(obj)]
            return real_deepcopy(obj, memo)

        with mock.patch.object(copy, "deepcopy", deepcopy):
            real_transact(self, transact_items)

    with mock.patch.object(DynamoDBBackend, "transact_write_items", transact):
        yield
