"""The REST API token authorizer's use case: a ``TOKEN`` event in, an IAM policy out.

API Gateway sends ``{"type": "TOKEN", "authorizationToken": "Bearer <jwt>", "methodArn": ...}``.
A verified token gets an Allow on every method under ``/v1/`` of the calling API's stage (API
Gateway caches the answer per token for the authorizer's TTL, so the policy must cover the whole
admin API, not only the method first called) and the ``context`` map the admin API reads; any
other outcome is a ``TokenRejected`` (the handler answers API Gateway's ``Unauthorized``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.auth.jwt_verify import TokenRejected, TokenVerifier, VerifiedToken

API_PREFIX = "v1"
_BEARER = re.compile(r"^Bearer +(?P<token>[-0-9A-Za-z._~+/]+=*) *$", re.IGNORECASE)
_METHOD_ARN = re.compile(
    r"^(?P<api>arn:aws[\w-]*:execute-api:[\w-]+:\d{12}:[A-Za-z0-9]+)/(?P<stage>[\w-]+)/[A-Z*]+/.*$"
)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    token: str
    method_arn: str

    def __repr__(self) -> str:  # the token is a credential: never in a repr
        return f"TokenRequest(method_arn={self.method_arn!r})"

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> TokenRequest:
        if event.get("type") != "TOKEN":
            raise TokenRejected("not_a_token_event")
        header = event.get("authorizationToken")
        method_arn = event.get("methodArn")
        if not isinstance(method_arn, str):
            raise TokenRejected("bad_method_arn")
        match = _BEARER.match(header) if isinstance(header, str) else None
        if match is None:
            raise TokenRejected("not_a_bearer_token")
        return cls(token=match["token"], method_arn=method_arn)


def allow_policy(principal_id: str, method_arn: str, context: Mapping[str, str]) -> dict[str, Any]:
    """An Allow for every method under ``/v1/`` of the API and stage ``method_arn`` names."""
    match = _METHOD_ARN.match(method_arn)
    if match is None:
        raise TokenRejected("bad_method_arn")
    resource = f"{match['api']}/{match['stage']}/*/{API_PREFIX}/*"
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": dict(context),
    }


def authorize(
    verifier: TokenVerifier, event: Mapping[str, Any], now: datetime
) -> tuple[VerifiedToken, dict[str, Any]]:
    """The verified token and the policy answering ``event`` (``TokenRejected`` otherwise)."""
    request = TokenRequest.parse(event)
    verified = verifier.verify(request.token, now)
    return verified, allow_policy(verified.subject, request.method_arn, verified.context())
