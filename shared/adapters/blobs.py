"""Blobs (snapshot pages, plans) in S3. Keys start with the tenant, like every table key.

A missing key is ``BlobNotFound``: S3 answers NoSuchKey (404) for it only to a caller that may
list the bucket, so every function that reads blobs is granted ``s3:ListBucket`` on it
(``infra/constructs/functions.py``). Without it S3 answers AccessDenied, which stays
``AwsAccessDenied`` (a deployment fault), never read as "not found".
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from shared.adapters.aws_errors import is_not_found, typed
from shared.adapters.clients import aws_client
from shared.errors import BlobNotFound, HrisSyncError, InvalidInput


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or len(key.encode()) > 1024 or ".." in key.split("/"):
        raise InvalidInput("a blob key is 1-1024 bytes, relative, without '..'", field="key")
    return key


class S3BlobStore:
    """``BlobStore`` on one S3 bucket (server-side encryption is the bucket's default)."""

    def __init__(self, bucket: str, *, client: Any | None = None) -> None:
        self._bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("s3")
        return self._client

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self._bucket, Key=_check_key(key), Body=data)
        except ClientError as error:
            raise _typed(error, "PutObject", key) from None

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self._bucket, Key=_check_key(key))
        except ClientError as error:
            raise _typed(error, "GetObject", key) from None
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self._bucket, Key=_check_key(key))
        except ClientError as error:
            if is_not_found(error):
                return
            raise _typed(error, "DeleteObject", key) from None


def _typed(error: ClientError, operation: str, key: str) -> HrisSyncError:
    if is_not_found(error):
        return BlobNotFound(key)
    return typed(error, operation, f"blob {key!r}")
