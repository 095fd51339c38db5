"""Employment Hero: OAuth2 authorization code with PKCE; organisations, then their employees.

- Access tokens live 15 minutes: refreshed before expiry (``token_expires_at``), the rotated
  refresh token handed back in ``EmployeePage.refreshed_credentials``.
- ``GET /api/v1/organisations`` then ``GET /api/v1/organisations/{id}/employees?page_index=n&
  items_per_page=m``; records in ``data.items``. The cursor walks organisation by organisation.
  A list ends on its last page (``page_index`` = ``total_pages``) holding ``total_items`` in all
  (R31); a short page before it, or fewer records than the total, makes the snapshot incomplete.
- No HR webhooks are published: this connector syncs on schedule only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.domain.models import Employee, EmployeeStatus
from shared.providers.base import (
    Credentials,
    Directory,
    DirectoryEntry,
    EmployeePage,
    IncompleteListing,
    InvalidCursor,
    ProviderResponseError,
    Secret,
    Tier,
    WebhookEvent,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import ProviderKind, describe
from shared.providers.common import (
    Connector,
    ListPage,
    answered_as_asked,
    as_list,
    as_object,
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
    pick,
    record_id,
    reported_int,
    text,
    unique,
)
from shared.providers.oauth import Pkce, authorization_url, exchange_code, new_pkce, with_token
from shared.providers.status import MappedStatus, status_map

DEFAULT_BASE = "https://api.employmenthero.com"
DEFAULT_OAUTH_BASE = "https://oauth.employmenthero.com"
PAGE_SIZE = 100
MAX_ORG_PAGES = 1000

STATUSES = status_map(
    "employment_hero",
    active=("active", "employed", "current"),
    pending=("pending", "onboarding", "invited", "hired"),
    on_leave=("on_leave", "on leave", "leave"),
    terminated=("terminated", "inactive", "former", "archived"),
)
# The fields read (kept in Employee.raw); the rest of a record (addresses, phones ...) is dropped.
RAW_FIELDS = (
    "id",
    "first_name",
    "last_name",
    "known_as",
    "company_email",
    "email",
    "employee_number",
    "avatar_url",
    "job_title",
    "employing_entity",
    "teams",
    "location",
    "country",
    "date_of_birth",
    "start_date",
    "termination_date",
    "primary_manager",
    "role",
    "status",
)
CAPABILITIES = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "employee_number",
        "avatar_url",
        "job_title",
        "company",
        "groups",
        "office_location",
        "home_country",
        "birthday",
        "start_date",
        "termination_date",
        "manager_hris_id",
    }
)


class EmploymentHero(Connector):
    name = "employment_hero"
    tier = Tier.FULL
    capabilities = CAPABILITIES
    supports_webhooks = False
    # OAuth only (authorization code with PKCE): no credentials to paste.
    info = describe(
        id=name,
        name="Employment Hero",
        kind=ProviderKind.HRIS,
        tier=tier,
        capabilities=capabilities,
        supports_webhooks=supports_webhooks,
        oauth=True,
    )
    # None asked before the redirect (the organisations come with the admin's consent).
    oauth_settings = frozenset(f.name for f in info.oauth_fields)

    # -- OAuth2 + PKCE ------------------------------------------------------------------------

    def _oauth_base(self, credentials: Credentials) -> str:
        return self.base_url(credentials, DEFAULT_OAUTH_BASE, key="oauth_base_url")

    def _token_url(self, credentials: Credentials) -> str:
        return f"{self._oauth_base(credentials)}/oauth2/token"

    def start_authorization(
        self, credentials: Credentials, *, redirect_uri: str, state: str, scope: str | None = None
    ) -> tuple[str, Pkce | None]:
        """The URL to send the admin to, and the PKCE pair to keep (the verifier is a secret)."""
        pkce = new_pkce()
        url = authorization_url(
            f"{self._oauth_base(credentials)}/oauth2/authorize",
            client_id=self.secret(credentials, "client_id").reveal(),
            redirect_uri=redirect_uri,
            state=state,
            pkce=pkce,
            scope=scope,
        )
        return url, pkce

    def finish_authorization(
        self, credentials: Credentials, *, code: str, redirect_uri: str, verifier: Secret | None
    ) -> Credentials:
        """Exchange the authorization code (with the PKCE verifier) for the connection's tokens."""
        token = exchange_code(
            self.http,
            self._token_url(credentials),
            client_id=self.secret(credentials, "client_id").reveal(),
            client_secret=self.secret(credentials, "client_secret"),
            code=code,
            redirect_uri=redirect_uri,
            verifier=verifier,
            now=self.runtime.now(),
        )
        return with_token(credentials, token)

    def _get(self, credentials: Credentials, path: str, **kwargs: Any) -> tuple[Any, Credentials | None]:
        url = f"{self.base_url(credentials, DEFAULT_BASE)}{path}"
        return self.oauth_get(credentials, url, self._token_url(credentials), **kwargs)

    def check_credentials(self, credentials: Credentials) -> None:
        """One organisation (the first request of every sync)."""
        self._get(credentials, "/api/v1/organisations", params={"page_index": 1, "items_per_page": 1})

    # -- organisations ------------------------------------------------------------------------

    def _organisations(self, credentials: Credentials) -> tuple[list[dict[str, Any]], Credentials]:
        """Every organisation: a missing one would look like all its people left (R31)."""
        organisations: list[dict[str, Any]] = []
        current = credentials
        for page in range(1, MAX_ORG_PAGES + 1):
            body, refreshed = self._get(
                current, "/api/v1/organisations", params={"page_index": page, "items_per_page": PAGE_SIZE}
            )
            current = refreshed or current
            items, listed = _page_of(body, page, PAGE_SIZE, len(organisations))
            organisations.extend(as_object(o, "an organisation", self.name) for o in items)
            if self.end_of_list(listed, "organisations"):
                return organisations, current
        raise IncompleteListing(f"employment_hero: more than {MAX_ORG_PAGES} pages of organisations")

    # -- snapshot -----------------------------------------------------------------------------

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        state = decode_cursor(self.name, cursor)
        current = credentials
        orgs = state.get("orgs")
        if orgs is None:
            organisations, current = self._organisations(credentials)
            orgs = [[record_id(o, "id", self.name), text(o.get("name")) or ""] for o in organisations]
        if not isinstance(orgs, list) or not all(
            isinstance(o, list) and len(o) == 2 and all(isinstance(v, str) for v in o) for o in orgs
        ):
            raise InvalidCursor("employment_hero: malformed cursor")
        index = cursor_int(state, "org", 0, self.name)
        page = cursor_int(state, "page", 1, self.name) or 1
        seen_before = cursor_int(state, "seen", 0, self.name)
        refreshed = current if current is not credentials else None
        if index >= len(orgs):
            return EmployeePage([], None, refreshed)
        org_id, org_name = orgs[index]
        body, new = self._get(
            current,
            f"/api/v1/organisations/{org_id}/employees",
            params={"page_index": page, "items_per_page": self.page_size},
        )
        refreshed = new or refreshed
        items, listed = _page_of(body, page, self.page_size, seen_before)
        employees = [self._employee(as_object(r, "an employee", self.name), org_name, org_id) for r in items]
        if not self.end_of_list(listed, f"employees of organisation {index + 1}"):
            next_state: dict[str, Any] | None = {
                "orgs": orgs,
                "org": index,
                "page": page + 1,
                "seen": listed.seen,
            }
        elif index + 1 < len(orgs):
            next_state = {"orgs": orgs, "org": index + 1, "page": 1}
        else:
            next_state = None
        next_cursor = encode_cursor(self.name, next_state) if next_state else None
        return EmployeePage(employees, next_cursor, refreshed)

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        wanted = [i for i in unique(ids) if len(i) <= 64 and all(c.isalnum() or c == "-" for c in i)]
        if not wanted:
            return EmployeePage([], None)
        organisations, current = self._organisations(credentials)
        employees: list[Employee] = []
        for employee_id in wanted:
            for organisation in organisations:
                org_id = record_id(organisation, "id", self.name)
                base = self.base_url(current, DEFAULT_BASE)
                url = f"{base}/api/v1/organisations/{org_id}/employees/{employee_id}"
                body, refreshed = self.oauth_get(
                    current, url, self._token_url(current), ok_statuses=frozenset({404})
                )
                current = refreshed or current
                record = dig(body, "data")
                if isinstance(record, dict) and text(record.get("id")):
                    employees.append(self._employee(record, text(organisation.get("name")) or "", org_id))
                    break
        return EmployeePage(employees, None, current if current is not credentials else None)

    def directory(self, credentials: Credentials) -> Directory:
        """Companies are the employing entities that scope matches (``employing_entity`` on each
        employee; an employee without one belongs to their organisation), groups the teams of
        ``organisations/{id}/teams``; counts from the employee list read here anyway (R33)."""
        organisations, current = self._organisations(credentials)
        teams: dict[str, str] = {}
        for organisation in organisations:
            org_id = record_id(organisation, "id", self.name)
            body, refreshed = self._get(current, f"/api/v1/organisations/{org_id}/teams")
            current = refreshed or current
            for team in _items(body):
                team_id, team_name = text(dig(team, "id")), text(dig(team, "name"))
                if team_id and team_name:
                    teams.setdefault(team_id, team_name)
        employees, refreshed = collect_all(self, current)
        latest = refreshed or current
        listed = directory_from(employees, self.seen)
        counted = {g.id: g for g in listed.groups}
        groups = [
            counted.get(team_id) or DirectoryEntry(id=team_id, name=name, kind="team", count=0)
            for team_id, name in teams.items()
        ]
        groups.extend(g for g in listed.groups if g.id not in teams)
        return Directory(
            companies=listed.companies,
            groups=sorted(groups, key=lambda g: (g.name.casefold(), g.id)),
            people=listed.people,
            refreshed_credentials=latest if latest is not credentials else None,
        )

    # -- mapping ------------------------------------------------------------------------------

    def _employee(self, record: Mapping[str, Any], org_name: str, org_id: str | None = None) -> Employee:
        raw_status = record.get("status")
        if text(raw_status) is not None:
            mapped = STATUSES.map(raw_status)
        else:
            # No status field: the dates say it (a leaver has a past termination date).
            today = self.today().isoformat()
            ended, starts = text(record.get("termination_date")), text(record.get("start_date"))
            if ended and ended[:10] <= today:
                mapped = MappedStatus(EmployeeStatus.TERMINATED, None)
            elif starts and starts[:10] > today:
                mapped = MappedStatus(EmployeeStatus.PENDING, None)
            elif ended or starts:
                mapped = MappedStatus(EmployeeStatus.ACTIVE, None)  # started, not (yet) left
            else:
                mapped = STATUSES.map(None)  # nothing says it: R04, active and reported
        teams = record.get("teams")
        if not isinstance(teams, list):
            teams = []
        entity = record.get("employing_entity")
        entity_name = _name(entity)
        # R33: the employing entity's id (an employee without one belongs to the organisation).
        if entity_name is not None:
            entity_id = text(dig(entity, "id")) or grouping_id("legal_entity", entity_name)
            company_id = self.seen_as("legal_entity", entity_id, entity_name)
        else:
            company_id = self.seen_as("organisation", org_id, org_name or None)
        team_ids = unique(self.seen_as("team", text(dig(t, "id")), _name(t)) for t in teams)
        return build_employee(
            hris_id=record_id(record, "id", self.name),
            mapped=mapped,
            raw=pick(record, RAW_FIELDS),
            first_name=text(record.get("known_as")) or text(record.get("first_name")),
            last_name=text(record.get("last_name")),
            email=text(record.get("company_email")) or text(record.get("email")),
            employee_number=text(record.get("employee_number")),
            avatar_url=text(record.get("avatar_url")),
            job_title=text(record.get("job_title")),
            company=entity_name or org_name or None,
            groups=unique(_name(t) for t in teams),
            company_id=company_id,
            group_ids=team_ids,
            office_location=_name(record.get("location")),
            home_country=text(record.get("country")),
            birthday=date_text(record.get("date_of_birth")),
            start_date=date_text(record.get("start_date")),
            termination_date=date_text(record.get("termination_date")),
            manager_hris_id=text(dig(record, "primary_manager", "id")),
            hris_role=text(record.get("role")),
        )

    # -- webhooks: none published -------------------------------------------------------------

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        secret: Secret,
        now: datetime,
        *,
        require_signature: bool = False,
    ) -> None:
        raise WebhookRejected("employment_hero publishes no webhooks")

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        raise WebhookUnparseable("employment_hero publishes no webhooks")


def _items(body: Any) -> list[Any]:
    data = as_object(dig(body, "data"), "data", "employment_hero")
    return as_list(data.get("items"), "items", "employment_hero")


def _page_of(body: Any, page: int, asked: int, seen_before: int) -> tuple[list[Any], ListPage]:
    """A page's items and what it says of the end of its list: ``page_index`` of ``total_pages``,
    ``total_items`` in all (R31)."""
    items = _items(body)
    data = as_object(dig(body, "data"), "data", "employment_hero")
    if data.get("total_pages") is None:
        raise IncompleteListing("employment_hero: the page reports no total_pages: its end cannot be told")
    total_pages = reported_int(data["total_pages"])
    if total_pages is None:
        raise ProviderResponseError("employment_hero: total_pages is not a number")
    answered_as_asked("employment_hero", "page_index", page, data.get("page_index"))
    listed = ListPage(
        number=page,
        asked=page_size_used(asked, data.get("item_per_page")),
        got=len(items),
        more=page < total_pages,
        seen=seen_before + len(items),
        total=reported_int(data.get("total_items")),
    )
    return items, listed


def _name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return text(value.get("name"))
    return text(value)
