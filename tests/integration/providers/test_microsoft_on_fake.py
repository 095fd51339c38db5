"""Microsoft 365 against its fake over loopback HTTP: the whole list with paging and 429s, the
mapping the fake expects, delta (changes and ``@removed``), groups with ids, subscriptions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from infra.local.fake_hris import FakeHRServer, RateLimit, fake_hris
from shared.domain.models import EmployeeStatus
from shared.providers.base import Credentials, Secret
from shared.providers.common import collect_all
from shared.providers.http import Runtime
from shared.providers.microsoft import Microsoft365

TODAY = datetime.now(UTC).date()


@pytest.fixture
def fake() -> Iterator[FakeHRServer]:
    with fake_hris("microsoft365", employees=60, seed=3, today=TODAY, rate_limit=None) as server:
        yield server


def creds(fake: FakeHRServer) -> Credentials:
    values = fake.credentials
    return Credentials(
        secrets={"client_id": Secret(values["client_id"]), "client_secret": Secret(values["client_secret"])},
        settings={
            "tenant_id": values["tenant_id"],
            "base_url": fake.base_url,
            "oauth_base_url": fake.base_url,
        },
    )


def provider(page_size: int = 25) -> Microsoft365:
    return Microsoft365(runtime=Runtime(sleep=lambda _s: None), page_size=page_size)


def test_the_whole_directory_pages_by_next_link_and_maps_as_the_fake_expects(fake: FakeHRServer) -> None:
    fake.terminate(fake.company.people()[3].id)
    with provider() as connector:
        employees, _ = collect_all(connector, creds(fake))

    expected = {e.hris_id: e for e in fake.expected_employees()}
    assert {e.hris_id for e in employees} == set(expected)
    for employee in employees:
        wanted = expected[employee.hris_id]
        assert (employee.email, employee.status, employee.manager_hris_id) == (
            wanted.email,
            wanted.status,
            wanted.manager_hris_id,
        )
        assert employee.department == wanted.department
    assert any(e.status is EmployeeStatus.TERMINATED for e in employees)


def test_429_with_retry_after_is_waited_out(fake: FakeHRServer) -> None:
    fake.set_rate_limit(RateLimit(3, 60))
    waits: list[float] = []
    connector = Microsoft365(runtime=Runtime(sleep=waits.append), page_size=50)
    with pytest.raises(Exception):  # noqa: B017 - the budget runs out: ProviderUnavailable
        collect_all(connector, creds(fake))
    assert waits and all(w >= 1 for w in waits)


def test_delta_reads_everyone_then_only_changes_and_removed_users_are_gone(fake: FakeHRServer) -> None:
    with provider() as connector:
        first = connector.users_delta(creds(fake))
        assert len(first.employees) == len(fake.company.people())
        stored = first.refreshed_credentials
        leaver, deleted = fake.company.people()[5], fake.company.people()[6]
        fake.terminate(leaver.id)
        fake.delete(deleted.id)
        second = connector.users_delta(stored)

    by_id = {e.hris_id: e for e in second.employees}
    assert len(by_id) == 2
    assert all(e.status is EmployeeStatus.TERMINATED for e in by_id.values())
    assert second.removed == (fake.vendor.expected_employee(deleted).hris_id,)


def test_directory_lists_groups_and_departments_with_ids(fake: FakeHRServer) -> None:
    with provider() as connector:
        found = connector.directory(creds(fake))

    kinds = {g.kind for g in found.groups}
    assert kinds == {"group", "department"}
    assert all(g.id.startswith("department:") for g in found.groups if g.kind == "department")
    assert found.people


def test_a_user_graph_no_longer_has_is_gone(fake: FakeHRServer) -> None:
    person = fake.company.people()[2]
    user_id = fake.vendor.expected_employee(person).hris_id
    fake.delete(person.id)
    with provider() as connector:
        page = connector.get_employees(creds(fake), [user_id])

    (gone,) = page.employees
    assert gone.hris_id == user_id and gone.status is EmployeeStatus.TERMINATED


def test_check_credentials_fails_without_consent() -> None:
    with (
        fake_hris("microsoft365", employees=5, consented=False, rate_limit=None) as fake,
        provider() as connector,
    ):
        from shared.providers.base import ProviderAuthError

        with pytest.raises(ProviderAuthError):
            connector.check_credentials(creds(fake))
