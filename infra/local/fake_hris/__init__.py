"""Fake HR servers on loopback that speak real vendors' APIs (issue 4).

    from infra.local.fake_hris import fake_hris

    with fake_hris("bamboohr", employees=500, seed=7) as fake:
        fake.base_url, fake.credentials          # what a connection needs
        person = fake.hire("Ada", "Lovelace", department="Engineering")
        fake.webhooks_to("http://127.0.0.1:9000/webhooks/c1", secret="s3cret")
        fake.terminate(person.id)                # and the vendor's signed webhook goes out

``hris-sync fake-hris --provider NAME --employees N`` serves the same from the command line.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Literal

from infra.local.company import generate_company
from shared.domain.models import Employee

from .adp import AdpWorkforceNow
from .bamboohr import BambooHR
from .company import Change, FakeCompany, InvalidChange, Person, UnknownEmployee
from .employment_hero import EmploymentHero
from .finch import Finch
from .google import GoogleWorkspace
from .hibob import HiBob
from .merge import Merge
from .microsoft import MicrosoftGraph
from .personio import Personio
from .server import Exchange, FakeHRServer, Fault, RateLimit, Vendor
from .slack import Slack

PROVIDERS: tuple[str, ...] = (
    "bamboohr",
    "personio",
    "hibob",
    "employment_hero",
    "merge",
    "finch",
    "adp_workforce_now",
    "slack",
    "microsoft365",
    "google_workspace",
)


def vendor_class(provider: str) -> type[Vendor]:
    """The fake for a provider name (``ValueError`` for an unknown one)."""
    classes: dict[str, type[Vendor]] = {
        "bamboohr": BambooHR,
        "personio": Personio,
        "hibob": HiBob,
        "employment_hero": EmploymentHero,
        "merge": Merge,
        "finch": Finch,
        "adp_workforce_now": AdpWorkforceNow,
        "adp": AdpWorkforceNow,
        "slack": Slack,
        "microsoft365": MicrosoftGraph,
        "microsoft_365": MicrosoftGraph,
        "google_workspace": GoogleWorkspace,
    }
    try:
        return classes[provider.replace("-", "_")]
    except KeyError:
        raise ValueError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}") from None


def generated_company(n: int, seed: int, today: date) -> list[Employee]:
    """The deterministic company of ``infra.local.company`` (the one generator)."""
    return list(generate_company(n, seed, today))


def fake_hris(
    provider: str,
    *,
    employees: int | Iterable[Employee] = 100,
    seed: int = 1,
    today: date | None = None,
    port: int = 0,
    rate_limit: RateLimit | Literal["vendor"] | None = "vendor",
    **options: Any,
) -> FakeHRServer:
    """A fake HR server for ``provider`` (not started: use it as a context manager, or ``start()``).

    ``employees`` is a head count for the generated company or the employees themselves.
    ``options`` are vendor settings (``api_key``, ``client_id``, ``access_token_ttl`` ...).
    """
    day = today or datetime.now(UTC).date()
    people = generated_company(employees, seed, day) if isinstance(employees, int) else list(employees)
    return FakeHRServer(
        vendor_class(provider), FakeCompany(people), port=port, rate_limit=rate_limit, options=options
    )


__all__ = [
    "PROVIDERS",
    "Change",
    "Exchange",
    "FakeCompany",
    "FakeHRServer",
    "Fault",
    "InvalidChange",
    "Person",
    "RateLimit",
    "UnknownEmployee",
    "fake_hris",
    "vendor_class",
]
