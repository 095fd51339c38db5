"""Our connectors against the fakes over loopback: the two halves of issue 4 agree on the wire.

Each connector pages its fake to the end and gets every employee exactly once, with the ids,
emails and managers the fake holds (ids as the vendor shows them: UUIDs for Merge and Employment
Hero). Field-by-field mapping is the connectors' own tests' business.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.local.fake_hris import FakeHRServer, fake_hris
from shared.domain.models import Employee
from shared.providers.base import Credentials, Secret
from shared.providers.registry import get_provider

SECRET_NAMES = frozenset(
    {
        "api_key",
        "access_token",
        "refresh_token",
        "client_id",
        "client_secret",
        "service_user_id",
        "service_user_token",
        "account_token",
    }
)
OAUTH_ONLY = frozenset({"access_token", "refresh_token", "client_id", "client_secret"})


def _credentials(server: FakeHRServer, *, bamboohr_oauth: bool = False) -> Credentials:
    given = dict(server.credentials)
    if server.vendor.name == "bamboohr":
        keep = OAUTH_ONLY if bamboohr_oauth else {"api_key"}
        given = {k: v for k, v in given.items() if k in keep}
    expires = datetime.now(UTC) + timedelta(minutes=10)
    return Credentials(
        secrets={k: Secret(v) for k, v in given.items() if k in SECRET_NAMES},
        settings={
            "base_url": server.base_url,
            "oauth_base_url": server.oauth_base_url,
            "token_expires_at": expires.isoformat(),
        },
    )


@pytest.mark.parametrize(
    ("provider", "oauth"),
    [
        ("bamboohr", False),
        ("bamboohr", True),
        ("personio", False),
        ("hibob", False),
        ("employment_hero", False),
        ("merge", False),
    ],
)
def test_connector_pages_its_fake_to_the_end(people: list[Employee], provider: str, oauth: bool) -> None:
    with fake_hris(provider, employees=people, rate_limit=None) as server:
        connector = get_provider(provider)
        credentials = _credentials(server, bamboohr_oauth=oauth)
        fetched: list[Employee] = []
        cursor: str | None = None
        while True:
            page = connector.list_employees(credentials, cursor)
            fetched += page.employees
            credentials = page.refreshed_credentials or credentials
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = {e.hris_id: e for e in server.expected_employees()}
    assert sorted(e.hris_id for e in fetched) == sorted(expected)
    for employee in fetched:
        assert employee.email == expected[employee.hris_id].email
        assert employee.manager_hris_id == expected[employee.hris_id].manager_hris_id
