"""ADP Workforce Now end to end over HTTP and mutual TLS: the journey (the catalogue's four
write-only fields, a wrong secret and a certificate that is no PEM refused with 422, a draft,
activation), the first import, a hire and a termination that ADP tells only through its event
notification queue, drained by the connection's poll schedule into targeted plans and applied
within seconds (polled), and a short workers page that leaves the snapshot incomplete (R31/R09:
nobody deactivated). The fake serves TLS on loopback and refuses a client without the certificate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from infra.local.client import fake_credentials
from infra.local.fake_hris import FakeHRServer
from infra.local.fake_hris.adp import associate_oid
from tests.support.local_stack import Tenant, a_short_page_deactivates_nobody, fire, poll_schedule, until

PROVIDER = "adp_workforce_now"


def _draft(tenant: Tenant, credentials: dict[str, Any]) -> httpx.Response:
    return tenant.api.http.request(
        "POST",
        "/v1/connections",
        json={
            "draft": True,
            "provider": PROVIDER,
            "label": "ADP",
            "credentials": credentials,
            "invites": "later",
            "approval": "auto",
        },
    )


def test_adp_connect_import_hire_and_termination_through_the_event_queue(tenant: Tenant) -> None:
    fake = tenant.fake(PROVIDER, employees=230)  # three pages of $top=100
    entry = tenant.api.call("GET", f"/v1/providers/{PROVIDER}")
    fields = {f["name"]: f for f in entry["api_key_fields"]}
    assert {"client_id", "client_secret", "client_certificate", "client_key"} <= set(fields)
    assert all(fields[n]["secret"] for n in ("client_secret", "client_certificate", "client_key"))

    # The server refuses a client that presents no certificate (the TLS handshake).
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{fake.base_url}/hr/v2/workers", verify=False, timeout=10)  # noqa: S501

    good = fake_credentials(fake)
    wrong_secret = {**good, "secrets": {**good["secrets"], "client_secret": "not-the-secret"}}
    refused = _draft(tenant, wrong_secret)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "credentials_rejected"
    assert "not-the-secret" not in refused.text
    not_pem = {**good, "secrets": {**good["secrets"], "client_certificate": "-----BEGIN nonsense"}}
    refused = _draft(tenant, not_pem)
    assert refused.status_code == 422 and "client_certificate" in refused.text
    assert "BEGIN" not in refused.text and good["secrets"]["client_key"][40:80] not in refused.text

    made = _draft(tenant, good)
    assert made.status_code == 201, made.text
    connection_id = made.json()["connection"]["id"]
    activated = tenant.api.activate(connection_id)
    run = tenant.api.wait_run(activated["run"]["id"], timeout=120)
    assert run["status"] == "completed", run
    members = tenant.by_hris()
    today = datetime.now(UTC).date()
    expected = {  # R02: a future start waits for its day
        e.hris_id
        for e in fake.expected_employees()
        if e.status.value in ("active", "on_leave") and not (e.start_date and e.start_date > today)
    }
    assert expected and expected <= set(members)

    schedule = poll_schedule(tenant.stack, tenant.tenant_id, connection_id)
    assert schedule is not None and schedule["ScheduleExpression"] == "rate(1 minute)"

    # Real time: ADP tells the hire only through its queue; the poll schedule drains it.
    hired = fake.hire("Nia", "Newcomer", department="Engineering")
    assert len(fake.vendor.queued()) == 1  # type: ignore[attr-defined]
    drained = fire(tenant.stack, schedule)
    assert (drained["queued"], drained["acknowledged"]) == (1, 1)
    assert fake.vendor.queued() == []  # type: ignore[attr-defined]  # acknowledged once queued here
    member = until("the hire", lambda: tenant.by_hris().get(associate_oid(hired.key)), tenant=tenant)
    assert member["profile"]["first_name"] == "Nia" and member["status"] != "deactivated"

    leaver = next(p for p in fake.company.people() if associate_oid(p.key) in expected)
    fake.terminate(leaver.id)
    assert fire(tenant.stack, schedule)["queued"] == 1
    assert until(
        "the termination",
        lambda: tenant.by_hris()[associate_oid(leaver.key)]["status"] == "deactivated" or None,
        tenant=tenant,
    )

    # A short workers page while more follow: the run is partial, nobody deactivated.
    a_short_page_deactivates_nobody(tenant, fake, connection_id)

    tenant.api.disconnect(connection_id)
    assert poll_schedule(tenant.stack, tenant.tenant_id, connection_id) is None


def test_a_certificate_adp_did_not_issue_is_refused_in_the_handshake_with_a_clear_422(tenant: Tenant) -> None:
    """A certificate from another CA (not the one ADP issued): the handshake fails, the draft is
    refused in words, and nothing is stored."""
    fake: FakeHRServer = tenant.fake(PROVIDER, employees=3)
    other: FakeHRServer = tenant.fake(PROVIDER, employees=3, seed=99)
    mine, theirs = fake_credentials(fake), fake_credentials(other)
    crossed = {
        **mine,
        "secrets": {
            **mine["secrets"],
            "client_certificate": theirs["secrets"]["client_certificate"],
            "client_key": theirs["secrets"]["client_key"],
        },
    }
    refused = _draft(tenant, crossed)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "credentials_rejected" and "client certificate" in error["message"]
    assert tenant.api.connections() == []
