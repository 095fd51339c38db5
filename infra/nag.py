"""cdk-nag (v3) on every synth, and the one way this code acknowledges a finding: with a reason."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def check(app: App) -> None:
    """Run the AWS Solutions checks when the app synthesizes; a new finding fails the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept one finding (`AwsSolutions-IAM5[Resource::*]`) on `scope` and below, saying why."""
    if len(reason) < 20:
        raise ValueError(f"acknowledging {rule} needs a real reason, not {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def nag_form(scope: IConstruct, value: str) -> str:
    """A (token) string as cdk-nag writes it in a finding id: `<Logical.Arn>`, `<AWS::Region>`."""
    return _flatten(Stack.of(scope).resolve(value))


def _flatten(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_flatten(part) for part in parts)
    raise ValueError(f"cannot name {value!r} as cdk-nag does")
