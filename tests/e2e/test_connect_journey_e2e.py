"""The admin's connect journey end to end over HTTP, as an admin UI walks it (issue 12): the
provider catalogue, a draft whose credentials are checked at once (R32), the directory searched
for the ids a scope selects by (R33), the preview's per-choice counts, activation, the run's
progress and the completion email to the connecting admin. For an API-key provider (BambooHR),
for the OAuth one (Employment Hero), and for a switch of HR system (R21)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from infra.local.client import AdminClient
from infra.local.fake_hris import FakeHRServer, Person
from shared.domain.models import EmployeeStatus
from shared.providers.registry import provider_info
from tests.support.local_stack import Tenant
from tests.support.mail import ReadMail, assert_readable, read

RETURN_URL = "http://127.0.0.1:9/admin/connections/oauth-done"
# The deactivations R21 makes on a switch are the point of that test, not a mistake to hold (R23).
NO_GUARD = {"max_deactivations": 1_000_000, "max_deactivation_pct": 100}


def _connecting_admin(tenant: Tenant) -> str:
    """The local dev token's email claim: its subject at the tenant's domain."""
    return f"admin-{tenant.tenant_id}@{tenant.tenant_id}.example"


def _catalogue_entry(api: AdminClient, provider: str) -> dict[str, Any]:
    listed = api.call("GET", "/v1/providers")["items"]
    [entry] = [p for p in listed if p["id"] == provider]
    assert entry == api.call("GET", f"/v1/providers/{provider}")
    return entry


def _form(fields: Iterable[dict[str, Any]], values: dict[str, str], fake: FakeHRServer) -> dict[str, Any]:
    """The connect form a UI renders from the catalogue's fields, filled in: each field under
    ``secrets`` or ``settings`` as the catalogue marks it; the fake's host in the internal
    ``base_url`` setting (no admin form shows it)."""
    form: dict[str, dict[str, str]] = {"secrets": {}, "settings": {"base_url": fake.base_url}}
    for item in fields:
        if item["name"] in values:
            form["secrets" if item["secret"] else "settings"][item["name"]] = values[item["name"]]
        else:
            assert not item["required"], f"the fake has no value for the required {item['name']}"
    return form


def _in_scope(people: Iterable[Person], today: date, selects: Any) -> set[str]:
    """The emails of the fake company's people a scope selects who are not terminated (as the
    preview counts them)."""
    return {
        str(p.employee.email).casefold()
        for p in people
        if not p.deleted
        and selects(p)
        and not (
            p.employee.status is EmployeeStatus.TERMINATED
            or (p.employee.termination_date is not None and p.employee.termination_date < today)
        )
    }


def _watch(api: AdminClient, run_id: str) -> tuple[dict[str, Any], list[str]]:
    """Follow the run to its end as a UI's progress bar would; its last state and the phases seen."""
    phases: list[str] = []

    def seen(run: dict[str, Any]) -> None:
        phase = run["progress"]["phase"]
        if not phases or phases[-1] != phase:
            phases.append(phase)

    return api.wait_run(run_id, timeout=180, on_progress=seen, interval=0.05), phases


def _completion_mail(tenant: Tenant, provider: str) -> ReadMail:
    tenant.stack.drain()
    mails = [read(path.read_bytes()) for path in tenant.stack.mail()]
    [finished] = [
        m
        for m in mails
        if _connecting_admin(tenant) in m.to
        and m.subject.startswith(f"Import from {provider_info(provider).name} finished")
    ]
    return finished


def _secret_names(tenant: Tenant) -> set[str]:
    pages = tenant.stack.client("secretsmanager").get_paginator("list_secrets").paginate()
    return {s["Name"] for page in pages for s in page["SecretList"] if tenant.tenant_id in s["Name"]}


def _scope_directory_preview_activate(
    tenant: Tenant, cid: str, scope: dict[str, Any], expected: dict[str, set[str]], provider: str
) -> dict[str, Any]:
    """Scope by ids, preview its counts, activate, follow the run, read the email: the journey's
    second half, the same for every provider. ``expected`` maps each chosen id to the people it
    selects."""
    api = tenant.api
    edited = api.edit(cid, scope=scope)
    assert edited["run"] is None and edited["connection"]["status"] == "draft"  # R32: nothing runs
    assert edited["connection"]["scope"][scope["mode"]] == scope[scope["mode"]]

    preview = api.call("POST", f"/v1/connections/{cid}/preview")
    everyone = set().union(*expected.values())
    assert {c["id"]: c["people"] for c in preview["scope_counts"]} == {
        chosen: len(people) for chosen, people in expected.items()
    }
    assert preview["complete"] is True
    assert preview["counts"]["created"] == len(everyone) > 0
    assert api.members() == [] and api.runs(cid) == []

    activated = api.activate(cid, expected_version=edited["connection"]["version"])
    assert activated["connection"]["status"] == "active"
    run, phases = _watch(api, activated["run"]["id"])
    assert run["status"] == "completed" and run["trigger"] == "first_import"
    assert phases[-1] == "done" and len(phases) >= 2, phases
    assert run["progress"]["employees_fetched"] > 0
    assert run["applied"]["created"] == len(everyone)
    members = api.members()
    assert {m["profile"]["email"].casefold() for m in members} == everyone
    assert {(m["connection_id"], m["source"]) for m in members} == {(cid, "hris")}

    shown = api.call("GET", f"/v1/connections/{cid}")
    assert shown["last_run"]["id"] == run["id"] and shown["last_run"]["status"] == "completed"
    assert shown["next_run_at"] is not None

    mail = _completion_mail(tenant, provider)
    assert f"- Created: {len(everyone)}\n" in mail.text, mail.text
    assert_readable(mail, ())
    return run


def test_r32_r33_api_key_journey_catalogue_draft_directory_scope_preview_activate_email(
    tenant: Tenant,
) -> None:
    fake = tenant.fake("bamboohr", employees=80)
    api = tenant.api
    entry = _catalogue_entry(api, "bamboohr")
    assert "api_key" in entry["methods"]
    fields = {f["name"]: f["secret"] for f in entry["api_key_fields"]}
    assert fields == {"company_domain": False, "api_key": True, "webhook_secret": True}

    right = {
        "company_domain": fake.credentials["subdomain"],
        "api_key": fake.credentials["api_key"],
        "webhook_secret": tenant.webhook_secret,
    }
    wrong_key = "wrong-key-d41d8cd98f00b204"
    draft = {"provider": "bamboohr", "label": "BambooHR", "draft": True, "invites": "later"}
    before = _secret_names(tenant)
    refused = api.http.post(
        "/v1/connections",
        json={**draft, "credentials": _form(entry["api_key_fields"], {**right, "api_key": wrong_key}, fake)},
    )
    assert 400 <= refused.status_code < 500, refused.text
    assert refused.json()["error"]["code"] == "credentials_rejected"
    assert wrong_key not in refused.text and tenant.webhook_secret not in refused.text
    assert api.connections() == [] and _secret_names(tenant) == before

    made = api.call(
        "POST", "/v1/connections", json={**draft, "credentials": _form(entry["api_key_fields"], right, fake)}
    )
    cid = made["connection"]["id"]
    assert made["run"] is None and made["connection"]["status"] == "draft"
    assert made["connection"]["connected_by_email"] == _connecting_admin(tenant)
    assert made["connection"]["effective_schedule"] == entry["default_schedule"]

    # The directory, searched: the Engineering division and the Design department, by id.
    engineering = api.call("GET", f"/v1/connections/{cid}/directory/groups", params={"q": "engineer"})
    [division] = [g for g in engineering["items"] if (g["name"], g["kind"]) == ("Engineering", "division")]
    [design] = api.call("GET", f"/v1/connections/{cid}/directory/groups", params={"q": "DESIGN"})["items"]
    assert design["kind"] == "department"
    paged = api.call("GET", f"/v1/connections/{cid}/directory/groups", params={"limit": 2})
    assert len(paged["items"]) == 2 and paged["next_cursor"] and paged["total"] > 2

    people = fake.company.people()
    today = datetime.now(UTC).date()
    expected = {
        division["id"]: _in_scope(people, today, lambda p: p.division == "Engineering"),
        design["id"]: _in_scope(people, today, lambda p: p.employee.department == "Design"),
    }
    assert all(expected.values())
    _scope_directory_preview_activate(
        tenant, cid, {"mode": "groups", "groups": [division["id"], design["id"]]}, expected, "bamboohr"
    )


def test_r32_r33_oauth_journey_employment_hero_consent_draft_scope_by_employing_entity_activate_email(
    tenant: Tenant,
) -> None:
    fake = tenant.fake("employment_hero", employees=60)
    tenant.register_oauth_app(fake)
    api = tenant.api
    entry = _catalogue_entry(api, "employment_hero")
    assert entry["methods"] == ["oauth"] and entry["api_key_fields"] == []

    cid, _ = tenant.connect_by_oauth(fake, RETURN_URL, label="Employment Hero")
    draft = api.call("GET", f"/v1/connections/{cid}")
    assert (draft["status"], draft["connected_by_email"]) == ("draft", _connecting_admin(tenant))
    api.edit(cid, invites="later")

    # Employment Hero's directory lists the employing entities scope matches (R33).
    companies = api.call("GET", f"/v1/connections/{cid}/directory/companies")["items"]
    named = {c["name"] for c in companies}
    people = fake.company.people()
    assert {p.employee.company for p in people} <= named
    entity = next(p.employee.company for p in people if p.employee.company)
    [chosen] = api.call(
        "GET", f"/v1/connections/{cid}/directory/companies", params={"q": entity.split()[-1].lower()}
    )["items"]
    assert chosen["name"] == entity
    expected = {
        chosen["id"]: _in_scope(people, datetime.now(UTC).date(), lambda p: p.employee.company == entity)
    }
    _scope_directory_preview_activate(
        tenant, cid, {"mode": "companies", "companies": [chosen["id"]]}, expected, "employment_hero"
    )


def test_r21_switch_hris_draft_hibob_picks_groups_claims_the_members_inside_and_deactivates_the_rest(
    tenant: Tenant,
) -> None:
    api = tenant.api
    # The same generated company (same size and seed) in both HR systems: the same people's emails.
    bamboo = tenant.fake("bamboohr", employees=60, seed=5)
    old_cid, first = tenant.connect(bamboo)
    assert first["status"] == "completed"
    manual = api.call(
        "POST",
        "/v1/members",
        json={"email": "contractor@elsewhere.example", "first_name": "Casey", "external_id": "app-7"},
    )
    before = {m["profile"]["email"].casefold(): m for m in api.members() if m["source"] == "hris"}
    assert before and all(m["connection_id"] == old_cid for m in before.values())
    api.disconnect(old_cid)

    bob = tenant.fake("hibob", employees=60, seed=5)
    assert {p.employee.email for p in bob.company.people()} == {
        p.employee.email for p in bamboo.company.people()
    }
    entry = _catalogue_entry(api, "hibob")
    made = api.call(
        "POST",
        "/v1/connections",
        json={
            "provider": "hibob",
            "label": "HiBob",
            "draft": True,
            "invites": "later",
            "safety": NO_GUARD,
            "credentials": _form(entry["api_key_fields"], dict(bob.credentials), bob),
        },
    )
    cid = made["connection"]["id"]
    # A draft claims nobody (R32): the old members are as they were.
    assert {m["id"]: m["connection_id"] for m in api.members() if m["source"] == "hris"} == {
        m["id"]: old_cid for m in before.values()
    }

    # HiBob lists departments: every department whose name has "sales" in it.
    chosen = api.call("GET", f"/v1/connections/{cid}/directory/groups", params={"q": "sales"})["items"]
    names = {g["name"] for g in chosen}
    assert names == {"Sales", "Enterprise Sales", "Mid-Market Sales", "Sales Operations"}, chosen
    edited = api.edit(cid, scope={"mode": "groups", "groups": [g["id"] for g in chosen]})
    assert edited["run"] is None

    run, _ = _watch(api, api.activate(cid)["run"]["id"])
    assert run["status"] == "completed"

    people = bob.company.people()
    inside = {
        p.employee.email.casefold(): p for p in people if p.employee.department in names and p.employee.email
    }
    after = {m["id"]: m for m in api.members()}
    assert after[manual["id"]] == api.member(manual["id"])
    assert (after[manual["id"]]["source"], after[manual["id"]]["status"]) == ("manual", manual["status"])
    assert after[manual["id"]]["connection_id"] is None
    claimed = deactivated = 0
    for email, old in before.items():
        now = after[old["id"]]  # R21: the same member, never a new one
        if email in inside:
            assert (now["connection_id"], now["hris_id"]) == (cid, inside[email].key), email
            assert now["status"] == old["status"] != "deactivated", (email, now)
            claimed += 1
        else:
            assert now["status"] == "deactivated", (email, now["status"])
            assert now["deactivation_reason"] == "out_of_scope", now
            deactivated += 1
    assert claimed and deactivated
    assert run["applied"]["created"] == len({e for e in inside if e not in before})
