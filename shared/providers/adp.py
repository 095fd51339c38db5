"""ADP Workforce Now: OAuth2 client credentials over mutual TLS, ``/hr/v2/workers`` by
``$top``/``$skip``, and ADP's event notification queue for near-real-time changes.

- Mutual TLS: every call (the token's and the API's) presents the client certificate ADP issued
  from the customer's certificate signing request (secrets ``client_certificate`` and
  ``client_key``, PEM). Python's ``ssl`` loads a certificate chain only from files, so both are
  written to a private temporary folder (0700, files 0600), loaded and deleted at once; they never
  stay on disk. One HTTP client per certificate (``_tls_client``): a connector that sees the same
  credentials many times opens one connection pool, a renewed certificate gets a new one. A
  certificate or key that is not PEM, a key that does not match the certificate, or a certificate
  past its end date is ``ProviderSettingsError`` (connect answers 4xx naming what is wrong, never
  the PEM).
- Trust: the system's CAs. The internal setting ``ca_certificate`` (a PEM trust anchor) replaces
  them only when every host the connection talks to is loopback (the fake HR server, which
  makes its own CA); for any other host it is refused (``ProviderSettingsError``): a connection's
  settings must never be able to make the connector trust a certificate authority of their own
  for ADP's real hosts.
- Token: ``POST {oauth_base_url}/auth/oauth/v2/token`` with ``grant_type=client_credentials`` and
  Basic ``client_id:client_secret`` -> ``{access_token, expires_in}`` (about an hour), cached per
  connector and handed back through the token keeper (``Connector.granted_token``).
- List: ``GET /hr/v2/workers?$top=100&$skip=N`` with ``Accept: application/json;masked=false``.
  ADP reports no total: its end is an empty ``workers``, HTTP 204, or a page shorter than
  ``$top``. A short page is confirmed before the list ends (R31): the next ``$skip`` must answer
  204 or no workers, else the list broke its paging (a page that lost records, or a ``$top``
  capped below what was asked) and the snapshot is incomplete instead of missing people. A page
  that starts with a worker an earlier page started with (the first page served again) is
  incomplete too.
- Statuses: the primary work assignment's ``assignmentStatus`` (``A`` active, ``L`` leave, ``T``
  terminated, ``D`` deceased) and ``workerStatus`` (``Active``, ``Inactive``, ``Terminated``, any
  case); an active worker whose hire date is still ahead is pending. Reasons an admin reads come
  with them; ADP's reason codes (medical leave, attendance ...) are never kept: they are
  sensitive HR data the members do not need.
- Event notifications (``EventQueue``): ``GET /core/v1/event-notification-messages`` answers the
  queue's head message (header ``adp-msg-msgid``) or 204 (404 before August 2020) when it is
  empty; ``DELETE /core/v1/event-notification-messages/{msgid}`` removes it. The workers an event
  names (``data.eventContext.worker.associateOID``, ``data.eventContext.associateOID``,
  ``data.output.worker(s)``) are re-read by a targeted plan: ``output`` may hold only the part
  that changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import ssl
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from shared.domain.models import Employee, EmployeeStatus
from shared.providers.base import (
    Credentials,
    Directory,
    EmployeePage,
    IncompleteListing,
    ProviderAuthError,
    ProviderResponseError,
    ProviderSettingsError,
    QueuedMessage,
    Secret,
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
    is_loopback_host,
    iso_day,
    pick,
    record_id,
    text,
    unique,
)
from shared.providers.http import HttpClient, decode_json, without_lone_surrogates
from shared.providers.oauth import OAuthToken
from shared.providers.status import MappedStatus
from shared.providers.webhooks import parse_iso_datetime

DEFAULT_BASE = "https://api.adp.com"
DEFAULT_OAUTH = "https://accounts.adp.com"
TOKEN_PATH = "/auth/oauth/v2/token"  # noqa: S105 - a path, not a secret
WORKERS_PATH = "/hr/v2/workers"
EVENTS_PATH = "/core/v1/event-notification-messages"
# ADP unmasks fields it masks by default when the client's consent allows it.
WORKERS_ACCEPT = "application/json;masked=false"
MESSAGE_ID_HEADER = "adp-msg-msgid"
# WFN's largest $top (third-party documentation; a smaller cap is caught by the short page check).
PAGE_SIZE = 100
TOKEN_SKEW = timedelta(minutes=5)
DEFAULT_TOKEN_LIFETIME = 3600
VENDOR = "ADP Workforce Now"
CA_SETTING = "ca_certificate"

# An associate OID as ADP issues them (16 letters and digits in every sample; a little slack).
_AOID = re.compile(r"^[A-Za-z0-9]{6,64}$")
# A message id goes into a path, percent-encoded as one segment (``quote(safe="")``): any printable
# ASCII but spaces (ADP documents no format, and a head message whose id we refused could never be
# acknowledged: it would stop every poll), bounded, never a dot segment.
_MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,512}$")
_DOT_SEGMENTS = frozenset({".", ".."})
_PROBLEM_MAX = 200

CAPABILITIES = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "employee_number",
        "job_title",
        "department",
        "groups",
        "office_location",
        "start_date",
        "termination_date",
        "manager_hris_id",
    }
)

_CREDENTIALS_HELP = (
    "From ADP Marketplace or your ADP representative: the API project's client ID for this "
    "Workforce Now company."
)
CLIENT_ID = CredentialField("client_id", "Client ID", _CREDENTIALS_HELP, secret=True)
CLIENT_SECRET = CredentialField(
    "client_secret", "Client secret", "Issued with the client ID (ADP API Central or Marketplace).", True
)
CLIENT_CERTIFICATE = CredentialField(
    "client_certificate",
    "Client certificate (PEM)",
    "The certificate ADP signed from your certificate signing request (CSR), PEM text starting with "
    "-----BEGIN CERTIFICATE-----. ADP certificates expire (usually after two years): paste the "
    "renewed one here before then, with its key if you made a new CSR.",
    secret=True,
)
CLIENT_KEY = CredentialField(
    "client_key",
    "Private key (PEM)",
    "The private key you made with the CSR (PEM, not password-protected), starting with "
    "-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----. It never leaves this service.",
    secret=True,
)

# Event names -> what a targeted plan does with the workers they name. A hire is a new worker;
# every other change re-reads the worker (``output`` may carry only the changed part).
_CREATED_EVENTS = frozenset({"worker.hire"})
_UPDATED_EVENTS = frozenset(
    {
        "worker.terminate",
        "worker.rehire",
        "worker.on-leave",
        "worker.return-from-leave",
        "worker.deceased",
        "worker.retire",
        "worker.legal-name.change",
        "worker.worker-original-hire-date.change",
    }
)
# Families of events (any event whose name starts with one) that change a synced field.
_UPDATED_FAMILIES = (
    "worker.work-assignment.",
    "worker.reports-to.",
    "worker.home-organizational-units.",
    "worker.business-communication.email.",
    "worker.legal-name.",
    "worker.worker-status.",
)


def is_aoid(value: str) -> bool:
    """An associate OID in ADP's shape (safe in a path)."""
    return bool(_AOID.match(value))


def is_message_id(value: str) -> bool:
    """An ``adp-msg-msgid`` in a shape safe to put in a path."""
    return bool(_MESSAGE_ID.match(value)) and value not in _DOT_SEGMENTS


class AdpWorkforceNow(Connector):
    name = "adp_workforce_now"
    tier = Tier.FULL
    capabilities = CAPABILITIES
    # No webhooks: changes come through ADP's event notification queue (``EventQueue``).
    supports_webhooks = False
    max_page_size = PAGE_SIZE
    info = describe(
        id=name,
        name=VENDOR,
        kind=ProviderKind.HRIS,
        tier=tier,
        capabilities=capabilities,
        supports_webhooks=supports_webhooks,
        api_key_fields=(CLIENT_ID, CLIENT_SECRET, CLIENT_CERTIFICATE, CLIENT_KEY),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # One HTTP client per client certificate (and trust anchor): digest -> client.
        self._tls_clients: dict[str, HttpClient] = {}

    def close(self) -> None:
        for client in self._tls_clients.values():
            client.close()
        self._tls_clients.clear()
        super().close()

    # -- mutual TLS -----------------------------------------------------------------------------

    def _hosts(self, credentials: Credentials) -> tuple[str, str]:
        return (
            self.base_url(credentials, DEFAULT_BASE),
            self.base_url(credentials, DEFAULT_OAUTH, key="oauth_base_url"),
        )

    def _tls_client(self, credentials: Credentials) -> HttpClient:
        """The HTTP client presenting this connection's client certificate (built once per
        certificate, key and trust anchor)."""
        certificate = self.secret(credentials, CLIENT_CERTIFICATE.name).reveal()
        key = self.secret(credentials, CLIENT_KEY.name).reveal()
        anchor = credentials.settings.get(CA_SETTING) or None
        if anchor is not None:
            refuse_anchor_beyond_loopback(self._hosts(credentials))
        digest = hashlib.sha256(
            "\0".join((certificate, key, anchor or "")).encode("utf-8", "surrogatepass")
        ).hexdigest()
        client = self._tls_clients.get(digest)
        if client is None:
            context = client_tls_context(certificate, key, anchor, now=self.runtime.now())
            client = HttpClient(
                vendor=self.name,
                runtime=self.http.runtime,
                policy=self.http.policy,
                timeouts=self.http.timeouts,
                ssl_context=context,
            )
            self._tls_clients[digest] = client
        return client

    # -- auth ---------------------------------------------------------------------------------

    def _token(
        self, credentials: Credentials, *, refused: Secret | None = None
    ) -> tuple[Secret, Credentials | None]:
        return self.granted_token(credentials, self._grant, skew=TOKEN_SKEW, refused=refused)

    def _grant(self, credentials: Credentials) -> OAuthToken:
        """``POST /auth/oauth/v2/token`` (client credentials, Basic auth, the client certificate)."""
        now = self.runtime.now()
        _, oauth = self._hosts(credentials)
        response = self._tls_client(credentials).request(
            "POST",
            f"{oauth}{TOKEN_PATH}",
            form={"grant_type": "client_credentials"},
            auth=(
                self.secret(credentials, CLIENT_ID.name).reveal(),
                self.secret(credentials, CLIENT_SECRET.name).reveal(),
            ),
            headers={"Accept": "application/json"},
            ok_statuses=frozenset({400}),
        )
        if response.status_code == 400:
            # OAuth servers say invalid_client / unauthorized_client with 400 as well as 401.
            raise ProviderAuthError(f"{self.name}: the token endpoint refused the client (HTTP 400)")
        body = as_object(decode_json(response, self.name), "the token answer", self.name)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ProviderAuthError(f"{self.name}: the token endpoint answered without an access_token")
        lifetime = body.get("expires_in")
        if isinstance(lifetime, str) and lifetime.isdigit():
            lifetime = int(lifetime)
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        return OAuthToken(Secret(token), None, now + timedelta(seconds=float(lifetime)))

    def _call(
        self,
        credentials: Credentials,
        method: str,
        path: str,
        *,
        accept: str = "application/json",
        **kwargs: Any,
    ) -> tuple[httpx.Response, Credentials | None]:
        """An API call with the bearer token over mutual TLS; on 401 a new token, once."""
        url = f"{self._hosts(credentials)[0]}{path}"
        client = self._tls_client(credentials)
        token, refreshed = self._token(credentials)
        try:
            return client.request(method, url, headers=bearer_headers(token, accept), **kwargs), refreshed
        except ProviderAuthError:
            if refreshed is not None:
                raise
        token, refreshed = self._token(credentials, refused=token)
        return client.request(method, url, headers=bearer_headers(token, accept), **kwargs), refreshed

    def check_credentials(self, credentials: Credentials) -> None:
        """A token (the client id, secret and certificate), then one worker with it (read access)."""
        self._call(
            credentials,
            "GET",
            WORKERS_PATH,
            accept=WORKERS_ACCEPT,
            params={"$top": "1", "$skip": "0"},
            ok_statuses=frozenset({204}),
        )

    # -- snapshot -----------------------------------------------------------------------------

    def list_employees(self, credentials: Credentials, cursor: str | None) -> EmployeePage:
        state = decode_cursor(self.name, cursor)
        skip = cursor_int(state, "s", 0, self.name)
        number = cursor_int(state, "n", 0, self.name) + 1
        confirming = state.get("c") is True
        history = cursor_history(state, self.name)
        response, refreshed = self._call(
            credentials,
            "GET",
            WORKERS_PATH,
            accept=WORKERS_ACCEPT,
            params={"$top": str(self.page_size), "$skip": str(skip)},
            ok_statuses=frozenset({204}),
        )
        workers = self._workers(response)
        if confirming and workers:
            # R31: the page before was short, yet ADP has more: it lost records or capped $top.
            raise IncompleteListing(
                f"{self.name}: page {number - 1} held fewer than the {self.page_size} workers asked "
                f"for, yet workers followed at $skip={skip}"
            )
        employees = [self.employee(w) for w in workers]
        if workers:
            # The first page served again (a $skip ignored) is a loop, not more workers.
            first = record_id(workers[0], "associateOID", self.name)
            history = follow_cursor(self.name, history, first)
        seen = skip + len(workers)
        listed = ListPage(
            number=number,
            asked=self.page_size,
            got=len(workers),
            more=len(workers) >= self.page_size,
            seen=seen,
        )
        if not workers:
            self.end_of_list(listed, "workers")
            return EmployeePage(employees, None, refreshed)
        if not listed.more:
            # A short page ends the list once the next $skip confirms it (204 or no workers).
            state = {"s": seen, "n": number, "c": True, "h": history}
            return EmployeePage(employees, encode_cursor(self.name, state), refreshed)
        self.end_of_list(listed, "workers")
        return EmployeePage(
            employees, encode_cursor(self.name, {"s": seen, "n": number, "h": history}), refreshed
        )

    def _workers(self, response: httpx.Response) -> list[dict[str, Any]]:
        """The ``workers`` of a 200 answer; none for 204 (ADP's "no more")."""
        if response.status_code == 204 or not response.content.strip():
            return []
        body = as_object(decode_json(response, self.name), "the workers answer", self.name)
        workers = body.get("workers")
        if workers is None:
            return []
        if not isinstance(workers, list):
            raise ProviderResponseError(f"{self.name}: expected a list of workers")
        return [as_object(w, "a worker", self.name) for w in workers]

    def get_employees(self, credentials: Credentials, ids: Sequence[str]) -> EmployeePage:
        """``GET /hr/v2/workers/{aoid}`` for each; a worker ADP no longer has (404, 204) is left out."""
        employees: list[Employee] = []
        current, refreshed = credentials, None
        for aoid in unique(ids):
            if not is_aoid(aoid):
                continue
            response, new = self._call(
                current,
                "GET",
                f"{WORKERS_PATH}/{quote(aoid, safe='')}",
                accept=WORKERS_ACCEPT,
                ok_statuses=frozenset({204, 404}),
            )
            if new is not None:
                current = refreshed = new
            if response.status_code == 404:
                continue
            employees.extend(
                self.employee(w) for w in self._workers(response) if text(w.get("associateOID")) == aoid
            )
        return EmployeePage(employees, None, refreshed)

    def directory(self, credentials: Credentials) -> Directory:
        """Departments and business units (home organizational units, by ADP's codes) as groups,
        each counted from the workers, and the workers (R33). WFN's workers name no company."""
        employees, refreshed = collect_all(self, credentials)
        return directory_from(employees, self.seen, refreshed)

    # -- mapping ------------------------------------------------------------------------------

    def employee(self, worker: Mapping[str, Any]) -> Employee:
        """One ADP worker: the primary work assignment for the job, ``legalName`` for the name."""
        hris_id = record_id(worker, "associateOID", self.name)
        assignment = primary_assignment(worker)
        name = dig(worker, "person", "legalName") or {}
        units = organizational_units(assignment.get("homeOrganizationalUnits"))
        department = units.get("department")
        business_unit = units.get("business_unit")
        group_ids: list[str | None] = []
        groups: list[str] = []
        for kind, unit in (("department", department), ("business_unit", business_unit)):
            if unit is None:
                continue
            code, label = unit
            group_ids.append(self.seen_as(kind, grouping_id(kind, code), label))
            groups.append(label)
        manager = _first(assignment.get("reportsTo"))
        start = iso_day(assignment.get("hireDate")) or iso_day(dig(worker, "workerDates", "rehireDate"))
        start = start or iso_day(dig(worker, "workerDates", "originalHireDate"))
        ended = date_text(assignment.get("terminationDate")) or date_text(
            dig(worker, "workerDates", "terminationDate")
        )
        raw = {
            **pick(worker, ("associateOID", "workerID", "workerStatus", "workerDates")),
            "legalName": pick(name, ("givenName", "middleName", "familyName1", "nickName", "formattedName"))
            if isinstance(name, Mapping)
            else None,
            "businessEmails": dig(worker, "businessCommunication", "emails"),
            "workAssignment": pick(
                assignment,
                (
                    "primaryIndicator",
                    "hireDate",
                    "actualStartDate",
                    "terminationDate",
                    "assignmentStatus",
                    "jobTitle",
                    "jobCode",
                    "reportsTo",
                    "homeOrganizationalUnits",
                    "homeWorkLocation",
                ),
            ),
        }
        # ADP's reason codes are sensitive (medical leave, attendance): only the status is kept.
        status_raw = raw["workAssignment"].get("assignmentStatus")
        if isinstance(status_raw, Mapping):
            raw["workAssignment"]["assignmentStatus"] = pick(status_raw, ("statusCode", "effectiveDate"))
        worker_status = raw.get("workerStatus")
        if isinstance(worker_status, Mapping):
            raw["workerStatus"] = pick(worker_status, ("statusCode", "effectiveDate"))
        return build_employee(
            hris_id=hris_id,
            mapped=adp_status(worker, assignment, today=self.today(), start=start),
            raw=raw,
            first_name=text(dig(name, "nickName")) or text(dig(name, "givenName")),
            last_name=text(dig(name, "familyName1")) or text(dig(name, "familyName")),
            email=work_email(dig(worker, "businessCommunication", "emails")),
            employee_number=text(dig(worker, "workerID", "idValue")),
            job_title=text(assignment.get("jobTitle"))
            or text(dig(assignment, "jobCode", "shortName"))
            or text(dig(assignment, "jobCode", "longName")),
            department=department[1] if department else None,
            groups=tuple(unique(groups)),
            group_ids=unique(group_ids),
            office_location=work_location(assignment.get("homeWorkLocation")),
            start_date=start,
            termination_date=ended,
            manager_hris_id=text(dig(manager, "associateOID")),
        )

    # -- the event notification queue (EventQueue) ----------------------------------------------

    def next_message(self, credentials: Credentials) -> QueuedMessage | None:
        """The head of ADP's queue (it stays until acknowledged); None when it is empty (204, or
        the 404 ADP answered before August 2020 for a queue not yet made)."""
        response, _ = self._call(credentials, "GET", EVENTS_PATH, ok_statuses=frozenset({204, 404}))
        if response.status_code in (204, 404):
            return None
        message_id = (response.headers.get(MESSAGE_ID_HEADER) or "").strip()
        if not message_id:
            raise ProviderResponseError(
                f"{self.name}: an event notification without {MESSAGE_ID_HEADER}: it cannot be acknowledged"
            )
        if not is_message_id(message_id):
            raise ProviderResponseError(
                f"{self.name}: an event notification's {MESSAGE_ID_HEADER} is malformed"
            )
        try:
            event = parse_event_message(response.content, message_id)
        except WebhookUnparseable as exc:
            return QueuedMessage(message_id, None, str(exc)[:_PROBLEM_MAX])
        return QueuedMessage(message_id, event)

    def acknowledge(self, credentials: Credentials, message_id: str) -> None:
        """``DELETE /core/v1/event-notification-messages/{msgid}``; one already gone (404) is fine."""
        if not is_message_id(message_id):
            raise ProviderResponseError(f"{self.name}: not a message id ADP issued")
        self._call(
            credentials, "DELETE", f"{EVENTS_PATH}/{quote(message_id, safe='')}", ok_statuses=frozenset({404})
        )

    # -- webhooks: none (ADP pushes nothing; its events are pulled) ------------------------------

    def verify_webhook(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        secret: Secret,
        now: datetime,
        *,
        require_signature: bool = False,
    ) -> None:
        raise WebhookRejected(f"{self.name}: ADP sends no webhooks (its events are pulled from a queue)")

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> WebhookEvent:
        raise WebhookUnparseable(f"{self.name}: ADP sends no webhooks (its events are pulled from a queue)")


# ---------------------------------------------------------------------------------------------
# Mutual TLS
# ---------------------------------------------------------------------------------------------


def refuse_anchor_beyond_loopback(urls: Sequence[str]) -> None:
    """A connection's own trust anchor is for the local fakes only (``ProviderSettingsError``)."""
    if not all(is_loopback_host(httpx.URL(url).host) for url in urls):
        raise ProviderSettingsError(
            "adp_workforce_now: ca_certificate is honoured only for loopback hosts (the fake HR "
            "servers); ADP's hosts are checked against the system's certificate authorities"
        )


def client_tls_context(
    certificate: str, key: str, anchor: str | None = None, *, now: datetime | None = None
) -> ssl.SSLContext:
    """A client ``SSLContext`` presenting ``certificate`` (PEM: the key's certificate and any
    intermediates, in any order; the leaf is presented first) with ``key`` (PEM, unencrypted),
    trusting the system's CAs or only ``anchor`` (PEM).

    Each PEM is parsed first so a bad one is named (``ProviderSettingsError``, never its text);
    ``load_cert_chain`` reads files only, so the pair is written to a private temporary folder and
    deleted as soon as it is loaded."""
    chain = _certificates(certificate, "client_certificate")
    private_key = _private_key(key)
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    own = private_key.public_key().public_bytes(*spki)
    # The leaf is the certificate of the key, wherever it was pasted in the chain: presented first.
    leaf = next((c for c in chain if c.public_key().public_bytes(*spki) == own), None)
    if leaf is None:
        raise ProviderSettingsError("adp_workforce_now: client_key does not match client_certificate")
    chain = [leaf, *(c for c in chain if c is not leaf)]
    moment = now or datetime.now(UTC)
    expires = chain[0].not_valid_after_utc
    if expires <= moment:
        raise ProviderSettingsError(
            f"adp_workforce_now: the client certificate expired on {expires.date().isoformat()}: "
            "renew it with ADP and paste the new one"
        )
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if anchor is not None:
        anchors = _certificates(anchor, CA_SETTING)
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cadata=b"".join(a.public_bytes(Encoding.DER) for a in anchors)
        )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # What was parsed, written out again: OpenSSL reads PEM more strictly than the parser above
    # (indented lines, non-ASCII text around the blocks), and the files hold nothing else.
    chain_pem = b"".join(c.public_bytes(Encoding.PEM) for c in chain).decode("ascii")
    key_pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode("ascii")
    try:
        with _private_files(chain_pem, key_pem) as (cert_path, key_path):
            context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError:
        raise ProviderSettingsError(
            "adp_workforce_now: client_certificate and client_key could not be loaded together"
        ) from None
    return context


def _private_key(pem: str) -> PrivateKeyTypes:
    """The unencrypted PEM private key (``ProviderSettingsError`` naming what is wrong, never it)."""
    try:
        return load_pem_private_key(pem.encode("utf-8"), password=None)
    except TypeError:
        # cryptography's answer to an encrypted key read without a password.
        raise ProviderSettingsError(
            "adp_workforce_now: client_key is password-protected: paste it without its password "
            "(openssl pkey -in key.pem -out key-unprotected.pem)"
        ) from None
    except (ValueError, UnicodeError, UnsupportedAlgorithm):
        raise ProviderSettingsError(
            "adp_workforce_now: client_key is not an unencrypted PEM private key"
        ) from None


def _certificates(pem: str, what: str) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except (ValueError, TypeError, UnicodeError):
        raise ProviderSettingsError(f"adp_workforce_now: {what} is not a PEM certificate") from None
    if not found:
        raise ProviderSettingsError(f"adp_workforce_now: {what} is not a PEM certificate")
    return found


@contextmanager
def _private_files(certificate: str, key: str) -> Iterator[tuple[str, str]]:
    """The two PEMs in a folder only this process's user can read (0700, files 0600), removed
    as soon as the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="adp-tls-"))
    try:
        paths = (folder / "client.pem", folder / "client.key")
        for path, content in zip(paths, (certificate, key), strict=True):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(content)
        yield str(paths[0]), str(paths[1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Mapping
# ---------------------------------------------------------------------------------------------


def primary_assignment(worker: Mapping[str, Any]) -> Mapping[str, Any]:
    """The work assignment ``primaryIndicator`` marks, else the first; {} when there is none."""
    assignments = [a for a in worker.get("workAssignments") or () if isinstance(a, Mapping)]
    for assignment in assignments:
        if assignment.get("primaryIndicator") is True:
            return assignment
    return assignments[0] if assignments else {}


def _first(values: Any) -> Any:
    if isinstance(values, list) and values and isinstance(values[0], Mapping):
        return values[0]
    return None


def _unit_kind(type_code: Any) -> str | None:
    """``Department`` / ``HomeDepartment`` -> department; ``Business Unit`` -> business_unit."""
    words = (text(dig(type_code, "codeValue")) or "").replace(" ", "").casefold().removeprefix("home")
    return {"department": "department", "businessunit": "business_unit"}.get(words)


def organizational_units(units: Any) -> dict[str, tuple[str, str]]:
    """The department and business unit among home organizational units: kind -> (code, name)."""
    found: dict[str, tuple[str, str]] = {}
    for unit in units if isinstance(units, list) else ():
        if not isinstance(unit, Mapping):
            continue
        kind = _unit_kind(unit.get("typeCode"))
        code = text(dig(unit, "nameCode", "codeValue"))
        label = text(dig(unit, "nameCode", "shortName")) or text(dig(unit, "nameCode", "longName")) or code
        if kind is not None and code is not None and label is not None and kind not in found:
            found[kind] = (code, label)
    return found


def work_email(emails: Any) -> str | None:
    """The business email ADP names "Work E-mail", else the first business email."""
    if not isinstance(emails, list):
        return None
    listed = [
        (text(dig(e, "nameCode", "codeValue")) or "", text(e.get("emailUri")))
        for e in emails
        if isinstance(e, Mapping)
    ]
    for kind, address in listed:
        if kind.casefold() == "work e-mail" and address:
            return address
    return next((address for _, address in listed if address), None)


def work_location(location: Any) -> str | None:
    """The home work location's name, else its city, region and country."""
    if not isinstance(location, Mapping):
        return None
    named = text(dig(location, "nameCode", "shortName")) or text(dig(location, "nameCode", "longName"))
    if named:
        return named
    address = location.get("address")
    if not isinstance(address, Mapping):
        return text(dig(location, "nameCode", "codeValue"))
    parts = unique(
        (
            text(address.get("cityName")),
            text(dig(address, "countrySubdivisionLevel1", "codeValue")),
            text(address.get("countryCode")),
        )
    )
    return ", ".join(parts) or None


# Assignment status letters -> our status and how an admin reads it.
_ASSIGNMENT = {
    "A": (EmployeeStatus.ACTIVE, "active"),
    "L": (EmployeeStatus.ON_LEAVE, "on leave"),
    "T": (EmployeeStatus.TERMINATED, "terminated"),
    "D": (EmployeeStatus.TERMINATED, "deceased"),
    "R": (EmployeeStatus.TERMINATED, "retired"),
}
_WORKER = {
    "active": (EmployeeStatus.ACTIVE, "active"),
    "inactive": (EmployeeStatus.ON_LEAVE, "inactive (on leave)"),
    "terminated": (EmployeeStatus.TERMINATED, "terminated"),
}


def adp_status(
    worker: Mapping[str, Any],
    assignment: Mapping[str, Any] | None = None,
    *,
    today: date,
    start: date | None = None,
) -> MappedStatus:
    """ADP's status in words an admin understands (``raw`` carries ADP's own values).

    A terminated worker (``workerStatus`` Terminated, or the primary assignment ``T``/``D``) is
    terminated; ``L`` (or ``Inactive``) is on leave; an active one whose hire date is still ahead
    is pending; an active one is active. Anything else is kept active and reported (R04)."""
    primary = assignment if assignment is not None else primary_assignment(worker)
    worker_value = text(dig(worker, "workerStatus", "statusCode", "codeValue"))
    assignment_value = text(dig(primary, "assignmentStatus", "statusCode", "codeValue"))
    shown = ", ".join(
        part
        for part in (
            f"worker {worker_value[:40]}" if worker_value else None,
            f"assignment {assignment_value[:10]}" if assignment_value else None,
        )
        if part
    )
    by_worker = _WORKER.get(worker_value.casefold()) if worker_value else None
    by_assignment = _ASSIGNMENT.get(assignment_value.upper()) if assignment_value else None
    if by_worker is None and by_assignment is None:
        if not shown:
            return MappedStatus(
                EmployeeStatus.ACTIVE,
                None,
                f"{VENDOR}: no worker or assignment status; treated as active",
                False,
            )
        return MappedStatus(
            EmployeeStatus.ACTIVE, shown, f"{VENDOR}: unknown status ({shown}) treated as active", known=False
        )
    candidates = [c for c in (by_assignment, by_worker) if c is not None]
    ended = iso_day(primary.get("terminationDate")) or iso_day(dig(worker, "workerDates", "terminationDate"))
    for wanted in (EmployeeStatus.TERMINATED, EmployeeStatus.ON_LEAVE):
        for status, words in candidates:
            if status is wanted:
                on = f" on {ended}" if ended and status is EmployeeStatus.TERMINATED else ""
                return MappedStatus(status, f"{words} in {VENDOR}{on} ({shown})")
    begins = [
        d for d in (start, iso_day(primary.get("hireDate")), iso_day(primary.get("actualStartDate"))) if d
    ]
    future = [d for d in begins if d > today]
    if future:
        return MappedStatus(EmployeeStatus.PENDING, f"hired in {VENDOR}, starts {min(future)} ({shown})")
    return MappedStatus(EmployeeStatus.ACTIVE, f"active in {VENDOR} ({shown})")


# ---------------------------------------------------------------------------------------------
# Event notifications
# ---------------------------------------------------------------------------------------------


def event_kind(name: str) -> WebhookKind:
    """What a targeted plan does for an ADP event name (``PING``: nothing it syncs changed)."""
    folded = name.strip().casefold()
    if folded in _CREATED_EVENTS:
        return WebhookKind.CREATED
    if folded in _UPDATED_EVENTS or folded.startswith(_UPDATED_FAMILIES):
        return WebhookKind.UPDATED
    return WebhookKind.PING


def _named_workers(data: Any) -> Iterator[Any]:
    yield dig(data, "eventContext", "worker", "associateOID")
    yield dig(data, "eventContext", "associateOID")
    yield dig(data, "output", "worker", "associateOID")
    workers = dig(data, "output", "workers")
    for worker in workers if isinstance(workers, list) else ():
        yield dig(worker, "associateOID")


def event_workers(event: Mapping[str, Any]) -> tuple[str, ...]:
    """The AOIDs an event names; ``WebhookUnparseable`` for one not in ADP's shape."""
    named = unique(text(v) for v in _named_workers(event.get("data")))
    malformed = [v for v in named if not is_aoid(v)]
    if malformed:
        raise WebhookUnparseable("adp_workforce_now: an event names a worker whose associateOID is malformed")
    return named


def parse_event_message(raw_body: bytes, message_id: str) -> WebhookEvent:
    """One queue message (``{"events": [...]}``) as a targeted plan's input.

    The workers every event that changes a synced field names, re-read by the plan: ``CREATED``
    when every such event is a hire, else ``UPDATED``; ``PING`` when none does. ``delivery_id`` is
    the event's ``eventID`` (the message id without one), so a message ADP hands out again is
    dropped as a duplicate (R24). ``WebhookUnparseable`` for a body ADP would never send."""
    try:
        body = without_lone_surrogates(json.loads(raw_body))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past the parser
        raise WebhookUnparseable("adp_workforce_now: an event notification that is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("events"), list) or not body["events"]:
        raise WebhookUnparseable("adp_workforce_now: an event notification without events")
    kinds: list[WebhookKind] = []
    workers: list[str] = []
    event_ids: list[str] = []
    occurred: datetime | None = None
    for event in body["events"]:
        if not isinstance(event, dict):
            raise WebhookUnparseable("adp_workforce_now: an event notification whose event is not an object")
        name = text(dig(event, "eventNameCode", "codeValue"))
        if name is None:
            raise WebhookUnparseable("adp_workforce_now: an event without eventNameCode")
        event_id = text(event.get("eventID"))
        if event_id:
            event_ids.append(event_id[:100])
        occurred = occurred or parse_iso_datetime(
            event.get("creationDateTime") or event.get("recordDateTime")
        )
        kind = event_kind(name)
        named = event_workers(event)
        if kind is WebhookKind.PING or not named:
            continue
        kinds.append(kind)
        workers.extend(named)
    if len(event_ids) == 1:
        delivery = event_ids[0]
    elif event_ids:
        delivery = "events-" + hashlib.sha256("\n".join(event_ids).encode()).hexdigest()[:40]
    else:
        delivery = f"msg-{message_id}"
    if not kinds:
        return WebhookEvent(WebhookKind.PING, (), delivery[:200], occurred)
    kind = WebhookKind.CREATED if all(k is WebhookKind.CREATED for k in kinds) else WebhookKind.UPDATED
    return WebhookEvent(kind, unique(workers), delivery[:200], occurred)
