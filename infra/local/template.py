"""The synthesized CloudFormation template, as the local stack reads it.

The local stack builds nothing from a description of its own: it synthesizes the CDK app (bundling
skipped) and takes from the template the state machine's definition, each function's handler and
environment, and the queues, bus, schedule group and SES names. Synthesis takes a few seconds, so
the template is cached under ``.local/synth/`` keyed by a hash of everything that shapes it (the
infra sources, the table definition, cdk.json, the context and which handlers exist).

``Resolver`` turns the template's intrinsic functions (``Ref``, ``Fn::GetAtt``, ``Fn::Join``,
``Fn::Sub``, ``Fn::Select``, pseudo parameters) into the local names and ARNs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_STAGE = "local"
REGION = "us-east-1"
ACCOUNT = "123456789012"
# Assets are referenced, not bundled: the local stack runs the source in-process.
_NO_BUNDLING: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}


class TemplateError(RuntimeError):
    """The template lacks something the local stack needs, or holds an intrinsic it cannot resolve."""


def _sources(repo_root: Path) -> Iterable[Path]:
    yield from sorted((repo_root / "infra").rglob("*.py"))
    yield repo_root / "shared" / "adapters" / "table_schema.py"
    yield repo_root / "cdk.json"


def synth_key(repo_root: Path, context: Mapping[str, Any]) -> str:
    """A hash of what shapes the template: infra sources, the table definition, cdk.json, the
    context, and which functions have a handler (a function is deployed only when it has one)."""
    digest = hashlib.sha256()
    for path in _sources(repo_root):
        if "local" in path.relative_to(repo_root).parts[:2]:
            continue  # infra/local/ does not shape the template
        if path.is_file():
            digest.update(str(path.relative_to(repo_root)).encode())
            digest.update(path.read_bytes())
    digest.update(json.dumps(dict(context), sort_keys=True).encode())
    functions_root = repo_root / str(context.get("functions_root", "functions"))
    handlers = sorted(str(p.relative_to(functions_root)) for p in functions_root.glob("*/handler.py"))
    digest.update(json.dumps(handlers).encode())
    return digest.hexdigest()[:20]


def synthesize(repo_root: Path, context: Mapping[str, Any]) -> dict[str, Any]:
    """The stack's template, as `cdk synth` builds it (cdk-nag on), without bundling assets."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import tempfile  # noqa: PLC0415

    from aws_cdk import App  # noqa: PLC0415 - the CDK is loaded only when a synth is needed

    from infra.app import build  # noqa: PLC0415

    cdk_json = json.loads((repo_root / "cdk.json").read_text())
    with tempfile.TemporaryDirectory(prefix="hris-sync-synth-") as outdir:
        app, stack = build(
            App(outdir=outdir, context={**cdk_json.get("context", {}), **_NO_BUNDLING, **context})
        )
        assembly = app.synth()
        template: dict[str, Any] = assembly.get_stack_artifact(stack.artifact_id).template
    return template


LOCAL_RETURN_ORIGINS = "http://127.0.0.1:*,http://localhost:*"


def load_template(
    cache_dir: Path,
    *,
    repo_root: Path = REPO_ROOT,
    functions_root: str | None = None,
    deploy: Mapping[str, Any] | None = None,
    synth: Callable[[Path, Mapping[str, Any]], dict[str, Any]] = synthesize,
) -> dict[str, Any]:
    """The template for the local stage, synthesized once per change of its sources.

    ``deploy``: deploy-time context for this stack (``max_connections``, ``invite_url_template``
    ...), checked by the synth as ``cdk synth -c`` checks it (``infra.config.ConfigError``)."""
    # OAuth connect may send the admin back to any loopback port (a local admin UI, a test).
    context: dict[str, Any] = {
        "oauth_return_origins": LOCAL_RETURN_ORIGINS,
        **(deploy or {}),
        "stage": LOCAL_STAGE,
        "removal": "destroy",
    }
    if functions_root is not None:
        context["functions_root"] = functions_root
    key = synth_key(repo_root, context)
    cached = cache_dir / f"template-{key}.json"
    if cached.is_file():
        data: dict[str, Any] = json.loads(cached.read_text())
        return data
    template = synth(repo_root, context)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Keep a few (tests synthesize with their own functions root beside the real one).
    for old in sorted(cache_dir.glob("template-*.json"), key=lambda p: p.stat().st_mtime)[:-5]:
        old.unlink()
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(template, indent=1, sort_keys=True))
    tmp.replace(cached)
    return template


# ---------------------------------------------------------------------------------------------
# Resolving intrinsics to local names
# ---------------------------------------------------------------------------------------------


@dataclass
class Physical:
    """What a resource resolves to: its ``Ref`` and its attributes (``Arn``, ``QueueUrl`` ...)."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


class Resolver:
    """Resolves ``Ref``/``Fn::GetAtt``/``Fn::Join``/``Fn::Sub``/``Fn::Select`` against ``physical``."""

    def __init__(self, physical: Mapping[str, Physical], *, region: str = REGION, account: str = ACCOUNT):
        self.physical = physical
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "HrisSync-local",
            "AWS::NoValue": "",
        }

    def __call__(self, value: Any) -> Any:
        return self.resolve(value)

    def resolve(self, value: Any) -> Any:  # noqa: PLR0911 - one branch per intrinsic
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, arg),) = value.items()
            if name == "Ref":
                return self._ref(arg)
            if name == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._attribute(logical, attribute)
            if name == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(p)) for p in parts)
            if name == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if name == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if name == "Fn::Sub":
                return self._sub(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name not in self.physical:
            raise TemplateError(f"no local resource for Ref {name!r}")
        return self.physical[name].ref

    def _attribute(self, logical: str, attribute: str) -> str:
        resource = self.physical.get(logical)
        if resource is None or attribute not in resource.attributes:
            raise TemplateError(f"no local value for Fn::GetAtt {logical}.{attribute}")
        return resource.attributes[attribute]

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                logical, attribute = name.split(".", 1)
                return self._attribute(logical, attribute)
            return self._ref(name)

        return re.sub(r"\$\{([^}!][^}]*)\}", one, text)


def resources_of_type(template: Mapping[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template.get("Resources", {}).items() if r.get("Type") == cfn_type}


def one_resource(template: Mapping[str, Any], cfn_type: str) -> tuple[str, dict[str, Any]]:
    found = resources_of_type(template, cfn_type)
    if len(found) != 1:
        raise TemplateError(f"expected one {cfn_type} in the template, found {len(found)}")
    return next(iter(found.items()))
