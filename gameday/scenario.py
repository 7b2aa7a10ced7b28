"""Scenario files: YAML, validated against `scenario.schema.json`, then cross-checked by name.

A malformed scenario fails with one message naming the file, the line, the path inside it
(`events[0].with.key`) and what was expected there, so a team writing its own scenario
from the documentation alone is never left guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gameday import library

SCHEMA_PATH = Path(__file__).resolve().parent / "scenario.schema.json"
WITH_KINDS = {"user": "users", "role": "roles", "instance": "instances", "sg": "security_groups", "trail": "trails"}


class ScenarioError(ValueError):
    """The scenario file is malformed: the message names file, path and expectation."""


@dataclass
class Scenario:
    path: Path
    name: str
    description: str
    events: list[dict[str, Any]]
    expect: dict[str, Any]
    requires: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        try:
            return str(self.path.relative_to(library.SCENARIOS_DIR))
        except ValueError:
            return str(self.path)


_schema: dict[str, Any] | None = None


def schema() -> dict[str, Any]:
    global _schema
    if _schema is None:
        _schema = json.loads(SCHEMA_PATH.read_text())
    return _schema


def _path_text(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line(text: str, parts: list[Any]) -> int | None:
    """1-based line of the node at `parts` in the YAML text (or of its closest parent)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node.value[part]
        else:
            found = None
        if found is None:
            break
        node, line = found, found.start_mark.line + 1
    return line


def _expected(error: jsonschema.ValidationError) -> str:
    """What the schema wanted at the failing place, in words."""
    validator: Any = error.validator
    value: Any = error.validator_value
    schema_part: Any = error.schema if isinstance(error.schema, dict) else {}
    if validator == "additionalProperties" and isinstance(schema_part, dict):
        allowed = sorted(schema_part.get("properties", {}))
        return f"only these keys: {', '.join(allowed)}" if allowed else "no other keys"
    if validator == "propertyNames" and isinstance(value, dict) and "enum" in value:
        return f"one of: {', '.join(value['enum'])}"
    if validator == "enum":
        return f"one of: {', '.join(map(str, value))}"
    if validator == "type":
        return f"a value of type {value if isinstance(value, str) else ' or '.join(value)}"
    if validator == "required":
        return f"the keys {', '.join(value)}"
    if validator in ("oneOf", "anyOf") and isinstance(schema_part, dict) and schema_part.get("description"):
        return str(schema_part["description"])
    if validator == "pattern":
        return f"text matching {value}" + (f" ({schema_part['description']})" if schema_part.get("description") else "")
    description = schema_part.get("description") if isinstance(schema_part, dict) else None
    return description or f"{validator} {json.dumps(value)}"


def _fail(path: Path, text: str, parts: list[Any], message: str, expected: str) -> ScenarioError:
    line = _line(text, parts)
    where = f"{path}:{line}" if line else str(path)
    return ScenarioError(f"{where}: at {_path_text(parts)}: {message}; expected {expected}")


def load(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ScenarioError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    validator = jsonschema.Draft202012Validator(schema())
    errors = list(validator.iter_errors(raw))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        # Inside a oneOf/anyOf, a deeper sub-error says what is really wrong; a missing
        # alternative ("template is required") would mislead, so the choice itself is reported.
        while error.context:
            inner = jsonschema.exceptions.best_match(error.context)
            if inner.validator == "required" and len(inner.absolute_path) <= len(error.absolute_path):
                break
            error = inner
        message = error.message
        if error.validator in ("oneOf", "anyOf"):
            several = "valid under each of" in message
            message = "matches more than one of the allowed forms" if several else "matches none of the allowed forms"
        raise _fail(path, text, list(error.absolute_path), message, _expected(error))
    scenario = Scenario(
        path=path,
        name=raw["name"],
        description=raw["description"].strip(),
        events=raw["events"],
        expect=raw["expect"],
        requires=list(raw.get("requires", [])),
        config=dict(raw.get("config") or {}),
        state=dict(raw.get("state") or {}),
    )
    _cross_check(scenario, text)
    return scenario


def _declared(scenario: Scenario) -> dict[str, list[str]]:
    state = scenario.state
    users = state.get("users") or {}
    keys = []
    for name, spec in users.items():
        count = (spec or {}).get("access_keys", 1)
        keys += [f"{name}#{i}" for i in range(count if isinstance(count, int) else len(count))]
    rules = []
    for group, spec in (state.get("security_groups") or {}).items():
        for direction in ("ingress", "egress"):
            rules += [
                r.get("name") or f"{group}-{direction}-{i}" for i, r in enumerate((spec or {}).get(direction) or [])
            ]
    for step in scenario.events:
        for attack in [*(step.get("attack") or []), *(step.get("during_wait") or [])]:
            ((action, args),) = attack.items()
            args = args or {}
            if action == "create_access_key" and "user" in args:
                user = args["user"]
                keys.append(f"{user}#{args.get('as') or sum(1 for k in keys if k.startswith(user + '#'))}")
            if action == "authorize_ingress" and "as" in args:
                rules.append(args["as"])
    names = {kind: list(state.get(kind) or {}) for kind in ("roles", "instances", "security_groups", "trails")}
    return {"users": list(users), "keys": keys, "rules": rules, **names}


def _cross_check(scenario: Scenario, text: str) -> None:
    """Names used by events and expectations must be declared; templates and files must exist."""
    declared = _declared(scenario)
    path = scenario.path

    def need(kind: str, name: str, parts: list[Any]) -> None:
        known = declared[kind]
        if kind == "keys":
            name = name if "#" in name else f"{name}#0"
        if name not in known:
            raise _fail(
                path,
                text,
                parts,
                f"{name!r} is not declared",
                f"one of the declared {kind.replace('_', ' ')}: {', '.join(known) or 'none'}",
            )

    for index, step in enumerate(scenario.events):
        if "template" in step:
            try:
                library.template(step["template"])
            except library.UnknownTemplate as exc:
                raise _fail(
                    path, text, ["events", index, "template"], str(exc), "a template listed by `python -m gameday list`"
                ) from exc
        if "file" in step and not (path.parent / step["file"]).is_file():
            raise _fail(
                path,
                text,
                ["events", index, "file"],
                f"no file {path.parent / step['file']}",
                "a path relative to the scenario file",
            )
        for kind, name in (step.get("with") or {}).items():
            if kind == "key":
                need("keys", name, ["events", index, "with", kind])
            elif kind == "rule":
                need("rules", name, ["events", index, "with", kind])
            else:
                need(WITH_KINDS[kind], name, ["events", index, "with", kind])
    expect = scenario.expect
    for section, kind in (
        ("keys", "keys"),
        ("users", "users"),
        ("roles", "roles"),
        ("instances", "instances"),
        ("rules", "rules"),
        ("trails", "trails"),
        ("alarms", "instances"),
    ):
        for name in expect.get(section) or {}:
            need(kind, name, ["expect", section, name])
