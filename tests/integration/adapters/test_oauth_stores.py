"""OAuth connect's stores on AWS's engines: a pending authorization is taken once (a conditional
delete), even by concurrent callbacks; the OAuth apps are read from ``<prefix>/oauth-apps/``."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import boto3
import pytest
from adapters_support import NOW, needs_atomic_engine, table_for

from shared.adapters.oauth import DynamoOAuthStates, SecretsManagerOAuthApps
from shared.adapters.secrets import SecretsManagerStore
from shared.errors import CorruptItem, InvalidInput
from shared.ports import PendingAuthorization
from shared.providers.base import Credentials, Secret


def _pending(key: str = "k" * 64, tenant: str = "t1") -> PendingAuthorization:
    return PendingAuthorization(
        key=key,
        tenant_id=tenant,
        provider="employment_hero",
        label="EH",
        subject="admin-1",
        email="ada@acme.example",
        return_url="https://admin.acme.example/done",
        redirect_uri="https://api.acme.example/prod/oauth/callback",
        verifier=Secret("v" * 86),
        expires_at=NOW + timedelta(minutes=10),
        settings={"company_domain": "acme"},
        options={"invites": "later", "scope": {"mode": "everyone"}},
    )


def test_a_pending_authorization_is_taken_once_with_all_it_holds(ddb):
    store = DynamoOAuthStates(table_for(ddb))
    store.put(_pending())
    with pytest.raises(InvalidInput):
        store.put(_pending())  # a key is never stored twice
    assert store.take("k" * 64) == _pending()
    assert store.take("k" * 64) is None
    assert store.take("never-stored") is None
    raw = ddb.client.scan(TableName=ddb.table_name)["Items"]
    assert raw == []


def test_the_item_keeps_a_ttl_at_expiry_and_no_state(ddb):
    table = table_for(ddb)
    DynamoOAuthStates(table).put(_pending())
    [item] = ddb.client.scan(TableName=ddb.table_name)["Items"]
    assert item["pk"]["S"] == "OAUTH#" + "k" * 64
    assert int(item["ttl"]["N"]) == int((NOW + timedelta(minutes=10)).timestamp())
    assert item["tenant_id"]["S"] == "t1"


def test_concurrent_callbacks_with_one_state_take_it_once(ddb):
    needs_atomic_engine(ddb)
    store = DynamoOAuthStates(table_for(ddb))
    store.put(_pending())
    barrier = threading.Barrier(6)

    def take(_: int) -> bool:
        barrier.wait()
        return store.take("k" * 64) is not None

    with ThreadPoolExecutor(6) as pool:
        taken = list(pool.map(take, range(6)))
    assert taken.count(True) == 1


def test_oauth_apps_are_read_from_their_folder_and_a_missing_one_is_none(aws):
    client = boto3.client("secretsmanager")
    client.create_secret(
        Name="hris-sync/test/oauth-apps/employment_hero",
        SecretString=json.dumps({"secrets": {"client_id": "id", "client_secret": "s3cr3t"}, "settings": {}}),
    )
    client.create_secret(Name="hris-sync/test/oauth-apps/bamboohr", SecretString="not json s3cr3t")
    apps = SecretsManagerOAuthApps(prefix="hris-sync/test", client=client)
    app = apps.get("employment_hero")
    assert app == Credentials(secrets={"client_id": Secret("id"), "client_secret": Secret("s3cr3t")})
    assert apps.get("personio") is None
    with pytest.raises(CorruptItem) as corrupt:
        apps.get("bamboohr")
    assert "s3cr3t" not in str(corrupt.value)
    with pytest.raises(InvalidInput):
        apps.get("../other")


def test_no_tenant_secret_can_be_stored_in_the_oauth_apps_folder(aws):
    store = SecretsManagerStore(prefix="hris-sync/test", client=boto3.client("secretsmanager"))
    with pytest.raises(InvalidInput):
        store.put("oauth-apps", "employment_hero", Credentials(secrets={"api_key": Secret("x")}))
