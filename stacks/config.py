"""Typed configuration, parsed once from CDK context.

Every tunable of the product is declared here as a `Setting`: its context key, type,
default, allowed values and effect. The same table validates `cdk.json` / `-c key=value`
input, generates the README's configuration reference, and feeds the response plan, so
documentation and behaviour cannot drift apart.

Context keys are namespaced (`core.*`, `credential.*`, ...). Any key that looks like ours
(`namespace.name`) but is not declared fails synthesis, so a typo never silently falls
back to a default. CDK's own keys (`@aws-cdk/...`, lookups with `:`) are ignored.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MODES = ("off", "notify", "dry_run", "enforce")

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

CREDENTIAL_ACTIONS = (
    "deactivate_access_key",
    "deactivate_all_access_keys",
    "attach_quarantine_policy",
    "revoke_sessions",
    "capture_user_state",
    "detach_managed_policies",
    "delete_inline_policies",
    "remove_from_groups",
    "delete_login_profile",
    "lookup_cloudtrail",
    "recheck_new_credentials",
)

DEFAULT_CREDENTIAL_ACTIONS = (
    "deactivate_access_key",
    "attach_quarantine_policy",
    "revoke_sessions",
    "capture_user_state",
    "lookup_cloudtrail",
    "recheck_new_credentials",
)

IAM_FINDING_FAMILIES = (
    "CredentialAccess",
    "DefenseEvasion",
    "Discovery",
    "Exfiltration",
    "Impact",
    "InitialAccess",
    "Persistence",
    "Policy",
    "PenTest",
    "PrivilegeEscalation",
    "Recon",
    "Stealth",
    "UnauthorizedAccess",
)

DEFAULT_CREDENTIAL_FINDING_TYPES = tuple(f"{family}:IAMUser/*" for family in IAM_FINDING_FAMILIES)

# GuardDuty finding families on EC2 instances (resource type Instance), incl. Runtime Monitoring.
EC2_FINDING_FAMILIES = (
    "Backdoor",
    "Behavior",
    "CryptoCurrency",
    "DefenseEvasion",
    "Discovery",
    "Execution",
    "Impact",
    "PrivilegeEscalation",
    "Recon",
    "Trojan",
    "UnauthorizedAccess",
)
DEFAULT_INSTANCE_FINDING_TYPES = tuple(f"{family}:EC2/*" for family in EC2_FINDING_FAMILIES) + tuple(
    f"{family}:Runtime/*"
    for family in (
        "Backdoor",
        "CryptoCurrency",
        "DefenseEvasion",
        "Discovery",
        "Execution",
        "Impact",
        "PrivilegeEscalation",
    )
)
INSTANCE_FINAL_ACTIONS = ("none", "stop", "terminate")
INSTANCE_ASG_MODES = ("detach", "standby")
DEFAULT_TRAIL_ACTOR_ACTIONS = ("deactivate_access_key", "attach_quarantine_policy", "revoke_sessions")
TRAIL_ACTOR_ACTIONS = (
    "deactivate_access_key",
    "deactivate_all_access_keys",
    "attach_quarantine_policy",
    "revoke_sessions",
)


HEALTH_ACTIONS = ("recover", "reboot", "stop", "terminate", "notify")
HEALTH_AUTO_SCALING = ("mark_unhealthy", "direct", "notify")
HEALTH_RETIREMENT = ("notify", "stop_start")
MONITORING_SCOPES = ("tag", "all", "list")
METRIC_ALARMS = ("cpu", "disk", "network")

_KEY_SHAPE = re.compile(r"^[a-z][a-zA-Z0-9]*\.[a-zA-Z0-9.]+$")
_FINDING_TYPE = re.compile(r"^[A-Za-z0-9:/!.&_-]+\*?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
_TAG = re.compile(r"^[\w.:/=+@ -]{1,128}=[\w.:/=+@ -]{0,256}$")
_TRAIL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$")
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*):[\w+=,.@/*-]+$")
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?$")


class ConfigError(ValueError):
    """A context value is unknown, of the wrong type, or impossible."""


# --------------------------------------------------------------------------- parsers


Parser = Callable[[str, Any], Any]


def _as_list(key: str, raw: Any) -> list[Any]:
    """Context from `-c` arrives as a string: accept JSON or a comma-separated list."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{key}: not valid JSON ({exc.msg})") from exc
        else:
            raw = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(raw, list | tuple):
        raise ConfigError(f"{key}: expected a list, got {type(raw).__name__} {raw!r}")
    return list(raw)


def _as_dict(key: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw or "{}")
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{key}: expected a JSON object ({exc.msg})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected an object, got {type(raw).__name__} {raw!r}")
    return dict(raw)


def choice(*allowed: str) -> Parser:
    def parse(key: str, raw: Any) -> str:
        if not isinstance(raw, str) or raw not in allowed:
            raise ConfigError(f"{key}: {raw!r} is not allowed; allowed values: {', '.join(allowed)}")
        return raw

    parse.__doc__ = " | ".join(allowed)
    return parse


def integer(low: int, high: int, *, only: tuple[int, ...] = ()) -> Parser:
    def parse(key: str, raw: Any) -> int:
        if isinstance(raw, bool):
            raise ConfigError(f"{key}: expected an integer, got {raw!r}")
        if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
            raw = int(raw)
        if not isinstance(raw, int):
            raise ConfigError(f"{key}: expected an integer from {low} to {high}, got {raw!r}")
        if only and raw not in only:
            raise ConfigError(f"{key}: {raw} is not allowed; allowed values: {', '.join(map(str, only))}")
        if not low <= raw <= high:
            raise ConfigError(f"{key}: {raw} is out of range; allowed values: {low} to {high}")
        return raw

    parse.__doc__ = " | ".join(map(str, only)) if only else f"integer {low} to {high}"
    return parse


def number(low: float, high: float) -> Parser:
    def parse(key: str, raw: Any) -> float:
        if isinstance(raw, bool):
            raise ConfigError(f"{key}: expected a number, got {raw!r}")
        if isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError as exc:
                raise ConfigError(f"{key}: expected a number from {low} to {high}, got {raw!r}") from exc
        if not isinstance(raw, int | float):
            raise ConfigError(f"{key}: expected a number from {low} to {high}, got {raw!r}")
        if not low <= float(raw) <= high:
            raise ConfigError(f"{key}: {raw} is out of range; allowed values: {low} to {high}")
        return float(raw)

    parse.__doc__ = f"number {low:g} to {high:g}"
    return parse


def boolean(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ConfigError(f"{key}: expected true or false, got {raw!r}")


boolean.__doc__ = "true | false"


def text(pattern: re.Pattern[str], what: str) -> Parser:
    def parse(key: str, raw: Any) -> str:
        if not isinstance(raw, str) or not pattern.fullmatch(raw):
            raise ConfigError(f"{key}: {raw!r} is not {what}")
        return raw

    parse.__doc__ = what
    return parse


def list_of(item: Parser, *, unique: bool = True, min_items: int = 0) -> Parser:
    def parse(key: str, raw: Any) -> tuple[Any, ...]:
        values = tuple(item(f"{key}[{i}]", value) for i, value in enumerate(_as_list(key, raw)))
        if unique and len(set(values)) != len(values):
            raise ConfigError(f"{key}: duplicate entries in {list(values)!r}")
        if len(values) < min_items:
            raise ConfigError(f"{key}: needs at least {min_items} entr{'y' if min_items == 1 else 'ies'}")
        return values

    parse.__doc__ = f"list of ({item.__doc__})"
    return parse


def mapping_of(key_parser: Parser, value_parser: Parser) -> Parser:
    def parse(key: str, raw: Any) -> tuple[tuple[Any, Any], ...]:
        return tuple(
            (key_parser(f"{key} key", k), value_parser(f"{key}[{k!r}]", v)) for k, v in _as_dict(key, raw).items()
        )

    parse.__doc__ = f"object: ({key_parser.__doc__}) -> ({value_parser.__doc__})"
    return parse


ALARM_PERIODS = (10, 30, 60, 120, 180, 240, 300, 600, 900, 1800, 3600, 21600, 86400)


def alarm_spec(*, threshold: bool = True) -> Parser:
    """An alarm's tuning as one object: threshold (when it has one), period and evaluation count."""
    keys = ("threshold", "periodSeconds", "evaluationPeriods") if threshold else ("periodSeconds", "evaluationPeriods")

    def parse(key: str, raw: Any) -> tuple[tuple[str, float], ...]:
        value = _as_dict(key, raw)
        unknown = sorted(set(value) - set(keys))
        missing = [k for k in keys if k not in value]
        if unknown or missing:
            raise ConfigError(
                f"{key}: expected exactly the keys {', '.join(keys)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        out: list[tuple[str, float]] = []
        if threshold:
            out.append(("threshold", number(0, 1e15)(f"{key}.threshold", value["threshold"])))
        out.append(
            ("periodSeconds", integer(10, 86400, only=ALARM_PERIODS)(f"{key}.periodSeconds", value["periodSeconds"]))
        )
        out.append(("evaluationPeriods", integer(1, 100)(f"{key}.evaluationPeriods", value["evaluationPeriods"])))
        return tuple(out)

    parse.__doc__ = "object {" + ", ".join(keys) + "}"
    return parse


def cidr_or_empty(key: str, raw: Any) -> str:
    if raw == "":
        return ""
    try:
        network = ipaddress.ip_network(raw, strict=True) if isinstance(raw, str) else None
    except ValueError as exc:
        raise ConfigError(f"{key}: {raw!r} is not a CIDR ({exc})") from exc
    if network is None:
        raise ConfigError(f"{key}: expected a CIDR string, got {raw!r}")
    if network.prefixlen == 0:
        raise ConfigError(f"{key}: {raw!r} opens the isolation group to the world; give the examiner's CIDR")
    return str(network)


cidr_or_empty.__doc__ = "an IPv4 or IPv6 CIDR (not /0), or empty"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Setting:
    """One tunable: the single source of truth for parsing, docs and the response plan."""

    key: str
    parse: Parser
    default: Any
    doc: str

    @property
    def allowed(self) -> str:
        return self.parse.__doc__ or ""


mode = choice(*MODES)
finding_type = text(_FINDING_TYPE, "a GuardDuty finding type, optionally ending in * for a prefix")
credential_action = choice(*CREDENTIAL_ACTIONS)

SETTINGS: tuple[Setting, ...] = (
    # core
    Setting(
        "core.namePrefix",
        text(_PREFIX, "lowercase letters, digits and '-', 1-24 chars, starting with a letter"),
        "autoremediation",
        "Prefix of names the stack creates (alarms, isolation groups, quarantine policies).",
    ),
    Setting(
        "core.protectedTag",
        text(_TAG, "a tag written Key=Value"),
        "AutoRemediation=skip",
        "Resources and principals carrying this tag are never acted on; they are only notified.",
    ),
    Setting(
        "core.principalAllowList",
        list_of(text(_PRINCIPAL_ARN, "an IAM or STS ARN (* allowed as a glob)")),
        (),
        "ARNs of principals that are never touched (break-glass users and roles). Globs with * allowed.",
    ),
    Setting(
        "core.notificationEmails",
        list_of(text(_EMAIL, "an e-mail address")),
        (),
        "E-mail addresses subscribed to the notification topic (each must confirm the subscription).",
    ),
    Setting(
        "core.logRetentionDays",
        integer(1, 3653, only=LOG_RETENTION_DAYS),
        365,
        "Retention of every function's log group, in days.",
    ),
    Setting(
        "core.powertoolsLayerVersion",
        integer(1, 1000),
        27,
        "Version of the AWS-managed Powertools for AWS Lambda (Python) v3 layer "
        "(AWSLambdaPowertoolsPythonV3-python313-x86_64).",
    ),
    Setting(
        "core.evidenceRetentionDays",
        integer(1, 3650),
        365,
        "Days the evidence bucket keeps objects before expiring them (versions included).",
    ),
    Setting(
        "core.retainData",
        boolean,
        True,
        "Keep the evidence bucket, incident table, key and log groups when the stack is destroyed.",
    ),
    Setting(
        "core.reservedConcurrency",
        integer(1, 100),
        5,
        "Reserved concurrency of each playbook function: bounds the API call rate of a burst.",
    ),
    Setting(
        "core.breakerLimit",
        integer(0, 10000),
        20,
        "Circuit breaker: at most this many destructive actions (stop, terminate, isolate, detach, remove "
        "access) per account per window, counted atomically in the incident table; past it playbooks only "
        "notify, and one alert is sent. 0 turns every destructive step into notify-only.",
    ),
    Setting("core.breakerWindowMinutes", integer(1, 10080), 60, "Length of the circuit breaker's window, in minutes."),
    Setting(
        "core.repeatNotifyMinutes",
        integer(0, 10080),
        60,
        "A finding that repeats without changing its incident's status notifies at most once per this many minutes.",
    ),
    # credential playbook
    Setting(
        "credential.mode",
        mode,
        "enforce",
        "off: ignore; notify: only notify; dry_run: record what would be done; enforce: act.",
    ),
    Setting(
        "credential.findingTypes",
        list_of(finding_type, min_items=1),
        DEFAULT_CREDENTIAL_FINDING_TYPES,
        "GuardDuty finding types (on AccessKey resources) routed to the playbook; a trailing * makes a prefix.",
    ),
    Setting(
        "credential.minSeverity", number(0, 10), 7.0, "Minimum GuardDuty severity acted on (7 = High, 4 = Medium)."
    ),
    Setting(
        "credential.actions",
        list_of(credential_action, min_items=1),
        DEFAULT_CREDENTIAL_ACTIONS,
        "Containment steps for an IAM user, in order. Assumed roles only get revoke_sessions; root is notify-only.",
    ),
    Setting(
        "credential.actionsByFindingType",
        mapping_of(finding_type, list_of(credential_action, min_items=1)),
        {},
        "Per finding type (trailing * = prefix) the steps to run instead of credential.actions; first match wins.",
    ),
    Setting(
        "credential.recheckSeconds",
        integer(0, 60),
        5,
        "Seconds to wait before re-checking for keys and login profiles the attacker created meanwhile.",
    ),
    Setting(
        "credential.cloudtrailLookbackHours",
        integer(1, 2160),
        24,
        "How far back to look up the key's CloudTrail events for the evidence bucket.",
    ),
    # EC2 health playbook
    Setting(
        "health.mode",
        mode,
        "enforce",
        "Mode of the EC2 health playbook (status-check alarms and AWS Health EC2 events).",
    ),
    Setting(
        "health.systemCheckAction",
        choice(*HEALTH_ACTIONS),
        "recover",
        "What a StatusCheckFailed_System alarm does: recover (native alarm action, stop/start fallback), "
        "reboot, stop, terminate or notify.",
    ),
    Setting(
        "health.instanceCheckAction",
        choice(*HEALTH_ACTIONS),
        "reboot",
        "What a StatusCheckFailed_Instance alarm does (reboot escalates to stop/start after repeats).",
    ),
    Setting(
        "health.rebootsBeforeStopStart",
        integer(1, 10),
        2,
        "Reboots within the window after which the next instance-check failure stops and starts the "
        "instance instead (EBS-backed only) and is reported as a persistent failure.",
    ),
    Setting(
        "health.rebootWindowMinutes",
        integer(5, 10080),
        60,
        "Window in which reboots (and stop/starts) of one instance are counted.",
    ),
    Setting(
        "health.autoScalingInstances",
        choice(*HEALTH_AUTO_SCALING),
        "mark_unhealthy",
        "Instances in an Auto Scaling group: mark_unhealthy (the group replaces them), direct (act on "
        "the instance like any other) or notify.",
    ),
    Setting(
        "health.retirementAction",
        choice(*HEALTH_RETIREMENT),
        "notify",
        "AWS Health scheduled retirement of an instance: notify, or stop_start ahead of time (EBS-backed).",
    ),
    Setting(
        "health.stopTimeoutSeconds",
        integer(30, 420),
        300,
        "How long a stop (or start) may take before the step fails; the function timeout follows.",
    ),
    # monitoring: which instances get alarms, and the alarms' tuning
    Setting(
        "monitoring.mode",
        mode,
        "enforce",
        "Mode of the alarm-lifecycle function (dry_run records the alarms it would create or delete).",
    ),
    Setting(
        "monitoring.scope",
        choice(*MONITORING_SCOPES),
        "tag",
        "Which instances get alarms: tag (those carrying monitoring.tag), all, or list "
        "(only monitoring.instanceIds, created at synth time; no lifecycle function).",
    ),
    Setting(
        "monitoring.tag",
        text(_TAG, "a tag written Key=Value"),
        "AutoRemediationMonitor=true",
        "Opt-in tag of monitored instances (scope tag).",
    ),
    Setting(
        "monitoring.instanceIds",
        list_of(text(_INSTANCE_ID, "an EC2 instance id")),
        (),
        "Instances whose alarms are created at synth time (any scope). Their system-check alarm carries "
        "the recover action when monitoring.recoverListedInstances is true.",
    ),
    Setting(
        "monitoring.recoverListedInstances",
        boolean,
        True,
        "Give the listed instances' StatusCheckFailed_System alarm the native recover action (list only "
        "instances that support it: AutoRecoverySupported type, EBS-only, not in an Auto Scaling group).",
    ),
    Setting(
        "monitoring.metricAlarms",
        list_of(choice(*METRIC_ALARMS)),
        METRIC_ALARMS,
        "Metric alarms created besides the status checks: cpu (CPUUtilization), disk (EBS or "
        "instance-store read and write operations), network (NetworkIn and NetworkOut). They only notify.",
    ),
    Setting(
        "monitoring.statusCheckAlarm",
        alarm_spec(threshold=False),
        {"periodSeconds": 60, "evaluationPeriods": 2},
        "Period and evaluation count of both status-check alarms (threshold: any failure).",
    ),
    Setting(
        "monitoring.cpuAlarm",
        alarm_spec(),
        {"threshold": 90, "periodSeconds": 300, "evaluationPeriods": 3},
        "CPUUtilization alarm: average percent above threshold.",
    ),
    Setting(
        "monitoring.diskAlarm",
        alarm_spec(),
        {"threshold": 300000, "periodSeconds": 300, "evaluationPeriods": 3},
        "Disk read and write operation alarms: operations per period above threshold (each direction).",
    ),
    Setting(
        "monitoring.networkAlarm",
        alarm_spec(),
        {"threshold": 5000000000, "periodSeconds": 300, "evaluationPeriods": 3},
        "NetworkIn and NetworkOut alarms: bytes per period above threshold (each direction).",
    ),
    Setting(
        "monitoring.reconcileSchedule",
        text(re.compile(r"^(rate|cron)\(.{1,200}\)$"), "an EventBridge schedule expression, rate(...) or cron(...)"),
        "cron(17 3 * * ? *)",
        "When the daily reconcile creates missing and deletes orphaned alarms.",
    ),
    # instance-compromise playbook
    Setting(
        "instance.mode",
        mode,
        "enforce",
        "off: ignore; notify: only notify; dry_run: record what would be done; enforce: act.",
    ),
    Setting(
        "instance.findingTypes",
        list_of(finding_type, min_items=1),
        DEFAULT_INSTANCE_FINDING_TYPES,
        "GuardDuty finding types (on Instance resources) routed to the playbook; a trailing * makes a prefix.",
    ),
    Setting("instance.minSeverity", number(0, 10), 7.0, "Minimum GuardDuty severity acted on (7 = High, 4 = Medium)."),
    Setting(
        "instance.actOnTarget",
        boolean,
        False,
        "Also contain an instance that is only the TARGET of the activity (default: notify only).",
    ),
    Setting(
        "instance.finalAction",
        choice(*INSTANCE_FINAL_ACTIONS),
        "none",
        "After evidence succeeded: stop or terminate the instance (volumes are kept). Never when evidence failed.",
    ),
    Setting(
        "instance.autoScaling",
        choice(*INSTANCE_ASG_MODES),
        "detach",
        "Take the instance out of its Auto Scaling group by detaching it or moving it to standby "
        "(the group's minimum is never lowered; the group launches a replacement).",
    ),
    Setting(
        "instance.untrackFirst",
        boolean,
        True,
        "Isolate in two steps (all-open group, then the empty one) so tracked connections are cut too.",
    ),
    Setting(
        "instance.forensicAccessCidr",
        cidr_or_empty,
        "",
        "If set, the isolation group admits this CIDR on instance.forensicAccessPort (examiner access).",
    ),
    Setting(
        "instance.forensicAccessPort",
        integer(1, 65535),
        22,
        "TCP port the examiner CIDR may reach on an isolated instance.",
    ),
    Setting(
        "instance.flowLogs",
        boolean,
        False,
        "Turn on VPC flow logs (to the evidence bucket) for the instance's network interfaces.",
    ),
    Setting(
        "instance.disassociateElasticIp",
        boolean,
        False,
        "Disassociate Elastic IPs from the instance's interfaces (the allocation is kept).",
    ),
    Setting(
        "instance.quarantineInstanceProfile",
        boolean,
        False,
        "Replace the instance profile with a permission-less quarantine profile the stack creates.",
    ),
    # audit-trail tampering playbook
    Setting(
        "trail.mode",
        mode,
        "enforce",
        "off: ignore; notify: only notify; dry_run: record what would be done; enforce: act.",
    ),
    Setting(
        "trail.protectedTrails",
        list_of(text(_TRAIL_NAME, "a CloudTrail trail name")),
        (),
        "Names of the trails to protect; empty protects every trail the recorder sees in the region.",
    ),
    Setting(
        "trail.recordIntervalMinutes",
        integer(5, 1440),
        60,
        "How often the protected trails' configuration is recorded (the state DeleteTrail/UpdateTrail restore).",
    ),
    Setting(
        "trail.containActor",
        boolean,
        False,
        "Also contain the IAM user or role that tampered with a trail, with the credential actions.",
    ),
    Setting(
        "trail.actorActions",
        list_of(choice(*TRAIL_ACTOR_ACTIONS), min_items=1),
        DEFAULT_TRAIL_ACTOR_ACTIONS,
        "Steps run on an IAM-user actor when trail.containActor is true (a role only gets revoke_sessions).",
    ),
    # risky-change playbook
    Setting(
        "risky.mode",
        mode,
        "enforce",
        "off: ignore; notify: only notify; dry_run: record what would be done; enforce: act.",
    ),
    Setting(
        "risky.adminPorts",
        list_of(integer(0, 65535), min_items=1),
        (22, 3389),
        "Ports whose world-open ingress (0.0.0.0/0, ::/0) is revoked as soon as it is authorized.",
    ),
)

SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


# --------------------------------------------------------------------------- typed config


@dataclass(frozen=True)
class CoreConfig:
    name_prefix: str
    protected_tag_key: str
    protected_tag_value: str
    principal_allow_list: tuple[str, ...]
    notification_emails: tuple[str, ...]
    log_retention_days: int
    powertools_layer_version: int
    evidence_retention_days: int
    reserved_concurrency: int
    retain_data: bool
    breaker_limit: int = 20
    breaker_window_minutes: int = 60
    repeat_notify_minutes: int = 60


@dataclass(frozen=True)
class CredentialConfig:
    mode: str
    finding_types: tuple[str, ...]
    min_severity: float
    actions: tuple[str, ...]
    actions_by_finding_type: tuple[tuple[str, tuple[str, ...]], ...]
    recheck_seconds: int
    cloudtrail_lookback_hours: int

    @property
    def all_actions(self) -> tuple[str, ...]:
        """Every step this configuration can run: the role is granted exactly these."""
        steps = list(self.actions)
        for _, extra in self.actions_by_finding_type:
            steps.extend(s for s in extra if s not in steps)
        if "revoke_sessions" not in steps:
            steps.append("revoke_sessions")  # assumed-role findings always revoke sessions
        return tuple(steps)


@dataclass(frozen=True)
class HealthConfig:
    mode: str
    system_check_action: str
    instance_check_action: str
    reboots_before_stop_start: int
    reboot_window_minutes: int
    auto_scaling_instances: str
    retirement_action: str
    stop_timeout_seconds: int

    @property
    def all_actions(self) -> tuple[str, ...]:
        """Every step this configuration can run: the role is granted exactly these."""
        steps = ["inspect_instance_health", "stop_start_instance"]  # stop/start: escalation and fallback
        checks = (self.system_check_action, self.instance_check_action)
        if "recover" in checks:
            steps.append("confirm_recover_action")
        if "reboot" in checks:
            steps.append("reboot_instance")
        if "stop" in checks or "terminate" in checks:
            steps.append("capture_instance_config")
        if "stop" in checks:
            steps.append("stop_impaired_instance")
        if "terminate" in checks:
            steps.append("terminate_impaired_instance")
        if self.auto_scaling_instances == "mark_unhealthy":
            steps.append("mark_unhealthy")
        return tuple(steps)


@dataclass(frozen=True)
class MonitoringConfig:
    mode: str
    scope: str
    tag_key: str
    tag_value: str
    instance_ids: tuple[str, ...]
    recover_listed_instances: bool
    metric_alarms: tuple[str, ...]
    status_check: Mapping[str, float]
    cpu: Mapping[str, float]
    disk: Mapping[str, float]
    network: Mapping[str, float]
    reconcile_schedule: str

    def alarm_options(self) -> dict[str, Any]:
        """The alarms' definition, shared by the synth-time alarms and the lifecycle function."""
        return {
            "metric_alarms": list(self.metric_alarms),
            "status_check": dict(self.status_check),
            "cpu": dict(self.cpu),
            "disk": dict(self.disk),
            "network": dict(self.network),
        }


@dataclass(frozen=True)
class InstanceConfig:
    mode: str
    finding_types: tuple[str, ...]
    min_severity: float
    act_on_target: bool
    final_action: str
    auto_scaling: str
    untrack_first: bool
    forensic_access_cidr: str
    forensic_access_port: int
    flow_logs: bool
    disassociate_elastic_ip: bool
    quarantine_instance_profile: bool


@dataclass(frozen=True)
class TrailConfig:
    mode: str
    protected_trails: tuple[str, ...]
    record_interval_minutes: int
    contain_actor: bool
    actor_actions: tuple[str, ...]


@dataclass(frozen=True)
class RiskyConfig:
    mode: str
    admin_ports: tuple[int, ...]


@dataclass(frozen=True)
class Config:
    core: CoreConfig
    credential: CredentialConfig
    health: HealthConfig
    monitoring: MonitoringConfig
    instance: InstanceConfig
    trail: TrailConfig
    risky: RiskyConfig
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _is_ours(key: str) -> bool:
    return bool(_KEY_SHAPE.match(key)) and not key.startswith("@")


def parse_context(context: Mapping[str, Any]) -> Config:
    """Parse and validate every setting; raise ConfigError naming the key and allowed values."""
    unknown = sorted(k for k in context if _is_ours(k) and k not in SETTINGS_BY_KEY)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, SETTINGS_BY_KEY, n=1)
            hints.append(f"{key}" + (f" (did you mean {close[0]}?)" if close else ""))
        raise ConfigError("unknown context key(s): " + ", ".join(hints) + "; known keys: " + ", ".join(SETTINGS_BY_KEY))
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = context.get(setting.key, setting.default)
        values[setting.key] = setting.parse(setting.key, raw)

    tag_key, _, tag_value = values["core.protectedTag"].partition("=")
    core = CoreConfig(
        name_prefix=values["core.namePrefix"],
        protected_tag_key=tag_key,
        protected_tag_value=tag_value,
        principal_allow_list=values["core.principalAllowList"],
        notification_emails=values["core.notificationEmails"],
        log_retention_days=values["core.logRetentionDays"],
        powertools_layer_version=values["core.powertoolsLayerVersion"],
        evidence_retention_days=values["core.evidenceRetentionDays"],
        reserved_concurrency=values["core.reservedConcurrency"],
        retain_data=values["core.retainData"],
        breaker_limit=values["core.breakerLimit"],
        breaker_window_minutes=values["core.breakerWindowMinutes"],
        repeat_notify_minutes=values["core.repeatNotifyMinutes"],
    )
    credential = CredentialConfig(
        mode=values["credential.mode"],
        finding_types=values["credential.findingTypes"],
        min_severity=values["credential.minSeverity"],
        actions=values["credential.actions"],
        actions_by_finding_type=values["credential.actionsByFindingType"],
        recheck_seconds=values["credential.recheckSeconds"],
        cloudtrail_lookback_hours=values["credential.cloudtrailLookbackHours"],
    )
    health = HealthConfig(
        mode=values["health.mode"],
        system_check_action=values["health.systemCheckAction"],
        instance_check_action=values["health.instanceCheckAction"],
        reboots_before_stop_start=values["health.rebootsBeforeStopStart"],
        reboot_window_minutes=values["health.rebootWindowMinutes"],
        auto_scaling_instances=values["health.autoScalingInstances"],
        retirement_action=values["health.retirementAction"],
        stop_timeout_seconds=values["health.stopTimeoutSeconds"],
    )
    monitor_key, _, monitor_value = values["monitoring.tag"].partition("=")
    monitoring = MonitoringConfig(
        mode=values["monitoring.mode"],
        scope=values["monitoring.scope"],
        tag_key=monitor_key,
        tag_value=monitor_value,
        instance_ids=values["monitoring.instanceIds"],
        recover_listed_instances=values["monitoring.recoverListedInstances"],
        metric_alarms=values["monitoring.metricAlarms"],
        status_check=dict(values["monitoring.statusCheckAlarm"]),
        cpu=dict(values["monitoring.cpuAlarm"]),
        disk=dict(values["monitoring.diskAlarm"]),
        network=dict(values["monitoring.networkAlarm"]),
        reconcile_schedule=values["monitoring.reconcileSchedule"],
    )
    if monitoring.scope == "list" and not monitoring.instance_ids:
        raise ConfigError("monitoring.instanceIds: scope list needs at least one instance id")
    instance = InstanceConfig(
        mode=values["instance.mode"],
        finding_types=values["instance.findingTypes"],
        min_severity=values["instance.minSeverity"],
        act_on_target=values["instance.actOnTarget"],
        final_action=values["instance.finalAction"],
        auto_scaling=values["instance.autoScaling"],
        untrack_first=values["instance.untrackFirst"],
        forensic_access_cidr=values["instance.forensicAccessCidr"],
        forensic_access_port=values["instance.forensicAccessPort"],
        flow_logs=values["instance.flowLogs"],
        disassociate_elastic_ip=values["instance.disassociateElasticIp"],
        quarantine_instance_profile=values["instance.quarantineInstanceProfile"],
    )
    trail = TrailConfig(
        mode=values["trail.mode"],
        protected_trails=values["trail.protectedTrails"],
        record_interval_minutes=values["trail.recordIntervalMinutes"],
        contain_actor=values["trail.containActor"],
        actor_actions=values["trail.actorActions"],
    )
    risky = RiskyConfig(mode=values["risky.mode"], admin_ports=values["risky.adminPorts"])
    return Config(
        core=core,
        credential=credential,
        health=health,
        monitoring=monitoring,
        instance=instance,
        trail=trail,
        risky=risky,
        raw=dict(values),
    )


def type_matcher(finding_types: tuple[str, ...]) -> list[Any]:
    """EventBridge match values for finding types: exact names or `prefix` for a trailing *."""
    out: list[Any] = []
    for entry in finding_types:
        out.append({"prefix": entry[:-1]} if entry.endswith("*") else entry)
    return out


def reference_table() -> str:
    """Markdown table of every setting, for the README."""
    rows = ["| key | default | allowed | effect |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = json.dumps(list(s.default) if isinstance(s.default, tuple) else s.default)
        rows.append(f"| `{s.key}` | `{default}` | {s.allowed} | {s.doc} |")
    return "\n".join(rows)
