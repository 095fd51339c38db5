"""OAuth connect (shared.services.oauth_connect): the return URL allow-list, the state store's
single use and expiry, the tenant a state is bound to, and every way a callback can fail."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.domain.models import ConnectionStatus
from shared.errors import InvalidInput
from shared.providers.base import Credentials, ProviderAuthError, Secret
from shared.providers.catalogue import CredentialField, ProviderKind, describe
from shared.providers.oauth import OAuthConnector, Pkce, new_pkce
from shared.services import connections, oauth_connect
from shared.services.context import ServiceSettings
from shared.services.oauth_connect import CallbackError, validate_return_url
from tests.support.memory import MemoryOAuthApps, ProviderRegistry
from tests.support.world import FakeHR, World

ORIGINS = ("https://admin.acme.example", "http://127.0.0.1:*")
RETURN = "https://admin.acme.example/connections/done?tab=hr"
REDIRECT = "https://api.acme.example/prod/oauth/callback"
APP = Credentials(secrets={"client_id": Secret("app-id"), "client_secret": Secret("app-secret")})


class OAuthHR(FakeHR):
    """A scripted OAuth vendor: consents with the code ``good`` (anything else is refused)."""

    name = "oauthhr"
    oauth_settings = frozenset({"company_domain"})

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[dict[str, Any]] = []
        self.info = describe(
            id=self.name,
            name="OAuth HR",
            kind=ProviderKind.HRIS,
            tier=self.tier,
            capabilities=self.capabilities,
            supports_webhooks=self.supports_webhooks,
            oauth_fields=(
                CredentialField("company_domain", "Company", "The company.", secret=False, required=False),
            ),
            oauth=True,
        )

    def start_authorization(
        self, credentials: Credentials, *, redirect_uri: str, state: str, scope: str | None = None
    ) -> tuple[str, Pkce | None]:
        pkce = new_pkce()
        client = credentials.secrets["client_id"].reveal()
        return f"https://vendor.example/authorize?client_id={client}&state={state}", pkce

    def finish_authorization(
        self, credentials: Credentials, *, code: str, redirect_uri: str, verifier: Secret | None
    ) -> Credentials:
        self.exchanges.append(
            {"code": code, "redirect_uri": redirect_uri, "verifier": verifier, "credentials": credentials}
        )
        if code != "good":
            raise ProviderAuthError("oauthhr: the authorization server refused the grant (HTTP 400)")
        return Credentials(
            secrets={**credentials.secrets, "access_token": Secret("at-1"), "refresh_token": Secret("rt-1")},
            settings=dict(credentials.settings),
        )


@pytest.fixture
def vendor() -> OAuthHR:
    return OAuthHR()


@pytest.fixture
def oauth_world(vendor: OAuthHR) -> World:
    world = World(
        settings=ServiceSettings(oauth_return_origins=ORIGINS),
        oauth_apps=MemoryOAuthApps({"oauthhr": APP}),
    )
    world.lookup = ProviderRegistry({"oauthhr": vendor, "fakehr": world.hr})
    return world


def _start(world: World, tenant: str = "t1", **kw: Any) -> str:
    """Start a connect; the state the vendor would send back."""
    body: dict[str, Any] = {
        "provider": "oauthhr",
        "label": "Our HR",
        "return_url": RETURN,
        "redirect_uri": REDIRECT,
        "subject": "admin-1",
        "email": "ada@acme.example",
        **kw,
    }
    started = oauth_connect.start(world.ports, tenant, **body)
    return parse_qs(urlsplit(started.authorize_url).query)["state"][0]


def _query(url: str | None) -> dict[str, list[str]]:
    assert url is not None
    return parse_qs(urlsplit(url).query)


# --- the return URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://admin.acme.example/done",
        "https://admin.acme.example:443/done?x=1",
        "HTTPS://Admin.Acme.Example/done",
        "http://127.0.0.1:5173/callback",
    ],
)
def test_return_url_on_an_allowed_origin_is_accepted(url: str) -> None:
    assert validate_return_url(url, ORIGINS) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/done",  # another origin
        "https://admin.acme.example.evil.example/done",  # a suffix trick
        "https://evil.example/https://admin.acme.example/",
        "javascript:alert(1)//https://admin.acme.example",
        "//evil.example/done",  # scheme-relative
        "/relative/path",
        "https://admin.acme.example@evil.example/done",  # userinfo: the host is evil.example
        "https://evil.example@admin.acme.example/done",  # any userinfo is refused
        "https://admin.acme.example%40evil.example/done",
        "https:\\\\evil.example/done",
        "https://admin.acme.example\\@evil.example/",
        "https://admin.acme.example/done#fragment",
        "http://admin.acme.example/done",  # http off loopback
        "http://localhost:3000/done",  # loopback, but not on the allow-list
        "https://admin.acme.example:8443/done",  # another port is another origin
        "data:text/html,<script>alert(1)</script>",
        "https://admin.acme.example/\x00done",
        "https://admin.acme.example/ done",
        "https://adm\u0131n.acme.example/done",  # non-ASCII look-alike (dotless i)
        "",
        "https://admin.acme.example/" + "a" * 2100,
    ],
)
def test_return_url_attacker_cases_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_return_url(url, ORIGINS)
    assert refused.value.details["field"] == "return_url"


def test_no_return_origin_configured_refuses_every_return_url() -> None:
    with pytest.raises(InvalidInput):
        validate_return_url(RETURN, ())


# --- start -----------------------------------------------------------------------------------


def test_start_keeps_the_state_server_side_with_a_verifier_and_never_stores_the_state(
    oauth_world: World,
) -> None:
    state = _start(oauth_world)
    assert len(state) >= 43  # 256 bits, URL-safe base64
    [(key, pending)] = oauth_world.oauth_states.items.items()
    assert key == oauth_connect.state_key(state) != state
    assert pending.tenant_id == "t1"
    assert (pending.subject, pending.email) == ("admin-1", "ada@acme.example")
    assert pending.return_url == RETURN
    assert pending.redirect_uri == REDIRECT
    assert pending.verifier is not None
    assert pending.expires_at == oauth_world.clock.now() + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"provider": "nosuch"}, "provider"),
        ({"provider": "fakehr"}, "provider"),  # a provider without OAuth
        ({"return_url": "https://evil.example/"}, "return_url"),
        ({"settings": {"base_url": "https://evil.example"}}, "settings.base_url"),
        ({"settings": {"company_domain": "acme/../x"}}, "settings.company_domain"),
        ({"options": {"invites": "sometimes"}}, "invites"),
    ],
)
def test_start_refuses_bad_input_with_422_before_storing_anything(
    oauth_world: World, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _start(oauth_world, **change)
    assert refused.value.details["field"] == field
    assert oauth_world.oauth_states.items == {}


def test_start_without_an_oauth_app_for_the_provider_is_422(oauth_world: World) -> None:
    oauth_world.oauth_apps.apps.clear()
    with pytest.raises(InvalidInput, match="no OAuth app"):
        _start(oauth_world)


def test_oauth_connector_protocol_is_what_the_service_checks(vendor: OAuthHR) -> None:
    assert isinstance(vendor, OAuthConnector)
    assert not isinstance(FakeHR(), OAuthConnector)


# --- the callback ----------------------------------------------------------------------------


def test_callback_creates_a_draft_of_the_state_tenant_and_redirects_with_its_id(
    oauth_world: World, vendor: OAuthHR
) -> None:
    state = _start(oauth_world, settings={"company_domain": "acme"}, options={"invites": "later"})
    finished = oauth_connect.finish(oauth_world.ports, state=state, code="good", error=None)
    assert finished.error is None
    assert finished.redirect is not None
    assert finished.redirect.startswith("https://admin.acme.example/connections/done?")
    assert _query(finished.redirect) == {"tab": ["hr"], "connection_id": [str(finished.connection_id)]}
    connection = connections.get_connection(oauth_world.ports, "t1", str(finished.connection_id))
    assert connection.status is ConnectionStatus.DRAFT
    assert (connection.connected_by, connection.connected_by_email) == ("admin-1", "ada@acme.example")
    assert connection.invites.value == "later"
    assert oauth_world.scheduler.items == {}  # a draft: no schedule, no run
    assert oauth_world.runs.items == {}
    stored = oauth_world.secrets.get("t1", str(finished.connection_id))
    # What a refresh needs: the app's client id and secret beside the tokens; the admin's setting.
    assert {k: v.reveal() for k, v in stored.secrets.items()} == {
        "client_id": "app-id",
        "client_secret": "app-secret",
        "access_token": "at-1",
        "refresh_token": "rt-1",
    }
    assert stored.settings == {"company_domain": "acme"}
    [exchange] = vendor.exchanges
    assert exchange["redirect_uri"] == REDIRECT
    assert exchange["verifier"] is not None
    # Bound to the tenant that started it: another tenant sees nothing.
    assert connections.list_connections(oauth_world.ports, "t2") == []


def test_state_is_single_use_a_replay_is_an_error_page_without_redirect(oauth_world: World) -> None:
    state = _start(oauth_world)
    first = oauth_connect.finish(oauth_world.ports, state=state, code="good", error=None)
    assert first.connection_id is not None
    replay = oauth_connect.finish(oauth_world.ports, state=state, code="good", error=None)
    assert replay == oauth_connect.Finished(redirect=None, error=CallbackError.INVALID_STATE)
    assert len(connections.list_connections(oauth_world.ports, "t1")) == 1


@pytest.mark.parametrize("state", [None, "", "never-issued", "x" * 600])
def test_unknown_or_missing_state_is_an_error_page(oauth_world: World, state: str | None) -> None:
    _start(oauth_world)
    finished = oauth_connect.finish(oauth_world.ports, state=state, code="good", error=None)
    assert finished == oauth_connect.Finished(redirect=None, error=CallbackError.INVALID_STATE)
    assert connections.list_connections(oauth_world.ports, "t1") == []


def test_expired_state_redirects_with_expired_state_and_is_consumed(oauth_world: World) -> None:
    state = _start(oauth_world)
    oauth_world.clock.advance(timedelta(minutes=10))
    finished = oauth_connect.finish(oauth_world.ports, state=state, code="good", error=None)
    assert _query(finished.redirect)["error"] == ["expired_state"]
    assert oauth_world.oauth_states.items == {}
    assert connections.list_connections(oauth_world.ports, "t1") == []


@pytest.mark.parametrize(
    ("code", "error", "expected"),
    [
        (None, "access_denied", "access_denied"),
        (None, "server_error", "authorization_failed"),
        (None, None, "invalid_request"),
        ("revoked-code", None, "exchange_failed"),
    ],
)
def test_callback_failures_redirect_with_an_error_code_and_create_nothing(
    oauth_world: World, code: str | None, error: str | None, expected: str
) -> None:
    state = _start(oauth_world)
    finished = oauth_connect.finish(oauth_world.ports, state=state, code=code, error=error)
    assert finished.connection_id is None
    assert _query(finished.redirect) == {"tab": ["hr"], "error": [expected]}
    assert connections.list_connections(oauth_world.ports, "t1") == []
    assert oauth_world.secrets.items == {}


def test_return_url_no_longer_allowed_at_callback_time_is_not_followed(oauth_world: World) -> None:
    state = _start(oauth_world)
    oauth_world.settings = ServiceSettings(oauth_return_origins=("https://other.example",))
    finished = oauth_connect.finish(oauth_world.ports, state=state, code="good", error=None)
    assert finished == oauth_connect.Finished(redirect=None, error=CallbackError.INVALID_STATE)


def test_nothing_of_the_code_state_or_tokens_reaches_a_log(
    oauth_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _start(oauth_world)
    oauth_connect.finish(oauth_world.ports, state=state, code="good", error=None)
    state2 = _start(oauth_world)
    oauth_connect.finish(oauth_world.ports, state=state2, code="revoked-code", error=None)
    logged = capsys.readouterr()
    for value in (state, state2, "revoked-code", "at-1", "rt-1", "app-secret"):
        assert value not in logged.out + logged.err


class NamingHR(OAuthHR):
    """A unified vendor: its grant says which HR system it reaches (as Finch's /introspect does)."""

    def __init__(self) -> None:
        super().__init__()
        named = CredentialField(
            "provider_name", "HR system", "What it reaches.", secret=False, required=False
        )
        self.info = replace(self.info, oauth_stored_fields=(named,))

    def finish_authorization(
        self, credentials: Credentials, *, code: str, redirect_uri: str, verifier: Secret | None
    ) -> Credentials:
        granted = super().finish_authorization(
            credentials, code=code, redirect_uri=redirect_uri, verifier=verifier
        )
        return Credentials(secrets=granted.secrets, settings={**granted.settings, "provider_name": "Gusto"})

    def connection_label(self, label: str, credentials: Credentials) -> str:
        return f"{label} ({credentials.settings['provider_name']})"


def test_a_connector_naming_what_the_grant_reaches_completes_the_drafts_label(oauth_world: World) -> None:
    oauth_world.lookup = ProviderRegistry({"oauthhr": NamingHR(), "fakehr": oauth_world.hr})
    finished = oauth_connect.finish(oauth_world.ports, state=_start(oauth_world), code="good", error=None)
    connection = connections.get_connection(oauth_world.ports, "t1", str(finished.connection_id))
    assert connection.label == "Our HR (Gusto)"
