"""Changing the fake company (Python API and /_admin over HTTP) and the vendors' signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fakes_support import TODAY, Sink

from infra.local.fake_hris import InvalidChange, UnknownEmployee, fake_hris
from infra.local.fake_hris.cli import serve
from shared.domain.models import Employee, EmployeeStatus

SECRET = "whsec-test-0123456789"


def _admin(server: Any) -> httpx.Client:
    return httpx.Client(base_url=f"{server.base_url}/_admin")


def test_admin_endpoint_hires_terminates_moves_and_changes_managers(people: list[Employee]) -> None:
    with fake_hris("bamboohr", employees=people, rate_limit=None) as server, _admin(server) as admin:
        hired = admin.post(
            "/employees",
            json={
                "first_name": "Grace",
                "last_name": "Hopper",
                "department": "Platform",
                "manager_id": "1001",
            },
        )
        assert hired.status_code == 201
        new_id = hired.json()["hris_id"]
        assert hired.json()["status"] == "active"
        assert (
            admin.post(f"/employees/{new_id}/move", json={"department": "Data"}).json()["employee"][
                "department"
            ]
            == "Data"
        )
        manager = admin.post(f"/employees/{new_id}/manager", json={"manager_id": "1002"}).json()
        assert manager["employee"]["manager_hris_id"] == "1002"
        assert manager["change"]["changed_fields"] == ["manager_hris_id"]
        assert admin.post(f"/employees/{new_id}/leave").json()["employee"]["status"] == "on_leave"
        assert admin.post(f"/employees/{new_id}/return").json()["employee"]["status"] == "active"
        gone = admin.post(f"/employees/{new_id}/terminate", json={"on": TODAY.isoformat()}).json()
        assert gone["employee"]["status"] == "terminated"
        assert gone["change"]["event"] == "terminated"
        assert admin.post("/employees/999999/terminate").status_code == 404
        assert admin.post(f"/employees/{new_id}/manager", json={"manager_id": new_id}).status_code == 400
        assert admin.post("/employees", json={"first_name": "No surname"}).status_code == 400
        assert admin.post(f"/employees/{new_id}/update", json={"salary": 1}).status_code == 400

        token = server.credentials["access_token"]
        record = httpx.get(
            f"{server.base_url}/api/v1/employees",
            params={"filter[ids]": new_id, "fields": "departmentName,reportsToId,employmentStatusName"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["data"][0]
    assert record == {
        "employeeId": new_id,
        "firstName": "Grace",
        "lastName": "Hopper",
        "preferredName": None,
        "photoUrl": None,
        "jobTitleName": None,
        "status": "Inactive",
        "departmentName": "Data",
        "reportsToId": "1002",
        "employmentStatusName": "Terminated",
        "_restrictedFields": [],
    }


def test_future_hire_is_pending_and_future_termination_keeps_them_active(people: list[Employee]) -> None:
    with fake_hris("personio", employees=people, rate_limit=None) as server:
        starter = server.hire("Future", "Hire", start_date=TODAY + timedelta(days=400))
        assert starter.employee.status is EmployeeStatus.PENDING
        leaver = server.company.people()[10]
        server.terminate(leaver.id, on=TODAY + timedelta(days=400))
        assert server.company.get(leaver.id).employee.status is not EmployeeStatus.TERMINATED
        assert server.company.get(leaver.id).employee.termination_date == TODAY + timedelta(days=400)
        with pytest.raises(UnknownEmployee):
            server.terminate(10**9)
        with pytest.raises(InvalidChange):
            server.move(leaver.id)


def test_bamboohr_changed_endpoint_reports_inserted_updated_deleted(people: list[Employee]) -> None:
    with fake_hris("bamboohr", employees=people, rate_limit=None) as server:
        since = datetime.now(UTC)
        unchanged = server.company.people()[2]
        moved = server.company.people()[3]
        removed = server.company.people()[4]
        server.move(moved.id, department="Research")
        server.delete(removed.id)
        hired = server.hire("New", "Person")
        creds = server.credentials
        answer = httpx.get(
            f"{server.base_url}/api/v1/employees/changed",
            params={"since": since.isoformat()},
            auth=(creds["api_key"], "x"),
        ).json()
        missing = httpx.get(f"{server.base_url}/api/v1/employees/changed", auth=(creds["api_key"], "x"))
    changes = {k: v["action"] for k, v in answer["employees"].items()}
    assert changes == {moved.key: "Updated", removed.key: "Deleted", hired.key: "Inserted"}
    assert unchanged.key not in changes
    assert missing.status_code == 400


# --------------------------------------------------------------------------------------------
# Webhooks, signed as each vendor signs them
# --------------------------------------------------------------------------------------------


def test_bamboohr_webhooks_are_signed_over_body_and_timestamp(people: list[Employee], sink: Sink) -> None:
    with fake_hris("bamboohr", employees=people, rate_limit=None) as server:
        server.webhooks_to(sink.url, SECRET)
        person = server.hire("Ada", "Lovelace", department="Data")
        server.terminate(person.id)
    kinds = [json.loads(r.body)["type"] for r in sink.received]
    assert kinds == ["employee.created", "employee.updated", "employee.updated"]
    for delivery in sink.received:
        timestamp = delivery.headers["x-bamboohr-timestamp"]
        expected = hmac.new(SECRET.encode(), delivery.body + timestamp.encode(), hashlib.sha256).hexdigest()
        assert delivery.headers["x-bamboohr-signature"] == expected
        assert json.loads(delivery.body)["data"]["employeeId"] == person.key
    assert "terminationDate" in json.loads(sink.received[-1].body)["data"]["changedFields"]


def test_hibob_webhooks_are_metadata_only_and_signed(people: list[Employee], sink: Sink) -> None:
    with fake_hris("hibob", employees=people, rate_limit=None) as server:
        server.webhooks_to(sink.url, SECRET)
        target = server.company.people()[12]
        server.start_leave(target.id)
    (delivery,) = sink.received
    body = json.loads(delivery.body)
    assert body["type"] == "employee.updated"
    assert body["data"] == {"employeeId": target.key}
    digest = hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).digest()
    assert delivery.headers["bob-signature"] == base64.b64encode(digest).decode()


def test_personio_webhooks_carry_the_static_token(people: list[Employee], sink: Sink) -> None:
    with fake_hris("personio", employees=people, rate_limit=None) as server:
        server.webhooks_to(sink.url, SECRET)
        target = server.company.people()[12]
        server.change_manager(target.id, server.company.people()[1].id)
        deliveries = server.deliveries
    (delivery,) = sink.received
    assert delivery.headers["authorization"] == SECRET
    assert json.loads(delivery.body)["type"] == "person.updated"
    assert deliveries[0].status == 202
    assert SECRET not in json.dumps(deliveries[0].headers), "the admin view never shows the token"


def test_merge_webhooks_are_base64url_signed_and_carry_the_employee(
    people: list[Employee], sink: Sink
) -> None:
    with fake_hris("merge", employees=people, rate_limit=None) as server:
        server.webhooks_to(sink.url, SECRET)
        target = server.company.people()[20]
        server.move(target.id, company="Southgate Labs B.V.")
        server.delete(target.id)
    assert [json.loads(r.body)["hook"]["event"] for r in sink.received] == [
        "Employee.changed",
        "Employee.removed",
    ]
    for delivery in sink.received:
        digest = hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).digest()
        assert delivery.headers["x-merge-webhook-signature"] == base64.urlsafe_b64encode(digest).decode()
    assert json.loads(sink.received[-1].body)["data"]["remote_was_deleted"] is True


def test_employment_hero_sends_no_webhooks(people: list[Employee], sink: Sink) -> None:
    with fake_hris("employment_hero", employees=people, rate_limit=None) as server:
        server.webhooks_to(sink.url, SECRET)
        server.terminate(server.company.people()[3].id)
    assert sink.received == []


def test_webhooks_go_to_loopback_only_and_are_configurable_over_http(
    people: list[Employee], sink: Sink
) -> None:
    with fake_hris("hibob", employees=people[:20], rate_limit=None) as server, _admin(server) as admin:
        with pytest.raises(InvalidChange):
            server.webhooks_to("https://example.com/hook", SECRET)
        assert admin.put("/webhooks", json={"url": "http://10.0.0.1/x", "secret": "s"}).status_code == 400
        assert admin.put("/webhooks", json={"url": sink.url, "secret": SECRET}).status_code == 200
        admin.post(f"/employees/{server.company.people()[3].id}/terminate")
        log = admin.get("/webhooks/deliveries").json()
    assert len(sink.received) == 1
    assert log[0]["status"] == 202


def test_cli_serves_until_stopped_and_prints_how_to_connect(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        kwargs={
            "provider": "merge",
            "employees": 25,
            "port": 0,
            "seed": 4,
            "rate_limit": "none",
            "today": TODAY,
            "stop": stop,
        },
    )
    thread.start()
    try:
        printed = ""
        for _ in range(200):
            printed += capsys.readouterr().out
            if "Serving until Ctrl-C" in printed:
                break
            threading.Event().wait(0.05)
        lines = dict(line.split(None, 1) for line in printed.splitlines() if line.startswith("  "))
        response = httpx.get(
            f"{lines['base_url'].strip()}/api/hris/v1/employees",
            headers={
                "Authorization": f"Bearer {lines['api_key'].strip()}",
                "X-Account-Token": lines["account_token"].strip(),
            },
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 25
