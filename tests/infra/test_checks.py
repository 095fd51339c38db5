"""cdk-nag (AwsSolutions) and cfn-lint on the synthesized stack."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.infra.conftest import FIXTURE_FUNCTIONS, OIDC_CONTEXT, Synthesized

# Regions the stack is meant for (every service it uses exists there); cfn-lint checks each.
LINT_REGIONS = ("us-east-1", "eu-west-1")
# cfn-lint warnings that come from how CDK writes templates, not from our resources.
CDK_WARNINGS = {
    # CDK adds an explicit DependsOn from a function to its role's default policy, on top of the
    # GetAtt on the role: the duplicate dependency is deliberate (the policy must exist first).
    "W3005",
}


def test_cdk_nag_is_clean_every_finding_fixed_or_acknowledged(stack: Synthesized) -> None:
    # The session's synth ran AwsSolutions (an unacknowledged finding raises there); its report
    # lists no violation, and every acknowledgment is in the template with its written reason.
    report = json.loads((stack.outdir / "validation-report.json").read_text())
    assert [p for p in report["pluginReports"] if p.get("violations")] == []
    acknowledged: dict[str, str] = {}
    for resource in stack.resources.values():
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            acknowledged[rule["id"]] = rule["reason"]
    assert all(len(reason) >= 20 for reason in acknowledged.values())
    rules = {rule_id.split("[")[0] for rule_id in acknowledged}
    assert rules == {
        "AwsSolutions-S1",  # the access-log bucket itself
        "AwsSolutions-IAM4",  # API Gateway's account logging role
        "AwsSolutions-IAM5",  # resource patterns only (below)
        "AwsSolutions-APIG4",  # the webhook route and CORS preflight
        "AwsSolutions-COG4",
        "AwsSolutions-COG3",  # Cognito threat protection (Plus plan)
        "AwsSolutions-COG8",
        "AwsSolutions-L1",  # python3.12: the tests' Python (runtime parity), not the newest runtime
        # The schedules' dead-letter queue: schedules created at run time name it, which cdk-nag
        # cannot see (it looks for a queue's or a function's dead-letter reference).
        "AwsSolutions-SQS3",
    }
    assert not [rule_id for rule_id in acknowledged if "[Action::" in rule_id], "no wildcard action"


def test_a_new_unacknowledged_finding_fails_the_synth(tmp_path_factory: pytest.TempPathFactory) -> None:
    from aws_cdk import App, Stack
    from aws_cdk import aws_sqs as sqs

    from infra import nag

    app = App(outdir=str(tmp_path_factory.mktemp("nag")))
    stack = Stack(app, "Probe")
    sqs.Queue(stack, "PlainQueue")  # no DLQ, no TLS-only policy
    nag.check(app)
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    assert "AwsSolutions-SQS3" in str(failure.value)
    assert "AwsSolutions-SQS4" in str(failure.value)


def test_an_acknowledgment_needs_a_reason() -> None:
    from aws_cdk import App

    from infra.nag import acknowledge

    with pytest.raises(ValueError, match="real reason"):
        acknowledge(App(), "AwsSolutions-S1", "because")


@pytest.mark.parametrize("variant", ["cognito", "oidc"])
def test_cfn_lint_is_clean_on_the_synthesized_template(
    synth_with: Callable[..., Synthesized], stack: Synthesized, variant: str
) -> None:
    from cfnlint.api import ManualArgs, lint

    target = stack if variant == "cognito" else _oidc(synth_with)
    template = (target.outdir / "HrisSync-dev.template.json").read_text()
    # The OIDC variant differs only in the API's authorizer: one region is enough for it.
    regions = list(LINT_REGIONS) if variant == "cognito" else [LINT_REGIONS[0]]
    found = lint(template, config=ManualArgs(regions=regions))
    matches = [m for m in found if m.rule.id[0] in "EW" and m.rule.id not in CDK_WARNINGS]
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in matches] == []


def _oidc(synth_with: Callable[..., Synthesized]) -> Synthesized:
    return synth_with(functions_root=str(FIXTURE_FUNCTIONS), **OIDC_CONTEXT)


def test_an_oidc_issuer_puts_a_token_authorizer_on_every_v1_method(
    synth_with: Callable[..., Synthesized],
) -> None:
    stack = _oidc(synth_with)
    assert not stack.of_type("AWS::Cognito::UserPool")
    ((authorizer_id, authorizer),) = stack.of_type("AWS::ApiGateway::Authorizer").items()
    assert authorizer["Properties"]["Type"] == "TOKEN"
    methods = [m["Properties"] for m in stack.of_type("AWS::ApiGateway::Method").values()]
    secured = [m for m in methods if m["AuthorizationType"] != "NONE"]
    assert len(secured) == 1
    assert secured[0]["AuthorizationType"] == "CUSTOM"
    assert secured[0]["AuthorizerId"] == {"Ref": authorizer_id}
    verifier = next(
        f["Properties"]
        for f in stack.of_type("AWS::Lambda::Function").values()
        if f["Properties"]["FunctionName"].endswith("api_authorizer")
    )
    assert verifier["Environment"]["Variables"]["OIDC_ISSUER"] == "https://login.example.com/tenant-a/v2.0"
    assert verifier["Environment"]["Variables"]["OIDC_AUDIENCE"] == "api://hris-sync"
