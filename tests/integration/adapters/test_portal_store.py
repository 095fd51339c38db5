"""The admin portal's links and sessions on both engines (moto and DynamoDB Local): the contract
the in-memory fake keeps (tests/support/contracts.py), with DynamoDB's conditional delete."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from adapters_support import table_for

from shared.adapters.portal import DynamoPortalStore
from shared.errors import PortalLinkUsed
from tests.support.contracts import PortalStoreContract


class TestDynamoPortalStore(PortalStoreContract):
    @pytest.fixture
    def portal(self, ddb) -> DynamoPortalStore:
        return DynamoPortalStore(table_for(ddb))

    def test_two_browsers_opening_one_link_at_once_get_one_session(self, portal: DynamoPortalStore) -> None:
        link = self._link()
        portal.add_link(link)

        def take() -> str:
            try:
                portal.take_link(link.token_digest, self.NOW)
            except PortalLinkUsed:
                return "used"
            return "taken"

        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = sorted(pool.map(lambda _: take(), range(4)))
        assert outcomes == ["taken", "used", "used", "used"]

    def test_the_token_is_not_stored_only_its_digest_and_the_item_expires(self, portal, ddb) -> None:
        link = self._link()
        portal.add_link(link)
        items = ddb.client.scan(TableName=ddb.table_name)["Items"]
        (item,) = items
        assert item["pk"]["S"] == f"PORTAL#LINK#{link.token_digest}"
        assert int(item["ttl"]["N"]) == int(link.expires_at.timestamp())
