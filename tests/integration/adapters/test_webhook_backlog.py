"""R29's pending lists and R30's webhook guard on both engines (moto and DynamoDB Local): the same
contracts the in-memory fakes keep (tests/support/contracts.py)."""

from __future__ import annotations

import pytest
from adapters_support import table_for

from shared.adapters.webhook_backlog import DynamoPendingWebhooks, DynamoWebhookGuardStore
from tests.support.contracts import PendingWebhooksContract, WebhookGuardStoreContract


class TestDynamoPendingWebhooks(PendingWebhooksContract):
    @pytest.fixture
    def pending(self, ddb) -> DynamoPendingWebhooks:
        return DynamoPendingWebhooks(table_for(ddb))


class TestDynamoWebhookGuard(WebhookGuardStoreContract):
    @pytest.fixture
    def guard(self, ddb) -> DynamoWebhookGuardStore:
        return DynamoWebhookGuardStore(table_for(ddb))
