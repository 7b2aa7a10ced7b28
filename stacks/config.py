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
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MODES = ("off", "notify", "dry_run", "enforce")

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    2557, 2922, 3288, 3653,
)  # fmt: skip

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

_KEY_SHAPE = re.compile(r"^[a-z][a-zA-Z0-9]*\.[a-zA-Z0-9.]+$")
_FINDING_TYPE = re.compile(r"^[A-Za-z0-9:/!.&_-]+\*?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
_TAG = re.compile(r"^[\w.:/=+@ -]{1,128}=[\w.:/=+@ -]{0,256}$")
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}|\*):[\w+=,.@/*-]+$")


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
    Setting("core.namePrefix", text(_PREFIX, "lowercase letters, digits and '-', 1-24 chars, starting with a letter"),
            "autoremediation", "Prefix of names the stack creates (alarms, isolation groups, quarantine policies)."),
    Setting("core.protectedTag", text(_TAG, "a tag written Key=Value"), "AutoRemediation=skip",
            "Resources and principals carrying this tag are never acted on; they are only notified."),
    Setting("core.principalAllowList", list_of(text(_PRINCIPAL_ARN, "an IAM or STS ARN (* allowed as a glob)")), (),
            "ARNs of principals that are never touched (break-glass users and roles). Globs with * allowed."),
    Setting("core.notificationEmails", list_of(text(_EMAIL, "an e-mail address")), (),
            "E-mail addresses subscribed to the notification topic (each must confirm the subscription)."),
    Setting("core.logRetentionDays", integer(1, 3653, only=LOG_RETENTION_DAYS), 365,
            "Retention of every function's log group, in days."),
    Setting("core.powertoolsLayerVersion", integer(1, 1000), 27,
            "Version of the AWS-managed Powertools for AWS Lambda (Python) v3 layer "
            "(AWSLambdaPowertoolsPythonV3-python313-x86_64)."),
    Setting("core.evidenceRetentionDays", integer(1, 3650), 365,
            "Days the evidence bucket keeps objects before expiring them (versions included)."),
    Setting("core.retainData", boolean, True,
            "Keep the evidence bucket, incident table, key and log groups when the stack is destroyed."),
    Setting("core.reservedConcurrency", integer(1, 100), 5,
            "Reserved concurrency of each playbook function: bounds the API call rate of a burst."),
    Setting("core.breakerLimit", integer(0, 10000), 20,
            "Circuit breaker: at most this many destructive actions (stop, terminate, isolate, detach, remove "
            "access) per account per window, counted atomically in the incident table; past it playbooks only "
            "notify, and one alert is sent. 0 turns every destructive step into notify-only."),
    Setting("core.breakerWindowMinutes", integer(1, 10080), 60,
            "Length of the circuit breaker's window, in minutes."),
    Setting("core.repeatNotifyMinutes", integer(0, 10080), 60,
            "A finding that repeats without changing its incident's status notifies at most once per this many "
            "minutes."),
    # credential playbook
    Setting("credential.mode", mode, "enforce",
            "off: ignore; notify: only notify; dry_run: record what would be done; enforce: act."),
    Setting("credential.findingTypes", list_of(finding_type, min_items=1), DEFAULT_CREDENTIAL_FINDING_TYPES,
            "GuardDuty finding types (on AccessKey resources) routed to the playbook; a trailing * makes a prefix."),
    Setting("credential.minSeverity", number(0, 10), 7.0,
            "Minimum GuardDuty severity acted on (7 = High, 4 = Medium)."),
    Setting("credential.actions", list_of(credential_action, min_items=1), DEFAULT_CREDENTIAL_ACTIONS,
            "Containment steps for an IAM user, in order. Assumed roles only get revoke_sessions; root is notify-only."),
    Setting("credential.actionsByFindingType", mapping_of(finding_type, list_of(credential_action, min_items=1)), {},
            "Per finding type (trailing * = prefix) the steps to run instead of credential.actions; first match wins."),
    Setting("credential.recheckSeconds", integer(0, 60), 5,
            "Seconds to wait before re-checking for keys and login profiles the attacker created meanwhile."),
    Setting("credential.cloudtrailLookbackHours", integer(1, 2160), 24,
            "How far back to look up the key's CloudTrail events for the evidence bucket."),
)  # fmt: skip

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
class Config:
    core: CoreConfig
    credential: CredentialConfig
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
        raise ConfigError(
            "unknown context key(s): " + ", ".join(hints) + "; known keys: " + ", ".join(SETTINGS_BY_KEY)
        )
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
    return Config(core=core, credential=credential, raw=dict(values))


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
