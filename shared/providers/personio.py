"""Personio (API v1): a token from ``POST /v1/auth``, ``company/employees`` by limit/offset.

- The token is valid 24 h: it is cached in this connector and handed back in the page's
  ``refreshed_credentials`` (secret ``access_token``, setting ``token_expires_at``) so the next
  sync step reuses it instead of authenticating again.
- ``limit`` is at most 100 (since 2025-01-31, whatever the older spec says).
- The list ends when offset + records reach ``metadata.total_elements`` (R31); a shorter page
  while the total says more, or an answer at another offset, makes the snapshot incomplete.
- Attributes are ``{label, value, type, universal_id}`` objects; relations (supervisor, office,
  department, team, subcompany) nest ``{type, attributes}`` inside ``value``.
- Webhooks carry no HMAC: the token set when the webhook was created comes back verbatim in
  ``Authorization``; they are dataless (ids only), so the worker fetches the person after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from shared.domain.models import Employee
from shared.providers.base import (
    Credentials,
    Directory,
    EmployeePage,
    IncompleteListing,
    ProviderAuthError,
    ProviderResponseError,
    Secret,
    Tier,
    WebhookEvent,
    WebhookKind,
    WebhookUnparseable,
)
from shared.providers.catalogue import CredentialField, ProviderKind, describe, webhook_secret_field
from shared.providers.common import (
    Connector,
    ListPage,
    answered_as_asked,
    as_list,
    as_object,
    bearer_headers,
    build_employee,
    collect_all,
    cursor_int,
    date_text,
    decode_cursor,
    dig,
    directory_from,
    encode_cursor,
    grouping_id,
    page_size_used,
    record_id,
    reported_int,
    text,
    unique,
)
from shared.providers.oauth import OAuthToken
from shared.providers.status import status_map
from shared.providers.webhooks import (
    as_id,
    body_digest,
    parse_iso_datetime,
    parse_json_object,
    require_same,
    required_header,
)

DEFAULT_BASE = "https://api.personio.de"
PAGE_LIMIT = 100
DEFAULT_TOKEN_LIFETIME = 86400
TOKEN_SKEW = timedelta(minutes=5)

STATUSES = status_map(
    "personio", pending=("onboarding",), active=("active",), on_leave=("leave",), terminated=("inactive",)
)
READ_ATTRIBUTES = frozenset(
    {
        "id",
        "first_name",
        "last_name",
        "email",
        "status",
        "position",
        "supervisor",
        "hire_date",
        "termination_date",
        "subcompany",
        "office",
        "department",
        "team",
        "profile_picture",
        "date_of_birth",
        "employment_type",
    }
)
CAPABILITIES = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "avatar_url",
        "job_title",
        "department",
        "company",
        "groups",
        "office_location",
        "birthday",
        "start_date",
        "termination_date",
        "manager_hris_id",
    }
)
_API_CREDENTIALS = (
    "In Personio, Settings > Integrations > API credentials > Generate new credential. Give it read "
    "access to the employee attributes synced (name, email, status, position, department, team, office, "
    "supervisor, hire and termination date, profile picture)."
)
CLIENT_ID = CredentialField("client_id", "Client ID", _API_CREDENTIALS, secret=True)
CLIENT_SECRET = CredentialField(
    "client_secret",
    "Client secret",
    "Shown with the client ID when the credential is generated.",
    secret=True,
)
WEBHOOK_TOKEN = webhook_secret_field(
    "Webhook authorization token",
    "Optional, for changes within minutes: the token you set when creating the webhook in Personio "
    "(Settings > Integrations > Webhooks). Personio sends it back with every event.",
)
_KINDS = {
    "created": WebhookKind.CREATED,
    "updated": WebhookKind.UPDATED,
    "deleted": WebhookKind.DELETED,
    "started": WebhookKind.UPDATED,
    "terminated": WebhookKind.UPDATED,
}


class Personio(Connector):
    name = "personio"
    tier = Tier.FULL
    capabilities = CAPABILITIES
    supports_webhooks = True
    max_page_size = PAGE_LIMIT
    info = describe(
        id=name,
        name="Personio",
        kind=ProviderKind.HRIS,
        tier=tier,
        capabilities=capabilities,
        supports_webhooks=supports_webhooks,
        api_key_fields=(CLIENT_ID, CLIENT_SECRET, WEBHOOK_TOKEN),
    )

    # -- auth ---------------------------------------------------------------------------------

    def _token(
        self, credentials: Credentials, *, refused: Secret | None = None
    ) -> tuple[Secret, Credentials | None]:
        """A usable token; a new one from /v1/auth when none is (``refused``: the server said 401 to
        that one)."""
        return self.granted_token(credentials, self._authenticate, skew=TOKEN_SKEW, refused=refused)

    def _authenticate(self, credentials: Credentials) -> OAuthToken:
        """``POST /v1/auth`` with the client credentials: a new token and its lifetime."""
        now = self.runtime.now()
        body = self.http.post_json(
            f"{self.base_url(credentials, DEFAULT_BASE)}/v1/auth",
            json_body={
                "client_id": self.secret(credentials, "client_id").reveal(),
                "client_secret": self.secret(credentials, "client_secret").reveal(),
            },
            headers={"Accept": "application/json"},
        )
        token = dig(body, "data", "token")
        if not isinstance(token, str) or not token or dig(body, "success") is False:
            raise ProviderAuthError("personio: /v1/auth answered without a token")
        lifetime = dig(body, "data", "expires_in")
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool):
            lifetime = DEFAULT_TOKEN_LIFETIME
        return OAuthToken(Secret(token), None, now + timedelta(seconds=float(lifetime)))

    def _get(self, credentials: Credentials, path: str, **kwargs: Any) -> tuple[Any, Credentials | None]:
        """GET with the token; on 401 authenticate again once (the token expired or was revoked)."""
        url = f"{self.base_url(credentials, DEFAULT_BASE)}{path}"
        token, refreshed = self._token(credentials)
        try:
            return self.http.get_json(url, headers=bearer_headers(token), **kwargs), refreshed
        except ProviderAuthError:
            if refreshed is not None:
                raise
            token, refreshed = self._token(credentials, refused=token)
            return self.http.get_json(url, headers=bearer_headers(token), **kwargs), refreshed

    def check_credentials(self, credentials: Credentials) -> None:
        """A token from ``/v1/auth`` (the client id and secret), then one employee with it (the
        credential's read access)."""
        self._get(credentials, "/v1/company/employees", params={"limit": 1, "offset": 0})

    # -- snapshot -----------------------------------------------------------------------------

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        state = decode_cursor(self.name, cursor)
        offset = cursor_int(state, "offset", 0, self.name)
        number = cursor_int(state, "n", 0, self.name) + 1
        body, refreshed = self._get(
            credentials, "/v1/company/employees", params={"limit": self.page_size, "offset": offset}
        )
        body = as_object(body, "the employees response", self.name)
        if body.get("success") is False:
            raise ProviderResponseError("personio: the employees request did not succeed")
        answered_as_asked(self.name, "offset", offset, body.get("offset"))
        records = as_list(body.get("data"), "employees", self.name)
        employees = [self._employee(as_object(r, "an employee", self.name)) for r in records]
        # R31: the end is offset + records reaching the total Personio reports, nothing else.
        total = reported_int(dig(body, "metadata", "total_elements"))
        if total is None:
            raise IncompleteListing(
                "personio: the page reports no metadata.total_elements: its end cannot be told"
            )
        seen = offset + len(records)
        page = ListPage(
            number=number,
            # Personio clamps a larger limit and says which it used: a full page is that size.
            asked=page_size_used(self.page_size, body.get("limit")),
            got=len(records),
            more=seen < total,
            seen=seen,
            total=total,
        )
        if self.end_of_list(page, "employees"):
            return EmployeePage(employees, None, refreshed)
        return EmployeePage(employees, encode_cursor(self.name, {"offset": seen, "n": number}), refreshed)

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        employees: list[Employee] = []
        current, refreshed = credentials, None
        for employee_id in unique(ids):
            if not employee_id.isdigit():
                continue
            body, new = self._get(
                current, f"/v1/company/employees/{employee_id}", ok_statuses=frozenset({404})
            )
            if new is not None:
                current = refreshed = new
            record = dig(body, "data")
            # A 404 (the person was deleted) answers an error body without data: nobody to return.
            if isinstance(record, dict) and isinstance(record.get("attributes"), dict):
                employees.append(self._employee(record))
        return EmployeePage(employees, None, refreshed)

    def directory(self, credentials: Credentials) -> Directory:
        employees, refreshed = collect_all(self, credentials)
        return directory_from(employees, self.seen, refreshed)

    # -- mapping ------------------------------------------------------------------------------

    def _employee(self, record: Mapping[str, Any]) -> Employee:
        attributes = as_object(record.get("attributes"), "attributes", self.name)
        values = _values(attributes)
        department, team = _relation_name(values.get("department")), _relation_name(values.get("team"))
        company = _relation_name(values.get("subcompany"))
        # R33: relations carry the ids of their own tables (a department and a team may share a
        # number): ``department:<id>``, ``team:<id>``; subcompanies are the only companies.
        group_ids = unique(
            (
                self.seen_as(
                    "department",
                    grouping_id("department", _relation_id(values.get("department"))),
                    department,
                ),
                self.seen_as("team", grouping_id("team", _relation_id(values.get("team"))), team),
            )
        )
        company_id = self.seen_as("company", _relation_id(values.get("subcompany")), company)
        return build_employee(
            hris_id=record_id(values, "id", self.name),
            mapped=STATUSES.map(values.get("status")),
            raw={"type": record.get("type"), "attributes": _read_attributes(attributes)},
            first_name=text(values.get("first_name")),
            last_name=text(values.get("last_name")),
            email=text(values.get("email")),
            avatar_url=text(values.get("profile_picture")),
            job_title=text(values.get("position")),
            department=department,
            company=company,
            company_id=company_id,
            group_ids=group_ids,
            groups=unique((department, team)),
            office_location=_relation_name(values.get("office")),
            birthday=date_text(values.get("date_of_birth")),
            start_date=date_text(values.get("hire_date")),
            termination_date=date_text(values.get("termination_date")),
            manager_hris_id=text(dig(values.get("supervisor"), "attributes", "id", "value"))
            or text(dig(values.get("supervisor"), "attributes", "id")),
            hris_role=text(values.get("employment_type")),
        )

    # -- webhooks -----------------------------------------------------------------------------

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        secret: Secret,
        now: datetime,
        *,
        require_signature: bool = False,
    ) -> None:
        received = required_header(headers, "Authorization")
        if received.lower().startswith("bearer "):
            received = received[7:].strip()
        require_same(secret.reveal().encode("utf-8"), received.encode("utf-8"), "token")

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        body = parse_json_object(raw_body)
        event_type = next(
            (v.strip() for v in (body.get(k) for k in ("type", "event_type", "event")) if isinstance(v, str)),
            "",
        )
        if "." not in event_type:
            raise WebhookUnparseable("personio: event without a type")
        data = body.get("data")
        if not isinstance(data, dict):
            data = {}
        candidates = (
            dig(data, "person", "id"),
            data.get("person_id"),
            data.get("employee_id"),
            data.get("id") if event_type.startswith("person.") else None,
            body.get("resource_id"),
            body.get("person_id"),
        )
        employee_id = next((i for i in (as_id(c) for c in candidates) if i is not None), None)
        kind = _KINDS.get(event_type.rsplit(".", 1)[-1], WebhookKind.UPDATED)
        if not event_type.startswith("person."):
            # employment.* events change a person's employment: the person is fetched again.
            kind = WebhookKind.UPDATED
        ids = (employee_id,) if employee_id is not None else ()
        if not ids and event_type.startswith(("person.", "employment.")):
            raise WebhookUnparseable("personio: event without a person id")
        # The event's own id sits beside ``data``; without one, identical bodies are one delivery.
        delivery = as_id(body.get("id")) if isinstance(body.get("data"), dict) else None
        return WebhookEvent(
            kind,
            ids,
            f"personio:{delivery}" if delivery else body_digest(raw_body),
            parse_iso_datetime(body.get("created_at") or body.get("timestamp")),
        )


def _values(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """name -> value, also under each attribute's ``universal_id`` (date_of_birth is dynamic)."""
    values: dict[str, Any] = {}
    for name, attribute in attributes.items():
        value = attribute.get("value") if isinstance(attribute, Mapping) else attribute
        values.setdefault(name, value)
        universal = attribute.get("universal_id") if isinstance(attribute, Mapping) else None
        if isinstance(universal, str) and universal and values.get(universal) is None:
            values[universal] = value
    return values


def _read_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes read (kept in Employee.raw): never salaries, IBANs or other dynamic fields."""
    kept: dict[str, Any] = {}
    for name, attribute in attributes.items():
        universal = attribute.get("universal_id") if isinstance(attribute, Mapping) else None
        if name in READ_ATTRIBUTES or universal in READ_ATTRIBUTES:
            kept[name] = attribute
    return kept


def _relation_id(value: Any) -> str | None:
    """``{type, attributes: {id, name}}`` -> id (as text); None for a plain name or no relation."""
    return text(dig(value, "attributes", "id")) or text(dig(value, "attributes", "id", "value"))


def _relation_name(value: Any) -> str | None:
    """``{type, attributes: {id, name}}`` -> name; a plain string is taken as it is."""
    if isinstance(value, str):
        return text(value)
    return text(dig(value, "attributes", "name")) or text(dig(value, "attributes", "name", "value"))
