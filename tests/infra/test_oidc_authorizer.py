"""The stack with an OIDC issuer (context ``oidc_issuer``/``oidc_audience``): every ``/v1`` method
behind the token authorizer backed by ``functions/api_authorizer``, which has no AWS access beyond
its logs and traces and gets the issuer and audience in its environment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.infra.conftest import FIXTURE_FUNCTIONS, NO_BUNDLING, OIDC_CONTEXT, REPO_ROOT, Synthesized
from tests.infra.test_stack import (
    LOGS,
    XRAY,
    _actions,
    _function,
    _methods,
    _role_id,
    _statements_of_role,
)


def _intrinsics(value: Any) -> list[Any]:
    """Every dict nested in a CloudFormation value (intrinsic functions and their arguments)."""
    if isinstance(value, dict):
        return [value, *(found for item in value.values() for found in _intrinsics(item))]
    if isinstance(value, list):
        return [found for item in value for found in _intrinsics(item)]
    return []


def test_every_v1_method_is_behind_the_token_authorizer(oidc_stack: Synthesized) -> None:
    assert not oidc_stack.of_type("AWS::Cognito::UserPool")
    ((authorizer_id, authorizer),) = oidc_stack.of_type("AWS::ApiGateway::Authorizer").items()
    properties = authorizer["Properties"]
    assert properties["Type"] == "TOKEN"
    assert properties["IdentitySource"] == "method.request.header.Authorization"
    assert properties["IdentityValidationExpression"].startswith("^Bearer ")
    assert properties["AuthorizerResultTtlInSeconds"] == 300
    verifier_id, _ = _function(oidc_stack, "api_authorizer")
    # The invocation URI is built from the function's ARN (region and partition split out of it).
    assert {"Fn::GetAtt": [verifier_id, "Arn"]} in _intrinsics(properties["AuthorizerUri"])

    v1 = [(path, verb, p) for path, verb, p in _methods(oidc_stack) if path.startswith("/v1")]
    docs = {("/v1/docs", "GET"), ("/v1/openapi.json", "GET")}  # public: the API's documentation
    secured = [(path, verb, p) for path, verb, p in v1 if verb != "OPTIONS" and (path, verb) not in docs]
    assert {(path, verb) for path, verb, _ in secured} == {("/v1/{proxy+}", "ANY")}
    assert {(path, verb) for path, verb, _ in v1 if verb != "OPTIONS"} == {("/v1/{proxy+}", "ANY"), *docs}
    for path, verb, method in secured:
        assert method["AuthorizationType"] == "CUSTOM", (path, verb)
        assert method["AuthorizerId"] == {"Ref": authorizer_id}, (path, verb)
    others = [p for path, _, p in _methods(oidc_stack) if not path.startswith("/v1")]
    assert all(p["AuthorizationType"] == "NONE" for p in others)  # the webhooks: signed by the vendors
    assert all(p["AuthorizationType"] == "NONE" for path, verb, p in v1 if (path, verb) in docs)


def test_api_gateway_may_invoke_the_authorizer_function(oidc_stack: Synthesized) -> None:
    verifier_id, _ = _function(oidc_stack, "api_authorizer")
    permissions = [
        p["Properties"]
        for p in oidc_stack.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [verifier_id, "Arn"]}
    ]
    assert permissions
    assert {p["Principal"] for p in permissions} == {"apigateway.amazonaws.com"}
    assert all(p["Action"] == "lambda:InvokeFunction" for p in permissions)


def test_the_authorizer_function_has_no_aws_access_beyond_logs_and_traces(oidc_stack: Synthesized) -> None:
    _, function = _function(oidc_stack, "api_authorizer")
    assert _actions(_statements_of_role(oidc_stack, _role_id(function))) == LOGS | XRAY


def test_the_authorizer_function_gets_the_issuer_and_audience_and_nothing_else(
    oidc_stack: Synthesized,
) -> None:
    _, function = _function(oidc_stack, "api_authorizer")
    assert function["Properties"]["Handler"] == "functions.api_authorizer.handler.handler"
    assert function["Properties"]["Environment"]["Variables"] == {
        "STAGE": "dev",
        "POWERTOOLS_SERVICE_NAME": "hris-sync-api_authorizer",
        "POWERTOOLS_METRICS_NAMESPACE": function["Properties"]["Environment"]["Variables"][
            "POWERTOOLS_METRICS_NAMESPACE"
        ],
        "OIDC_ISSUER": OIDC_CONTEXT["oidc_issuer"],
        "OIDC_AUDIENCE": OIDC_CONTEXT["oidc_audience"],
    }


def test_the_settings_model_reads_what_the_stack_sets(oidc_stack: Synthesized) -> None:
    from shared.settings import ApiAuthorizerSettings

    _, function = _function(oidc_stack, "api_authorizer")
    variables = function["Properties"]["Environment"]["Variables"]
    loaded = ApiAuthorizerSettings.model_validate({k.lower(): v for k, v in variables.items()})
    assert (loaded.oidc_issuer, loaded.oidc_audience) == (
        OIDC_CONTEXT["oidc_issuer"],
        OIDC_CONTEXT["oidc_audience"],
    )


def test_the_real_authorizer_handler_lets_the_oidc_stack_build(tmp_path: Path) -> None:
    """The project's own functions/api_authorizer exists, so OIDC mode is no longer refused."""
    from aws_cdk import App

    from infra.app import build

    root = tmp_path / "functions"
    shutil.copytree(FIXTURE_FUNCTIONS / "admin_api", root / "admin_api")
    shutil.copytree(REPO_ROOT / "functions" / "api_authorizer", root / "api_authorizer")
    context = {**NO_BUNDLING, "functions_root": str(root), **OIDC_CONTEXT}
    _, stack = build(App(outdir=str(tmp_path / "out"), context=context))
    api = stack.node.find_child("Api")
    assert api.node.try_find_child("TokenAuthorizer") is not None


def _authorizer_resources(stack: Synthesized) -> dict[str, list[str]]:
    """Everything of the stack that exists for the token authorizer, by kind (logical ids)."""
    name = "hris-sync-dev-api_authorizer"
    functions = [
        k
        for k, f in stack.of_type("AWS::Lambda::Function").items()
        if f["Properties"]["FunctionName"] == name
    ]
    return {
        "function": functions,
        "role": [
            k
            for k, r in stack.of_type("AWS::IAM::Role").items()
            if "api_authorizer" in r["Properties"].get("Description", "")
        ],
        "log group": [
            k
            for k, g in stack.of_type("AWS::Logs::LogGroup").items()
            if g["Properties"].get("LogGroupName") == f"/aws/lambda/{name}"
        ],
        "alarms": [
            k
            for k, a in stack.of_type("AWS::CloudWatch::Alarm").items()
            if a["Properties"]["AlarmName"].startswith(f"{name}-")
        ],
        "invoke permissions": [
            k
            for k, p in stack.of_type("AWS::Lambda::Permission").items()
            if p["Properties"]["FunctionName"] in [{"Fn::GetAtt": [f, "Arn"]} for f in functions]
        ],
    }


def test_the_authorizer_function_its_role_and_log_group_are_absent_in_cognito_mode(
    stack: Synthesized,
) -> None:
    """With the stack's Cognito user pool, API Gateway verifies the tokens itself: nothing of the
    OIDC token authorizer is deployed, although its handler exists."""
    assert (FIXTURE_FUNCTIONS / "api_authorizer" / "handler.py").is_file()
    assert stack.of_type("AWS::Cognito::UserPool")
    assert {kind: found for kind, found in _authorizer_resources(stack).items() if found} == {}
    assert "api_authorizer" not in json.dumps(stack.template)


def test_the_authorizer_function_its_role_and_log_group_are_deployed_in_oidc_mode(
    oidc_stack: Synthesized,
) -> None:
    found = _authorizer_resources(oidc_stack)
    assert found["invoke permissions"]  # API Gateway's, checked in detail above
    assert {kind: len(ids) for kind, ids in found.items() if kind != "invoke permissions"} == {
        "function": 1,
        "role": 1,
        "log group": 1,
        "alarms": 2,  # errors and throttles
    }
    function = oidc_stack.resources[found["function"][0]]["Properties"]
    assert function["Role"] == {"Fn::GetAtt": [found["role"][0], "Arn"]}
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": found["log group"][0]}
