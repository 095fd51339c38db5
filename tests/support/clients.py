"""The boto3 client each kind of access in infra/catalog.py is for: what a function's role lets
its code build and use (the tests compare the clients a function builds with these)."""

from __future__ import annotations

from infra.catalog import Access, FunctionSpec

CLIENT_OF_ACCESS: dict[Access, str | None] = {
    Access.TABLE_READ: "dynamodb",
    Access.TABLE_WRITE: "dynamodb",
    Access.IDEMPOTENCY: "dynamodb",
    Access.BLOBS_READ: "s3",
    Access.BLOBS_WRITE: "s3",
    Access.SECRETS_READ: "secretsmanager",
    Access.SECRETS_WRITE: "secretsmanager",
    Access.SECRETS_MANAGE: "secretsmanager",
    Access.SCHEDULES_MANAGE: "scheduler",
    Access.POLL_SCHEDULES_DELETE: "scheduler",
    Access.WORKFLOW_START: "stepfunctions",
    Access.WEBHOOK_QUEUE_SEND: "sqs",
    Access.MAIL_SEND: "sesv2",
    Access.EVENTS_PUT: "events",
    Access.OAUTH_APPS_READ: "secretsmanager",
    Access.TOKEN_VERIFY: None,
    Access.SUBSCRIPTIONS: None,  # a URL setting; the secrets and table it uses have their own access
}


def clients_allowed(spec: FunctionSpec) -> set[str]:
    """The boto3 clients the function's role has grants for."""
    return {client for access in spec.access if (client := CLIENT_OF_ACCESS[access]) is not None}
