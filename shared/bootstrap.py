"""Every port on AWS, from a function's settings: the tests' stacks.

A function's composition root builds, on its first invocation, only the adapters its use cases
name (a frozen dataclass of exactly those ports: ``IntakePorts``, ``SyncStepsPorts`` ...), so its
first call builds only the boto3 clients its role allows; the admin API's root builds each adapter
when a route's use case first touches it (``functions.admin_api.handler.AdminPorts``).
``build_ports`` builds them all (``Ports``). Importing a handler reads no settings and builds no
client; ``reset_all()`` forgets the cached settings (after changing the environment).
"""

from __future__ import annotations

from shared.adapters.factory import AwsAdapters
from shared.ports import ConnectionStore, SecretStore
from shared.services.context import Ports, ServiceSettings
from shared.services.provider_lookup import registry_lookup
from shared.settings import FunctionSettings, load


def reset_all() -> None:
    """Forget the cached settings (tests, a new local stack): the next root built reads them again."""
    load.cache_clear()


def build_ports(
    settings: FunctionSettings,
    *,
    adapters: AwsAdapters | None = None,
    connections: ConnectionStore | None = None,
    secrets: SecretStore | None = None,
    service_settings: ServiceSettings | None = None,
) -> Ports:
    """The services' ports on AWS, from a function's settings.

    ``connections`` and ``secrets`` replace the plain adapters (the webhook ingest passes cached
    ones).
    """
    aws = adapters or AwsAdapters(settings.resources())
    return Ports(
        connections=connections or aws.connections,
        members=aws.members,
        tasks=aws.tasks,
        audit=aws.audit,
        runs=aws.runs,
        lock=aws.lock,
        pending=aws.pending,
        webhook_guard=aws.webhook_guard,
        token_lock=aws.token_lock,
        blobs=aws.blobs,
        secrets=secrets or aws.secrets,
        scheduler=aws.scheduler,
        poll_schedules=aws.poll_schedules,
        workflow=aws.workflow,
        mailer=aws.mailer,
        events=aws.events,
        clock=aws.clock,
        ids=aws.ids,
        providers=registry_lookup(),
        oauth_states=aws.oauth_states,
        oauth_apps=aws.oauth_apps,
        portal=aws.portal,
        settings=service_settings or ServiceSettings(),
    )
