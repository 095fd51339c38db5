"""Microsoft 365's connect against its fake over loopback HTTP: the admin consents and signs in
(OpenID, PKCE) in one trip, and the connection's Entra tenant is the ``tid`` of an id_token whose
signature, issuer, audience and nonce are verified: never a tenant the callback URL names (Microsoft
signs nothing there, so an admin could edit it to another customer's tenant that consented)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.local.fake_hris import FakeHRServer, fake_hris
from shared.providers.base import Credentials, ProviderAuthError, Secret
from shared.providers.http import Runtime
from shared.providers.microsoft import PRIVILEGED_ROLE_ADMINISTRATOR, Microsoft365
from shared.providers.oauth import Pkce

REDIRECT = "https://api.acme.example/prod/oauth/callback"
OTHER_TENANT = "0f0f0f0f-1111-2222-3333-444444444444"  # another customer of the same app


@pytest.fixture
def fake() -> Iterator[FakeHRServer]:
    with fake_hris(
        "microsoft365",
        employees=5,
        seed=3,
        today=datetime.now(UTC).date(),
        rate_limit=None,
        consented=False,
        other_consented_tenants=OTHER_TENANT,
    ) as server:
        yield server


def app(fake: FakeHRServer, **settings: str) -> Credentials:
    """The deployment's OAuth app pointed at the fake (what oauth_connect hands the connector)."""
    values = fake.credentials
    return Credentials(
        secrets={"client_id": Secret(values["client_id"]), "client_secret": Secret(values["client_secret"])},
        settings={"base_url": fake.base_url, "oauth_base_url": fake.base_url, **settings},
    )


def consent(url: str) -> dict[str, str]:
    """The browser at Entra: its redirect back to our callback, as a query."""
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(f"{REDIRECT}?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def start(connector: Microsoft365, credentials: Credentials) -> tuple[dict[str, str], Pkce]:
    url, pkce = connector.start_authorization(credentials, redirect_uri=REDIRECT, state="st-1")
    assert pkce is not None
    return consent(url), pkce


def connector() -> Microsoft365:
    return Microsoft365(runtime=Runtime(sleep=lambda _s: None))


def test_the_consent_and_sign_in_give_the_signed_tenant_and_an_app_token(fake: FakeHRServer) -> None:
    ms = connector()
    query, pkce = start(ms, app(fake))
    assert set(query) == {"code", "state", "session_state"} and query["state"] == "st-1"

    stored = ms.finish_authorization(
        app(fake), code=query["code"], redirect_uri=REDIRECT, verifier=pkce.verifier
    )

    assert stored.settings["tenant_id"] == fake.credentials["tenant_id"]
    assert stored.secrets["access_token"].reveal()
    ms.check_credentials(stored)  # the app token reads Graph: the consent took


def test_an_edited_tenant_never_becomes_the_connections_tenant(fake: FakeHRServer) -> None:
    """The attack: the callback comes back with ``tenant=`` edited to another consented tenant.
    The connector is never given the callback's tenant; the signed id_token decides."""
    ms = connector()
    query, pkce = start(ms, app(fake))
    edited = {**query, "tenant": OTHER_TENANT, "admin_consent": "True"}

    stored = ms.finish_authorization(
        app(fake), code=edited["code"], redirect_uri=REDIRECT, verifier=pkce.verifier
    )

    assert stored.settings["tenant_id"] == fake.credentials["tenant_id"] != OTHER_TENANT


def test_a_tenant_named_before_the_redirect_must_be_the_one_signed_in_to(fake: FakeHRServer) -> None:
    ms = connector()
    query, pkce = start(ms, app(fake))

    with pytest.raises(ProviderAuthError, match="another tenant"):
        ms.finish_authorization(
            app(fake, tenant_id=OTHER_TENANT),
            code=query["code"],
            redirect_uri=REDIRECT,
            verifier=pkce.verifier,
        )


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"tid": OTHER_TENANT}, "issuer is not its tenant's"),  # tid edited, iss still the signer's
        ({"tid": OTHER_TENANT, "iss": f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"}, "issuer"),
        ({"aud": "someone-elses-app"}, "InvalidAudienceError"),
        ({"nonce": "a-nonce-of-another-sign-in"}, "nonce"),
        ({"exp": 1_000_000_000, "iat": 999_990_000}, "expired"),
    ],
)
def test_an_id_token_that_does_not_verify_is_refused(
    fake: FakeHRServer, claims: dict[str, object], why: str
) -> None:
    ms = connector()
    query, pkce = start(ms, app(fake))
    fake.vendor.id_token_claims = claims  # type: ignore[attr-defined]

    with pytest.raises(ProviderAuthError, match=why):
        ms.finish_authorization(app(fake), code=query["code"], redirect_uri=REDIRECT, verifier=pkce.verifier)


def test_an_id_token_signed_by_another_key_is_refused(fake: FakeHRServer) -> None:
    ms = connector()
    query, pkce = start(ms, app(fake))
    fake.vendor.sign_with = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # type: ignore[attr-defined]

    with pytest.raises(ProviderAuthError, match="InvalidSignatureError"):
        ms.finish_authorization(app(fake), code=query["code"], redirect_uri=REDIRECT, verifier=pkce.verifier)


def test_a_code_redeemed_with_another_sign_ins_verifier_is_refused(fake: FakeHRServer) -> None:
    ms = connector()
    query, _ = start(ms, app(fake))
    _, other = start(ms, app(fake))

    with pytest.raises(ProviderAuthError, match="refused the sign-in's code"):
        ms.finish_authorization(app(fake), code=query["code"], redirect_uri=REDIRECT, verifier=other.verifier)


def test_a_declined_consent_comes_back_as_access_denied(fake: FakeHRServer) -> None:
    fake.vendor.deny_consent = True  # type: ignore[attr-defined]
    query, _ = start(connector(), app(fake))
    assert query["error"] == "access_denied" and "code" not in query


def without_prompt(url: str, **extra: str) -> str:
    """The authorize URL as an attacker edits it: no ``prompt=admin_consent`` (plus ``extra``)."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if k != "prompt"} | extra
    return parts._replace(query=urlencode(query)).geturl()


def test_a_member_who_is_no_admin_cannot_connect_a_tenant_an_admin_consented_to(fake: FakeHRServer) -> None:
    """The attack: an admin consented to the app once; a member of that tenant starts a connect,
    strips ``prompt=admin_consent`` and signs in. The consent would still let the app read Graph,
    so the sign-in itself must come from someone who could consent (their ``wids``)."""
    ms = connector()
    url, pkce = ms.start_authorization(app(fake), redirect_uri=REDIRECT, state="st-1")
    admin_query = consent(url)  # the tenant's admin consented (an earlier connect)
    ms.finish_authorization(
        app(fake), code=admin_query["code"], redirect_uri=REDIRECT, verifier=pkce.verifier
    )

    url, pkce = ms.start_authorization(app(fake), redirect_uri=REDIRECT, state="st-2")
    assert pkce is not None
    member_query = consent(without_prompt(url, login_hint="member"))

    with pytest.raises(ProviderAuthError, match="Global Administrator or Privileged Role Administrator"):
        ms.finish_authorization(
            app(fake), code=member_query["code"], redirect_uri=REDIRECT, verifier=pkce.verifier
        )


def test_a_sign_in_without_directory_roles_is_refused_with_the_setting_to_fix(fake: FakeHRServer) -> None:
    """An app registration that does not put directory roles in its tokens cannot tell an admin
    from anyone: refused, naming the setting (never a pass by default)."""
    ms = connector()
    query, pkce = start(ms, app(fake))
    fake.vendor.id_token_claims = {"wids": None}  # type: ignore[attr-defined]

    with pytest.raises(ProviderAuthError, match="groupMembershipClaims"):
        ms.finish_authorization(app(fake), code=query["code"], redirect_uri=REDIRECT, verifier=pkce.verifier)


def test_a_privileged_role_administrator_can_connect(fake: FakeHRServer) -> None:
    ms = connector()
    query, pkce = start(ms, app(fake))
    fake.vendor.id_token_claims = {"wids": [PRIVILEGED_ROLE_ADMINISTRATOR.upper()]}  # type: ignore[attr-defined]

    stored = ms.finish_authorization(
        app(fake), code=query["code"], redirect_uri=REDIRECT, verifier=pkce.verifier
    )

    assert stored.settings["tenant_id"] == fake.credentials["tenant_id"]
