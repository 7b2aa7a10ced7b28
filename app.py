#!/usr/bin/env python3
"""CDK app: the only place that reads context and the environment."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# jsii prints a banner for Node 20 (end of life); the CDK works on it, so keep output clean.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import ConfigError, parse_context
from stacks.nag import acknowledge
from stacks.remediation_stack import RemediationStack

STACK_NAME = "AutoRemediation"
CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """The `context` of cdk.json: feature flags and the documented tuning surface."""
    with open(CDK_JSON, encoding="utf-8") as handle:
        return dict(json.load(handle).get("context", {}))


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    nag: bool = True,
) -> cdk.App:
    """Build the app with cdk.json's context, so tests, `python app.py` and `cdk synth` agree.

    Under the CDK CLI the context (cdk.json plus `-c`) arrives through the environment;
    run directly, cdk.json is read here. `overrides` win over both (tests, simulator).
    """
    if context is None and not _under_cli():
        context = cdk_json_context()
    merged = {**(context or {}), **(overrides or {})}
    app = cdk.App(context=merged or None, outdir=outdir)
    config = parse_context(app.node.get_all_context())
    # Environment-agnostic on purpose: one template for any account, region and partition.
    stack = RemediationStack(
        app, STACK_NAME, config=config, description="Event-driven auto-remediation of AWS security incidents"
    )
    cdk.Tags.of(stack).add("app", "autoremediation")
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
        acknowledge(stack)
    return app


def _under_cli() -> bool:
    return (
        "CDK_CONTEXT_JSON" in os.environ or "CDK_CONTEXT_OVERFLOW_LOCATION" in os.environ or "CDK_OUTDIR" in os.environ
    )


def main() -> int:
    try:
        app = build_app(outdir=None if _under_cli() else str(CDK_JSON.parent / "cdk.out"))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
