"""Function settings from environment variables, validated at cold start.

The stack writes these from the typed CDK config; they are checked again here because a
hand-edited function configuration must fail loudly, not act on a wrong value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MODES = ("off", "notify", "dry_run", "enforce")


class SettingsError(RuntimeError):
    """The function's environment is missing a variable or holds an impossible value."""


@dataclass(frozen=True)
class Settings:
    playbook: str
    mode: str
    stack_name: str
    name_prefix: str
    protected_tag_key: str
    protected_tag_value: str
    principal_allow_list: tuple[str, ...]
    incident_table: str
    evidence_bucket: str
    topic_arn: str
    options: Mapping[str, Any] = field(default_factory=dict)
    # Reliability (defaults keep hand-built settings in tests working).
    timeout_seconds: float = 60.0
    breaker_limit: int = 20
    breaker_window_minutes: int = 60
    repeat_notify_minutes: int = 60

    @property
    def account(self) -> str:
        """The account this deployment acts on (the topic lives in it)."""
        parts = self.topic_arn.split(":")
        return parts[4] if len(parts) > 5 else ""

    def option(self, name: str) -> Any:
        try:
            return self.options[name]
        except KeyError as exc:
            raise SettingsError(f"PLAYBOOK_CONFIG lacks {name!r}") from exc


_REQUIRED = (
    "PLAYBOOK",
    "MODE",
    "STACK_NAME",
    "NAME_PREFIX",
    "PROTECTED_TAG_KEY",
    "INCIDENT_TABLE",
    "EVIDENCE_BUCKET",
    "TOPIC_ARN",
)


def _json(env: Mapping[str, str], name: str, kind: type, default: Any) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name} is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, kind):
        raise SettingsError(f"{name} must be a JSON {kind.__name__}, got {type(value).__name__}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"\d{1,6}", raw) or not low <= int(raw) <= high:
        raise SettingsError(f"{name}={raw!r} is not an integer from {low} to {high}")
    return int(raw)


def load(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    missing = [name for name in _REQUIRED if not env.get(name)]
    if missing:
        raise SettingsError(f"missing environment variable(s): {', '.join(missing)}")
    mode = env["MODE"]
    if mode not in MODES:
        raise SettingsError(f"MODE={mode!r} is not one of {', '.join(MODES)}")
    if not env["TOPIC_ARN"].startswith("arn:"):
        raise SettingsError(f"TOPIC_ARN={env['TOPIC_ARN']!r} is not an ARN")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,23}", env["NAME_PREFIX"]):
        raise SettingsError(f"NAME_PREFIX={env['NAME_PREFIX']!r} is not a valid prefix")
    allow = _json(env, "PRINCIPAL_ALLOW_LIST", list, [])
    if not all(isinstance(a, str) for a in allow):
        raise SettingsError("PRINCIPAL_ALLOW_LIST must be a list of ARNs")
    return Settings(
        playbook=env["PLAYBOOK"],
        mode=mode,
        stack_name=env["STACK_NAME"],
        name_prefix=env["NAME_PREFIX"],
        protected_tag_key=env["PROTECTED_TAG_KEY"],
        protected_tag_value=env.get("PROTECTED_TAG_VALUE", ""),
        principal_allow_list=tuple(allow),
        incident_table=env["INCIDENT_TABLE"],
        evidence_bucket=env["EVIDENCE_BUCKET"],
        topic_arn=env["TOPIC_ARN"],
        options=_json(env, "PLAYBOOK_CONFIG", dict, {}),
        timeout_seconds=float(_int(env, "FUNCTION_TIMEOUT", 60, 1, 900)),
        breaker_limit=_int(env, "BREAKER_LIMIT", 20, 0, 100000),
        breaker_window_minutes=_int(env, "BREAKER_WINDOW_MINUTES", 60, 1, 10080),
        repeat_notify_minutes=_int(env, "REPEAT_NOTIFY_MINUTES", 60, 0, 10080),
    )


_current: Settings | None = None


def current() -> Settings:
    """Settings of this function, loaded once per cold start."""
    global _current
    if _current is None:
        _current = load()
    return _current


def reset() -> None:
    """Forget the cached settings (the simulator runs several functions in one process)."""
    global _current
    _current = None
