"""Microsoft 365 (Graph): status per field (R03/R09 with a reason), field mapping (R15), the
notification checks (clientState in constant time), paging links kept on Graph's host."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.domain.models import EmployeeStatus
from shared.providers.base import (
    Credentials,
    ProviderResponseError,
    Secret,
    Subscribes,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import AuthMethod, ProviderKind, credential_problems
from shared.providers.http import Runtime
from shared.providers.microsoft import CAPABILITIES, Microsoft365
from shared.providers.oauth import OAuthConnector
from shared.providers.registry import get_provider, provider_info

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
USER = "11111111-2222-3333-4444-555555555555"
BOSS = "99999999-2222-3333-4444-555555555555"


def connector() -> Microsoft365:
    return Microsoft365(runtime=Runtime(sleep=lambda _s: None, now=lambda: NOW))


def record(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": USER,
        "givenName": "Ada",
        "surname": "Lovelace",
        "mail": "ada@example.com",
        "userPrincipalName": "ada@example.onmicrosoft.com",
        "accountEnabled": True,
        "employeeId": "E-1",
        "employeeHireDate": "2020-01-06T00:00:00Z",
        "employeeLeaveDateTime": None,
        "department": "Engineering",
        "jobTitle": "Engineer",
        "officeLocation": "London",
        "companyName": "Analytical Engines",
        "country": "GB",
        "userType": "Member",
        "manager": {"@odata.type": "#microsoft.graph.user", "id": BOSS},
    }
    return {**base, **fields}


def test_every_field_graph_offers_is_mapped_and_capabilities_say_exactly_those() -> None:
    employee = connector().employee(record(), {USER: ["g-1"]})

    assert (employee.first_name, employee.last_name, employee.email) == ("Ada", "Lovelace", "ada@example.com")
    assert employee.employee_number == "E-1"
    assert (employee.department, employee.job_title, employee.office_location) == (
        "Engineering",
        "Engineer",
        "London",
    )
    assert (employee.company, employee.home_country) == ("Analytical Engines", "GB")
    assert employee.start_date is not None and employee.start_date.isoformat() == "2020-01-06"
    assert employee.manager_hris_id == BOSS
    assert employee.group_ids == ("department:Engineering", "g-1")
    assert employee.status is EmployeeStatus.ACTIVE and employee.raw_status == "account enabled"
    assert Microsoft365.info.capabilities == CAPABILITIES
    assert "birthday" not in CAPABILITIES and "avatar_url" not in CAPABILITIES


def test_r15_mail_missing_falls_back_to_the_user_principal_name() -> None:
    employee = connector().employee(record(mail=None))

    assert employee.email == "ada@example.onmicrosoft.com"


def test_r03_account_disabled_is_terminated_with_a_reason_an_admin_understands() -> None:
    employee = connector().employee(record(accountEnabled=False))

    assert employee.status is EmployeeStatus.TERMINATED
    assert employee.raw_status is not None and "account disabled" in employee.raw_status


def test_r03_a_passed_leave_date_is_terminated_and_the_termination_date() -> None:
    employee = connector().employee(record(employeeLeaveDateTime="2026-02-27T17:00:00Z"))

    assert employee.status is EmployeeStatus.TERMINATED
    assert employee.termination_date is not None and employee.termination_date.isoformat() == "2026-02-27"
    assert employee.raw_status == "left on 2026-02-27 (employeeLeaveDateTime)"


def test_r03_a_future_leave_date_stays_active_until_then() -> None:
    employee = connector().employee(record(employeeLeaveDateTime="2026-04-30T17:00:00Z"))

    assert employee.status is EmployeeStatus.ACTIVE
    assert employee.termination_date is not None


def test_r03_a_future_hire_date_is_pending() -> None:
    employee = connector().employee(record(employeeHireDate="2026-04-01T00:00:00Z"))

    assert employee.status is EmployeeStatus.PENDING and employee.raw_status is not None


def test_r04_no_account_enabled_is_active_but_reported_unknown() -> None:
    user = record()
    del user["accountEnabled"]

    employee = connector().employee(user)

    assert employee.status is EmployeeStatus.ACTIVE and employee.status_unknown
    assert employee.warnings


def test_removed_users_are_terminated_as_gone() -> None:
    gone = connector().removed(USER, "deleted")

    assert gone.status is EmployeeStatus.TERMINATED and gone.raw_status == "deleted from Microsoft 365"


def test_guests_are_left_out_unless_the_connection_includes_them() -> None:
    provider = connector()
    provider._memberships = {}
    guest = record(userType="Guest")

    assert provider._mapped(Credentials(), [guest]) == []
    included = provider._mapped(Credentials(settings={"include_guests": "true"}), [guest])
    assert [e.hris_id for e in included] == [USER]


def _notification(client_state: str, **extra: object) -> bytes:
    item = {
        "subscriptionId": "sub-1",
        "changeType": "updated",
        "resource": f"Users/{USER}",
        "resourceData": {"id": USER},
        "clientState": client_state,
        "tenantId": "t-1",
        **extra,
    }
    return json.dumps({"value": [item]}).encode()


def test_notifications_with_the_client_state_are_accepted_and_name_the_user() -> None:
    provider = connector()
    body = _notification("s3cret-state")

    provider.verify_webhook({}, body, Secret("s3cret-state"), NOW)
    event = provider.parse_webhook({}, body)

    assert event.kind is WebhookKind.UPDATED and event.employee_ids == (USER,)


def test_a_wrong_client_state_is_rejected() -> None:
    with pytest.raises(WebhookRejected):
        connector().verify_webhook({}, _notification("guess"), Secret("s3cret-state"), NOW)


def test_a_deleted_change_is_a_deletion_and_lifecycle_events_are_read_apart() -> None:
    provider = connector()
    deleted = provider.parse_webhook({}, _notification("s", changeType="deleted"))
    lifecycle = json.dumps(
        {"value": [{"subscriptionId": "sub-1", "lifecycleEvent": "missed", "clientState": "s"}]}
    ).encode()

    assert deleted.kind is WebhookKind.DELETED
    assert provider.parse_webhook({}, lifecycle).kind is WebhookKind.PING
    assert provider.lifecycle_events(lifecycle) == (("missed", "sub-1"),)


def test_a_body_that_is_no_notification_collection_is_unparseable() -> None:
    with pytest.raises(WebhookUnparseable):
        connector().parse_webhook({}, b'{"value": []}')


def test_paging_links_are_followed_only_on_graph_itself() -> None:
    provider = connector()
    credentials = Credentials()

    assert provider._follow(credentials, "https://graph.microsoft.com/v1.0/users?$skiptoken=x")
    with pytest.raises(ProviderResponseError):
        provider._follow(credentials, "https://evil.example/v1.0/users?$skiptoken=x")


def test_catalogue_entry_is_a_24h_directory_connected_by_admin_consent() -> None:
    info = provider_info("microsoft365")

    assert info.kind is ProviderKind.DIRECTORY and info.default_schedule == "rate(24 hours)"
    assert info.methods == (AuthMethod.OAUTH,)
    assert isinstance(get_provider("microsoft_365"), OAuthConnector)
    assert isinstance(get_provider("microsoft365"), Subscribes)


def test_the_stored_credentials_of_a_consented_connection_fit_the_catalogue() -> None:
    stored = Credentials(
        secrets={
            k: Secret("x")
            for k in ("access_token", "client_id", "client_secret", "delta_link", "webhook_secret")
        },
        settings={"tenant_id": "t-1", "token_expires_at": NOW.isoformat()},
    )

    assert not credential_problems(Microsoft365.info, stored)


def test_the_connect_url_asks_for_admin_consent_and_an_openid_sign_in_with_pkce_and_a_nonce() -> None:
    creds = Credentials(secrets={"client_id": Secret("app-id"), "client_secret": Secret("s")})

    url, pkce = connector().start_authorization(
        creds, redirect_uri="https://api.example/oauth/callback", state="st"
    )

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
    )
    assert pkce is not None and query["code_challenge"] == pkce.challenge
    assert query["code_challenge_method"] == "S256"
    assert query["prompt"] == "admin_consent" and query["response_type"] == "code"
    assert query["scope"].split() == ["openid", "https://graph.microsoft.com/.default"]
    assert query["state"] == "st" and query["client_id"] == "app-id"
    # The nonce is derived from the verifier (kept server-side): not the verifier itself.
    assert query["nonce"] and pkce.verifier.reveal() not in url
