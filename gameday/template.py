"""The synthesized CloudFormation template, as the simulator reads it.

Synthesis takes seconds, so templates are cached in memory and on disk, keyed by the
context overrides and a hash of every source file that shapes the template.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".gameday-cache"
STACK_NAME = "AutoRemediation"


def _source_hash() -> str:
    digest = hashlib.sha256()
    files = [ROOT / "app.py", ROOT / "cdk.json"]
    for folder in ("stacks", "lambdas"):
        files.extend(sorted((ROOT / folder).rglob("*.py")))
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def synthesize(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Synthesize the stack with cdk.json's context plus `overrides`; cached."""
    key = json.dumps(overrides or {}, sort_keys=True)
    return json.loads(_synthesize_cached(key))


@lru_cache(maxsize=32)
def _synthesize_cached(overrides_json: str) -> str:
    tag = hashlib.sha256((_source_hash() + overrides_json).encode()).hexdigest()[:24]
    cached = CACHE_DIR / f"{tag}.json"
    if cached.exists():
        return cached.read_text()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import app  # the real CDK app: the simulator routes through what `cdk synth` produces

    with tempfile.TemporaryDirectory() as outdir:
        assembly = app.build_app(overrides=json.loads(overrides_json), outdir=outdir, nag=False).synth()
        template = assembly.get_stack_by_name(STACK_NAME).template
    text = json.dumps(template, sort_keys=True)
    CACHE_DIR.mkdir(exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(cached)
    return text


@dataclass(frozen=True)
class Rule:
    logical_id: str
    pattern: dict[str, Any]
    targets: tuple[str, ...]  # logical ids of target functions
    enabled: bool


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str
    environment: dict[str, Any]


def rules(template: dict[str, Any]) -> list[Rule]:
    out = []
    for logical_id, resource in sorted(template["Resources"].items()):
        if resource["Type"] != "AWS::Events::Rule":
            continue
        props = resource["Properties"]
        if "EventPattern" not in props:
            continue  # scheduled rules are run by the simulator's clock, not by events
        targets = tuple(
            t["Arn"]["Fn::GetAtt"][0]
            for t in props.get("Targets", [])
            if isinstance(t.get("Arn"), dict) and "Fn::GetAtt" in t["Arn"]
        )
        out.append(Rule(logical_id, props["EventPattern"], targets, props.get("State", "ENABLED") == "ENABLED"))
    return out


def functions(template: dict[str, Any]) -> dict[str, Function]:
    out = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            props = resource["Properties"]
            env = props.get("Environment", {}).get("Variables", {})
            out[logical_id] = Function(logical_id, props["Handler"], env)
    return out


def scheduled_rules(template: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(logical id, schedule expression, target function logical ids) of scheduled rules."""
    out = []
    for logical_id, resource in sorted(template["Resources"].items()):
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in props:
            targets = tuple(
                t["Arn"]["Fn::GetAtt"][0]
                for t in props.get("Targets", [])
                if isinstance(t.get("Arn"), dict) and "Fn::GetAtt" in t["Arn"]
            )
            out.append((logical_id, props["ScheduleExpression"], targets))
    return out
