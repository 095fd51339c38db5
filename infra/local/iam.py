"""Each function's IAM policy as the synthesized template states it, and whether it allows a call.

``FunctionPolicies.from_template`` finds each function's role (``Role: Fn::GetAtt [<role>, Arn]``)
and every statement of the ``AWS::IAM::Policy`` resources attached to it (and the role's inline
policies), with their resources resolved by the local stack's ``Resolver`` to concrete ARNs (the
same names and ARNs the functions' environments hold). A role with a managed policy, or a statement
using ``NotAction``/``NotResource`` or a condition operator this module does not evaluate, is
refused: the check is exact, never permissive.

``allows(function, need)`` evaluates as IAM does for one identity policy: an explicit Deny wins,
else some Allow must match the action (wildcards ``*``/``?``, case-insensitive), the resource
(wildcards, case-sensitive) and every condition (against the request's context keys).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from infra.local.calls import AwsCall, Need
from infra.local.template import Resolver, TemplateError, resources_of_type

_CONDITIONS = {"StringEquals", "StringLike"}


@lru_cache(maxsize=1024)
def _pattern(glob: str, *, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.IGNORECASE if ignore_case else 0)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (operator, key, values)

    @classmethod
    def parse(cls, raw: Mapping[str, Any], resolve: Resolver, where: str) -> Statement:
        unsupported = {"NotAction", "NotResource", "NotPrincipal"} & set(raw)
        if unsupported:
            raise TemplateError(f"{where}: {sorted(unsupported)} are not evaluated here")
        conditions: list[tuple[str, str, tuple[str, ...]]] = []
        for operator, tests in (raw.get("Condition") or {}).items():
            if operator not in _CONDITIONS:
                raise TemplateError(f"{where}: condition {operator} is not evaluated here")
            for key, values in tests.items():
                conditions.append((operator, key, tuple(str(v) for v in _listed(resolve(values)))))
        return cls(
            effect=str(raw["Effect"]),
            actions=tuple(str(a) for a in _listed(raw["Action"])),
            resources=tuple(str(resolve(r)) for r in _listed(raw["Resource"])),
            conditions=tuple(conditions),
        )

    def matches(self, need: Need) -> bool:
        if not any(_pattern(a, ignore_case=True).match(need.action) for a in self.actions):
            return False
        if not any(_pattern(r, ignore_case=False).match(need.resource) for r in self.resources):
            return False
        context = dict(need.context)
        for operator, key, values in self.conditions:
            given = context.get(key)
            if given is None:
                return False
            if operator == "StringEquals" and given not in values:
                return False
            if operator == "StringLike" and not any(
                _pattern(v, ignore_case=False).match(given) for v in values
            ):
                return False
        return True


@dataclass(frozen=True)
class Denied:
    call: AwsCall
    need: Need

    def __str__(self) -> str:
        return (
            f"{self.call.function} may not {self.call.service}:{self.call.operation} "
            f"({self.need.action} on {self.need.resource})"
        )


class FunctionPolicies:
    """The statements of each function's role, by the function's catalog name (``admin_api`` ...)."""

    def __init__(self, statements: Mapping[str, tuple[Statement, ...]]) -> None:
        self.statements = dict(statements)

    @classmethod
    def from_template(cls, template: Mapping[str, Any], resolve: Resolver) -> FunctionPolicies:
        roles = resources_of_type(template, "AWS::IAM::Role")
        policies = resources_of_type(template, "AWS::IAM::Policy")
        found: dict[str, tuple[Statement, ...]] = {}
        for logical_id, function in resources_of_type(template, "AWS::Lambda::Function").items():
            props = function.get("Properties") or {}
            handler = str(props.get("Handler", ""))
            if not handler.startswith("functions."):
                continue  # CDK's own helpers
            role_ref = props.get("Role") or {}
            if not isinstance(role_ref, dict) or "Fn::GetAtt" not in role_ref:
                raise TemplateError(f"{logical_id}: its role is not a role of this template")
            role_id = role_ref["Fn::GetAtt"][0]
            role = roles[role_id].get("Properties") or {}
            if role.get("ManagedPolicyArns"):
                raise TemplateError(f"{role_id}: managed policies are not evaluated here")
            raw: list[tuple[Mapping[str, Any], str]] = [
                (s, f"{role_id} inline {p.get('PolicyName')}")
                for p in role.get("Policies") or []
                for s in p["PolicyDocument"]["Statement"]
            ]
            for policy_id, policy in policies.items():
                body = policy.get("Properties") or {}
                if {"Ref": role_id} in body.get("Roles", []):
                    raw += [(s, policy_id) for s in body["PolicyDocument"]["Statement"]]
            found[handler.split(".")[1]] = tuple(Statement.parse(s, resolve, where) for s, where in raw)
        return cls(found)

    def allows(self, function: str, need: Need) -> bool:
        statements = self.statements.get(function)
        if statements is None:
            return False
        if any(s.effect == "Deny" and s.matches(need) for s in statements):
            return False
        return any(s.effect == "Allow" and s.matches(need) for s in statements)

    def denied(self, calls: Iterable[AwsCall]) -> list[Denied]:
        """Every permission the calls needed that the function's policy does not grant."""
        return [
            Denied(call, need)
            for call in calls
            for need in call.needs
            if not self.allows(call.function, need)
        ]
