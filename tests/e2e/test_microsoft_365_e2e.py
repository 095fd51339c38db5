"""Microsoft 365 end to end over HTTP on the local stack: admin consent and sign-in through the
journey (oauth/start -> the fake's Entra -> our callback -> a draft -> activate), the activation's
Graph subscription on the connection's webhook URL (its validation handshake answered), the first
import, a hire and a leaver (``accountEnabled: false``) applied from their change notifications, a
renewal run of the sweep extending the subscription, and disconnect removing it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from infra.local.fake_hris import FakeHRServer
from infra.local.fake_hris.microsoft import user_id
from shared.domain.models import EmployeeStatus
from tests.support.local_stack import Tenant, until

RETURN_URL = "http://127.0.0.1:9/admin/connections/oauth-done"
OTHER_TENANT = "0f0f0f0f-1111-2222-3333-444444444444"  # another customer of the same app


def _consent(tenant: Tenant, fake: FakeHRServer) -> httpx.Response:
    """oauth/start, then the admin's browser at the fake's Entra: the redirect to our callback."""
    tenant.register_oauth_app(fake)
    started = tenant.api.call(
        "POST",
        "/v1/connections/oauth/start",
        json={
            "provider": fake.vendor.name,
            "label": "Microsoft 365",
            "return_url": RETURN_URL,
            "invites": "later",
            "approval": "auto",
        },
    )
    with httpx.Client(timeout=30) as browser:
        at_entra = browser.get(started["authorize_url"])
    assert at_entra.status_code == 302, at_entra.text
    return at_entra


def _callback(location: str) -> httpx.Response:
    with httpx.Client(timeout=30) as browser:
        return browser.get(location)


def test_microsoft_365_consent_import_notifications_renewal_and_disconnect(tenant: Tenant) -> None:
    fake = tenant.fake("microsoft365", employees=30, consented=False)
    back = _callback(_consent(tenant, fake).headers["Location"])
    assert back.status_code == 302, back.text
    [cid] = parse_qs(urlsplit(back.headers["Location"]).query)["connection_id"]
    draft = tenant.api.call("GET", f"/v1/connections/{cid}")
    assert (draft["provider"], draft["status"]) == (fake.vendor.name, "draft")
    assert fake.vendor.subscriptions == {}  # type: ignore[attr-defined]  # a draft subscribes to nothing

    activated = tenant.api.activate(cid, expected_version=draft["version"])
    # The subscription was made on activation, at the webhook URL under the API's own URL, after
    # Graph's validation handshake was answered.
    (subscription,) = fake.vendor.subscriptions.values()  # type: ignore[attr-defined]
    assert subscription.notification_url == tenant.stack.webhook_url(cid)
    assert fake.vendor.validations == [200]  # type: ignore[attr-defined]
    run = tenant.api.wait_run(activated["run"]["id"], timeout=120)
    assert run["status"] == "completed" and run["trigger"] == "first_import"
    members = tenant.by_hris()
    current = [p for p in fake.company.people() if p.employee.status is not EmployeeStatus.TERMINATED]
    assert run["applied"]["created"] == len(current) == len(members)

    hired = fake.hire("Grace", "Hopper", department="Engineering")
    leaver = current[4]
    fake.terminate(leaver.id)  # accountEnabled: false in Graph
    # Graph names users by their object id: the member's HR id.
    until("the hire", lambda: user_id(hired) in tenant.by_hris(), tenant=tenant)
    until(
        "the leaver",
        lambda: tenant.by_hris().get(user_id(leaver), {}).get("status") not in ("active", None),
        tenant=tenant,
    )

    # A renewal run of the sweep: the subscription is within the margin once its expiry is near.
    soon = datetime.now(UTC) + timedelta(hours=2)
    subscription.expires = soon
    _shorten_stored_expiry(tenant, cid, soon)
    swept = tenant.stack.functions.invoke("subscription_renewer", {})  # type: ignore[union-attr]
    assert swept["failed"] == 0 and swept["changed"] >= 1
    assert subscription.expires > soon + timedelta(days=2)

    tenant.api.disconnect(cid)
    assert fake.vendor.subscriptions == {}  # type: ignore[attr-defined]


def test_an_edited_tenant_in_the_callback_is_refused_with_no_connection(tenant: Tenant) -> None:
    fake = tenant.fake("microsoft365", employees=5, consented=False, other_consented_tenants=OTHER_TENANT)
    location = _consent(tenant, fake).headers["Location"]

    edited = _callback(f"{location}&tenant={OTHER_TENANT}")

    assert edited.status_code == 422, edited.text
    assert edited.json()["error"]["code"] == "unknown_query_parameter"
    assert tenant.api.connections() == []
    # The callback as Entra sent it still connects, to the tenant the signed id_token names.
    back = _callback(location)
    assert back.status_code == 302, back.text
    [cid] = parse_qs(urlsplit(back.headers["Location"]).query)["connection_id"]
    directory = tenant.api.call("GET", f"/v1/connections/{cid}/directory")
    assert directory["people_total"] == len(fake.company.people())


def _shorten_stored_expiry(tenant: Tenant, connection_id: str, expires: datetime) -> None:
    """What the clock would do over days: the stored subscription now expires within the margin."""
    from shared.adapters.connections import DynamoConnectionStore
    from shared.adapters.dynamo import DynamoTable

    assert tenant.stack.resources is not None
    store = DynamoConnectionStore(
        DynamoTable(tenant.stack.resources.table_name, client=tenant.stack.client("dynamodb"))
    )
    current = store.get(tenant.tenant_id, connection_id)
    assert current.subscription is not None
    held = current.subscription.model_copy(update={"expires_at": expires})
    store.save(
        current.model_copy(update={"subscription": held, "version": current.version + 1}),
        expected_version=current.version,
    )
