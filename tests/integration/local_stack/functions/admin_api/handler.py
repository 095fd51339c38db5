"""A stand-in for functions/admin_api: answers with the tenant the authorizer verified."""

from __future__ import annotations

import json
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    claims = event["requestContext"]["authorizer"]["claims"]
    body = {"tenant_id": claims["custom:tenant_id"], "path": event["path"], "method": event["httpMethod"]}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
