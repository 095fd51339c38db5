"""Microsoft 365 / Entra ID through Microsoft Graph (PROVIDERS.md, ``msgraph-users-subset-openapi.yaml``).

Auth: app-only. The customer's admin consents to the SaaS team's app once and signs in with OpenID
in the same trip (``/oauth2/v2.0/authorize`` with ``prompt=admin_consent``, ``openid`` and PKCE).
The connection's Entra tenant id is the ``tid`` of the id_token the code is redeemed for, once its
Entra signature (the published JWKS), issuer, audience, nonce and times are verified: never the
``tenant`` a callback URL says (Microsoft signs nothing there: an admin could edit it to another
tenant that consented to the app). Every sync asks ``/{tenant}/oauth2/v2.0/token`` for a
``client_credentials`` token with the app's client id and secret (the token is cached in the
credentials until it expires; there is no refresh token).

Users: ``GET /v1.0/users`` with ``$select`` of every field read (most HR fields are "returned only
on $select": without it every account looks enabled) and ``$expand=manager($select=id)``, paged
by ``@odata.nextLink`` followed verbatim (only to the Graph host it came from). Statuses:
``accountEnabled=false`` or ``employeeLeaveDateTime`` passed -> terminated; ``employeeHireDate``
ahead -> pending; else active; each with a reason an admin understands (``raw_status``). Guests
(``userType`` Guest) are left out unless the connection's setting ``include_guests`` is ``true``.

Groups for scope (R33): Graph groups (``kind`` group, the group's id) and departments (``kind``
department, ``department:<name>``). Group memberships come from each group's members
(``/groups/{id}/members/microsoft.graph.user?$select=id``: one paged list per group, read once per
connector instance), cheaper than ``memberOf`` per user and exact (an expanded ``memberOf`` is cut
at 20).

Delta (``users_delta``): ``/v1.0/users/delta`` ends with an ``@odata.deltaLink`` the connection
keeps (secret ``delta_link``); the next call reads only what changed. ``@removed`` users are gone
(terminated). Delta feeds targeted follow-ups only: nobody is deactivated for being absent (R09).
``changes_since`` (``IncrementalChanges``) names the changed and removed ids for a targeted plan
(a ``missed`` lifecycle notification's catch-up).

Change notifications (``Subscribes``): a subscription on ``users`` (``updated,deleted``) with the
connection's ``clientState`` (secret ``webhook_secret``, random) and a lifecycle URL; deliveries
are checked for that clientState in constant time (Graph signs nothing).
"""

from __future__ import annotations

import secrets as random_secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from shared.domain.models import Employee, EmployeeStatus
from shared.providers.base import (
    ChangesSince,
    Credentials,
    Directory,
    DirectoryEntry,
    EmployeePage,
    IncompleteListing,
    InvalidCursor,
    ProviderAuthError,
    ProviderResponseError,
    Secret,
    Subscription,
    Tier,
    WebhookEvent,
    WebhookKind,
    WebhookRejected,
    WebhookUnparseable,
)
from shared.providers.catalogue import CredentialField, ProviderKind, describe
from shared.providers.common import (
    Connector,
    ListPage,
    as_list,
    as_object,
    bearer_headers,
    build_employee,
    collect_all,
    cursor_history,
    cursor_int,
    date_text,
    decode_cursor,
    dig,
    directory_from,
    encode_cursor,
    follow_cursor,
    grouping_id,
    iso_day,
    pick,
    record_id,
    text,
    unique,
)
from shared.providers.oauth import (
    OAuthToken,
    Pkce,
    authorization_url,
    challenge_for,
    new_pkce,
    token_from,
    with_token,
)
from shared.providers.status import MappedStatus
from shared.providers.webhooks import body_digest, parse_iso_datetime, parse_json_object, same

DEFAULT_BASE = "https://graph.microsoft.com"
DEFAULT_LOGIN = "https://login.microsoftonline.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# The connect asks for the admin's consent to the app's permissions and an OpenID sign-in (the
# id_token names the tenant, signed by Entra).
SIGN_IN_SCOPE = f"openid {GRAPH_SCOPE}"
ID_TOKEN_LEEWAY = 120  # seconds of clock skew tolerated on exp/iat/nbf
# The directory roles (role template ids, in the id_token's ``wids``) that can grant tenant-wide
# consent to Microsoft Graph application permissions: Global Administrator and Privileged Role
# Administrator. Whoever connects a tenant must hold one: once one admin has consented, anyone in
# that tenant could otherwise sign in (leaving out ``prompt=admin_consent``) and connect it.
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
CONSENTING_ROLES = frozenset({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR})
MAX_ROLES = 200
API = "/v1.0"
MAX_PAGE = 999
# Microsoft's limit for user subscriptions is 41,760 minutes; we ask for less and renew daily.
SUBSCRIPTION_LIFETIME = timedelta(days=2, hours=20)
CLIENT_STATE_BYTES = 32  # 256 bits; Graph takes up to 128 characters
MAX_GROUPS = 5_000
_ID_CHARS = frozenset("0123456789abcdefABCDEF-")

# Credential names (settings unless noted).
TENANT = "tenant_id"  # the customer's Entra tenant id (from the admin consent)
INCLUDE_GUESTS = "include_guests"
DELTA_LINK = "delta_link"  # secret: the @odata.deltaLink (it carries a token)
CLIENT_STATE = "webhook_secret"  # secret: the subscription's clientState

SELECT = (
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "accountEnabled",
    "employeeId",
    "employeeHireDate",
    "employeeLeaveDateTime",
    "employeeType",
    "department",
    "jobTitle",
    "officeLocation",
    "companyName",
    "country",
    "userType",
    "createdDateTime",
)
RAW_FIELDS = (*SELECT, "manager")
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
        "home_country",
        "start_date",
        "termination_date",
        "manager_hris_id",
    }
)


@dataclass(frozen=True, slots=True)
class DeltaChanges:
    """What changed since the last delta link: changed users (mapped), removed ids, the new link."""

    employees: Sequence[Employee]
    removed: Sequence[str]
    refreshed_credentials: Credentials


class Microsoft365(Connector):
    name = "microsoft365"
    tier = Tier.BASIC
    capabilities = CAPABILITIES
    supports_webhooks = True
    max_page_size = MAX_PAGE
    info = describe(
        id=name,
        name="Microsoft 365 (Entra ID)",
        kind=ProviderKind.DIRECTORY,
        tier=tier,
        capabilities=capabilities,
        supports_webhooks=supports_webhooks,
        oauth=True,
        oauth_app_only=True,
        oauth_fields=(
            CredentialField(
                TENANT,
                "Entra tenant id",
                "Your Microsoft Entra tenant id or domain; filled in by the admin consent when left empty.",
                secret=False,
                required=False,
            ),
            CredentialField(
                INCLUDE_GUESTS,
                "Include guests",
                "'true' to sync guest accounts (userType Guest); they are left out otherwise.",
                secret=False,
                required=False,
            ),
        ),
        managed_fields=(
            CredentialField(
                DELTA_LINK, "Delta link", "Where the next incremental read starts.", True, required=False
            ),
            CredentialField(
                CLIENT_STATE,
                "Notification client state",
                "The secret Graph echoes in each change notification.",
                True,
                required=False,
            ),
        ),
    )
    oauth_settings = frozenset({TENANT, INCLUDE_GUESTS})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._memberships: dict[str, list[str]] | None = None
        self._groups: dict[str, str] = {}

    # -- admin consent and app tokens ----------------------------------------------------------

    def _login(self, credentials: Credentials) -> str:
        return self.base_url(credentials, DEFAULT_LOGIN, key="oauth_base_url")

    def _graph(self, credentials: Credentials) -> str:
        return self.base_url(credentials, DEFAULT_BASE)

    def start_authorization(
        self, credentials: Credentials, *, redirect_uri: str, state: str, scope: str | None = None
    ) -> tuple[str, Pkce | None]:
        """The v2 authorize URL asking for the admin's consent and an OpenID sign-in at once
        (``prompt=admin_consent``, ``openid`` with the app's ``.default``; PKCE; a nonce derived
        from the PKCE verifier, which stays server-side). The tenant is taken from the signed
        id_token at the callback, never from the callback's query (Microsoft signs none of it)."""
        tenant = _tenant(credentials.settings.get(TENANT) or "organizations")
        pkce = new_pkce()
        url = authorization_url(
            f"{self._login(credentials)}/{tenant}/oauth2/v2.0/authorize",
            client_id=self.secret(credentials, "client_id").reveal(),
            redirect_uri=redirect_uri,
            state=state,
            pkce=pkce,
            scope=scope or SIGN_IN_SCOPE,
            extra={"prompt": "admin_consent", "response_mode": "query", "nonce": _nonce(pkce.verifier)},
        )
        return url, pkce

    def finish_authorization(
        self, credentials: Credentials, *, code: str, redirect_uri: str, verifier: Secret | None
    ) -> Credentials:
        """Redeem the code (with the PKCE verifier) for an id_token, verify it (Entra's signature,
        issuer ``{login}/{tid}/v2.0``, audience our client id, our nonce, times), and keep its
        ``tid`` as the connection's tenant; a tenant named before the redirect must be that one.
        The first app token (client credentials) is the check that the consent took."""
        if verifier is None or not verifier.reveal():
            raise ProviderAuthError("microsoft365: the sign-in has no PKCE verifier")
        client_id = self.secret(credentials, "client_id").reveal()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": self.secret(credentials, "client_secret").reveal(),
            "code_verifier": verifier.reveal(),
            "scope": SIGN_IN_SCOPE,
        }
        url = f"{self._login(credentials)}/organizations/oauth2/v2.0/token"
        response = self.http.request("POST", url, form=form, ok_statuses=frozenset({400}), idempotent=False)
        if response.status_code == 400:
            raise ProviderAuthError("microsoft365: Entra refused the sign-in's code (HTTP 400)")
        try:
            id_token = dig(response.json(), "id_token")
        except ValueError as error:
            raise ProviderResponseError("microsoft365: the token endpoint answered no JSON") from error
        if not isinstance(id_token, str) or not id_token:
            raise ProviderAuthError("microsoft365: the sign-in answered without an id_token")
        tenant = self._signed_in_tenant(credentials, id_token, client_id, _nonce(verifier))
        named = credentials.settings.get(TENANT)
        if named and _is_guid(named) and named.casefold() != tenant.casefold():
            raise ProviderAuthError("microsoft365: the admin signed in to another tenant than the one named")
        consented = Credentials(
            secrets=credentials.secrets, settings={**credentials.settings, TENANT: tenant}
        )
        return with_token(consented, self._app_token(consented))

    def _signed_in_tenant(self, credentials: Credentials, id_token: str, client_id: str, nonce: str) -> str:
        """The ``tid`` of a verified Entra id_token (``ProviderAuthError`` naming why not)."""
        login = self._login(credentials)
        try:
            header = jwt.get_unverified_header(id_token)
        except InvalidTokenError:
            raise ProviderAuthError("microsoft365: the id_token is malformed") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm != "RS256" or not isinstance(kid, str):
            raise ProviderAuthError("microsoft365: the id_token is not RS256 with a key id")
        # Entra's keys, from a fixed address (never one the token names).
        keys = self._get_json(f"{login}/common/discovery/v2.0/keys")
        jwk = next(
            (
                k
                for k in as_list(dig(keys, "keys"), "keys", self.name)
                if isinstance(k, dict) and k.get("kid") == kid
            ),
            None,
        )
        if jwk is None or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            raise ProviderAuthError("microsoft365: the id_token is not signed by an Entra key")
        try:
            key = jwt.PyJWK(dict(jwk), algorithm="RS256").key
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=["RS256"],
                audience=client_id,
                # Times against the runtime's clock (below); the issuer against the token's tid.
                options={
                    "require": ["exp", "iat", "aud", "iss", "tid", "nonce"],
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except (InvalidTokenError, PyJWKError) as error:
            raise ProviderAuthError(
                f"microsoft365: the id_token is refused ({type(error).__name__})"
            ) from None
        now = self.runtime.now().timestamp()
        expires, issued = claims.get("exp"), claims.get("iat")
        if not isinstance(expires, int | float) or not isinstance(issued, int | float):
            raise ProviderAuthError("microsoft365: the id_token has no usable exp or iat")
        if now > expires + ID_TOKEN_LEEWAY or now < issued - ID_TOKEN_LEEWAY:
            raise ProviderAuthError("microsoft365: the id_token is expired or not yet valid")
        tid = claims.get("tid")
        if not isinstance(tid, str) or not _is_guid(tid):
            raise ProviderAuthError("microsoft365: the id_token has no tenant id")
        if claims.get("iss") != f"{login}/{tid}/v2.0":
            raise ProviderAuthError("microsoft365: the id_token's issuer is not its tenant's")
        if not isinstance(claims.get("nonce"), str) or not same(
            nonce.encode("utf-8"), str(claims["nonce"]).encode("utf-8")
        ):
            raise ProviderAuthError("microsoft365: the id_token is not this sign-in's (nonce)")
        _require_consenting_admin(claims.get("wids"))
        return tid

    def _get_json(self, url: str) -> Any:
        """A GET without the app token (Entra's published keys)."""
        response = self.http.request("GET", url)
        try:
            return response.json()
        except ValueError as error:
            raise ProviderResponseError("microsoft365: Entra's keys are not JSON") from error

    def _app_token(self, credentials: Credentials) -> OAuthToken:
        tenant = _tenant(credentials.settings.get(TENANT, ""))
        form = {
            "grant_type": "client_credentials",
            "client_id": self.secret(credentials, "client_id").reveal(),
            "client_secret": self.secret(credentials, "client_secret").reveal(),
            "scope": GRAPH_SCOPE,
        }
        url = f"{self._login(credentials)}/{tenant}/oauth2/v2.0/token"
        response = self.http.request("POST", url, form=form, ok_statuses=frozenset({400}))
        if response.status_code == 400:
            raise ProviderAuthError(
                "microsoft365: Entra refused the app's token request (HTTP 400): is the consent revoked?"
            )
        body = response.json() if response.content else None
        access = dig(body, "access_token")
        if not isinstance(access, str) or not access:
            raise ProviderResponseError("microsoft365: the token endpoint answered without an access_token")
        expires_in = dig(body, "expires_in")
        seconds = (
            float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
            else 0
        )
        expires_at = self.runtime.now() + timedelta(seconds=seconds) if seconds else None
        return OAuthToken(Secret(access), None, expires_at)

    def _token(self, credentials: Credentials, *, renew: bool = False) -> tuple[Secret, Credentials | None]:
        token = token_from(credentials)
        if not renew and token is not None and not token.needs_refresh(self.runtime.now()):
            return token.access_token, None
        fresh = with_token(credentials, self._app_token(credentials))
        stored = token_from(fresh)
        assert stored is not None  # noqa: S101 - with_token just stored it
        return stored.access_token, fresh

    def _call(
        self, credentials: Credentials, method: str, url: str, **kwargs: Any
    ) -> tuple[Any, Credentials | None]:
        """A Graph call with the app token; a 401 gets one new token and one more try."""
        access, refreshed = self._token(credentials)
        try:
            response = self.http.request(method, url, headers=bearer_headers(access), **kwargs)
        except ProviderAuthError:
            if refreshed is not None:
                raise
            access, refreshed = self._token(credentials, renew=True)
            response = self.http.request(method, url, headers=bearer_headers(access), **kwargs)
        if response.status_code == 204 or not response.content:
            return None, refreshed
        try:
            return response.json(), refreshed
        except ValueError as error:
            raise ProviderResponseError("microsoft365: Graph answered a body that is not JSON") from error

    def _follow(self, credentials: Credentials, link: str) -> str:
        """A next or delta link, only when it points back at Graph's own API (it is followed with
        the token: never to another host)."""
        base = self._graph(credentials)
        if not isinstance(link, str) or not link.startswith(f"{base}{API}/"):
            raise ProviderResponseError("microsoft365: a paging link points outside Graph")
        return link

    def check_credentials(self, credentials: Credentials) -> None:
        """One token request and one user (``/users?$top=1``)."""
        self._call(
            credentials,
            "GET",
            f"{self._graph(credentials)}{API}/users",
            params={"$top": "1", "$select": "id"},
        )

    # -- users --------------------------------------------------------------------------------

    def _list_params(self) -> dict[str, str]:
        return {"$select": ",".join(SELECT), "$expand": "manager($select=id)", "$top": str(self.page_size)}

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        state = decode_cursor(self.name, cursor)
        number = cursor_int(state, "n", 1, self.name) or 1
        history = cursor_history(state, self.name)
        seen_before = cursor_int(state, "seen", 0, self.name)
        link = state.get("next")
        if link is not None and not isinstance(link, str):
            raise InvalidCursor("microsoft365: malformed cursor")
        if link is None:
            body, refreshed = self._call(
                credentials, "GET", f"{self._graph(credentials)}{API}/users", params=self._list_params()
            )
        else:
            body, refreshed = self._call(credentials, "GET", self._follow(credentials, link))
        current = refreshed or credentials
        records = [as_object(r, "a user", self.name) for r in as_list(dig(body, "value"), "users", self.name)]
        next_link = dig(body, "@odata.nextLink")
        more = isinstance(next_link, str) and bool(next_link)
        listed = ListPage(number, max(len(records), 1), len(records), more, seen_before + len(records))
        # Graph may serve a page shorter than $top (its documented right): only a repeated link,
        # a loop past the largest company or an empty page claiming more ends the list incomplete.
        if records or not more:
            done = self.end_of_list(listed, "users")
        elif number >= 2 * (self.max_records // max(self.page_size, 1) + 1):
            raise IncompleteListing("microsoft365: Graph kept answering empty pages with a next link")
        else:
            done = False
        employees = self._mapped(current, records)
        if done:
            return EmployeePage(employees, None, refreshed)
        assert isinstance(next_link, str)  # noqa: S101 - more
        self._follow(current, next_link)
        next_state = {
            "next": next_link,
            "n": number + 1,
            "h": follow_cursor(self.name, history, next_link),
            "seen": listed.seen,
        }
        return EmployeePage(employees, encode_cursor(self.name, next_state), refreshed)

    def _mapped(self, credentials: Credentials, records: Sequence[Mapping[str, Any]]) -> list[Employee]:
        guests = credentials.settings.get(INCLUDE_GUESTS, "").casefold() == "true"
        kept = [r for r in records if guests or str(r.get("userType") or "Member").casefold() != "guest"]
        if not kept:
            return []
        memberships = self._group_memberships(credentials)
        return [self.employee(r, memberships) for r in kept]

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        """Each user by id; one Graph no longer has (404) is gone from the directory: terminated
        (an explicit answer about that user, never absence from a listing, R09)."""
        wanted = [i for i in unique(ids) if _is_guid(i)]
        current = credentials
        records: list[dict[str, Any]] = []
        gone: list[str] = []
        params = {"$select": ",".join(SELECT), "$expand": "manager($select=id)"}
        for user_id in wanted:
            url = f"{self._graph(current)}{API}/users/{quote(user_id)}"
            body, refreshed = self._call(current, "GET", url, params=params, ok_statuses=frozenset({404}))
            current = refreshed or current
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                records.append(body)
            else:
                gone.append(user_id)
        employees = self._mapped(current, records) + [self.removed(i, "deleted") for i in gone]
        return EmployeePage(employees, None, current if current is not credentials else None)

    def users_delta(self, credentials: Credentials) -> DeltaChanges:
        """What changed since the connection's delta link (everyone, the first time); the new
        link is in the returned credentials. Updated users may carry only changed properties:
        the changed ids are re-read whole (``get_employees``), never merged from partial records."""
        changed, removed, fresh = self._delta(credentials)
        page = self.get_employees(fresh, changed)
        fresh = page.refreshed_credentials or fresh
        gone = [self.removed(i, "deleted") for i in removed]
        return DeltaChanges([*page.employees, *gone], removed, fresh)

    def changes_since(self, credentials: Credentials) -> ChangesSince:
        """``IncrementalChanges``: the ids the delta names (changed and ``@removed``), read by the
        caller's targeted plan; ``baseline`` when no delta link was kept (the read listed everyone)."""
        link = credentials.secrets.get(DELTA_LINK)
        changed, removed, fresh = self._delta(credentials)
        return ChangesSince(
            tuple(unique([*changed, *removed])), fresh, baseline=link is None or not link.reveal()
        )

    def _delta(self, credentials: Credentials) -> tuple[list[str], tuple[str, ...], Credentials]:
        """The delta read to its end: (changed ids, removed ids, credentials with the new link)."""
        link = credentials.secrets.get(DELTA_LINK)
        current = credentials
        changed: list[str] = []
        removed: list[str] = []
        history: list[str] = []
        if link is None or not link.reveal():
            url = f"{self._graph(current)}{API}/users/delta"
            body, refreshed = self._call(current, "GET", url, params={"$select": ",".join(SELECT)})
        else:
            body, refreshed = self._call(current, "GET", self._follow(current, link.reveal()))
        for _ in range(self.max_records):
            current = refreshed or current
            for record in as_list(dig(body, "value"), "users", self.name):
                user_id = record_id(as_object(record, "a user", self.name), "id", self.name)
                (removed if isinstance(record.get("@removed"), dict) else changed).append(user_id)
            delta_link, next_link = dig(body, "@odata.deltaLink"), dig(body, "@odata.nextLink")
            if isinstance(delta_link, str) and delta_link:
                fresh = Credentials(
                    secrets={**current.secrets, DELTA_LINK: Secret(self._follow(current, delta_link))},
                    settings=current.settings,
                )
                removed_set = set(removed)
                return [i for i in unique(changed) if i not in removed_set], tuple(unique(removed)), fresh
            if not isinstance(next_link, str) or not next_link:
                raise IncompleteListing("microsoft365: a delta page without a next or delta link")
            history = follow_cursor(self.name, history, next_link)
            body, refreshed = self._call(current, "GET", self._follow(current, next_link))
        raise IncompleteListing("microsoft365: the delta never ended")

    # -- directory (R33) ----------------------------------------------------------------------

    def _paged(
        self, credentials: Credentials, url: str, params: Mapping[str, str] | None
    ) -> Iterator[dict[str, Any]]:
        body, _ = self._call(credentials, "GET", url, params=params)
        history: list[str] = []
        for _page in range(self.max_records):
            for item in as_list(dig(body, "value"), "items", self.name):
                yield as_object(item, "an item", self.name)
            next_link = dig(body, "@odata.nextLink")
            if not isinstance(next_link, str) or not next_link:
                return
            history = follow_cursor(self.name, history, next_link)
            body, _ = self._call(credentials, "GET", self._follow(credentials, next_link))
        raise IncompleteListing("microsoft365: a list never ended")

    def _group_memberships(self, credentials: Credentials) -> dict[str, list[str]]:
        """User id -> the ids of the groups they are a direct member of (read once per instance)."""
        if self._memberships is not None:
            return self._memberships
        graph = f"{self._graph(credentials)}{API}"
        memberships: dict[str, list[str]] = {}
        groups = self._paged(
            credentials, f"{graph}/groups", {"$select": "id,displayName", "$top": str(MAX_PAGE)}
        )
        for count, group in enumerate(groups):
            if count >= MAX_GROUPS:
                raise IncompleteListing(f"microsoft365: more than {MAX_GROUPS} groups")
            group_id = record_id(group, "id", self.name)
            self._groups[group_id] = text(group.get("displayName")) or group_id
            members = self._paged(
                credentials,
                f"{graph}/groups/{quote(group_id)}/members/microsoft.graph.user",
                {"$select": "id", "$top": str(MAX_PAGE)},
            )
            for member in members:
                memberships.setdefault(record_id(member, "id", self.name), []).append(group_id)
        self._memberships = memberships
        return memberships

    def directory(self, credentials: Credentials) -> Directory:
        """Groups (every Graph group, with its members who are not terminated) and departments."""
        employees, refreshed = collect_all(self, credentials)
        listed = directory_from(employees, self.seen)
        counted = {g.id: g for g in listed.groups}
        groups = [
            counted.get(group_id) or DirectoryEntry(id=group_id, name=name, kind="group", count=0)
            for group_id, name in self._groups.items()
        ]
        groups.extend(g for g in listed.groups if g.id not in self._groups)
        return Directory(
            companies=listed.companies,
            groups=sorted(groups, key=lambda g: (g.name.casefold(), g.id)),
            people=listed.people,
            refreshed_credentials=refreshed,
        )

    # -- mapping ------------------------------------------------------------------------------

    def status(self, record: Mapping[str, Any]) -> MappedStatus:
        """R03 with the reason an admin understands (``raw_status``)."""
        today = self.today()
        enabled = record.get("accountEnabled")
        left = iso_day(record.get("employeeLeaveDateTime"))
        hired = iso_day(record.get("employeeHireDate"))
        if enabled is False:
            return MappedStatus(
                EmployeeStatus.TERMINATED, "account disabled in Microsoft 365 (accountEnabled=false)"
            )
        if left is not None and left <= today:
            return MappedStatus(
                EmployeeStatus.TERMINATED, f"left on {left.isoformat()} (employeeLeaveDateTime)"
            )
        if hired is not None and hired > today:
            return MappedStatus(EmployeeStatus.PENDING, f"starts on {hired.isoformat()} (employeeHireDate)")
        if enabled is True:
            return MappedStatus(EmployeeStatus.ACTIVE, "account enabled")
        return MappedStatus(
            EmployeeStatus.ACTIVE,
            None,
            "microsoft365: accountEnabled missing (not selected?); treated as active",
            known=False,
        )

    def employee(
        self, record: Mapping[str, Any], memberships: Mapping[str, list[str]] | None = None
    ) -> Employee:
        user_id = record_id(record, "id", self.name)
        department = text(record.get("department"))
        department_id = self.seen_as("department", grouping_id("department", department), department)
        group_ids = [*(memberships or {}).get(user_id, ())]
        for group_id in group_ids:
            self.seen_as("group", group_id, self._groups.get(group_id, group_id))
        names = [self._groups.get(g, g) for g in group_ids]
        return build_employee(
            hris_id=user_id,
            mapped=self.status(record),
            raw=pick(record, RAW_FIELDS),
            first_name=text(record.get("givenName")),
            last_name=text(record.get("surname")),
            email=text(record.get("mail")) or text(record.get("userPrincipalName")),
            employee_number=text(record.get("employeeId")),
            job_title=text(record.get("jobTitle")),
            department=department,
            company=text(record.get("companyName")),
            groups=unique([department, *names]),
            group_ids=unique([department_id, *group_ids]),
            office_location=text(record.get("officeLocation")),
            home_country=text(record.get("country")),
            start_date=date_text(record.get("employeeHireDate")),
            termination_date=date_text(record.get("employeeLeaveDateTime")),
            manager_hris_id=text(dig(record, "manager", "id")),
        )

    def removed(self, user_id: str, reason: str) -> Employee:
        """A user Graph says is gone (``@removed``, a 404 or a ``deleted`` notification)."""
        why = (
            "deleted from Microsoft 365"
            if reason == "deleted"
            else "removed from Microsoft 365 (restorable for 30 days)"
        )
        return build_employee(
            hris_id=user_id,
            mapped=MappedStatus(EmployeeStatus.TERMINATED, why),
            raw={"id": user_id, "@removed": {"reason": reason}},
        )

    # -- change notifications (Subscribes) ----------------------------------------------------

    def subscribe(self, credentials: Credentials, notification_url: str) -> tuple[Subscription, Credentials]:
        """A subscription on ``users`` with a fresh clientState (kept in the returned credentials)."""
        state = random_secrets.token_urlsafe(CLIENT_STATE_BYTES)
        body = {
            "changeType": "updated,deleted",
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": notification_url,
            "resource": "users",
            "expirationDateTime": _graph_time(self.runtime.now() + SUBSCRIPTION_LIFETIME),
            "clientState": state,
        }
        answer, refreshed = self._call(
            credentials,
            "POST",
            f"{self._graph(credentials)}{API}/subscriptions",
            json_body=body,
            idempotent=False,
        )
        current = refreshed or credentials
        stored = Credentials(
            secrets={**current.secrets, CLIENT_STATE: Secret(state)}, settings=current.settings
        )
        return _subscription(answer), stored

    def renew(self, credentials: Credentials, subscription: Subscription) -> Subscription:
        url = f"{self._graph(credentials)}{API}/subscriptions/{quote(subscription.id)}"
        body = {"expirationDateTime": _graph_time(self.runtime.now() + SUBSCRIPTION_LIFETIME)}
        answer, _ = self._call(credentials, "PATCH", url, json_body=body)
        return _subscription(answer)

    def unsubscribe(self, credentials: Credentials, subscription: Subscription) -> None:
        url = f"{self._graph(credentials)}{API}/subscriptions/{quote(subscription.id)}"
        self._call(credentials, "DELETE", url, ok_statuses=frozenset({404}))

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        secret: Secret,
        now: datetime,
        *,
        require_signature: bool = False,
    ) -> None:
        """Every notification in the collection carries the connection's clientState (constant time)."""
        try:
            items = _notifications(raw_body)
        except WebhookUnparseable:
            raise WebhookRejected("not a change notification carrying a clientState") from None
        expected = secret.reveal().encode("utf-8")
        for item in items:
            given = item.get("clientState")
            if not isinstance(given, str) or not same(expected, given.encode("utf-8")):
                raise WebhookRejected("bad clientState")

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        """Change notifications name users (``resourceData.id``); lifecycle events name none and
        are read by ``lifecycle_events``."""
        items = _notifications(raw_body)
        ids: list[str] = []
        deleted = False
        for item in items:
            if item.get("lifecycleEvent") is not None:
                continue
            user_id = dig(item, "resourceData", "id")
            if isinstance(user_id, str) and _is_guid(user_id):
                ids.append(user_id)
                deleted = deleted or item.get("changeType") == "deleted"
        kind = WebhookKind.DELETED if deleted else WebhookKind.UPDATED
        if not ids:
            kind = WebhookKind.PING
        return WebhookEvent(kind, unique(ids), body_digest(raw_body))

    def lifecycle_events(self, raw_body: bytes) -> tuple[tuple[str, str], ...]:
        """(lifecycleEvent, subscriptionId) of each lifecycle notification in a delivery."""
        found: list[tuple[str, str]] = []
        for item in _notifications(raw_body):
            event, subscription = item.get("lifecycleEvent"), item.get("subscriptionId")
            if isinstance(event, str) and isinstance(subscription, str):
                found.append((event, subscription))
        return tuple(found)


def _notifications(raw_body: bytes) -> list[dict[str, Any]]:
    body = parse_json_object(raw_body)
    value = body.get("value")
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise WebhookUnparseable("microsoft365: not a change notification collection")
    return value


def _subscription(answer: Any) -> Subscription:
    subscription_id = dig(answer, "id")
    expires = parse_iso_datetime(dig(answer, "expirationDateTime"))
    if not isinstance(subscription_id, str) or not subscription_id or expires is None:
        raise ProviderResponseError("microsoft365: the subscription answer has no id or expiry")
    return Subscription(
        id=subscription_id, expires_at=expires, resource=text(dig(answer, "resource")) or "users"
    )


def _graph_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_guid(value: str) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and all(c in _ID_CHARS for c in value)


def _require_consenting_admin(roles: Any) -> None:
    """The signed-in user holds a role that can consent for the tenant (``CONSENTING_ROLES``).

    Entra puts the user's directory roles in ``wids`` when the app registration asks for them
    (token configuration: groups claim "Directory roles", manifest ``groupMembershipClaims``
    ``DirectoryRole`` or ``All``); without them nobody can be told apart from an administrator."""
    if not isinstance(roles, list):
        raise ProviderAuthError(
            "microsoft365: the sign-in names no directory roles (wids); the app registration must "
            "include directory roles in its tokens (groupMembershipClaims: DirectoryRole)"
        )
    held = {r.casefold() for r in roles[:MAX_ROLES] if isinstance(r, str)}
    if not held & CONSENTING_ROLES:
        raise ProviderAuthError(
            "microsoft365: only a Global Administrator or Privileged Role Administrator of the "
            "tenant can connect it; sign in as one"
        )


def _nonce(verifier: Secret) -> str:
    """The OpenID nonce of a sign-in: derived from its PKCE verifier (secret, kept server-side with
    the pending authorization), so an id_token from any other sign-in does not fit."""
    return challenge_for(f"nonce:{verifier.reveal()}")


def _tenant(value: str) -> str:
    """A tenant id (a GUID), a verified domain or ``organizations``; nothing that alters the URL."""
    cleaned = value.strip()
    if not cleaned or len(cleaned) > 255 or not all(c.isalnum() or c in ".-" for c in cleaned):
        raise ProviderAuthError("microsoft365: the connection has no usable Entra tenant id")
    parts = urlsplit(f"https://x/{cleaned}")
    if parts.path != f"/{cleaned}":
        raise ProviderAuthError("microsoft365: the connection has no usable Entra tenant id")
    return cleaned
