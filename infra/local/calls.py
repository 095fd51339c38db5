"""Every AWS call each function makes in the local stack, recorded with botocore's event hooks.

``AwsCallLog.install()`` registers one ``before-parameter-build`` handler on boto3's default
session: every client built from it afterwards (``boto3.client``, which is how the adapters and
Powertools' idempotency layer build theirs) copies the handler, so each API call a handler makes
is seen with its service, operation and parameters, before it is sent. ``LocalFunctions.invoke``
runs a handler inside ``running_as(function)``, so a call is attributed to the function whose
handler made it; calls made outside any invocation (the stack creating its resources, the queue
poller, the tests' own clients) are not the functions' and are not recorded.

Each call is turned into what IAM authorizes (``Need``: action, resource ARN, request context),
with the account and region the local stack's resolver uses, so the needs can be checked against
the policies of the synthesized template (``infra.local.iam``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3

from infra.local.template import ACCOUNT, REGION

_RUNNING: ContextVar[str | None] = ContextVar("hris_sync_local_function", default=None)
_HOOK_ID = "hris-sync-local-aws-call-log"
# Secrets Manager appends six random characters to a secret's name in its ARN.
SECRET_SUFFIX = "-AbCdEf"  # noqa: S105 - a fixed ARN suffix, not a credential


@contextmanager
def running_as(function: str) -> Iterator[None]:
    """Attribute the AWS calls made in this block (this thread or task) to ``function``."""
    token = _RUNNING.set(function)
    try:
        yield
    finally:
        _RUNNING.reset(token)


@dataclass(frozen=True, slots=True)
class Need:
    """One permission a call needs: an action on a resource, with the request's condition keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AwsCall:
    function: str
    service: str
    operation: str
    needs: tuple[Need, ...]

    def __str__(self) -> str:
        resources = ", ".join(sorted({n.resource for n in self.needs}))
        return f"{self.function}: {self.service} {self.operation} on {resources}"


class UnmappedCall(LookupError):
    """A call whose resource this module cannot name: extend ``needs_of`` (never guess)."""


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _table(name: str) -> str:
    return name if name.startswith("arn:") else _arn("dynamodb", f"table/{name}")


def _dynamodb(operation: str, params: Mapping[str, Any]) -> list[Need]:
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Need(f"dynamodb:{operation}", _table(t)) for t in params.get("RequestItems", {})]
    if operation == "TransactWriteItems":
        kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
        kinds["ConditionCheck"] = "ConditionCheckItem"
        return [
            Need(f"dynamodb:{kinds[kind]}", _table(body["TableName"]))
            for item in params.get("TransactItems", [])
            for kind, body in item.items()
        ]
    if operation == "TransactGetItems":
        return [
            Need("dynamodb:GetItem", _table(item["Get"]["TableName"]))
            for item in params.get("TransactItems", [])
        ]
    table = params.get("TableName")
    if not table:
        raise UnmappedCall(f"dynamodb {operation} without a TableName")
    resource = _table(table)
    if params.get("IndexName"):
        resource = f"{resource}/index/{params['IndexName']}"
    return [Need(f"dynamodb:{operation}", resource)]


def _s3(operation: str, params: Mapping[str, Any]) -> list[Need]:
    bucket = f"arn:aws:s3:::{params['Bucket']}"
    if operation in ("ListObjectsV2", "ListObjects"):
        return [Need("s3:ListBucket", bucket)]
    if "Key" not in params:
        raise UnmappedCall(f"s3 {operation} without a Key")
    action = {"HeadObject": "GetObject"}.get(operation, operation)
    return [Need(f"s3:{action}", f"{bucket}/{params['Key']}")]


def _secret(params: Mapping[str, Any]) -> str:
    name = str(params.get("SecretId") or params.get("Name") or "")
    if not name:
        raise UnmappedCall("a secretsmanager call without a SecretId or Name")
    return name if name.startswith("arn:") else _arn("secretsmanager", f"secret:{name}{SECRET_SUFFIX}")


def _secretsmanager(operation: str, params: Mapping[str, Any]) -> list[Need]:
    secret = _secret(params)
    needs = [Need(f"secretsmanager:{operation}", secret)]
    if operation == "CreateSecret" and params.get("Tags"):
        needs.append(Need("secretsmanager:TagResource", secret))
    if params.get("KmsKeyId"):
        raise UnmappedCall("secretsmanager with a customer managed key: name the key's permissions here")
    return needs


def _scheduler(operation: str, params: Mapping[str, Any]) -> list[Need]:
    group = params.get("GroupName") or "default"
    needs = [Need(f"scheduler:{operation}", _arn("scheduler", f"schedule/{group}/{params['Name']}"))]
    role = (params.get("Target") or {}).get("RoleArn")
    if role:  # the schedule runs as this role: the caller must be allowed to pass it
        needs.append(Need("iam:PassRole", role, (("iam:PassedToService", "scheduler.amazonaws.com"),)))
    return needs


def _stepfunctions(operation: str, params: Mapping[str, Any]) -> list[Need]:
    resource = params.get("stateMachineArn") or params.get("executionArn")
    if not resource:
        raise UnmappedCall(f"states {operation} without a state machine or execution ARN")
    return [Need(f"states:{operation}", str(resource))]


def _sqs(operation: str, params: Mapping[str, Any]) -> list[Need]:
    url = params.get("QueueUrl")
    if not url:
        raise UnmappedCall(f"sqs {operation} without a QueueUrl")
    name = urlsplit(str(url)).path.rstrip("/").rsplit("/", 1)[-1]
    return [Need(f"sqs:{operation}", _arn("sqs", name))]


def _sesv2(operation: str, params: Mapping[str, Any]) -> list[Need]:
    if operation != "SendEmail":
        raise UnmappedCall(f"sesv2 {operation}")
    sender = str(params.get("FromEmailAddress") or "")
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    # SES authorizes a send of raw MIME content as ses:SendRawEmail, of simple content as ses:SendEmail.
    action = "ses:SendRawEmail" if "Raw" in (params.get("Content") or {}) else "ses:SendEmail"
    needs = [Need(action, _arn("ses", f"identity/{address}"))]
    if params.get("ConfigurationSetName"):
        needs.append(Need(action, _arn("ses", f"configuration-set/{params['ConfigurationSetName']}")))
    return needs


def _events(operation: str, params: Mapping[str, Any]) -> list[Need]:
    if operation != "PutEvents":
        raise UnmappedCall(f"events {operation}")
    buses = {str(entry.get("EventBusName") or "default") for entry in params.get("Entries", [])}
    return [
        Need("events:PutEvents", bus if bus.startswith("arn:") else _arn("events", f"event-bus/{bus}"))
        for bus in sorted(buses)
    ]


_BY_SERVICE: dict[str, Callable[[str, Mapping[str, Any]], list[Need]]] = {
    "dynamodb": _dynamodb,
    "s3": _s3,
    "secretsmanager": _secretsmanager,
    "scheduler": _scheduler,
    "stepfunctions": _stepfunctions,
    "sqs": _sqs,
    "sesv2": _sesv2,
    "events": _events,
}


def needs_of(service: str, operation: str, params: Mapping[str, Any]) -> tuple[Need, ...]:
    """What IAM must allow for this call; ``UnmappedCall`` when this module cannot say."""
    mapper = _BY_SERVICE.get(service)
    if mapper is None:
        raise UnmappedCall(f"{service} {operation}: no rule for this service")
    return tuple(mapper(operation, params))


class AwsCallLog:
    """The distinct AWS calls of each function (with how often each was made)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[AwsCall] = Counter()
        self._unmapped: list[str] = []
        self._session: Any = None

    def install(self, session: Any | None = None) -> AwsCallLog:
        """Hook the (default) boto3 session: every client built from it afterwards is recorded."""
        if session is None:
            if boto3.DEFAULT_SESSION is None:
                boto3.setup_default_session()
            session = boto3.DEFAULT_SESSION
        assert session is not None  # noqa: S101 - set just above
        session.events.register("before-parameter-build", self._seen, unique_id=_HOOK_ID)
        self._session = session
        return self

    def uninstall(self) -> None:
        if self._session is not None:
            self._session.events.unregister("before-parameter-build", unique_id=_HOOK_ID)
            self._session = None

    def _seen(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        function = _RUNNING.get()
        if function is None:
            return
        service, operation = model.service_model.service_name, model.name
        try:
            call = AwsCall(function, service, operation, needs_of(service, operation, params))
        except (UnmappedCall, KeyError, TypeError, AttributeError) as error:
            with self._lock:
                self._unmapped.append(f"{function}: {service} {operation}: {error!r}")
            return
        with self._lock:
            self._calls[call] += 1

    def calls(self) -> list[AwsCall]:
        with self._lock:
            return sorted(self._calls, key=str)

    def unmapped(self) -> list[str]:
        """Calls whose resource could not be named (each one fails the IAM check)."""
        with self._lock:
            return list(self._unmapped)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._unmapped.clear()
