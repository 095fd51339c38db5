"""Synthesize the stack once per session (bundling skipped) for the template assertions.

The functions root points at `fixtures/functions`, minimal real handlers for every declared
function, so IAM, authorizers, the state machine, the queue wiring and the alarms are all present.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_FUNCTIONS = Path(__file__).parent / "fixtures" / "functions"
# Fast synth: assets are referenced by their source, not bundled (one test bundles for real);
# asset metadata on, as the CDK CLI sets it, so the template names each asset's source folder.
NO_BUNDLING = {"aws:cdk:bundling-stacks": [], "aws:cdk:enable-asset-metadata": True}


@dataclass(frozen=True)
class Synthesized:
    template: dict[str, Any]
    outdir: Path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.template["Resources"])

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == cfn_type}

    def one(self, cfn_type: str) -> dict[str, Any]:
        found = list(self.of_type(cfn_type).values())
        assert len(found) == 1, f"expected one {cfn_type}, found {len(found)}"
        return found[0]


def synthesize(outdir: Path, **context: Any) -> Synthesized:
    """The app as `cdk synth` builds it (cdk.json's context, cdk-nag on), into `outdir`."""
    from aws_cdk import App

    from infra.app import build

    app, stack = build(App(outdir=str(outdir), context={**NO_BUNDLING, **context}))
    assembly = app.synth()  # raises when cdk-nag reports an unacknowledged finding
    template = assembly.get_stack_artifact(stack.artifact_id).template
    return Synthesized(template=template, outdir=outdir)


@pytest.fixture(scope="session")
def synth_with(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synthesized]:
    cache: dict[str, Synthesized] = {}

    def run(**context: Any) -> Synthesized:
        key = json.dumps(context, sort_keys=True)
        if key not in cache:
            cache[key] = synthesize(tmp_path_factory.mktemp("cdk.out"), **context)
        return cache[key]

    return run


@pytest.fixture(scope="session")
def stack(synth_with: Callable[..., Synthesized]) -> Synthesized:
    """Every function present, Cognito authorizer, one CORS origin."""
    return synth_with(functions_root=str(FIXTURE_FUNCTIONS), cors_origins="https://admin.example.com")


def resolve_join(value: Any, names: Mapping[str, str] | None = None) -> str:
    """A `Fn::Join` of strings and references, with each reference as `<LogicalId>`."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve_join(part, names) for part in parts)
    if "Fn::GetAtt" in value:
        return f"<{value['Fn::GetAtt'][0]}>"
    if "Ref" in value:
        return f"<{value['Ref']}>"
    raise AssertionError(f"unexpected intrinsic {value!r}")
