"""Connection credentials in Secrets Manager: one secret per connection, named
``<prefix>/<tenant>/<connection>``. Values never appear in a log, an error or a repr: errors name
the connection, never the secret's content.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.aws_errors import error_code, typed
from shared.adapters.clients import aws_client
from shared.errors import CorruptItem, HrisSyncError, InvalidInput, SecretNotFound
from shared.providers.base import Credentials, Secret

_NAME_PART = re.compile(r"^[A-Za-z0-9_+=.@-]{1,200}$")
DEFAULT_PREFIX = "hris-sync"
# ``<prefix>/oauth-apps/<provider>``: the SaaS team's OAuth apps, beside the tenants' folders.
RESERVED_FOLDER = "oauth-apps"


def _part(value: str, what: str) -> str:
    if not _NAME_PART.match(value):
        raise InvalidInput(f"{what} cannot be part of a secret name", field=what)
    return value


class SecretsManagerStore:
    """``SecretStore`` on AWS Secrets Manager."""

    def __init__(
        self, *, prefix: str = DEFAULT_PREFIX, kms_key_id: str | None = None, client: Any | None = None
    ) -> None:
        self._prefix = prefix.strip("/")
        self._kms_key_id = kms_key_id
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("secretsmanager")
        return self._client

    def name(self, tenant_id: str, connection_id: str) -> str:
        if tenant_id == RESERVED_FOLDER:
            # The OAuth apps' folder (shared.adapters.oauth): no tenant's secret may live there.
            raise InvalidInput("this tenant id cannot name a secret", field="tenant_id")
        return f"{self._prefix}/{_part(tenant_id, 'tenant_id')}/{_part(connection_id, 'connection_id')}"

    def put(self, tenant_id: str, connection_id: str, credentials: Credentials) -> None:
        """Replace the value (``PutSecretValue``: what a token refresh needs, and all the functions
        that refresh may do); create the secret only when it does not exist yet (connect)."""
        name = self.name(tenant_id, connection_id)
        value = json.dumps(
            {
                "secrets": {k: v.reveal() for k, v in credentials.secrets.items()},
                "settings": dict(credentials.settings),
            },
            sort_keys=True,
        )
        try:
            self.client.put_secret_value(SecretId=name, SecretString=value)
            return
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise _typed(error, "PutSecretValue", connection_id) from None
        kwargs: dict[str, Any] = {
            "Name": name,
            "SecretString": value,
            "Tags": [
                {"Key": "hris-sync:tenant", "Value": tenant_id},
                {"Key": "hris-sync:connection", "Value": connection_id},
            ],
        }
        if self._kms_key_id:
            kwargs["KmsKeyId"] = self._kms_key_id
        try:
            self.client.create_secret(**kwargs)
        except ClientError as error:
            if error_code(error) != "ResourceExistsException":
                raise _typed(error, "CreateSecret", connection_id) from None
            # Created by a concurrent put since ours found none: replace its value.
            try:
                self.client.put_secret_value(SecretId=name, SecretString=value)
            except ClientError as again:
                raise _typed(again, "PutSecretValue", connection_id) from None

    def get(self, tenant_id: str, connection_id: str) -> Credentials:
        name = self.name(tenant_id, connection_id)
        try:
            response = self.client.get_secret_value(SecretId=name)
        except ClientError as error:
            raise _typed(error, "GetSecretValue", connection_id) from None
        try:
            plain = json.loads(response.get("SecretString") or "")
            secrets = {str(k): Secret(str(v)) for k, v in plain["secrets"].items()}
            settings = {str(k): str(v) for k, v in plain.get("settings", {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            # Never chain the parsing error: its message could quote the value.
            raise CorruptItem(f"secret {name!r}", "not a credentials document") from None
        return Credentials(secrets=secrets, settings=settings)

    def delete(self, tenant_id: str, connection_id: str) -> None:
        name = self.name(tenant_id, connection_id)
        try:
            # No recovery window: disconnecting removes the credentials (R20).
            self.client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return
            raise _typed(error, "DeleteSecret", connection_id) from None


def _typed(error: ClientError, operation: str, connection_id: str) -> HrisSyncError:
    if error_code(error) == "ResourceNotFoundException":
        return SecretNotFound(connection_id)
    # A new error without AWS's message: the request could have carried a value.
    return typed(error, operation, f"connection {connection_id!r}")
