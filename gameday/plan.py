"""`python -m gameday plan`: the response plan the current configuration implies, as Markdown.

Generated from the objects the stack itself is built from: the typed config
(`stacks.config.parse_context` over cdk.json's context plus overrides), the EventBridge
patterns (`stacks.rules`), the settings table's documentation and the action registry's
descriptions. A written plan that is generated cannot drift from what is deployed.

Each playbook contributes its section through `PLAYBOOK_SECTIONS`, keyed by its attribute
on `Config`; a playbook without a dedicated section gets a generic one from its settings.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from gameday.template import ROOT

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stacks import rules
from stacks.catalog import REGISTRY
from stacks.config import CREDENTIAL_ACTIONS, SETTINGS, Config, parse_context

MODE_TEXT = {
    "off": "**off**: matching events are ignored; nothing is changed and nobody is notified.",
    "notify": "**notify**: every matching event is reported; nothing is changed.",
    "dry_run": "**dry_run**: the steps below are recorded as planned and reported; nothing is changed.",
    "enforce": "**enforce**: the steps below are carried out, verified and reported.",
}

SAFETY = (
    "Never delete an access key, user, role, instance, volume or snapshot as a first response.",
    "Never act on a GuardDuty sample or archived finding.",
    "Never act on a principal on the allow-list or a resource carrying the protected tag: notify only.",
    "Never let a malformed event cause a change: it is rejected, logged and counted.",
    "Never remove anything that was not first recorded in the evidence bucket (release can restore it).",
)


def context(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """cdk.json's context plus overrides: exactly what `cdk synth -c key=value` would parse."""
    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    return {**cdk_json.get("context", {}), **(overrides or {})}


def _json(value: Any) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _step(name: str, extra: str = "") -> str:
    spec = REGISTRY[name]
    kinds = [k for k, on in (("containment", spec.containment), ("destructive", spec.destructive)) if on]
    kinds += [] if spec.mutating else ["read-only"]
    tag = f" _({', '.join(kinds)})_" if kinds else ""
    return f"`{name}`: {spec.description}{extra}{tag}"


def core_section(config: Config) -> list[str]:
    core = config.core
    emails = ", ".join(core.notification_emails) or "none configured (set `core.notificationEmails`)"
    allow = ", ".join(f"`{a}`" for a in core.principal_allow_list) or "none"
    return [
        "## Everywhere",
        "",
        f"- Protected tag: resources and principals tagged `{core.protected_tag_key}={core.protected_tag_value}` "
        "are never changed, only notified about.",
        f"- Principal allow-list (never touched): {allow}.",
        f"- Notifications: one message per incident to the stack's SNS topic; e-mail subscribers: {emails}.",
        f"- Evidence is kept {core.evidence_retention_days} days in the evidence bucket; incidents are recorded "
        "in the incident table.",
        f"- At most {core.reserved_concurrency} concurrent runs per playbook bound the rate of changes in a burst.",
        f"- Names the stack creates (quarantine policies, isolation groups) start with `{core.name_prefix}`.",
        "- A failed step is retried by Lambda, then parked in the on-failure queue, which raises an alarm.",
    ]


def credential_section(config: Config) -> list[str]:
    cred = config.credential
    pattern = rules.credential_pattern(config)
    types = ", ".join(f"`{t}`" for t in cred.finding_types)
    out = [
        "## Compromised IAM credentials (`credential`)",
        "",
        f"Mode: {MODE_TEXT[cred.mode]}",
        "",
        "### Trigger",
        "",
        "- GuardDuty findings on an `AccessKey` resource (rule `GuardDutyCredentialFindings`).",
        f"- Finding types: {types}.",
        f"- Severity at least {cred.min_severity:g}.",
        "",
        "<details><summary>EventBridge pattern</summary>",
        "",
        "```json",
        json.dumps(pattern),
        "```",
        "",
        "</details>",
        "",
        "### Checks before any change, in order",
        "",
        "1. Playbook mode `off`, a sample finding, an archived finding: skipped (no change, no notification).",
        "2. A principal on the allow-list: notify only.",
        "3. Root credentials: notify only (root is contained by hand).",
        "4. Principals other than IAM users and assumed roles (federated users): notify only.",
        "5. An assumed role of this remediation stack: notify only.",
    ]
    n = 6
    if cred.mode == "notify":
        out.append(f"{n}. Mode `notify`: notify only.")
        n += 1
    out += [
        f"{n}. The principal's tags are read; the protected tag means notify only. If they cannot be read, "
        "nothing is changed and the failure is reported.",
        f"{n + 1}. A service-linked role: notify only.",
        "",
    ]
    if cred.mode in ("off", "notify"):
        out += ["### What happens", "", "Nothing is changed in this mode." if cred.mode == "notify" else
                "Nothing: the playbook is off.", ""]  # fmt: skip
    else:
        verb = "would run (recorded as planned)" if cred.mode == "dry_run" else "run"
        extras = {
            "lookup_cloudtrail": f" (the last {cred.cloudtrail_lookback_hours} h before the finding)",
            "recheck_new_credentials": f" (after waiting {cred.recheck_seconds} s for IAM to propagate)",
        }
        out += ["### What happens to an IAM user, in order", "", f"These steps {verb}:", ""]
        out += [f"{i}. {_step(s, extras.get(s, ''))}" for i, s in enumerate(cred.actions, 1)]
        for finding_type, steps in cred.actions_by_finding_type:
            out += ["", f"Instead, for findings of type `{finding_type}`:", ""]
            out += [f"{i}. {_step(s, extras.get(s, ''))}" for i, s in enumerate(steps, 1)]
        out += ["", "### What happens to an assumed role", "", f"1. {_step('revoke_sessions')}", ""]
    out += [
        "### Who is notified",
        "",
        "- One message per incident (decision, every step with its status, the release command) to the SNS topic.",
        "- Skipped events are logged and counted (metric `Skipped`), not notified.",
        "",
        "### Never done",
        "",
    ]
    never = [a for a in CREDENTIAL_ACTIONS if a not in cred.all_actions]
    out += [f"- Not configured, so never done: {_step(a)}" for a in never]
    out += ["- Access keys are deactivated, never deleted; users and roles are never deleted.", ""]
    return out


def generic_section(name: str, config: Config) -> list[str]:
    """For a playbook without a dedicated section: its mode and settings, from the settings table."""
    section = getattr(config, name)
    mode = getattr(section, "mode", None)
    out = [f"## `{name}`", ""]
    if mode:
        out += [f"Mode: {MODE_TEXT[mode]}", ""]
    out += ["| setting | value | effect |", "|---|---|---|"]
    for setting in SETTINGS:
        if setting.key.startswith(f"{name}."):
            out.append(f"| `{setting.key}` | `{_json(config.raw[setting.key])}` | {setting.doc} |")
    return [*out, ""]


PLAYBOOK_SECTIONS: dict[str, Callable[[Config], list[str]]] = {
    "credential": credential_section,
}


def plan(overrides: Mapping[str, Any] | None = None) -> str:
    config = parse_context(context(overrides))
    out = ["# Response plan", "",
           "Generated by `python -m gameday plan` from the configuration the stack is synthesized from "
           "(cdk.json context plus any --config overrides). Regenerate it after every change.",
           ""]  # fmt: skip
    out += [*core_section(config), ""]
    for f in dataclasses.fields(config):
        if f.name in ("core", "raw"):
            continue
        out += PLAYBOOK_SECTIONS.get(f.name, lambda c, n=f.name: generic_section(n, c))(config)
    out += ["## Safety rules (every playbook)", ""]
    out += [f"- {rule}" for rule in SAFETY]
    out += ["", "## Configuration", "", "| setting | value |", "|---|---|"]
    out += [f"| `{s.key}` | `{_json(config.raw[s.key])}` |" for s in SETTINGS]
    return "\n".join(out) + "\n"
