"""HiBob: ``POST /v1/people/search`` with a service user (HTTP Basic); no paging, one page.

- Everyone, inactive included (``showInactive``), arrives in one ``employees[]``: the snapshot is
  a single page. The API allows 50 requests a minute and answers 429 beyond: the shared retry
  layer honours ``Retry-After``.
- Webhooks (v2) are metadata only (``{type, triggeredAt, data{employeeId}}``): the worker fetches
  the employee after. A test ping arrives as ``Ping test`` or ``{"text": "Ping test"}``.
- The signing scheme is not publicly confirmed: a ``bob-signature`` header (HMAC-SHA256 of the raw
  body, base64 or hex) is verified when present, and required when the connection says so
  (``HiBob(require_signature=True)``, or per delivery with ``verify_webhook(...,
  require_signature=True)``, which the intake passes from the connection's setting).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.domain.models import Employee
from shared.providers.base import (
    Credentials,
    Directory,
    EmployeePage,
    InvalidCursor,
    Secret,
    Tier,
    WebhookEvent,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import CredentialField, ProviderKind, describe, webhook_secret_field
from shared.providers.common import (
    Connector,
    as_list,
    as_object,
    build_employee,
    date_text,
    directory_from,
    grouping_id,
    record_id,
    text,
    unique,
)
from shared.providers.status import status_map
from shared.providers.webhooks import (
    as_id,
    body_digest,
    decode_base64,
    decode_hex,
    header,
    hmac_sha256,
    parse_iso_datetime,
    parse_json,
    same,
)

DEFAULT_BASE = "https://api.hibob.com"
FIELDS = (
    "root.id",
    "root.firstName",
    "root.surname",
    "root.email",
    "root.avatarUrl",
    "work.reportsTo.id",
    "work.department",
    "work.title",
    "work.site",
    "work.startDate",
    "work.employeeIdInCompany",
    "internal.status",
    "internal.lifecycleStatus",
    "internal.terminationDate",
    "address.country",
    "personal.birthDate",
)
PING = "ping test"

LIFECYCLE = status_map(
    "hibob",
    active=("employed",),
    pending=("hired",),
    on_leave=("garden leave", "leave", "on leave"),
    terminated=("terminated", "inactive"),
)
STATUS = status_map("hibob", active=("active",), terminated=("inactive",))
CAPABILITIES = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "employee_number",
        "avatar_url",
        "job_title",
        "department",
        "groups",
        "office_location",
        "home_country",
        "birthday",
        "start_date",
        "termination_date",
        "manager_hris_id",
    }
)
SERVICE_USER_ID = CredentialField(
    "service_user_id",
    "Service user ID",
    "In Bob, Settings > Integrations > Automation > Service users > Create, then copy its ID. Add "
    "the service user to a permission group that can view all employees' basic, work and lifecycle "
    "details, former employees included.",
    secret=True,
)
SERVICE_USER_TOKEN = CredentialField(
    "service_user_token",
    "Service user token",
    "Shown once, with the ID, when the service user is created.",
    True,
)
WEBHOOK_SECRET = webhook_secret_field(
    "Webhook signing secret",
    "Optional, for changes within minutes: the secret you set on the webhook in Bob (Settings > "
    "Integrations > Automation > Webhooks); Bob then signs each event with it (bob-signature).",
)
_KINDS = {
    "employee.created": WebhookKind.CREATED,
    "employee.updated": WebhookKind.UPDATED,
    "employee.deleted": WebhookKind.DELETED,
}


class HiBob(Connector):
    name = "hibob"
    tier = Tier.FULL
    capabilities = CAPABILITIES
    supports_webhooks = True
    info = describe(
        id=name,
        name="HiBob",
        kind=ProviderKind.HRIS,
        tier=tier,
        capabilities=capabilities,
        supports_webhooks=supports_webhooks,
        api_key_fields=(SERVICE_USER_ID, SERVICE_USER_TOKEN, WEBHOOK_SECRET),
    )

    def __init__(self, *, require_signature: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.require_signature = require_signature

    def check_credentials(self, credentials: Credentials) -> None:
        """The people search the sync makes, for current employees' ids only (HiBob's search has
        no paging: this is its lightest form)."""
        self._post_search(credentials, {"fields": ["root.id"], "filters": [], "showInactive": False})

    def _post_search(self, credentials: Credentials, body: dict[str, Any]) -> Any:
        user = self.secret(credentials, "service_user_id")
        token = self.secret(credentials, "service_user_token")
        return self.http.post_json(
            f"{self.base_url(credentials, DEFAULT_BASE)}/v1/people/search",
            json_body=body,
            auth=(user.reveal(), token.reveal()),
            headers={"Accept": "application/json"},
        )

    def _search(self, credentials: Credentials, filters: list[dict[str, Any]]) -> list[Employee]:
        body = self._post_search(
            credentials, {"fields": list(FIELDS), "filters": filters, "showInactive": True}
        )
        records = as_list(
            as_object(body, "the search response", self.name).get("employees"), "employees", self.name
        )
        return [self._employee(as_object(r, "an employee", self.name)) for r in records]

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        if cursor is not None:
            raise InvalidCursor("hibob: the snapshot is a single page; no cursor was issued")
        return EmployeePage(self._search(credentials, []), None)

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        wanted = list(unique(ids))
        if not wanted:
            return EmployeePage([], None)
        filters = [{"fieldPath": "root.id", "operator": "equals", "values": wanted}]
        return EmployeePage(self._search(credentials, filters), None)

    def directory(self, credentials: Credentials) -> Directory:
        return directory_from(self._search(credentials, []), self.seen)

    # -- mapping ------------------------------------------------------------------------------

    def _employee(self, record: Mapping[str, Any]) -> Employee:
        lifecycle = _field(record, "internal", "lifecycleStatus")
        mapped = (
            LIFECYCLE.map(lifecycle) if text(lifecycle) else STATUS.map(_field(record, "internal", "status"))
        )
        department = text(_field(record, "work", "department"))
        return build_employee(
            hris_id=record_id({"id": _field(record, "root", "id")}, "id", self.name),
            mapped=mapped,
            raw=dict(record),
            first_name=text(_field(record, "root", "firstName")),
            last_name=text(_field(record, "root", "surname")),
            email=text(_field(record, "root", "email")),
            employee_number=text(_field(record, "work", "employeeIdInCompany")),
            avatar_url=text(_field(record, "root", "avatarUrl")),
            job_title=text(_field(record, "work", "title")),
            department=department,
            groups=unique((department,)),
            office_location=text(_field(record, "work", "site")),
            home_country=text(_field(record, "address", "country")),
            birthday=date_text(_field(record, "personal", "birthDate")),
            start_date=date_text(_field(record, "work", "startDate")),
            termination_date=date_text(_field(record, "internal", "terminationDate")),
            manager_hris_id=text(_field(record, "work", "reportsTo", "id")),
            # R33: the search answers the department's name (no id): ``department:<name>``.
            group_ids=unique(
                (self.seen_as("department", grouping_id("department", department), department),)
            ),
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
        signature = header(headers, "bob-signature")
        if signature is None or not signature.strip():
            if self.require_signature or require_signature:
                raise WebhookRejected("missing bob-signature header")
            return
        expected = hmac_sha256(secret, raw_body)
        signature = signature.strip()
        for decoded in (decode_base64(signature), decode_hex(signature)):
            if decoded is not None and same(expected, decoded):
                return
        raise WebhookRejected("bad signature")

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        delivery = body_digest(raw_body)
        if raw_body.strip().strip(b'"').decode("utf-8", "replace").strip().casefold() == PING:
            return WebhookEvent(WebhookKind.PING, (), delivery)
        body = parse_json(raw_body)
        if isinstance(body, str) and body.strip().casefold() == PING:
            return WebhookEvent(WebhookKind.PING, (), delivery)
        if not isinstance(body, dict):
            raise WebhookUnparseable("hibob: body is not a JSON object")
        if isinstance(body.get("text"), str) and body["text"].strip().casefold() == PING:
            return WebhookEvent(WebhookKind.PING, (), delivery)
        event_type = text(body.get("type"))
        data = body.get("data")
        if not isinstance(data, dict):
            data = {}
        employee_id = as_id(data.get("employeeId")) or as_id(data.get("id"))
        if event_type is None or employee_id is None:
            raise WebhookUnparseable("hibob: event without type or data.employeeId")
        # Lifecycle events (joined, terminated, leave ...) change the person: fetch them again.
        kind = _KINDS.get(event_type, WebhookKind.UPDATED)
        event_id = as_id(body.get("id"))
        return WebhookEvent(
            kind,
            (employee_id,),
            f"hibob:{event_id}" if event_id else delivery,
            parse_iso_datetime(body.get("triggeredAt")),
        )


def _field(record: Mapping[str, Any], *path: str) -> Any:
    """A field nested by category (``work.title``) or flat (``"work.title"``, ``"/work/title"``).

    ``root`` fields sit at the top level of a record (``id``, ``firstName``).
    """
    nested: Any = record
    steps = path[1:] if path[0] == "root" else path
    for step in steps:
        nested = nested.get(step) if isinstance(nested, Mapping) else None
    if nested is not None:
        return nested
    dotted = ".".join(path)
    if dotted in record:
        return record[dotted]
    return record.get("/" + "/".join(path))
