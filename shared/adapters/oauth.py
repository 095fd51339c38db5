"""OAuth connect's two stores: pending authorizations in the table, the OAuth apps in Secrets Manager.

- A pending authorization is one item ``OAUTH#<state digest>`` / ``OAUTHSTATE``: the public
  callback knows only the state, so the key is not under a tenant (the item names its tenant, as
  the webhook route item does). Taken with one ``DeleteItem`` conditioned on the item existing,
  returning the old item: of two callbacks with one state, exactly one finds it. The item carries
  the table's TTL attribute at its expiry; readers never rely on TTL (its deletes are lazy): the
  service compares ``expires_at`` with its clock.
- An OAuth app is the secret ``<prefix>/oauth-apps/<provider>`` (the same credentials document as a
  connection's secret: ``{"secrets": {"client_id", "client_secret"}, "settings": {...}}``),
  created at deploy time by the SaaS team, read by the admin API only (IAM), cached per container.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters import keys
from shared.adapters.aws_errors import error_code, typed
from shared.adapters.clients import aws_client
from shared.adapters.dynamo import DynamoTable, Item, epoch, key, num_attr, str_attr
from shared.adapters.secrets import DEFAULT_PREFIX, RESERVED_FOLDER
from shared.errors import CorruptItem, InvalidInput
from shared.ports import PendingAuthorization
from shared.providers.base import Credentials, Secret

OAUTH_APPS_FOLDER = RESERVED_FOLDER


class DynamoOAuthStates:
    """``OAuthStateStore`` on the single table."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    @staticmethod
    def _key(state_key: str) -> Item:
        return key(keys.oauth_state_pk(state_key), keys.OAUTH_STATE_SK)

    def put(self, pending: PendingAuthorization) -> None:
        item: Item = {
            **self._key(pending.key),
            "entity": str_attr("oauth_state"),
            "tenant_id": str_attr(pending.tenant_id),
            "provider": str_attr(pending.provider),
            "label": str_attr(pending.label),
            "subject": str_attr(pending.subject),
            "return_url": str_attr(pending.return_url),
            "redirect_uri": str_attr(pending.redirect_uri),
            "expires_at": str_attr(pending.expires_at.isoformat()),
            "settings": str_attr(json.dumps(dict(pending.settings), sort_keys=True)),
            "options": str_attr(json.dumps(dict(pending.options), sort_keys=True)),
            "ttl": num_attr(epoch(pending.expires_at)),
        }
        if pending.email is not None:
            item["email"] = str_attr(pending.email)
        if pending.verifier is not None:
            item["verifier"] = str_attr(pending.verifier.reveal())
        try:
            self._table.put_item(
                TableName=self._table.table_name, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                # A random 256-bit state's digest never repeats; refusing keeps a replay impossible.
                raise InvalidInput("this OAuth state is already pending", field="state") from None
            raise

    def take(self, state_key: str) -> PendingAuthorization | None:
        try:
            answer = self._table.delete_item(
                TableName=self._table.table_name,
                Key=self._key(state_key),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise
        old = answer.get("Attributes")
        return None if not old else _pending(state_key, old)


def _text(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, dict) or not isinstance(value.get("S"), str):
        raise CorruptItem("an OAuth state", f"no {name}")
    return str(value["S"])


def _pending(state_key: str, item: Mapping[str, Any]) -> PendingAuthorization:
    try:
        settings = json.loads(_text(item, "settings"))
        options = json.loads(_text(item, "options"))
        expires_at = datetime.fromisoformat(_text(item, "expires_at"))
        if not isinstance(settings, dict) or not isinstance(options, dict):
            raise TypeError("not objects")
    except (ValueError, TypeError):
        raise CorruptItem("an OAuth state", "unreadable settings, options or expiry") from None
    verifier = item.get("verifier", {}).get("S")
    email = item.get("email", {}).get("S")
    return PendingAuthorization(
        key=state_key,
        tenant_id=_text(item, "tenant_id"),
        provider=_text(item, "provider"),
        label=_text(item, "label"),
        subject=_text(item, "subject"),
        email=str(email) if isinstance(email, str) else None,
        return_url=_text(item, "return_url"),
        redirect_uri=_text(item, "redirect_uri"),
        verifier=Secret(verifier) if isinstance(verifier, str) else None,
        expires_at=expires_at,
        settings={str(k): str(v) for k, v in settings.items()},
        options=options,
    )


class SecretsManagerOAuthApps:
    """``OAuthApps`` on Secrets Manager: ``<prefix>/oauth-apps/<provider>``, read on each use (an
    OAuth connect's start and callback are rare; a rotated app secret applies at once)."""

    def __init__(self, *, prefix: str = DEFAULT_PREFIX, client: Any | None = None) -> None:
        self._prefix = prefix.strip("/")
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("secretsmanager")
        return self._client

    def name(self, provider: str) -> str:
        return oauth_app_secret_name(self._prefix, provider)

    def get(self, provider: str) -> Credentials | None:
        try:
            answer = self.client.get_secret_value(SecretId=self.name(provider))
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise typed(error, "GetSecretValue", f"the OAuth app of {provider!r}") from None
        return _app(answer.get("SecretString"), provider)


def oauth_app_secret_name(prefix: str, provider: str) -> str:
    if not provider.replace("_", "").isalnum() or len(provider) > 64:
        raise InvalidInput("a provider name cannot be part of a secret name", field="provider")
    return f"{prefix.strip('/')}/{OAUTH_APPS_FOLDER}/{provider}"


def _app(text: Any, provider: str) -> Credentials:
    try:
        plain = json.loads(text or "")
        secrets = {str(k): Secret(str(v)) for k, v in plain["secrets"].items()}
        settings = {str(k): str(v) for k, v in plain.get("settings", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        # Never chain the parsing error: its message could quote the value.
        raise CorruptItem(f"the OAuth app of {provider!r}", "not a credentials document") from None
    return Credentials(secrets=secrets, settings=settings)
