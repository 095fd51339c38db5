"""Finch: a unified API over some two hundred payroll and HR systems (Gusto, ADP Run, Paychex ...).

- Connecting: Finch Connect's authorization code. The admin consents at
  ``https://connect.tryfinch.com/authorize?client_id&products&redirect_uri&state`` (the products
  ``PRODUCTS``: company, directory, individual, employment); the code is exchanged at
  ``POST https://api.tryfinch.com/auth/token`` (JSON: client id and secret, code, redirect URI).
  Finch's access tokens do not expire (they stay valid until the employer disconnects): no expiry
  and no refresh token are stored, and a refused token is ``ProviderAuthError`` (reconnect).
  ``GET /introspect`` then names the underlying payroll system (``payroll_provider_id``, newer
  versions ``provider_id``); its id and display name are kept as settings (``provider_id``,
  ``provider_name``) so admins see "Finch (Gusto)". The Finch app's webhook secret (the OAuth
  app's ``webhook_secret``) becomes the connection's.
- Every call sends ``Authorization: Bearer`` and ``Finch-API-Version`` (``API_VERSION``).
- List: ``GET /employer/directory?limit&offset`` (R31: the list ends once the offset reaches
  ``paging.count``; a page shorter than asked while the count says more, or a count that shrinks
  below what was read, is ``IncompleteListing``), then for the page's ids ``POST
  /employer/individual`` and ``/employer/employment`` with ``{"requests": [{"individual_id"}]}``.
  Finch sets no batch limit and asks for as few requests as possible (20 a minute): one batch per
  directory page (``max_page_size``). An answer other than 200 for someone in a full listing
  makes the snapshot incomplete: partial records would blank fields (R15).
- Statuses: ``employment_status`` where the API version sends it (``active``, ``leave``,
  ``onboarding``, ``prehire``, ``terminated``, ``retired``, ``deceased``), else ``is_active`` with
  ``start_date`` / ``end_date``.
- Webhooks: ``finch-event-id``, ``finch-timestamp`` (unix seconds, 300 s tolerance) and
  ``finch-signature: v1,<base64>`` (several, space separated, during a secret rotation): HMAC-SHA256
  keyed with the base64-decoded secret over ``{id}.{timestamp}.{raw body}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from shared.domain.models import Employee, EmployeeStatus
from shared.providers.base import (
    Credentials,
    Directory,
    DirectoryEntry,
    EmployeePage,
    IncompleteListing,
    ProviderAuthError,
    ProviderResponseError,
    ProviderUnavailable,
    Secret,
    Tier,
    WebhookEvent,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import WEBHOOK_SECRET, CredentialField, ProviderKind, describe
from shared.providers.common import (
    Connector,
    ListPage,
    as_list,
    as_object,
    bearer_headers,
    build_employee,
    collect_all,
    cursor_int,
    date_text,
    decode_cursor,
    dig,
    encode_cursor,
    grouping_id,
    iso_day,
    person_name,
    pick,
    record_id,
    reported_int,
    text,
    unique,
)
from shared.providers.http import decode_json
from shared.providers.oauth import Pkce
from shared.providers.status import MappedStatus
from shared.providers.webhooks import (
    body_digest,
    check_unix_timestamp,
    decode_base64,
    header,
    parse_json_object,
    required_header,
)

DEFAULT_BASE = "https://api.tryfinch.com"
DEFAULT_CONNECT = "https://connect.tryfinch.com"
# The version the spec documents (vendor-specs/finch-employer-openapi.yaml); sent on every call.
API_VERSION = "2020-09-17"
# Finch Connect products: the company (its name, departments), the directory, individuals
# (names, emails) and employments (title, department, manager, dates, status).
PRODUCTS = ("company", "directory", "individual", "employment")
# One directory page is one batch of individuals and employments (Finch: no batch limit, "send
# all ids in a single request"); 500 keeps a request's body and answer moderate.
PAGE_SIZE = 500
SIGNATURE_VERSION = "v1"
MAX_LABEL = 120  # a connection's label
_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret

# Finch's provider ids -> the names admins know (others: the id in words).
PROVIDER_NAMES = {
    "adp_run": "ADP Run",
    "adp_workforce_now": "ADP Workforce Now",
    "bamboo_hr": "BambooHR",
    "bamboohr": "BambooHR",
    "bob": "HiBob",
    "gusto": "Gusto",
    "insperity": "Insperity",
    "justworks": "Justworks",
    "namely": "Namely",
    "paychex_flex": "Paychex Flex",
    "paycom": "Paycom",
    "paylocity": "Paylocity",
    "paycor": "Paycor",
    "quickbooks": "QuickBooks",
    "rippling": "Rippling",
    "sage_hr": "Sage HR",
    "sequoia_one": "Sequoia One",
    "square_payroll": "Square Payroll",
    "trinet": "TriNet",
    "ukg_pro": "UKG Pro",
    "workday": "Workday",
    "zenefits": "Zenefits",
}

INDIVIDUAL_FIELDS = ("id", "first_name", "middle_name", "last_name", "preferred_name", "emails")
EMPLOYMENT_FIELDS = (
    "id",
    "first_name",
    "last_name",
    "title",
    "manager",
    "department",
    "employment",
    "employment_status",
    "start_date",
    "end_date",
    "is_active",
    "location",
    "source_id",
)
# R15: what Finch's directory, individual and employment products supply (no avatar, no
# birthday kept: the date of birth is personal data the members never show).
CAPABILITIES = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "employee_number",
        "job_title",
        "department",
        "company",
        "groups",
        "office_location",
        "start_date",
        "termination_date",
        "manager_hris_id",
    }
)

WEBHOOK_KEY = CredentialField(
    WEBHOOK_SECRET,
    "Finch webhook secret",
    "The secret Finch signs webhooks with (Finch dashboard > Webhooks), from the deployment's Finch app.",
    secret=True,
    required=False,
)
PROVIDER_ID = CredentialField(
    "provider_id", "Payroll system id", "Finch's id of the employer's payroll or HR system.", False, False
)
PROVIDER_NAME = CredentialField(
    "provider_name",
    "Payroll system",
    "The payroll or HR system Finch reads for this employer (Gusto, ADP Run ...).",
    False,
    False,
)
COMPANY_ID = CredentialField("company_id", "Finch company id", "The employer's id at Finch.", False, False)
FINCH_CONNECTION_ID = CredentialField(
    "finch_connection_id", "Finch connection id", "The employer's connection at Finch.", False, False
)
GRANTED_PRODUCTS = CredentialField(
    "granted_products", "Granted products", "The Finch products the employer granted.", False, False
)

# Finch event types -> what a targeted plan does (the individual in ``data.individual_id``).
_EVENT_KINDS = {
    "directory.created": WebhookKind.CREATED,
    "directory.updated": WebhookKind.UPDATED,
    "directory.deleted": WebhookKind.DELETED,
    "individual.created": WebhookKind.UPDATED,
    "individual.updated": WebhookKind.UPDATED,
    "individual.deleted": WebhookKind.DELETED,
    "employment.created": WebhookKind.UPDATED,
    "employment.updated": WebhookKind.UPDATED,
    "employment.deleted": WebhookKind.DELETED,
}


def provider_display_name(provider_id: str) -> str:
    """``gusto`` -> "Gusto"; an id this table does not know, in words (``acme_pay`` -> "Acme Pay")."""
    known = PROVIDER_NAMES.get(provider_id.casefold())
    if known:
        return known
    return " ".join(part.capitalize() for part in provider_id.replace("-", "_").split("_") if part)[:80]


def _is_individual_id(value: str) -> bool:
    """Finch ids are UUIDs (v4); anything else in a webhook or a targeted plan is not Finch's."""
    stripped = value.replace("-", "")
    return len(value) <= 36 and len(stripped) == 32 and all(c in "0123456789abcdefABCDEF" for c in stripped)


class Finch(Connector):
    name = "finch"
    tier = Tier.FULL
    capabilities = CAPABILITIES
    supports_webhooks = True
    max_page_size = PAGE_SIZE
    info = describe(
        id=name,
        name="Finch (unified payroll and HR)",
        kind=ProviderKind.UNIFIED,
        tier=tier,
        capabilities=capabilities,
        supports_webhooks=supports_webhooks,
        oauth_stored_fields=(
            WEBHOOK_KEY,
            PROVIDER_ID,
            PROVIDER_NAME,
            COMPANY_ID,
            FINCH_CONNECTION_ID,
            GRANTED_PRODUCTS,
        ),
        oauth=True,
    )
    oauth_settings: frozenset[str] = frozenset()

    # -- HTTP -----------------------------------------------------------------------------------

    def _url(self, credentials: Credentials, path: str) -> str:
        return f"{self.base_url(credentials, DEFAULT_BASE)}{path}"

    def _headers(self, credentials: Credentials) -> dict[str, str]:
        return {**bearer_headers(self.secret(credentials, "access_token")), "Finch-API-Version": API_VERSION}

    def _get(self, credentials: Credentials, path: str, **kwargs: Any) -> Any:
        return self.http.get_json(self._url(credentials, path), headers=self._headers(credentials), **kwargs)

    def _batch(self, credentials: Credentials, path: str, ids: Sequence[str]) -> dict[str, tuple[int, Any]]:
        """``POST path`` with ``{"requests": [{"individual_id"}]}``: individual id -> (code, body)."""
        body = self.http.post_json(
            self._url(credentials, path),
            headers={**self._headers(credentials), "Content-Type": "application/json"},
            json_body={"requests": [{"individual_id": i} for i in ids]},
        )
        answers: dict[str, tuple[int, Any]] = {}
        responses = as_list(
            as_object(body, f"the {path} answer", self.name).get("responses"), path, self.name
        )
        for raw in responses:
            item = as_object(raw, f"a {path} response", self.name)
            individual = text(item.get("individual_id"))
            code = reported_int(item.get("code"))
            if individual is None or code is None:
                raise ProviderResponseError(f"finch: a {path} response without individual_id or code")
            answers[individual] = (code, item.get("body"))
        return answers

    # -- Finch Connect ----------------------------------------------------------------------------

    def start_authorization(
        self, credentials: Credentials, *, redirect_uri: str, state: str, scope: str | None = None
    ) -> tuple[str, Pkce | None]:
        """Finch Connect's authorize URL with the products (space separated); Finch has no PKCE."""
        connect = self.base_url(credentials, DEFAULT_CONNECT, key="oauth_base_url")
        query = {
            "client_id": self.secret(credentials, "client_id").reveal(),
            "products": scope or " ".join(PRODUCTS),
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{connect}/authorize?{urlencode(query)}", None

    def finish_authorization(
        self, credentials: Credentials, *, code: str, redirect_uri: str, verifier: Secret | None
    ) -> Credentials:
        """``POST /auth/token``: the (long-lived) access token; then ``/introspect`` names the
        payroll system. The app's webhook secret becomes the connection's."""
        body = {
            "client_id": self.secret(credentials, "client_id").reveal(),
            "client_secret": self.secret(credentials, "client_secret").reveal(),
            "code": code,
            "redirect_uri": redirect_uri,
        }
        response = self.http.request(
            "POST",
            self._url(credentials, "/auth/token"),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            json_body=body,
            ok_statuses=frozenset({400}),
            idempotent=False,
        )
        if response.status_code == 400:
            raise ProviderAuthError("finch: /auth/token refused the authorization code (HTTP 400)")
        answer = as_object(decode_json(response, self.name), "the /auth/token answer", self.name)
        access = answer.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderResponseError("finch: /auth/token answered without an access_token")
        # Finch's tokens never expire and are never refreshed: the app's client secret is not
        # kept on the connection (least privilege); its webhook secret is.
        secrets = {
            k: v for k, v in credentials.secrets.items() if k not in ("refresh_token", "client_secret")
        }
        secrets["access_token"] = Secret(access)
        settings = {k: v for k, v in credentials.settings.items() if k != "token_expires_at"}
        stored = Credentials(secrets=secrets, settings=settings)
        return self._with_introspection(stored, answer)

    def _with_introspection(self, credentials: Credentials, token_answer: Mapping[str, Any]) -> Credentials:
        """The credentials with what ``/introspect`` (and the token's answer) say about the
        employer: the payroll system, the company, the connection and the products granted."""
        facts = {**token_answer, **as_object(self._get(credentials, "/introspect"), "introspect", self.name)}
        settings = dict(credentials.settings)
        provider = text(facts.get("payroll_provider_id")) or text(facts.get("provider_id"))
        if provider:
            settings[PROVIDER_ID.name] = provider[:80]
            settings[PROVIDER_NAME.name] = provider_display_name(provider)
        for field, keys in (
            (COMPANY_ID, ("company_id",)),
            (FINCH_CONNECTION_ID, ("connection_id", "account_id")),
        ):
            value = next((text(facts.get(k)) for k in keys if text(facts.get(k))), None)
            if value:
                settings[field.name] = value[:120]
        products = facts.get("products")
        if isinstance(products, list):
            settings[GRANTED_PRODUCTS.name] = ",".join(p for p in products if isinstance(p, str))[:500]
        return Credentials(secrets=dict(credentials.secrets), settings=settings)

    def connection_label(self, label: str, credentials: Credentials) -> str:
        """The admin's label with the payroll system Finch reads: "Finch" -> "Finch (Gusto)"."""
        name = credentials.settings.get(PROVIDER_NAME.name)
        named = f"{label} ({name})"
        if not name or name.casefold() in label.casefold() or len(named) > MAX_LABEL:
            return label
        return named

    def check_credentials(self, credentials: Credentials) -> None:
        """``/introspect``: the token is valid for an employer."""
        self._get(credentials, "/introspect")

    def provider_name(self, credentials: Credentials) -> str:
        """The payroll system's name as admins know it (for status reasons)."""
        return credentials.settings.get(PROVIDER_NAME.name) or "the payroll system"

    # -- snapshot -------------------------------------------------------------------------------

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        state = decode_cursor(self.name, cursor)
        offset = cursor_int(state, "o", 0, self.name)
        number = cursor_int(state, "n", 0, self.name) + 1
        body = as_object(
            self._get(
                credentials,
                "/employer/directory",
                params={"limit": str(self.page_size), "offset": str(offset)},
            ),
            "the directory answer",
            self.name,
        )
        individuals = [
            as_object(i, "an individual", self.name)
            for i in as_list(body.get("individuals"), "individuals", self.name)
        ]
        count = reported_int(dig(body, "paging", "count"))
        if count is None:
            raise IncompleteListing("finch: the directory answered without paging.count")
        answered = reported_int(dig(body, "paging", "offset"))
        if answered is not None and answered != offset:
            raise IncompleteListing(f"finch: asked for offset {offset}, the directory answered {answered}")
        seen = offset + len(individuals)
        more = seen < count
        # R31: the end is the offset reaching paging.count; short pages before it are a fault.
        listed = ListPage(
            number=number, asked=self.page_size, got=len(individuals), more=more, seen=seen, total=count
        )
        ended = self.end_of_list(listed, "individuals")
        employees = self._details(credentials, individuals, complete=True)
        following = None if ended else encode_cursor(self.name, {"o": seen, "n": number})
        return EmployeePage(employees, following)

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        wanted = [i for i in unique(ids) if _is_individual_id(i)][: self.page_size]
        if not wanted:
            return EmployeePage([], None)
        return EmployeePage(self._details(credentials, [{"id": i} for i in wanted], complete=False), None)

    def _details(
        self, credentials: Credentials, directory: Sequence[Mapping[str, Any]], *, complete: bool
    ) -> list[Employee]:
        """The individuals and employments of these directory records, mapped.

        In a full listing (``complete``) everyone must come back with 200 from both batches (else
        the snapshot is incomplete); in a targeted plan someone Finch no longer knows (404) is left
        out (the plan leaves them be) and any other refusal is raised."""
        if not directory:
            return []
        ids = [record_id(r, "id", self.name) for r in directory]
        individuals = self._batch(credentials, "/employer/individual", ids)
        employments = self._batch(credentials, "/employer/employment", ids)
        provider = self.provider_name(credentials)
        company_id = credentials.settings.get(COMPANY_ID.name)
        employees: list[Employee] = []
        for record, individual_id in zip(directory, ids, strict=True):
            person = individuals.get(individual_id)
            job = employments.get(individual_id)
            codes = (person[0] if person else None, job[0] if job else None)
            if codes == (200, 200) and person is not None and job is not None:
                employees.append(
                    self.employee(
                        record,
                        as_object(person[1], "an individual", self.name),
                        as_object(job[1], "an employment", self.name),
                        provider=provider,
                        company_id=company_id,
                    )
                )
                continue
            if complete:
                raise IncompleteListing(
                    f"finch: the details of an individual came back {codes[0]}/{codes[1]} "
                    "(individual/employment); the snapshot is incomplete"
                )
            if 404 in codes:
                continue
            if any(c in (429, 500, 502, 503, 504) for c in codes if c is not None):
                raise ProviderUnavailable(f"finch: the individual's details came back {codes[0]}/{codes[1]}")
            raise ProviderResponseError(f"finch: the individual's details came back {codes[0]}/{codes[1]}")
        return employees

    def directory(self, credentials: Credentials) -> Directory:
        """The company (``/employer/company`` where the employer granted the ``company`` product)
        and its departments as groups (``department:<name>``: Finch's departments have names only),
        each counted from the people (R33)."""
        granted = credentials.settings.get(GRANTED_PRODUCTS.name)
        company: dict[str, Any] = {}
        if granted is None or "company" in granted.split(","):
            company = as_object(self._get(credentials, "/employer/company"), "the company", self.name)
        employees, _ = collect_all(self, credentials)
        counts: dict[str, int] = {}
        for e in employees:
            if e.status is EmployeeStatus.TERMINATED:
                continue
            for key in (e.company_id, *e.group_ids):
                if key is not None:
                    counts[key] = counts.get(key, 0) + 1
        company_id = credentials.settings.get(COMPANY_ID.name) or text(company.get("id"))
        companies = []
        if company_id:
            name = text(company.get("legal_name")) or f"The company in {self.provider_name(credentials)}"
            companies.append(
                DirectoryEntry(id=company_id, name=name, kind="company", count=counts.get(company_id, 0))
            )
        departments = {
            department
            for d in company.get("departments") or ()
            if isinstance(d, Mapping) and (department := text(d.get("name")))
        }
        departments |= {e.department for e in employees if e.department}
        groups = [
            DirectoryEntry(id=key, name=department, kind="department", count=counts.get(key, 0))
            for department in departments
            if (key := grouping_id("department", department)) is not None
        ]
        return Directory(
            companies=companies,
            groups=sorted(groups, key=lambda g: (g.name.casefold(), g.id)),
            people=sorted(
                (
                    DirectoryEntry(id=e.hris_id, name=person_name(e))
                    for e in employees
                    if e.status is not EmployeeStatus.TERMINATED
                ),
                key=lambda p: (p.name.casefold(), p.id),
            ),
        )

    # -- mapping ----------------------------------------------------------------------------------

    def employee(
        self,
        directory: Mapping[str, Any],
        individual: Mapping[str, Any],
        employment: Mapping[str, Any],
        *,
        provider: str = "the payroll system",
        company_id: str | None = None,
    ) -> Employee:
        """One Finch individual: names and emails from ``individual``, the job from ``employment``
        (the directory record fills what the employment lacks)."""
        hris_id = record_id(directory, "id", self.name)
        department = text(dig(employment, "department", "name")) or text(dig(directory, "department", "name"))
        manager = dig(employment, "manager") or dig(directory, "manager")
        raw = {
            "directory": pick(directory, ("id", "is_active", "department", "manager")),
            "individual": pick(individual, INDIVIDUAL_FIELDS),
            "employment": pick(employment, EMPLOYMENT_FIELDS),
        }
        return build_employee(
            hris_id=hris_id,
            mapped=finch_status(employment, directory, provider=provider, today=self.today()),
            raw=raw,
            first_name=text(individual.get("first_name")) or text(employment.get("first_name")),
            last_name=text(individual.get("last_name")) or text(employment.get("last_name")),
            email=work_email(individual.get("emails")),
            employee_number=text(employment.get("source_id")),
            job_title=text(employment.get("title")),
            department=department,
            groups=(department,) if department else (),
            group_ids=unique([grouping_id("department", department)]),
            company_id=company_id,
            office_location=_location(employment.get("location")),
            start_date=date_text(employment.get("start_date")),
            termination_date=date_text(employment.get("end_date")),
            manager_hris_id=text(dig(manager, "id")) if isinstance(manager, Mapping) else None,
        )

    # -- webhooks ---------------------------------------------------------------------------------

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        secret: Secret,
        now: datetime,
        *,
        require_signature: bool = False,
    ) -> None:
        """``finch-signature`` (``v1,<base64>``, several space separated during a rotation): HMAC-
        SHA256 keyed with the base64-decoded secret over ``{finch-event-id}.{finch-timestamp}.{raw
        body}``, the timestamp within 300 s, compared in constant time."""
        event_id = required_header(headers, "finch-event-id")
        timestamp = required_header(headers, "finch-timestamp")
        signatures = required_header(headers, "finch-signature")
        check_unix_timestamp(timestamp, now)
        expected = hmac.new(
            _signing_key(secret), f"{event_id}.{timestamp}.".encode() + raw_body, hashlib.sha256
        ).digest()
        matched = False
        for candidate in signatures.split():
            version, _, digest = candidate.partition(",")
            received = decode_base64(digest) if version == SIGNATURE_VERSION and digest else None
            # Every candidate is compared (no early exit): the time taken says nothing.
            matched |= received is not None and hmac.compare_digest(expected, received)
        if not matched:
            raise WebhookRejected("bad signature")

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        body = parse_json_object(raw_body)
        # Finch's event id (signed with the body); a digest of the body where it is missing.
        delivery = text(header(headers, "finch-event-id")) or body_digest(raw_body)
        event_type = text(body.get("event_type"))
        if event_type is None:
            raise WebhookUnparseable("finch: an event without event_type")
        occurred_at = _timestamp(headers)
        kind = _EVENT_KINDS.get(event_type.casefold())
        if kind is None:
            # job.*, account.updated, pay statements ...: authentic, nobody to fetch.
            return WebhookEvent(WebhookKind.PING, (), delivery[:200], occurred_at)
        individual = text(dig(body, "data", "individual_id"))
        if individual is None or not _is_individual_id(individual):
            raise WebhookUnparseable(f"finch: a {event_type[:40]} event without data.individual_id")
        return WebhookEvent(kind, (individual,), delivery[:200], occurred_at)


# ---------------------------------------------------------------------------------------------


def _signing_key(secret: Secret) -> bytes:
    """The HMAC key: the secret base64-decoded (as Finch issues them; an optional ``whsec_``
    prefix dropped). A secret that is not base64 keys the HMAC as it is."""
    value = secret.reveal().strip().removeprefix(_SECRET_PREFIX)
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return secret.reveal().encode()


def _timestamp(headers: Mapping[str, str]) -> datetime | None:
    value = header(headers, "finch-timestamp")
    try:
        return datetime.fromtimestamp(int(value.strip()), UTC) if value else None
    except (ValueError, OverflowError, OSError):
        return None


def work_email(emails: Any) -> str | None:
    """The work email first, else the first other (Finch types them ``work`` / ``personal``)."""
    if not isinstance(emails, list):
        return None
    typed = [(text(dig(e, "type")) or "", text(dig(e, "data"))) for e in emails if isinstance(e, Mapping)]
    for kind, address in typed:
        if kind.casefold() == "work" and address:
            return address
    return next((address for _, address in typed if address), None)


def _location(location: Any) -> str | None:
    if not isinstance(location, Mapping):
        return None
    parts = unique(text(location.get(k)) for k in ("city", "state", "country"))
    return ", ".join(parts) or None


# Finch's ``employment_status`` -> our status and how admins read it ({p}: the payroll system).
_EMPLOYMENT_STATUSES = {
    "active": (EmployeeStatus.ACTIVE, "active in {p}"),
    "leave": (EmployeeStatus.ON_LEAVE, "on leave in {p}"),
    "prehire": (EmployeeStatus.PENDING, "pre-hire in {p}, not started yet"),
    "onboarding": (EmployeeStatus.ACTIVE, "onboarding in {p}"),
    "terminated": (EmployeeStatus.TERMINATED, "terminated in {p}"),
    "retired": (EmployeeStatus.TERMINATED, "retired in {p}"),
    "deceased": (EmployeeStatus.TERMINATED, "deceased in {p}"),
}


def finch_status(
    employment: Mapping[str, Any],
    directory: Mapping[str, Any] | None = None,
    *,
    provider: str = "the payroll system",
    today: date,
) -> MappedStatus:
    """Finch's status in words an admin understands.

    ``employment_status`` where the API version sends it (``_EMPLOYMENT_STATUSES``; ``onboarding``
    is pending until the start date, active from it). Without it (API version 2020-09-17):
    ``is_active`` false -> terminated, true -> active (R02 and R03 hold back a future start and
    apply a passed end date: both dates are mapped)."""
    start, end = iso_day(employment.get("start_date")), iso_day(employment.get("end_date"))
    value = text(employment.get("employment_status"))
    if value is not None:
        known = _EMPLOYMENT_STATUSES.get(value.casefold())
        if known is None:
            return MappedStatus(
                EmployeeStatus.ACTIVE,
                value[:40],
                f"finch: unknown employment status {value[:40]!r} treated as active",
                known=False,
            )
        status, words = known
        reason = words.format(p=provider)
        if value.casefold() == "onboarding" and start is not None and start > today:
            return MappedStatus(EmployeeStatus.PENDING, f"{reason}, starts {start}")
        if status is EmployeeStatus.TERMINATED and end is not None:
            reason = f"{reason} on {end}"
        return MappedStatus(status, reason)
    active = employment.get("is_active")
    if not isinstance(active, bool) and directory is not None:
        active = directory.get("is_active")
    if active is False:
        ended = f" (end date {end})" if end else ""
        return MappedStatus(EmployeeStatus.TERMINATED, f"inactive in {provider}{ended}")
    if active is not True:
        return MappedStatus(
            EmployeeStatus.ACTIVE,
            None,
            "finch: no is_active or employment_status; treated as active",
            known=False,
        )
    return MappedStatus(EmployeeStatus.ACTIVE, f"active in {provider}")
