"""ADP Workforce Now: the connector against the fake over real mutual TLS on 127.0.0.1, the requests
checked against ADP's own Postman collection (paths, methods, headers) and the fake's answers
against the shapes of ADP's sample responses (``vendor-specs/adp-wfn-*``; ADP publishes no OpenAPI,
so every field of a sample is optional: the fake may leave fields out, never invent one)."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from vendor_openapi import SPECS

from infra.local.company import generate_company
from infra.local.fake_hris import FakeHRServer, Fault, fake_hris
from infra.local.fake_hris.adp import associate_oid
from infra.local.fake_hris.cli import CREDENTIALS_FILE, serve
from infra.local.fake_hris.server import Exchange
from shared.providers.adp import AdpWorkforceNow, client_tls_context
from shared.providers.base import (
    Credentials,
    IncompleteListing,
    ProviderAuthError,
    Secret,
    WebhookKind,
)
from shared.providers.common import collect_all
from shared.providers.http import RetryPolicy
from tests.support.lambda_stack import fake_credentials
from tests.support.tls import stranger_pair

# The fake company's day is the real one (a hire made in a test starts today): the connector's too.
TODAY = datetime.now(UTC).date()
PAGE = 25
ONCE = RetryPolicy(max_attempts=1)


def _load(name: str) -> Any:
    path = SPECS / name
    if not path.exists():
        pytest.skip(f"ADP's files are not at {SPECS}")
    return json.loads(path.read_text(encoding="utf-8"))


# --- ADP's files: the Postman requests and the samples' shapes -----------------------------------


def postman_requests() -> list[tuple[str, re.Pattern[str], dict[str, str], set[str]]]:
    """(method, path pattern, headers, query names) of every request in ADP's collection."""
    found = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "item" in item:
                walk(item["item"])
                continue
            request = item["request"]
            raw = request["url"] if isinstance(request["url"], str) else request["url"]["raw"]
            path, _, query = re.sub(r"^(\{\{[^}]+\}\}|https://[^/]+)", "", raw).partition("?")
            pattern = re.sub(r"\\\{\\\{[^}]+\\\}\\\}|\\\{[^}]+\\\}", "[^/]+", re.escape(path))
            headers = {h["key"].lower(): h["value"] for h in request.get("header", [])}
            names = {pair.partition("=")[0] for pair in query.split("&") if pair}
            found.append((request["method"], re.compile(f"^{pattern}$"), headers, names))

    walk(_load("adp-wfn-postman-collection.json")["item"])
    return found


def shape(value: Any, prefix: str = "") -> dict[str, str]:
    """Every key path of a JSON document (list items as ``[]``) and the JSON type found there."""
    paths: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            paths[f"{prefix}.{key}"] = _type(item)
            paths.update(shape(item, f"{prefix}.{key}"))
    elif isinstance(value, list):
        for item in value:
            paths[f"{prefix}[]"] = _type(item)
            paths.update(shape(item, f"{prefix}[]"))
    return paths


def _type(value: Any) -> str:
    for kind, name in (
        (bool, "boolean"),
        (int | float, "number"),
        (str, "string"),
        (dict, "object"),
        (list, "array"),
    ):
        if isinstance(value, kind):
            return name
    return "null"


def sample_shapes(names: list[str]) -> dict[str, set[str]]:
    shapes: dict[str, set[str]] = {}
    for name in names:
        for path, kind in shape(_load(f"adp-wfn-samples/{name}")).items():
            shapes.setdefault(path, set()).add(kind)
    return shapes


def invented(document: Any, samples: dict[str, set[str]]) -> list[str]:
    """The fake's fields ADP's samples never show, or show with another type (null is any type)."""
    return sorted(
        f"{path}: {kind}"
        for path, kind in shape(document).items()
        if path not in samples or (kind != "null" and kind not in samples[path])
    )


WORKER_SAMPLES = [
    "workers-v2-all-workers-details-http-200-response.json",
    "workers-v2-single-associate-details-http-200-response.json",
    "Retrieve-employee-details-using-top-and-skip-http-200-response.json",
    "Retrieve-future-hired-employee-with-AOID-http-200-response.json",
    "Retrieve-reasoncode-of-employee-who-rehired-http-200-response.json",
]


def event_samples() -> list[str]:
    folder = SPECS / "adp-wfn-samples"
    if not folder.is_dir():
        pytest.skip(f"ADP's samples are not at {folder}")
    return sorted(p.name for p in folder.glob("*.json") if p.name not in WORKER_SAMPLES)


# --- the fake --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adp() -> Iterator[FakeHRServer]:
    with fake_hris("adp_workforce_now", employees=generate_company(60, 5, TODAY), rate_limit=None) as server:
        people = server.company.people()
        server.start_leave(people[2].id)
        server.terminate(people[3].id)
        server.delete(people[4].id)
        yield server


def credentials(fake: FakeHRServer) -> Credentials:
    return fake_credentials(fake)


def connector(page_size: int = PAGE) -> AdpWorkforceNow:
    return AdpWorkforceNow(policy=ONCE, page_size=page_size)


def drain(fake: FakeHRServer, provider: AdpWorkforceNow, creds: Credentials) -> None:
    while (head := provider.next_message(creds)) is not None:
        provider.acknowledge(creds, head.message_id)


def check_against_postman(exchanges: list[Exchange]) -> None:
    requests = postman_requests()
    assert exchanges
    for exchange in exchanges:
        request = exchange.request
        matches = [r for r in requests if r[0] == request.method and r[1].match(request.path)]
        assert matches, f"{request.method} {request.path} is not in ADP's Postman collection"
        headers = {k.lower(): str(v) for k, v in request.headers.items()}
        documented = {name for _, _, h, _ in matches for name in h}
        if request.path == "/auth/oauth/v2/token":
            assert headers["authorization"].startswith("Basic ")
            assert headers["content-type"] == "application/x-www-form-urlencoded"
            continue
        assert "authorization" in documented and headers["authorization"].startswith("Bearer ")
        for _, _, documented_headers, _ in matches:
            if documented_headers.get("accept"):
                assert headers["accept"] == documented_headers["accept"]
        names = set(request.query)
        # $skip is $top's OData partner (PROVIDERS.md); the collection shows $top alone.
        assert names <= {n for _, _, _, q in matches for n in q} | {"$skip"}, names


def test_the_connectors_requests_are_adps_postman_requests(adp: FakeHRServer) -> None:
    creds = credentials(adp)
    with adp.recording() as exchanges, connector() as provider:
        provider.check_credentials(creds)
        collect_all(provider, creds)
        provider.get_employees(creds, [associate_oid(adp.company.people()[0].key)])
        adp.update(adp.company.people()[0].id, job_title="Principal")
        head = provider.next_message(creds)
        assert head is not None
        provider.acknowledge(creds, head.message_id)
        drain(adp, provider, creds)
    check_against_postman(exchanges)
    assert {e.request.path for e in exchanges} >= {
        "/auth/oauth/v2/token",
        "/hr/v2/workers",
        "/core/v1/event-notification-messages",
        f"/core/v1/event-notification-messages/{head.message_id}",
    }


def test_the_fakes_workers_have_the_shape_of_adps_samples(adp: FakeHRServer) -> None:
    samples = sample_shapes(WORKER_SAMPLES)
    token = _token(adp)
    with _client(adp) as http:
        listing = http.get("/hr/v2/workers", params={"$top": "60"}, headers=token).json()
        one = http.get(f"/hr/v2/workers/{listing['workers'][0]['associateOID']}", headers=token).json()
    assert len(listing["workers"]) == 60
    assert invented(listing, samples) == []
    assert invented(one, samples) == []


def test_the_fakes_event_messages_have_the_shape_of_adps_samples(adp: FakeHRServer) -> None:
    samples = sample_shapes(event_samples())
    creds = credentials(adp)
    people = adp.company.people()
    with connector() as provider:
        drain(adp, provider, creds)
        adp.hire("Eve", "New", department="Platform")
        adp.terminate(people[10].id)
        adp.rehire(people[10].id)
        adp.start_leave(people[11].id)
        adp.end_leave(people[11].id)
        adp.move(people[12].id, department="Finance")
        adp.change_manager(people[13].id, people[1].id)
        adp.update(people[14].id, email="renamed@acme.example")
        adp.update(people[14].id, last_name="Renamed")
        token = _token(adp)
        bodies = []
        with _client(adp) as http:
            for _ in range(9):
                answer = http.get("/core/v1/event-notification-messages", headers=token)
                assert answer.status_code == 200 and answer.headers["adp-msg-msgid"]
                bodies.append(answer.json())
                assert (
                    http.delete(
                        f"/core/v1/event-notification-messages/{answer.headers['adp-msg-msgid']}",
                        headers=token,
                    ).status_code
                    == 200
                )
            assert http.get("/core/v1/event-notification-messages", headers=token).status_code == 204
    names = [b["events"][0]["eventNameCode"]["codeValue"] for b in bodies]
    assert names == [
        "worker.hire",
        "worker.terminate",
        "worker.rehire",
        "worker.on-leave",
        "worker.return-from-leave",
        "worker.work-assignment.home-organizational-units.modify",
        "worker.reports-to.modify",
        "worker.business-communication.email.change",
        "worker.legal-name.change",
    ]
    for body in bodies:
        assert invented(body, samples) == [], body["events"][0]["eventNameCode"]


# --- the connector over mutual TLS ------------------------------------------------------------------


def test_the_connector_reads_every_worker_as_the_fake_holds_them(adp: FakeHRServer) -> None:
    with connector() as provider:
        employees, _ = collect_all(provider, credentials(adp))
        assert len(provider._tls_clients) == 1, "one client for the connection's certificate"
    expected = {e.hris_id: e for e in adp.expected_employees(include_deleted=True)}
    fields = (
        "first_name", "last_name", "email", "employee_number", "job_title", "department", "groups",
        "group_ids", "office_location", "start_date", "termination_date", "manager_hris_id", "status",
    )  # fmt: skip
    assert sorted(e.hris_id for e in employees) == sorted(expected)
    for e in employees:
        assert {f: getattr(e, f) for f in fields} == {f: getattr(expected[e.hris_id], f) for f in fields}


def test_r31_a_short_page_from_the_fake_makes_the_listing_incomplete(adp: FakeHRServer) -> None:
    adp.add_fault(Fault(kind="short_page", page=2, times=None))
    try:
        with connector() as provider, pytest.raises(IncompleteListing, match="yet workers followed"):
            collect_all(provider, credentials(adp))
    finally:
        adp.clear_faults()


def test_r31_the_first_page_served_again_makes_the_listing_incomplete(adp: FakeHRServer) -> None:
    adp.add_fault(Fault(kind="repeat_cursor", page=2, times=None))
    try:
        with connector() as provider, pytest.raises(IncompleteListing, match="handed out"):
            collect_all(provider, credentials(adp))
    finally:
        adp.clear_faults()


def test_a_hire_and_a_termination_arrive_on_the_queue_as_targeted_plans(adp: FakeHRServer) -> None:
    creds = credentials(adp)
    with connector() as provider:
        drain(adp, provider, creds)
        hired = adp.hire("Grace", "Hopper", department="Platform")
        leaver = adp.company.people()[20]
        adp.terminate(leaver.id)
        first = provider.next_message(creds)
        assert first is not None and first.event is not None
        assert (first.event.kind, first.event.employee_ids) == (
            WebhookKind.CREATED,
            (associate_oid(hired.key),),
        )
        again = provider.next_message(creds)
        assert again is not None and again.message_id == first.message_id, "the head stays until acknowledged"
        provider.acknowledge(creds, first.message_id)
        provider.acknowledge(creds, first.message_id)  # already gone: fine
        second = provider.next_message(creds)
        assert second is not None and second.event is not None
        assert (second.event.kind, second.event.employee_ids) == (
            WebhookKind.UPDATED,
            (associate_oid(leaver.key),),
        )
        provider.acknowledge(creds, second.message_id)
        assert provider.next_message(creds) is None
        page = provider.get_employees(creds, [associate_oid(hired.key), associate_oid(leaver.key)])
    assert {e.hris_id: e.status.value for e in page.employees} == {
        associate_oid(hired.key): "active",
        associate_oid(leaver.key): "terminated",
    }


# --- TLS refusals ----------------------------------------------------------------------------------------


def _client(fake: FakeHRServer, cert: tuple[str, str] | None = None) -> httpx.Client:
    """An httpx client trusting the fake's CA, presenting the fake's client pair (or ``cert``)."""
    given = fake.credentials
    pair = cert or (given["client_certificate"], given["client_key"])
    return httpx.Client(base_url=fake.base_url, verify=client_tls_context(*pair, given["ca_certificate"]))


def _token(fake: FakeHRServer) -> dict[str, str]:
    given = fake.credentials
    with _client(fake) as http:
        answer = http.post(
            "/auth/oauth/v2/token",
            data={"grant_type": "client_credentials"},
            auth=(given["client_id"], given["client_secret"]),
        )
    assert answer.status_code == 200
    assert set(answer.json()) == {"access_token", "token_type", "expires_in", "scope"}
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_client_without_a_certificate_is_refused_at_the_handshake(adp: FakeHRServer) -> None:
    trusting = ssl.create_default_context(cadata=adp.credentials["ca_certificate"])
    before = adp.refused_handshakes
    with (
        adp.recording() as exchanges,
        httpx.Client(base_url=adp.base_url, verify=trusting) as http,
        pytest.raises(httpx.TransportError),
    ):
        http.post("/auth/oauth/v2/token", data={"grant_type": "client_credentials"})
    assert exchanges == [], "no request got through"
    assert adp.wait_refused(before + 1), "the fake refused the handshake"


def test_a_certificate_another_ca_signed_is_refused_and_the_connector_says_so_at_once(
    adp: FakeHRServer,
) -> None:
    """The server's TLS alert refuses the certificate: a credentials error naming the certificate
    (422 at connect), after one attempt: retrying cannot change the server's mind."""
    certificate, key = stranger_pair()
    given = fake_credentials(adp)
    stranger = Credentials(
        secrets={**given.secrets, "client_certificate": Secret(certificate), "client_key": Secret(key)},
        settings=given.settings,
    )
    before = adp.refused_handshakes
    with adp.recording() as exchanges, connector() as provider, pytest.raises(ProviderAuthError) as caught:
        provider.check_credentials(stranger)
    assert exchanges == [] and adp.wait_refused(before + 1)
    assert adp.refused_handshakes == before + 1
    assert "refused our client certificate" in str(caught.value)
    assert key[40:80] not in str(caught.value)


def test_plain_http_is_not_served(adp: FakeHRServer) -> None:
    with (
        httpx.Client(base_url=adp.base_url.replace("https://", "http://")) as http,
        pytest.raises(httpx.TransportError),
    ):
        http.get("/hr/v2/workers")


def test_a_wrong_client_secret_is_refused_by_the_token_endpoint(adp: FakeHRServer) -> None:
    given = fake_credentials(adp)
    wrong = Credentials(
        secrets={**given.secrets, "client_secret": Secret("wrong-secret-DO-NOT-ECHO")},
        settings=given.settings,
    )
    with connector() as provider, pytest.raises(ProviderAuthError) as caught:
        provider.check_credentials(wrong)
    assert "wrong-secret-DO-NOT-ECHO" not in str(caught.value)


# --- the command line ------------------------------------------------------------------------------


def test_the_fake_hris_command_serves_adp_and_hands_out_working_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=serve,
        args=("adp_workforce_now",),
        kwargs={
            "employees": 12,
            "port": 0,
            "seed": 3,
            "rate_limit": "none",
            "today": TODAY,
            "stop": stop,
            "credentials_dir": tmp_path,
            "ready": ready,
        },
        daemon=True,
    )
    thread.start()
    try:
        assert ready.wait(60), "the fake started"
        body = json.loads((tmp_path / CREDENTIALS_FILE).read_text(encoding="utf-8"))
        assert set(body["secrets"]) == {"client_id", "client_secret", "client_certificate", "client_key"}
        assert body["settings"]["base_url"].startswith("https://127.0.0.1:")
        assert "BEGIN CERTIFICATE" in body["settings"]["ca_certificate"]
        for name in ("client_certificate", "client_key", "ca_certificate"):
            assert (tmp_path / f"{name}.pem").stat().st_mode & 0o077 == 0, "private to this user"
        creds = Credentials(
            secrets={k: Secret(v) for k, v in body["secrets"].items()}, settings=body["settings"]
        )
        with connector(page_size=5) as provider:
            employees, _ = collect_all(provider, creds)
        assert len(employees) == 12
    finally:
        stop.set()
        thread.join(30)
    printed = capsys.readouterr().out
    assert "base_url        https://127.0.0.1:" in printed
    assert f"{tmp_path / 'client_key.pem'} (PEM)" in printed
    assert "PRIVATE KEY" not in printed, "keys go to files, not the terminal"
