"""Fixtures of the contract tests: the vendors' specs (see vendor_openapi.py) and running fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from vendor_openapi import OpenAPI, bamboohr_errata, merge_v3_errata, personio_errata

from infra.local.company import generate_company
from infra.local.fake_hris import FakeHRServer, fake_hris

TODAY = date(2026, 1, 15)


@pytest.fixture(scope="session")
def bamboohr_spec() -> OpenAPI:
    # Its prose: "set `Content-Type: application/json` exactly", or the body is read as XML.
    return OpenAPI("bamboohr-openapi.yaml", errata=bamboohr_errata, exact_content_type=True)


@pytest.fixture(scope="session")
def merge_v3_spec() -> OpenAPI:
    # Its paths carry /hris/v1 although its servers end in /api/hris/v1 (vendor-specs README).
    return OpenAPI("merge-hris-openapi-v3.yaml", prefix="/api", errata=merge_v3_errata)


@pytest.fixture(scope="session")
def personio_spec() -> OpenAPI:
    return OpenAPI("personio-personnel-openapi.yaml", prefix="/v1", errata=personio_errata)


@pytest.fixture(scope="session")
def personio_auth_spec() -> OpenAPI:
    return OpenAPI("personio-auth-openapi.yaml", prefix="/v1")


@pytest.fixture(scope="session")
def merge_spec() -> OpenAPI:
    return OpenAPI("merge-hris-openapi.yaml", prefix="/api/hris/v1")


def _serve(provider: str) -> Iterator[FakeHRServer]:
    with fake_hris(provider, employees=generate_company(240, 5, TODAY), rate_limit=None) as server:
        # A varied company: a leaver, someone on leave, a deleted record, a new hire.
        people = server.company.people()
        server.start_leave(people[5].id)
        server.terminate(people[6].id)
        server.delete(people[7].id)
        server.hire(
            "New", "Starter", department="Platform", manager_id=people[1].id, start_date=date(2099, 1, 1)
        )
        yield server


def _serve_small(provider: str) -> Iterator[FakeHRServer]:
    with fake_hris(provider, employees=generate_company(60, 5, TODAY), rate_limit=None) as server:
        # A leaver and a deleted record.
        people = server.company.people()
        server.terminate(people[3].id)
        server.delete(people[4].id)
        yield server


@pytest.fixture(scope="module")
def bamboohr() -> Iterator[FakeHRServer]:
    yield from _serve("bamboohr")


@pytest.fixture(scope="module")
def personio() -> Iterator[FakeHRServer]:
    yield from _serve("personio")


@pytest.fixture(scope="module")
def merge() -> Iterator[FakeHRServer]:
    yield from _serve("merge")


@pytest.fixture(scope="module")
def finch() -> Iterator[FakeHRServer]:
    yield from _serve_small("finch")


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeHRServer]:
    yield from _serve_small("slack")
