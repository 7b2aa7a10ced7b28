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
from stacks.config import CREDENTIAL_ACTIONS, METRIC_ALARMS, SETTINGS, TRAIL_ACTOR_ACTIONS, Config, parse_context

from remediation.guards import type_matches  # isort: skip  (the Lambda asset, on sys.path via stacks.catalog)

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


def _numbered(lines: list[str], start: int = 1, indent: str = "") -> list[str]:
    return [f"{indent}{i}. {line}" for i, line in enumerate(lines, start)]


def _pattern(pattern: Mapping[str, Any], rule: str) -> list[str]:
    """One rule's exact EventBridge pattern, folded away."""
    return [
        f"<details><summary>EventBridge pattern of rule <code>{rule}</code></summary>",
        "",
        "```json",
        json.dumps(pattern),
        "```",
        "",
        "</details>",
        "",
    ]


def _verb(mode: str) -> str:
    return "would run (recorded as planned)" if mode == "dry_run" else "run"


def _idle(mode: str) -> list[str]:
    """The 'what happens' of a playbook that changes nothing in this mode."""
    return ["Nothing is changed in this mode." if mode == "notify" else "Nothing: the playbook is off.", ""]


def _never(names: list[str] | tuple[str, ...], why: str = "Not configured, so never done") -> list[str]:
    return [f"- {why}: {_step(name)}" for name in names]


def _amount(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


ONE_MESSAGE = (
    "- One message per incident (decision, every step with its status and, when something was changed, "
    "the release command) to the SNS topic."
)
SKIPPED = "- Skipped events are logged and counted (metric `Skipped`), not notified."


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
    types = ", ".join(f"`{t}`" for t in cred.finding_types)
    exposed_type = rules.credentials_exposed_pattern(config)["detail"]["eventTypeCode"][0]
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
        f"- AWS Health `{exposed_type}` events: an access key of this account was found exposed publicly "
        "(rule `HealthCredentialsExposed`).",
        "",
        *_pattern(rules.credential_pattern(config), "GuardDutyCredentialFindings"),
        *_pattern(rules.credentials_exposed_pattern(config), "HealthCredentialsExposed"),
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
        out += ["### What happens", "", *_idle(cred.mode)]
    else:
        extras = {
            "lookup_cloudtrail": f" (the last {cred.cloudtrail_lookback_hours} h before the finding)",
            "recheck_new_credentials": f" (after waiting {cred.recheck_seconds} s for IAM to propagate)",
        }
        out += ["### What happens to an IAM user, in order", "", f"These steps {_verb(cred.mode)}:", ""]
        out += [f"{i}. {_step(s, extras.get(s, ''))}" for i, s in enumerate(cred.actions, 1)]
        for finding_type, steps in cred.actions_by_finding_type:
            out += ["", f"Instead, for findings of type `{finding_type}`:", ""]
            out += [f"{i}. {_step(s, extras.get(s, ''))}" for i, s in enumerate(steps, 1)]
        out += ["", "### What happens to an assumed role", "", f"1. {_step('revoke_sessions')}", ""]
        override = next((p for p, _ in cred.actions_by_finding_type if type_matches(exposed_type, [p])), None)
        steps_text = f"the steps configured for `{override}` above" if override else "the steps for an IAM user above"
        out += [
            f"### What happens to a publicly exposed access key (`{exposed_type}`)",
            "",
            "1. An event that is no longer open (its `statusCode`): skipped.",
            f"2. {_step('lookup_key_owner')}. If the owner cannot be found, nothing is changed and it is reported.",
            "3. An owner on the allow-list: notify only.",
            f"4. {_step('inspect_principal')}. If the tags cannot be read, nothing is changed and the failure is "
            "reported; the protected tag means notify only.",
            f"5. Then {steps_text}, on the key's owner and the exposed key.",
            "",
        ]
    out += [
        "### Who is notified",
        "",
        "- One message per incident (decision, every step with its status, the release command) to the SNS topic.",
        SKIPPED,
        "",
        "### Never done",
        "",
    ]
    never = [a for a in CREDENTIAL_ACTIONS if a not in cred.all_actions]
    out += _never(never)
    out += ["- Access keys are deactivated, never deleted; users and roles are never deleted.", ""]
    return out


HEALTH_STEPS = (
    "confirm_recover_action",
    "reboot_instance",
    "stop_start_instance",
    "capture_instance_config",
    "stop_impaired_instance",
    "terminate_impaired_instance",
    "mark_unhealthy",
)


def _health_action(action: str, config: Config) -> list[str]:
    """What one configured status-check action does, as numbered sub-steps."""
    health = config.health
    half = f"{health.stop_timeout_seconds / 2:g}"
    stop_start = _step(
        "stop_start_instance",
        f" (a stop that hangs is forced after {half} s; the step fails if the "
        f"instance is not stopped after {health.stop_timeout_seconds} s or not running {half} s "
        "after the start)",
    )
    if action == "recover":
        return [
            _step(
                "confirm_recover_action",
                ": when the instance supports recovery and its alarm carries the "
                "enabled recover action, CloudWatch recovers it and nothing else is done",
            ),
            f"Otherwise (recovery not supported, no recover action): {stop_start}; an instance-store backed "
            "instance is reported for replacement by hand instead.",
        ]
    if action == "reboot":
        window = f"{health.reboots_before_stop_start} reboot(s) within {health.reboot_window_minutes} min"
        return [
            _step("reboot_instance", f"; counted for {health.reboot_window_minutes} min"),
            f"After {window}, the next failure instead: {stop_start}; reported as PERSISTENT.",
            f"If a stop/start within those {health.reboot_window_minutes} min did not help either, or the instance "
            "is instance-store backed: notify only (PERSISTENT, needs a person).",
            "If the reboot history cannot be read: reboot without escalation.",
        ]
    if action in ("stop", "terminate"):
        step = f"{action}_impaired_instance"
        extra = f" (waits up to {health.stop_timeout_seconds} s for the stop)" if action == "stop" else ""
        return [_step("capture_instance_config"), _step(step, f"{extra}, only if the configuration was captured")]
    return ["Notify only; nothing is changed."]


def health_section(config: Config) -> list[str]:
    health = config.health
    alarm_pattern, events_pattern = rules.health_alarm_pattern(config), rules.health_events_pattern()
    codes = events_pattern["detail"]["eventTypeCode"]
    retirement = [c for c in codes if "RETIREMENT" in c]
    recovery_failed = [c for c in codes if c not in retirement]
    prefix = alarm_pattern["detail"]["alarmName"][0]["prefix"]
    out = [
        "## EC2 health (`health`)",
        "",
        f"Mode: {MODE_TEXT[health.mode]}",
        "",
        "### Trigger",
        "",
        f"- ALARM and OK state changes of this stack's per-instance alarms: names starting `{prefix}`, namespace "
        "`AWS/EC2` (rule `HealthAlarmStateChanges`). INSUFFICIENT_DATA is not routed: no data is not a failure. "
        "Which instances have these alarms: see the instance alarms section.",
        f"- AWS Health EC2 events {', '.join(f'`{c}`' for c in codes)} (rule `HealthEc2Events`), one incident per "
        "affected instance.",
        "",
        *_pattern(alarm_pattern, "HealthAlarmStateChanges"),
        *_pattern(events_pattern, "HealthEc2Events"),
        "### Checks before any change, in order",
        "",
        "1. An alarm that is not one of this stack's instance alarms (by name), watches another namespace, or whose "
        "`InstanceId` dimension is not the instance its name gives: skipped.",
        "2. Playbook mode `off`, an INSUFFICIENT_DATA state, an AWS Health event type not handled: skipped "
        "(no change, no notification).",
        "3. OK: closes the incident the ALARM opened (below); nothing is changed.",
        "4. A metric alarm (CPU, disk, network) in ALARM: notify only.",
    ]
    n = 5
    if health.mode == "notify":
        out.append(f"{n}. Mode `notify`: notify only.")
        n += 1
    if health.retirement_action == "notify":
        out.append(f"{n}. Scheduled retirement: notify only, with the scheduled time (stop and start it before then).")
        n += 1
    out += _numbered(
        [
            f"{_step('inspect_instance_health')}. If that fails, nothing is changed and the failure is reported.",
            "An instance that no longer exists, carries the protected tag or is not `running`: notify only.",
            "A status-check alarm whose configured action is `notify`: notify only.",
        ],
        n,
    )
    out.append("")
    if health.mode in ("off", "notify"):
        out += ["### What happens", "", *_idle(health.mode)]
    else:
        asg = {
            "mark_unhealthy": f"instead of the action below: {_step('mark_unhealthy')}.",
            "notify": "notify only.",
            "direct": "treated like any other instance.",
        }[health.auto_scaling_instances]
        out += ["### What happens, per trigger", "", f"These steps {_verb(health.mode)}:", ""]
        out += [
            f"- A member of an Auto Scaling group (`health.autoScalingInstances` = "
            f"`{health.auto_scaling_instances}`): {asg}"
        ]
        out += [f"- `StatusCheckFailed_System` ALARM (the host), configured `{health.system_check_action}`:"]
        out += _numbered(_health_action(health.system_check_action, config), indent="   ")
        out += [
            f"- `StatusCheckFailed_Instance` ALARM (the operating system), configured `{health.instance_check_action}`:"
        ]
        out += _numbered(_health_action(health.instance_check_action, config), indent="   ")
        out += [f"- AWS Health {', '.join(f'`{c}`' for c in recovery_failed)} (automatic recovery failed):"]
        out += [
            f"   1. {_step('stop_start_instance')}; an instance-store backed instance is reported for "
            "replacement by hand instead."
        ]
        if health.retirement_action == "stop_start":
            out += [
                f"- AWS Health {', '.join(f'`{c}`' for c in retirement)} (scheduled retirement), configured "
                "`stop_start`:",
                f"   1. {_step('stop_start_instance')} ahead of the retirement; an "
                "instance-store backed instance is reported for replacement by hand.",
            ]
        out += [
            "- OK after an ALARM: the open incident is closed as resolved and a `recovered` message is sent; "
            "an OK with no open incident is skipped.",
            "",
        ]
    out += [
        "### Who is notified",
        "",
        "- Every ALARM transition of a status-check or metric alarm is also published to the SNS topic by "
        "CloudWatch itself (the alarm's action).",
        ONE_MESSAGE,
        "- An OK closing an incident: one `recovered` message.",
        SKIPPED,
        "",
        "### Never done",
        "",
    ]
    out += _never([a for a in HEALTH_STEPS if a not in health.all_actions and REGISTRY[a].mutating])
    out += [
        "- A metric alarm never changes anything, and neither does INSUFFICIENT_DATA.",
        "- Only a `running` instance is acted on; an instance-store backed instance is never stopped and started.",
        "- Stop or terminate never run before the instance's configuration was captured.",
        "",
    ]
    return out


def _alarm_lines(config: Config) -> list[str]:
    """The alarms each monitored instance gets, with the configured tuning (remediation.alarms.definitions)."""
    mon = config.monitoring

    def every(spec: Mapping[str, float]) -> str:
        return f"over {int(spec['evaluationPeriods'])} period(s) of {int(spec['periodSeconds'])} s"

    recover = "when the instance supports it and is not protected, CloudWatch's native recover action"
    if mon.scope == "list":
        which = "CloudWatch's native recover action" if mon.recover_listed_instances else "no recover action"
        recover = f"{which} (`monitoring.recoverListedInstances`)"
    out = [
        f"- `StatusCheckFailed_System` (the host): any failure {every(mon.status_check)}; actions: the SNS topic "
        f"and {recover}.",
        f"- `StatusCheckFailed_Instance` (the operating system): any failure {every(mon.status_check)}; action: "
        "the SNS topic.",
    ]
    metric = {
        "cpu": f"- `CPUUtilization` average above {_amount(mon.cpu['threshold'])} % {every(mon.cpu)}; notify only.",
        "disk": f"- `EBSReadOps` and `EBSWriteOps` (`DiskReadOps` and `DiskWriteOps` on instance store) above "
        f"{_amount(mon.disk['threshold'])} operations per period {every(mon.disk)}; notify only.",
        "network": f"- `NetworkIn` and `NetworkOut` above {_amount(mon.network['threshold'])} bytes per period "
        f"{every(mon.network)}; notify only.",
    }
    return out + [metric[m] for m in METRIC_ALARMS if m in mon.metric_alarms]


def monitoring_section(config: Config) -> list[str]:
    mon = config.monitoring
    prefix = config.core.name_prefix
    scope = {
        "tag": f"instances carrying the tag `{mon.tag_key}={mon.tag_value}`",
        "all": "every instance",
        "list": "only the instances listed in `monitoring.instanceIds`",
    }[mon.scope]
    listed = ", ".join(f"`{i}`" for i in mon.instance_ids)
    out = [
        "## Instance alarms (`monitoring`)",
        "",
        f"Mode: {MODE_TEXT[mon.mode]}"
        if mon.scope != "list"
        else "Mode: none: scope `list` deploys no alarm-lifecycle function; CloudFormation manages the listed alarms.",
        "",
        f"Alarmed instances: {scope}. Alarms are named `{prefix}-<instance id>-<metric>`; the health playbook acts "
        "on their state changes.",
        "",
    ]
    if mon.instance_ids:
        recover = "with" if mon.recover_listed_instances else "without"
        out += [
            f"Listed instances (alarms created by CloudFormation at deployment, {recover} the recover action, "
            f"never touched by the lifecycle function): {listed}.",
            "",
        ]
    out += ["### Alarms per instance", "", *_alarm_lines(config), ""]
    if mon.scope != "list":
        out += [
            "### Trigger",
            "",
            "- EC2 instance state changes to `running` or `terminated` (rule `AlarmLifecycleInstanceState`).",
            f"- The reconcile schedule `{mon.reconcile_schedule}` (rule `AlarmLifecycleReconcile`).",
            "",
            *_pattern(rules.instance_state_pattern(), "AlarmLifecycleInstanceState"),
            "### Checks before any change, in order",
            "",
            "1. Playbook mode `off`, or an instance listed in `monitoring.instanceIds`: skipped.",
            "2. `running`: " + _step("inspect_instance_health") + ". If that fails, nothing is changed and the "
            "failure is reported; an instance that no longer exists"
            + (f" or does not carry `{mon.tag_key}={mon.tag_value}`" if mon.scope == "tag" else "")
            + ": skipped.",
        ]
        if mon.mode == "notify":
            out.append("3. Mode `notify`: notify only (state changes and the reconcile).")
        out.append("")
        if mon.mode in ("off", "notify"):
            out += ["### What happens", "", *_idle(mon.mode)]
        else:
            out += [
                "### What happens, per trigger",
                "",
                f"These steps {_verb(mon.mode)}:",
                "",
                f"- `running`, in scope: {_step('put_instance_alarms')}; a protected instance is watched, but its "
                "system-check alarm has no recover action.",
                f"- `terminated`: {_step('delete_instance_alarms')}.",
                f"- Reconcile: {_step('reconcile_alarms')}"
                + (f", over instances carrying `{mon.tag_key}={mon.tag_value}`." if mon.scope == "tag" else "."),
                "",
            ]
        out += [
            "### Who is notified",
            "",
            "- Routine alarm upkeep is not an incident: logged and counted (metric `AlarmUpkeep`), not notified.",
            "- A failed step, a dry run, or a reconcile that repaired drift: one message to the SNS topic.",
            SKIPPED,
            "",
        ]
    out += ["### Never done", ""]
    out += [f"- No `{m}` alarm: not in `monitoring.metricAlarms`." for m in METRIC_ALARMS if m not in mon.metric_alarms]
    if mon.scope != "list":
        out.append(
            "- The lifecycle function never creates alarms for instances out of scope, nor touches the "
            "listed instances' alarms."
        )
        out.append("- The lifecycle function never gives a protected instance's alarm the recover action.")
    out += ["- Metric alarms never change an instance: they only notify.", ""]
    return out


INSTANCE_OPTIONAL = (
    "enable_flow_logs",
    "disassociate_elastic_ip",
    "replace_instance_profile",
    "stop_instance",
    "terminate_instance",
)


def instance_section(config: Config) -> list[str]:
    inst = config.instance
    types = ", ".join(f"`{t}`" for t in inst.finding_types)
    target = "contained like an actor (`instance.actOnTarget`)" if inst.act_on_target else "notify only"
    out = [
        "## Compromised EC2 instance (`instance`)",
        "",
        f"Mode: {MODE_TEXT[inst.mode]}",
        "",
        "### Trigger",
        "",
        "- GuardDuty findings on an `Instance` resource (rule `GuardDutyInstanceFindings`).",
        f"- Finding types: {types}.",
        f"- Severity at least {inst.min_severity:g}.",
        "",
        *_pattern(rules.instance_pattern(config), "GuardDutyInstanceFindings"),
        "### Checks before any change, in order",
        "",
        "1. Playbook mode `off`, a sample finding, an archived finding, a type not configured, a severity below "
        "the minimum: skipped (no change, no notification).",
        f"2. An instance that is the target of the activity, not its actor: {target}.",
    ]
    n = 3
    if inst.mode == "notify":
        out.append(f"{n}. Mode `notify`: notify only.")
        n += 1
    out += _numbered(
        [
            f"{_step('inspect_instance')}. If that fails (or the instance is gone), nothing is changed and it is "
            "reported.",
            "The protected tag on the instance: notify only.",
        ],
        n,
    )
    out.append("")
    final = f"{inst.final_action}_instance" if inst.final_action != "none" else ""
    if inst.mode in ("off", "notify"):
        out += ["### What happens", "", *_idle(inst.mode)]
    else:
        untrack = (
            " First through the all-open untracking group, so tracked connections are cut too."
            if inst.untrack_first
            else " Directly, without the untracking group (`instance.untrackFirst` is "
            "false): connections already tracked survive the change."
        )
        examiner = " The isolation group admits nothing and allows no egress (no examiner CIDR configured)."
        if inst.forensic_access_cidr:
            examiner = (
                f" The isolation group admits only `{inst.forensic_access_cidr}` on TCP port "
                f"{inst.forensic_access_port} (examiner access) and allows no egress."
            )
        steps = [
            ("preserve", _step("preserve_instance")),
            ("preserve", _step("tag_incident")),
            ("evidence", _step("snapshot_volumes")),
            ("evidence", _step("capture_instance")),
        ]
        if inst.flow_logs:
            steps.append(("evidence", _step("enable_flow_logs")))
        steps += [
            ("contain", _step("isolate_network", f" (skipped when the instance has no interface).{untrack}{examiner}")),
            ("contain", _step("leave_auto_scaling_group", f" (only a member; by `{inst.auto_scaling}`)")),
            ("contain", _step("deregister_targets")),
        ]
        if inst.disassociate_elastic_ip:
            steps.append(("contain", _step("disassociate_elastic_ip")))
        steps.append(
            (
                "contain",
                _step(
                    "revoke_instance_role_sessions", " (only when the instance has a role, never a role of this stack)"
                ),
            )
        )
        if inst.quarantine_instance_profile:
            steps.append(("contain", _step("replace_instance_profile", " (only when the instance has a role)")))
        if final:
            evidence = "snapshot_volumes, capture_instance" + (", enable_flow_logs" if inst.flow_logs else "")
            steps.append(
                (
                    "final",
                    _step(
                        final,
                        f": only if every evidence step ({evidence}) succeeded; otherwise "
                        "it is not run, the instance is left isolated and running for manual forensics and the "
                        "notification says EVIDENCE FAILED",
                    ),
                )
            )
        out += ["### What happens, in order", "", f"These steps {_verb(inst.mode)}:", ""]
        out += [f"{i}. {phase}: {text}" for i, (phase, text) in enumerate(steps, 1)]
        out.append("")
    out += ["### Who is notified", "", ONE_MESSAGE, SKIPPED, "", "### Never done", ""]
    enabled = {
        "enable_flow_logs": inst.flow_logs,
        "disassociate_elastic_ip": inst.disassociate_elastic_ip,
        "replace_instance_profile": inst.quarantine_instance_profile,
        "stop_instance": final == "stop_instance",
        "terminate_instance": final == "terminate_instance",
    }
    out += _never([a for a in INSTANCE_OPTIONAL if not enabled[a]])
    out += [
        "- Stop or terminate never run when an evidence step failed.",
        "- Volumes and snapshots are never deleted; the Auto Scaling group's minimum is never lowered.",
        "",
    ]
    return out


TRAIL_STEP_FOR_CALL = {
    "StopLogging": "restart_logging",
    "DeleteTrail": "recreate_trail",
    "UpdateTrail": "restore_trail_config",
    "PutEventSelectors": "restore_trail_config",
}


def trail_section(config: Config) -> list[str]:
    trail = config.trail
    pattern = rules.trail_tampering_pattern(config)
    calls = pattern["detail"]["eventName"]
    protected = (
        ", ".join(f"`{t}`" for t in trail.protected_trails)
        if trail.protected_trails
        else "every trail the recorder sees in the region (`trail.protectedTrails` is empty)"
    )
    out = [
        "## Audit-trail tampering (`trail`)",
        "",
        f"Mode: {MODE_TEXT[trail.mode]}",
        "",
        "### Trigger",
        "",
        f"- CloudTrail API calls {', '.join(f'`{c}`' for c in calls)}, failed calls included (rule `TrailTampering`).",
        f"- Protected trails: {protected}.",
        f"- Every {trail.record_interval_minutes} min (rule `TrailConfigRecorder`), in every mode: "
        f"{_step('record_trail_config')}; missing or weakened trails, or a failed recording, are notified.",
        "",
        *_pattern(pattern, "TrailTampering"),
        "### Checks before any change, in order",
        "",
        "1. Playbook mode `off`: skipped.",
        "2. A trail that is not protected: skipped.",
        "3. A failed call (it has an `errorCode`): it changed nothing, so nothing is restored: notify only.",
    ]
    if trail.mode == "notify":
        out.append("4. Mode `notify`: notify only.")
    out.append("")
    if trail.mode in ("off", "notify"):
        out += ["### What happens", "", *_idle(trail.mode)]
    else:
        out += ["### What happens, per API call", "", f"These steps {_verb(trail.mode)}:", ""]
        out += [f"- `{call}`: {_step(TRAIL_STEP_FOR_CALL[call])}" for call in calls]
        out.append("")
    if trail.contain_actor and trail.mode not in ("off", "notify"):
        user_steps = []
        for name in trail.actor_actions:
            extra = (
                " (only when the call was made with a long-term `AKIA` key)" if name == "deactivate_access_key" else ""
            )
            user_steps.append(_step(name, extra))
        out += [
            "Then the actor is contained (`trail.containActor`), after these checks in order: principals other "
            "than IAM users and assumed roles, a principal on the allow-list, a role of this stack: not contained. "
            f"{_step('inspect_principal')}; if that fails, not contained; the protected tag or a service-linked "
            "role: not contained.",
            "",
            "An IAM user, in order:",
            "",
            *_numbered(user_steps),
            "",
            f"An assumed role: {_step('revoke_sessions')}",
            "",
        ]
    if trail.contain_actor:
        never = [a for a in TRAIL_ACTOR_ACTIONS if a not in trail.actor_actions and a != "revoke_sessions"]
        why = "Not configured, so never done"
    else:
        never = list(TRAIL_ACTOR_ACTIONS)
        why = "The actor is not contained (`trail.containActor` is false), so never done"
    out += [
        "### Who is notified",
        "",
        ONE_MESSAGE,
        "- The recorder notifies only when a protected trail is missing or weaker than recorded, or recording failed.",
        SKIPPED,
        "",
        "### Never done",
        "",
    ]
    out += _never(never, why)
    out += [
        "- A failed tampering call never triggers a restore.",
        "- A trail's recorded configuration is never replaced by a weaker one; trails are never deleted.",
        "",
    ]
    return out


RISKY_WORLD = ("0.0.0.0/0", "::/0")


def risky_section(config: Config) -> list[str]:
    risky = config.risky
    ports = ", ".join(str(p) for p in risky.admin_ports)
    exposed = rules.credentials_exposed_pattern(config)["detail"]["eventTypeCode"][0]
    out = [
        "## Risky changes (`risky`)",
        "",
        f"Mode: {MODE_TEXT[risky.mode]}",
        "",
        "### Trigger",
        "",
        f"- Successful `AuthorizeSecurityGroupIngress` calls naming {' or '.join(RISKY_WORLD)} "
        "(rule `WorldOpenAdminIngress`); the ports are checked by the function.",
        f"- Admin ports: {ports}.",
        "- Root console sign-ins, successful or not (rule `RootConsoleSignIn`).",
        f"- A publicly exposed access key (AWS Health `{exposed}`) is handled by the credential playbook: see "
        "its section.",
        "",
        *_pattern(rules.world_open_ingress_pattern(config), "WorldOpenAdminIngress"),
        *_pattern(rules.root_sign_in_pattern(config), "RootConsoleSignIn"),
        "### Checks before any change, in order (world-open ingress)",
        "",
        "1. Playbook mode `off`, a failed call: skipped.",
        f"2. No rule the call created opens an admin port ({ports}) over TCP or UDP, or all traffic, to "
        f"{' or '.join(RISKY_WORLD)}: skipped (egress rules and narrower sources are left alone).",
    ]
    n = 3
    if risky.mode == "notify":
        out.append(f"{n}. Mode `notify`: notify only.")
        n += 1
    out += _numbered(
        [
            f"{_step('inspect_security_group')}. If that fails, nothing is changed and it is reported.",
            "The protected tag on the security group: left open, notify only.",
            "Rules already removed: nothing to revoke (reported).",
        ],
        n,
    )
    out.append("")
    if risky.mode in ("off", "notify"):
        out += ["### What happens", "", *_idle(risky.mode)]
    else:
        out += [
            "### What happens, per case",
            "",
            f"These steps {_verb(risky.mode)}:",
            "",
            f"- World-open ingress on an admin port ({ports}): {_step('revoke_ingress_rules')}.",
            "",
        ]
    if risky.mode != "off":
        out += [
            "Root console sign-in (any mode but `off`): notify only, flagging whether MFA was used; root is "
            "never contained automatically.",
            "",
        ]
    out += [
        "### Who is notified",
        "",
        ONE_MESSAGE,
        "- Every root console sign-in (unless the playbook is off): one message, `WITHOUT MFA` when MFA was not used.",
        SKIPPED,
        "",
        "### Never done",
        "",
        "- No other rule of the group is revoked: only the rule ids the call created.",
        "- Rules opening other ports, or opening admin ports to narrower sources, are never changed.",
        "- Root is never contained automatically.",
        "",
    ]
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
    "health": health_section,
    "monitoring": monitoring_section,
    "instance": instance_section,
    "trail": trail_section,
    "risky": risky_section,
}


def plan(overrides: Mapping[str, Any] | None = None) -> str:
    config = parse_context(context(overrides))
    out = [
        "# Response plan",
        "",
        "Generated by `python -m gameday plan` from the configuration the stack is synthesized from "
        "(cdk.json context plus any --config overrides). Regenerate it after every change.",
        "",
    ]
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
