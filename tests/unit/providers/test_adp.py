"""ADP Workforce Now: mutual TLS, the token, workers by $top/$skip (R31), statuses, the mapping of
ADP's own samples, and the event notification queue."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from functions.event_poller import handler as poller
from shared.domain.models import EmployeeStatus
from shared.errors import InvalidInput
from shared.providers.adp import (
    AdpWorkforceNow,
    adp_status,
    client_tls_context,
    event_kind,
    parse_event_message,
)
from shared.providers.base import (
    Credentials,
    EventQueue,
    IncompleteListing,
    ProviderAuthError,
    ProviderResponseError,
    ProviderSettingsError,
    ProviderUnavailable,
    Secret,
    WebhookKind,
)
from shared.providers.common import collect_all
from shared.providers.registry import display_name, get_provider
from shared.services.connections import check_credentials
from shared.services.provider_lookup import registry_lookup
from tests.support.tls import expired_pair, fake_tls, stranger_pair
from tests.unit.providers.provider_helpers import (
    FAST_POLICY,
    START,
    TODAY,
    FakeTime,
    basic_auth,
    json_response,
)

API = "https://api.adp.com"
ACCOUNTS = "https://accounts.adp.com"
TOKEN_URL = f"{ACCOUNTS}/auth/oauth/v2/token"
WORKERS = f"{API}/hr/v2/workers"
EVENTS = f"{API}/core/v1/event-notification-messages"
CLIENT_SECRET = "adp-client-secret-DO-NOT-ECHO"
TLS = fake_tls()
SAMPLES = (
    Path(
        os.environ.get("HRIS_SYNC_VENDOR_SPECS")
        or Path(__file__).resolve().parents[4] / "shared" / "vendor-specs"
    )
    / "adp-wfn-samples"
)


def credentials(**settings: str) -> Credentials:
    return Credentials(
        secrets={
            "client_id": Secret("adp-client-id"),
            "client_secret": Secret(CLIENT_SECRET),
            "client_certificate": Secret(TLS.client_certificate),
            "client_key": Secret(TLS.client_key),
        },
        settings=settings,
    )


def connector(clock: FakeTime | None = None, page_size: int | None = None) -> AdpWorkforceNow:
    return AdpWorkforceNow(runtime=(clock or FakeTime()).runtime(), policy=FAST_POLICY, page_size=page_size)


def token_route(router: respx.MockRouter, expires_in: int = 3600) -> respx.Route:
    return router.post(TOKEN_URL).mock(
        return_value=json_response(
            {"access_token": "adp-token", "token_type": "Bearer", "expires_in": expires_in}
        )
    )


def aoid(n: int) -> str:
    return f"G3TEST{n:010d}"


def worker(n: int, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "associateOID": aoid(n),
        "workerID": {"idValue": f"E{n:04d}"},
        "person": {"legalName": {"givenName": f"Given{n}", "familyName1": f"Family{n}"}},
        "workerStatus": {"statusCode": {"codeValue": "Active"}},
        "businessCommunication": {
            "emails": [{"nameCode": {"codeValue": "Work E-mail"}, "emailUri": f"p{n}@acme.example"}]
        },
        "workAssignments": [
            {
                "primaryIndicator": True,
                "hireDate": "2020-01-01",
                "assignmentStatus": {"statusCode": {"codeValue": "A"}},
                "jobTitle": "Engineer",
            }
        ],
    }
    record.update(overrides)
    return record


def page(start: int, count: int) -> httpx.Response:
    return json_response({"workers": [worker(n) for n in range(start, start + count)]})


def sample(name: str) -> Any:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"ADP's samples are not at {SAMPLES}")
    return json.loads(path.read_text(encoding="utf-8"))


# --- registry and catalogue ---------------------------------------------------------------------


def test_registered_with_its_aliases_as_an_event_queue_without_webhooks() -> None:
    for name in ("adp_workforce_now", "adp", "adp-workforce-now"):
        provider = get_provider(name)
        assert isinstance(provider, AdpWorkforceNow)
        assert isinstance(provider, EventQueue)
        assert not provider.supports_webhooks
    assert display_name("adp_workforce_now") == "ADP Workforce Now"
    fields = {f.name: f for f in AdpWorkforceNow.info.api_key_fields}
    assert set(fields) == {"client_id", "client_secret", "client_certificate", "client_key"}
    assert all(f.secret and f.required for f in fields.values()), "every one is write-only"
    assert "CSR" in fields["client_certificate"].help and "renew" in fields["client_certificate"].help


# --- mutual TLS -----------------------------------------------------------------------------------


def test_the_client_context_presents_the_pair_and_removes_the_files_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    context = client_tls_context(TLS.client_certificate, TLS.client_key)
    assert context.verify_mode.name == "CERT_REQUIRED" and context.check_hostname
    assert list(tmp_path.iterdir()) == [], "the PEMs never stay on disk"


@pytest.mark.parametrize(
    ("certificate", "key", "reason"),
    [
        ("not a certificate", TLS.client_key, "client_certificate is not a PEM certificate"),
        (
            TLS.client_certificate,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "client_key is not",
        ),
        (TLS.client_certificate, stranger_pair()[1], "client_key does not match client_certificate"),
        (*expired_pair(), "the client certificate expired on"),
    ],
    ids=["certificate", "key", "mismatch", "expired"],
)
def test_a_bad_pem_is_a_settings_error_naming_it_never_echoing_it(
    certificate: str, key: str, reason: str
) -> None:
    with pytest.raises(ProviderSettingsError, match=reason) as caught:
        client_tls_context(certificate, key)
    assert "BEGIN" not in str(caught.value) and key[30:60] not in str(caught.value)


def test_a_password_protected_key_is_refused_saying_so() -> None:
    key = load_pem_private_key(TLS.client_key.encode(), password=None).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"pass phrase")
    )
    with pytest.raises(ProviderSettingsError, match="password-protected") as caught:
        client_tls_context(TLS.client_certificate, key.decode())
    assert "pass phrase" not in str(caught.value) and "BEGIN" not in str(caught.value)


def test_a_chain_is_presented_leaf_first_whichever_order_it_was_pasted_in() -> None:
    # The leaf with the CA that issued it, in either order: the key picks the leaf.
    for pasted in (TLS.client_certificate + TLS.ca_certificate, TLS.ca_certificate + TLS.client_certificate):
        assert client_tls_context(pasted, TLS.client_key).verify_mode.name == "CERT_REQUIRED"
    with pytest.raises(ProviderSettingsError, match="client_key does not match client_certificate"):
        client_tls_context(TLS.ca_certificate + TLS.client_certificate, stranger_pair()[1])


def _indented(pem: str) -> str:
    return "\n".join(f"    {line}" for line in pem.splitlines()) + "\n"


@pytest.mark.parametrize(
    ("certificate", "key", "anchor"),
    [
        # What openssl pkcs12 writes when ADP's .pfx is unpacked: attributes before each PEM.
        (
            f"Bag Attributes\n    friendlyName: ADP\nsubject=/CN=Acme\n{TLS.client_certificate}",
            f"Bag Attributes\n    localKeyID: 01 02\nKey Attributes: <No Attributes>\n{TLS.client_key}",
            f"Zertifizierungsstelle für Tests (Prüfung)\n{TLS.ca_certificate}",
        ),
        # Pasted out of a YAML file or an indented email: each line indented, Windows line ends.
        (_indented(TLS.client_certificate), _indented(TLS.client_key), _indented(TLS.ca_certificate)),
        (
            TLS.client_certificate.replace("\n", "\r\n"),
            "  " + TLS.client_key,
            TLS.ca_certificate + "\n\n  ",
        ),
    ],
    ids=["pkcs12-attributes-and-non-ascii-text", "indented", "crlf-and-stray-spaces"],
)
def test_pems_as_people_paste_them_load_as_what_they_parse_to(
    certificate: str, key: str, anchor: str
) -> None:
    context = client_tls_context(certificate, key, anchor)
    assert [c["subject"] for c in context.get_ca_certs()] == [
        c["subject"]
        for c in client_tls_context(TLS.client_certificate, TLS.client_key, TLS.ca_certificate).get_ca_certs()
    ]


def test_a_bad_pem_refuses_the_connect_check_before_any_request() -> None:
    bad = Credentials(
        secrets={**credentials().secrets, "client_key": Secret(stranger_pair()[1])}, settings={}
    )
    with respx.mock(assert_all_called=False) as router, pytest.raises(ProviderSettingsError):
        token = token_route(router)
        connector().check_credentials(bad)
    assert not token.called


def test_the_ca_certificate_is_honoured_only_for_loopback_hosts() -> None:
    loopback = credentials(
        base_url="https://127.0.0.1:8443",
        oauth_base_url="https://localhost:8443",
        ca_certificate=TLS.ca_certificate,
    )
    provider = connector()
    assert provider._tls_client(loopback).ssl_context is not None
    for host in ("base_url", "oauth_base_url"):
        settings = {"base_url": "https://127.0.0.1:8443", "oauth_base_url": "https://127.0.0.1:8443"}
        settings[host] = "https://api.adp.com"
        with pytest.raises(ProviderSettingsError, match="only for loopback"):
            provider._tls_client(credentials(**settings, ca_certificate=TLS.ca_certificate))
    with pytest.raises(ProviderSettingsError, match="only for loopback"):
        provider._tls_client(credentials(ca_certificate=TLS.ca_certificate))


def test_a_ca_certificate_that_is_not_pem_is_named() -> None:
    with pytest.raises(ProviderSettingsError, match="ca_certificate is not a PEM certificate"):
        client_tls_context(TLS.client_certificate, TLS.client_key, "garbage")


def test_one_http_client_per_certificate() -> None:
    provider = connector()
    first = provider._tls_client(credentials())
    assert provider._tls_client(credentials()) is first, "the same credentials again: the same pool"
    renewed = fake_tls()
    other = Credentials(
        secrets={
            **credentials().secrets,
            "client_certificate": Secret(renewed.client_certificate),
            "client_key": Secret(renewed.client_key),
        }
    )
    assert provider._tls_client(other) is not first
    provider.close()
    assert provider._tls_clients == {}


# --- the token ------------------------------------------------------------------------------------


def test_the_token_is_granted_with_basic_client_credentials_and_cached_until_it_expires() -> None:
    clock = FakeTime()
    provider = connector(clock)
    with respx.mock() as router:
        token = token_route(router)
        workers = router.get(WORKERS).mock(return_value=page(1, 1))
        provider.check_credentials(credentials())
        provider.check_credentials(credentials())
        assert token.call_count == 1, "cached per connector"
        sent = token.calls[0].request
        assert basic_auth(sent) == ("adp-client-id", CLIENT_SECRET)
        assert sent.content == b"grant_type=client_credentials"
        assert workers.calls[0].request.headers["authorization"] == "Bearer adp-token"
        assert workers.calls[0].request.headers["accept"] == "application/json;masked=false"
        assert dict(workers.calls[0].request.url.params) == {"$top": "1", "$skip": "0"}
        clock.elapsed += 3600
        provider.check_credentials(credentials())
        assert token.call_count == 2, "a new one once it expired"


def test_a_stored_token_refused_with_401_is_replaced_once() -> None:
    stored = Credentials(
        secrets={**credentials().secrets, "access_token": Secret("stored-token")},
        settings={"token_expires_at": (START + timedelta(hours=1)).isoformat()},
    )
    with respx.mock() as router:
        token = token_route(router)
        workers = router.get(WORKERS).mock(side_effect=[httpx.Response(401), page(1, 1)])
        connector().check_credentials(stored)
    assert token.call_count == 1
    assert [c.request.headers["authorization"] for c in workers.calls] == [
        "Bearer stored-token",
        "Bearer adp-token",
    ]


def test_a_refused_client_is_an_auth_error_without_the_secret() -> None:
    with respx.mock() as router:
        router.post(TOKEN_URL).mock(
            return_value=json_response(
                {"error": "invalid_client", "error_description": f"bad secret {CLIENT_SECRET}"}, 401
            )
        )
        with pytest.raises(ProviderAuthError) as caught:
            connector().check_credentials(credentials())
    assert caught.value.vendor_message and "invalid" not in CLIENT_SECRET
    assert CLIENT_SECRET not in str(caught.value) and CLIENT_SECRET not in (caught.value.vendor_message or "")


# --- the list (R31) ---------------------------------------------------------------------------------


def _list(router: respx.MockRouter, pages: list[httpx.Response], page_size: int = 3) -> list[Any]:
    token_route(router)
    route = router.get(WORKERS).mock(side_effect=pages)
    employees, _ = collect_all(connector(page_size=page_size), credentials())
    return [employees, route]


def test_r31_a_short_page_ends_the_list_once_the_next_skip_answers_204() -> None:
    with respx.mock() as router:
        employees, route = _list(router, [page(1, 3), page(4, 2), httpx.Response(204)])
    assert [e.hris_id for e in employees] == [aoid(n) for n in range(1, 6)]
    skips = [r.request.url.params["$skip"] for r in route.calls]
    assert skips == ["0", "3", "5"]
    assert {r.request.url.params["$top"] for r in route.calls} == {"3"}


def test_r31_an_empty_workers_list_ends_the_list() -> None:
    with respx.mock() as router:
        employees, _ = _list(router, [page(1, 3), json_response({"workers": []})])
    assert len(employees) == 3


def test_r31_204_on_the_first_page_is_an_empty_company() -> None:
    with respx.mock() as router:
        employees, _ = _list(router, [httpx.Response(204)])
    assert employees == []


def test_r31_a_short_page_while_workers_follow_is_incomplete() -> None:
    with (
        respx.mock() as router,
        pytest.raises(IncompleteListing, match=r"fewer than the 3 workers asked for"),
    ):
        _list(router, [page(1, 3), page(4, 1), page(5, 3)])


def test_r31_the_first_page_served_again_is_incomplete() -> None:
    with respx.mock() as router, pytest.raises(IncompleteListing, match="handed out"):
        _list(router, [page(1, 3), page(1, 3)])


def test_r31_a_list_longer_than_any_company_is_incomplete() -> None:
    provider = AdpWorkforceNow(runtime=FakeTime().runtime(), policy=FAST_POLICY, page_size=2, max_records=4)
    with respx.mock() as router, pytest.raises(IncompleteListing, match="past the"):
        token_route(router)
        router.get(WORKERS).mock(side_effect=[page(n, 2) for n in (1, 3, 5, 7)])
        collect_all(provider, credentials())


def test_r09_a_fault_mid_listing_makes_the_snapshot_incomplete_not_short() -> None:
    with respx.mock() as router, pytest.raises(ProviderUnavailable):
        _list(router, [page(1, 3), *[httpx.Response(503)] * 4])


def test_get_employees_reads_each_valid_aoid_and_leaves_out_those_adp_no_longer_has() -> None:
    with respx.mock() as router:
        token_route(router)
        one = router.get(f"{WORKERS}/{aoid(1)}").mock(return_value=page(1, 1))
        gone = router.get(f"{WORKERS}/{aoid(2)}").mock(return_value=httpx.Response(404))
        found = connector().get_employees(credentials(), [aoid(1), aoid(2), "../workers?$top=1", aoid(1)])
    assert [e.hris_id for e in found.employees] == [aoid(1)]
    # A malformed AOID never reaches a path (respx would refuse a request no route mocks).
    assert one.call_count == 1 and gone.call_count == 1


# --- mapping ------------------------------------------------------------------------------------------


def test_the_primary_assignment_work_email_manager_units_and_location_are_mapped() -> None:
    record = worker(
        1,
        person={"legalName": {"givenName": "Anthony", "nickName": "Stan", "familyName1": "Albright"}},
        businessCommunication={
            "emails": [
                {"nameCode": {"codeValue": "Other"}, "emailUri": "other@acme.example"},
                {"nameCode": {"codeValue": "Work E-mail"}, "emailUri": "stan@acme.example"},
            ]
        },
        workAssignments=[
            {
                "primaryIndicator": False,
                "jobTitle": "Second job",
                "assignmentStatus": {"statusCode": {"codeValue": "T"}},
            },
            {
                "primaryIndicator": True,
                "hireDate": "2005-07-08",
                "assignmentStatus": {
                    "statusCode": {"codeValue": "A"},
                    "reasonCode": {"shortName": "Medical"},
                },
                "jobTitle": "VP Human Resources",
                "reportsTo": [{"associateOID": "G39P8HJJ3AE0D0YQ"}],
                "homeOrganizationalUnits": [
                    {
                        "nameCode": {"codeValue": "CORP", "shortName": "Corporate"},
                        "typeCode": {"codeValue": "Business Unit"},
                    },
                    {
                        "nameCode": {"codeValue": "111000", "shortName": "Corporate Staff"},
                        "typeCode": {"codeValue": "Department"},
                    },
                    {
                        "nameCode": {"codeValue": "001", "shortName": "**"},
                        "typeCode": {"codeValue": "Cost Number"},
                    },
                ],
                "homeWorkLocation": {"nameCode": {"codeValue": "001", "shortName": "East"}},
            },
        ],
    )
    e = connector().employee(record)
    assert (e.first_name, e.last_name, e.email) == ("Stan", "Albright", "stan@acme.example")
    assert (e.job_title, e.manager_hris_id, e.office_location) == (
        "VP Human Resources",
        "G39P8HJJ3AE0D0YQ",
        "East",
    )
    assert e.department == "Corporate Staff"
    assert e.groups == ("Corporate Staff", "Corporate")
    assert e.group_ids == ("department:111000", "business_unit:CORP")
    assert e.start_date == date(2005, 7, 8) and e.status is EmployeeStatus.ACTIVE
    assert "Medical" not in json.dumps(e.raw), "ADP's reason codes are not kept"


def test_a_personal_email_is_never_the_work_email() -> None:
    record = worker(1, businessCommunication={})
    record["person"]["communication"] = {"emails": [{"emailUri": "home@example.com"}]}
    assert connector().employee(record).email is None


@pytest.mark.parametrize(
    ("worker_status", "assignment", "hire", "expected", "words"),
    [
        ("Active", "A", "2020-01-01", EmployeeStatus.ACTIVE, "active in ADP"),
        ("ACTIVE", None, None, EmployeeStatus.ACTIVE, "active in ADP"),
        ("Inactive", "L", "2020-01-01", EmployeeStatus.ON_LEAVE, "on leave in ADP"),
        ("Inactive", None, None, EmployeeStatus.ON_LEAVE, "inactive (on leave)"),
        ("Terminated", "T", "2020-01-01", EmployeeStatus.TERMINATED, "terminated in ADP"),
        ("Active", "D", "2020-01-01", EmployeeStatus.TERMINATED, "deceased in ADP"),
        ("active", "A", "FUTURE", EmployeeStatus.PENDING, "hired in ADP Workforce Now, starts"),
    ],
)
def test_statuses_map_with_reasons_an_admin_reads(
    worker_status: str, assignment: str | None, hire: str | None, expected: EmployeeStatus, words: str
) -> None:
    start = (TODAY + timedelta(days=10)).isoformat() if hire == "FUTURE" else hire
    record: dict[str, Any] = {"workerStatus": {"statusCode": {"codeValue": worker_status}}}
    primary: dict[str, Any] = {"primaryIndicator": True, "hireDate": start}
    if assignment:
        primary["assignmentStatus"] = {"statusCode": {"codeValue": assignment}}
    record["workAssignments"] = [primary]
    mapped = adp_status(record, today=TODAY)
    assert (mapped.status, mapped.known) == (expected, True)
    assert mapped.raw is not None and words in mapped.raw and worker_status in mapped.raw


def test_r04_an_unknown_status_is_kept_active_and_reported() -> None:
    mapped = adp_status({"workerStatus": {"statusCode": {"codeValue": "Suspended"}}}, today=TODAY)
    assert (mapped.status, mapped.known) == (EmployeeStatus.ACTIVE, False)
    assert mapped.warning is not None and "Suspended" in mapped.warning
    assert adp_status({}, today=TODAY).known is False


def test_the_samples_of_every_worker_map_to_their_statuses() -> None:
    provider = connector()
    employees = [
        provider.employee(w)
        for w in sample("workers-v2-all-workers-details-http-200-response.json")["workers"]
    ]
    assert Counter(e.status for e in employees) == {
        EmployeeStatus.ACTIVE: 30,
        EmployeeStatus.TERMINATED: 19,
        EmployeeStatus.ON_LEAVE: 1,
    }
    assert all(e.hris_id and e.last_name for e in employees)
    assert sum(1 for e in employees if e.email) == 48, "two workers have no business email"
    future = provider.employee(
        sample("Retrieve-future-hired-employee-with-AOID-http-200-response.json")["workers"][0]
    )
    assert future.start_date == date(2019, 7, 12)


def test_the_single_worker_sample_keeps_nothing_sensitive() -> None:
    e = connector().employee(
        sample("workers-v2-single-associate-details-http-200-response.json")["workers"][0]
    )
    assert (e.hris_id, e.first_name, e.last_name) == ("G30K404TED759H96", "Stan", "Albright")
    assert (e.employee_number, e.manager_hris_id, e.office_location) == (
        "0000000014",
        "G39P8HJJ3AE0D0YQ",
        "East",
    )
    assert e.group_ids == ("department:111000", "business_unit:CORP")
    kept = json.dumps(e.raw)
    assert "000-00-0050" not in kept and "1960-01-01" not in kept and "payPeriodRateAmount" not in kept


def test_directory_lists_departments_and_business_units_with_counts() -> None:
    def placed(n: int, department: str, status: str = "A") -> dict[str, Any]:
        record = worker(n)
        record["workAssignments"][0]["assignmentStatus"] = {"statusCode": {"codeValue": status}}
        record["workAssignments"][0]["homeOrganizationalUnits"] = [
            {
                "nameCode": {"codeValue": department, "shortName": f"Dept {department}"},
                "typeCode": {"codeValue": "Department"},
            },
            {
                "nameCode": {"codeValue": "BU", "shortName": "Unit"},
                "typeCode": {"codeValue": "Business Unit"},
            },
        ]
        return record

    with respx.mock() as router:
        token_route(router)
        router.get(WORKERS).mock(
            side_effect=[
                json_response({"workers": [placed(1, "10"), placed(2, "10", "T"), placed(3, "20")]}),
                httpx.Response(204),
            ]
        )
        directory = connector(page_size=5).directory(credentials())
    assert [(g.id, g.name, g.kind, g.count) for g in directory.groups] == [
        ("department:10", "Dept 10", "department", 1),
        ("department:20", "Dept 20", "department", 1),
        ("business_unit:BU", "Unit", "business_unit", 2),
    ]
    assert len(directory.people) == 3 and directory.companies == []


# --- the event notification queue --------------------------------------------------------------------


def message(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"events": events}).encode()


def event(name: str, **data: Any) -> dict[str, Any]:
    return {"eventID": f"ev-{name}", "eventNameCode": {"codeValue": name}, "data": data}


def test_an_empty_queue_is_none_whether_adp_says_204_or_the_legacy_404() -> None:
    with respx.mock() as router:
        token_route(router)
        router.get(EVENTS).mock(side_effect=[httpx.Response(204), httpx.Response(404)])
        provider = connector()
        assert provider.next_message(credentials()) is None
        assert provider.next_message(credentials()) is None


def test_the_head_message_is_read_with_its_msgid_and_not_removed() -> None:
    body = message([event("worker.terminate", eventContext={"worker": {"associateOID": aoid(1)}})])
    with respx.mock() as router:
        token_route(router)
        head = router.get(EVENTS).mock(
            return_value=httpx.Response(200, content=body, headers={"adp-msg-msgid": "m-1"})
        )
        found = connector().next_message(credentials())
    assert found is not None and found.message_id == "m-1" and found.problem is None
    assert found.event is not None
    assert (found.event.kind, found.event.employee_ids, found.event.delivery_id) == (
        WebhookKind.UPDATED,
        (aoid(1),),
        "ev-worker.terminate",
    )
    assert head.calls[0].request.method == "GET"


def test_a_message_without_a_msgid_cannot_be_acknowledged() -> None:
    with respx.mock() as router:
        token_route(router)
        router.get(EVENTS).mock(return_value=httpx.Response(200, content=message([])))
        with pytest.raises(ProviderResponseError, match="adp-msg-msgid"):
            connector().next_message(credentials())
        router.get(EVENTS).mock(
            return_value=httpx.Response(200, content=b"{}", headers={"adp-msg-msgid": ".."})
        )
        with pytest.raises(ProviderResponseError, match="malformed"):
            connector().next_message(credentials())


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"events": []}',
        message([{"eventID": "x"}]),
        message([event("worker.hire", eventContext={"associateOID": "bad/aoid"})]),
        b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["not-json", "not-object", "no-events", "no-name", "malformed-aoid", "nested-past-the-parser"],
)
def test_an_unreadable_message_with_a_msgid_is_queued_with_its_problem(body: bytes) -> None:
    with respx.mock() as router:
        token_route(router)
        router.get(EVENTS).mock(
            return_value=httpx.Response(200, content=body, headers={"adp-msg-msgid": "m-2"})
        )
        found = connector().next_message(credentials())
    assert found is not None and found.message_id == "m-2" and found.event is None
    assert found.problem and "adp_workforce_now" in found.problem


@pytest.mark.parametrize("status", [429, 503])
def test_a_queue_busy_for_longer_than_a_poll_run_waits_is_left_to_the_next_run(status: int) -> None:
    # With the poller's budget: Retry-After: 60 is not slept through (the next run is a minute away).
    clock = FakeTime()
    provider = AdpWorkforceNow(runtime=clock.runtime(), policy=poller.VENDOR_RETRIES)
    with respx.mock() as router:
        token_route(router)
        busy = router.get(EVENTS).mock(return_value=httpx.Response(status, headers={"Retry-After": "60"}))
        with pytest.raises(ProviderUnavailable):
            provider.next_message(credentials())
        assert busy.call_count == 1 and clock.sleeps == []
        busy.mock(return_value=httpx.Response(status))  # no Retry-After: a short backoff, then up
        with pytest.raises(ProviderUnavailable):
            provider.next_message(credentials())
    assert sum(clock.sleeps) <= poller.VENDOR_RETRIES.max_total


def test_acknowledge_deletes_the_message_and_a_message_already_gone_is_fine() -> None:
    with respx.mock() as router:
        token_route(router)
        gone = router.delete(f"{EVENTS}/m-3").mock(side_effect=[httpx.Response(200), httpx.Response(404)])
        provider = connector()
        provider.acknowledge(credentials(), "m-3")
        provider.acknowledge(credentials(), "m-3")
    assert gone.call_count == 2


@pytest.mark.parametrize(
    ("msgid", "path"),
    [
        ("0x414d51204144502e4d51", "0x414d51204144502e4d51"),
        ("AbC+/=xyz", "AbC%2B%2F%3Dxyz"),  # base64-like: one segment, percent-encoded
        ("../hr/v2/workers", "..%2Fhr%2Fv2%2Fworkers"),  # never leaves the messages' path
    ],
)
def test_any_printable_msgid_is_read_and_acknowledged_as_one_path_segment(msgid: str, path: str) -> None:
    """ADP documents no msgid format: a head message whose id we refused could never be
    acknowledged and would stop every poll, so any printable id is taken, escaped in the path."""
    with respx.mock() as router:
        token_route(router)
        router.get(EVENTS).mock(
            return_value=httpx.Response(200, content=message([]), headers={"adp-msg-msgid": msgid})
        )
        deleted = router.delete(url__eq=f"{EVENTS}/{path}").mock(return_value=httpx.Response(200))
        provider = connector()
        found = provider.next_message(credentials())
        assert found is not None and found.message_id == msgid
        provider.acknowledge(credentials(), found.message_id)
    assert deleted.call_count == 1


def test_acknowledge_refuses_a_message_id_that_is_not_adps_before_any_request() -> None:
    with respx.mock(assert_all_called=False) as router:
        token = token_route(router)
        for bad in ("..", ".", "a b", "", "x" * 513, "m\u00e9ssage", "m\n1"):
            with pytest.raises(ProviderResponseError):
                connector().acknowledge(credentials(), bad)
    assert not token.called


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("worker.hire", WebhookKind.CREATED),
        ("worker.terminate", WebhookKind.UPDATED),
        ("worker.rehire", WebhookKind.UPDATED),
        ("worker.on-leave", WebhookKind.UPDATED),
        ("worker.work-assignment.retire", WebhookKind.UPDATED),
        ("worker.reports-to.modify", WebhookKind.UPDATED),
        ("worker.business-communication.email.add", WebhookKind.UPDATED),
        ("Worker.Legal-Name.Change", WebhookKind.UPDATED),
        ("worker.personal-communication.email.change", WebhookKind.PING),
        ("pay-data-input.modify", WebhookKind.PING),
    ],
)
def test_event_names_map_to_what_a_targeted_plan_does(name: str, kind: WebhookKind) -> None:
    assert event_kind(name) is kind


def test_r24_a_message_of_several_events_names_every_worker_once_and_dedupes_by_its_events() -> None:
    body = message(
        [
            event("worker.hire", output={"worker": {"associateOID": aoid(1)}}),
            event("worker.reports-to.modify", eventContext={"associateOID": aoid(2)}),
            event("worker.work-assignment.modify", output={"workers": [{"associateOID": aoid(1)}]}),
        ]
    )
    parsed = parse_event_message(body, "m")
    assert parsed.kind is WebhookKind.UPDATED and parsed.employee_ids == (aoid(1), aoid(2))
    assert parsed.delivery_id == parse_event_message(body, "another-msgid").delivery_id
    nobody = parse_event_message(message([event("worker.hire")]), "m-9")
    assert (nobody.kind, nobody.employee_ids) == (WebhookKind.PING, ())
    unnamed = parse_event_message(message([{"eventNameCode": {"codeValue": "worker.hire"}}]), "m-9")
    assert unnamed.delivery_id == "msg-m-9", "without an eventID, the message id"


EVENT_SAMPLES = {
    "worker-hire-event-notification-http-200-response.json": (WebhookKind.CREATED, "G3RTBS62BXQJQMD6"),
    "worker.terminate-event-notification-http-200-response.json": (WebhookKind.UPDATED, "G3KXNKXW8VT5Q5M0"),
    "HR-worker-rehire-event-200-response.json": (WebhookKind.UPDATED, "G3EVERZ42YSP4E8T"),
    "HR-Worker-OnLeave-GetEventNotification-Reponse.json": (WebhookKind.UPDATED, "AOID59DPXY1FF5DY"),
    "HR-Worker-Deceased-GetEventNotification-Response.json": (WebhookKind.UPDATED, "G3588JKQ33NJ7R9Q"),
    "HR-Worker-WorkAssignment-Retire-GetEventNotification-Response.json": (
        WebhookKind.UPDATED,
        "G3AYSDP53E6TE5WQ",
    ),
    "HR-Worker-WorkAssignment-Modify-GetEventNotification-Response.json": (
        WebhookKind.UPDATED,
        "G372T336YEJ06AHC",
    ),
    "HR-Worker-work-assignment-home-organizational-units-modify-GetEventNotification-Response.json": (
        WebhookKind.UPDATED,
        "G310YGK80NSSX8JF",
    ),
    "HR-Worker-BusinessCommunication-email-Change-GetEventNotification-Response.json": (
        WebhookKind.UPDATED,
        "G3Q7JN6K3CNJZJXA",
    ),
    "HR-Worker-OriginalHireDate-Change-GetEventNotification-Response.json": (
        WebhookKind.UPDATED,
        "G39P8HJJ3AE0YZQ8",
    ),
    "reportsTo-modify-event-notification-http-200-response.json": (WebhookKind.UPDATED, "G3Q7JN6K3CNJZJXA"),
    "worker-legalName-change-eventNotification-response.json": (WebhookKind.UPDATED, "G3HKCFB37GQM0ETJ"),
}


def test_every_event_sample_of_adp_is_covered() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"ADP's samples are not at {SAMPLES}")
    events = {p.name for p in SAMPLES.glob("*.json") if '"events"' in p.read_text(encoding="utf-8")[:200]}
    assert events == set(EVENT_SAMPLES)


@pytest.mark.parametrize("name", sorted(EVENT_SAMPLES))
def test_each_of_adps_event_samples_maps_to_a_targeted_plan(name: str) -> None:
    raw = sample(name)
    kind, worker_aoid = EVENT_SAMPLES[name]
    parsed = parse_event_message(json.dumps(raw).encode(), "m")
    assert (parsed.kind, parsed.employee_ids) == (kind, (worker_aoid,))
    assert parsed.delivery_id == raw["events"][0]["eventID"]
    assert parsed.occurred_at is not None


def test_r32_a_bad_pem_at_connect_is_a_422_naming_the_field_never_echoing_it() -> None:
    key = stranger_pair()[1]
    bad = Credentials(secrets={**credentials().secrets, "client_key": Secret(key)})
    ports = SimpleNamespace(providers=registry_lookup(policy=FAST_POLICY))
    with pytest.raises(InvalidInput) as caught:
        check_credentials(ports, "adp_workforce_now", bad)
    assert caught.value.http_status == 422
    assert "client_key does not match client_certificate" in str(caught.value)
    assert key[40:80] not in str(caught.value)
