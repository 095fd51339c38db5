"""The CDK app: `cdk synth` runs `python -m infra.app` (cdk.json). Deploy-time parameters come
from context (`-c stage=prod -c ses_sender=... -c admin_email=...`, see README "Deploying")."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment

from infra import nag
from infra.config import DeployConfig
from infra.constants import STACK_ID
from infra.stack import HrisSyncStack

REPO_ROOT = Path(__file__).resolve().parent.parent


def cdk_json_context() -> dict[str, Any]:
    settings = json.loads((REPO_ROOT / "cdk.json").read_text())
    return dict(settings.get("context", {}))


def build(app: App | None = None, *, context: Mapping[str, Any] | None = None) -> tuple[App, HrisSyncStack]:
    """The app with its one stack, cdk-nag attached (findings fail the synth)."""
    app = app or App(context=dict(context or {}))
    # cdk.json's context (feature flags, defaults) applies however the app is run: by the CDK CLI
    # (which passes it), by tests, or as `python -m infra.app`.
    for key, value in cdk_json_context().items():
        if app.node.try_get_context(key) is None:
            app.node.set_context(key, value)
    config = DeployConfig.from_context(app.node.try_get_context)
    env = None
    if os.environ.get("CDK_DEFAULT_ACCOUNT"):
        env = Environment(
            account=os.environ["CDK_DEFAULT_ACCOUNT"], region=os.environ.get("CDK_DEFAULT_REGION")
        )
    stack = HrisSyncStack(
        app,
        f"{STACK_ID}-{config.stage}",
        config=config,
        repo_root=REPO_ROOT,
        env=env,
        # A retained stage (the default) cannot be deleted by accident either.
        termination_protection=config.removal == "retain",
        description="hris-sync: HR-driven member sync (API, webhooks, full syncs, notifications)",
    )
    nag.check(app)
    return app, stack


def main() -> None:
    app, _ = build()
    app.synth()


if __name__ == "__main__":
    main()
