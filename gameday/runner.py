"""Run scenarios: fresh account, declared state, events through the rules, expectations, scorecard.

`run_scenario(scenario)` runs in-process against a fresh moto account and the synthesized
template. `run_scenario(scenario, dispatch=stack.dispatch, ...)` sends the same events to
any other target with the same `dispatch(event) -> [invocation results]` shape (a deployed
emulator stack); only the attacker's moves *during* a playbook's wait need the in-process
target, since they replace the runtime's `engine.sleep`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from gameday import account, fidelity, library, template
from gameday.expect import Check, evaluate, observe
from gameday.patterns import matches
from gameday.scenario import Scenario
from gameday.seed import refresh_times
from gameday.timeline import format_event
from gameday.world import ClientFactory, World

Dispatch = Callable[[dict[str, Any]], list[dict[str, Any]]]

# The template's literal placeholder ids (tests/events/README.md) and the reference each becomes
# when a scenario binds the placeholder kind to a declared name with `with:`.
WITH_PLACEHOLDERS: dict[str, tuple[tuple[str, str], ...]] = {
    "user": (("compromised-user", "user"), ("AIDACKCEVSQ6C2EXAMPLE", "user_id")),
    "key": (("AKIAIOSFODNN7EXAMPLE", "key"),),
    "role": (("app-role", "role"), ("AROACKCEVSQ6C2EXAMPLE", "role_id")),
    "instance": (
        ("i-0abc1234def567890", "instance"),
        ("eni-0a1b2c3d4e5f60718", "eni"),
        ("vpc-0a1b2c3d4e5f60718", "vpc"),
        ("subnet-0a1b2c3d4e5f60718", "subnet"),
        ("10.0.1.25", "private_ip"),
    ),
    "sg": (("sg-0a1b2c3d4e5f60718", "sg"),),
    "rule": (("sgr-0123456789abcdef0", "rule"),),
    "trail": (("management-trail", "trail"),),
}

# Context key that turns a playbook off, by PLAYBOOK name (default: "<playbook>.mode").
MODE_KEYS: dict[str, str] = {"risky_change": "risky.mode", "alarm_lifecycle": "monitoring.mode"}


def mode_key(playbook: str) -> str:
    return MODE_KEYS.get(playbook, f"{playbook}.mode")


@dataclass
class StepRecord:
    kind: str  # event | schedule | attack
    title: str
    event: dict[str, Any] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    attacker: list[str] = field(default_factory=list)
    delay: float = 0.0

    def timeline(self) -> str:
        lines = []
        if self.delay:
            lines.append(f"WAIT {self.delay:g} s")
        if self.kind == "attack":
            lines.append("ATTACKER")
            lines += [f"  ! {line}" for line in self.attacker]
            return "\n".join(lines)
        if self.kind == "schedule":
            lines.append(f"SCHEDULE {self.title}")
            lines += [
                format_event(
                    {"detail-type": "Scheduled Event", "source": "aws.events", "id": "-"},
                    self.results,
                    self.notifications,
                ).split("\n", 1)[-1]
            ]
        else:
            lines.append(format_event(self.event or {}, self.results, self.notifications))
        lines += [f"  ! attacker during the wait: {line}" for line in self.attacker]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "delay": self.delay,
            "attacker": self.attacker,
            "event": {k: (self.event or {}).get(k) for k in ("id", "source", "detail-type")},
            "results": [{k: v for k, v in r.items() if k != "logs"} for r in self.results],
            "notifications": self.notifications,
        }


@dataclass
class ScenarioResult:
    name: str
    label: str
    description: str
    status: str  # passed | failed | skipped | error
    reason: str = ""
    checks: list[Check] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    duration_s: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> int:
        return sum(1 for c in self.checks if c.ok)

    @property
    def contain_times(self) -> dict[str, int]:
        """Time to contain (ms) per incident, from the handlers' own measurement."""
        out: dict[str, int] = {}
        for step in self.steps:
            for entry in step.results:
                result = entry.get("result") or {}
                if result.get("incident_id") and result.get("time_to_contain_ms") is not None:
                    out.setdefault(result["incident_id"], int(result["time_to_contain_ms"]))
        return out

    def timeline(self) -> str:
        return "\n".join(step.timeline() for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.label,
            "description": self.description,
            "status": self.status,
            "reason": self.reason,
            "expectations_met": self.met,
            "expectations": len(self.checks),
            "checks": [c.to_dict() for c in self.checks],
            "time_to_contain_ms": self.contain_times,
            "duration_s": round(self.duration_s, 2),
            "config": self.config,
            "steps": [s.to_dict() for s in self.steps],
        }


class Skip(Exception):
    """The scenario cannot run against this target (reported as skipped, not failed)."""


def deployed_playbooks(tmpl: dict[str, Any]) -> set[str]:
    """PLAYBOOK values of the template's functions."""
    return {
        str(f.environment.get("PLAYBOOK")) for f in template.functions(tmpl).values() if f.environment.get("PLAYBOOK")
    }


def routes(tmpl: dict[str, Any], event: dict[str, Any], playbook: str) -> bool:
    functions = template.functions(tmpl)
    return any(
        rule.enabled
        and matches(rule.pattern, event)
        and any(functions[t].environment.get("PLAYBOOK") == playbook for t in rule.targets if t in functions)
        for rule in template.rules(tmpl)
    )


def _lambdas_on_path() -> None:
    lambdas = str(template.ROOT / "lambdas")
    if lambdas not in sys.path:
        sys.path.insert(0, lambdas)


@contextlib.contextmanager
def _instant_waits() -> Iterator[Any]:
    """Propagation waits inside handlers are simulated; yields the runtime's engine module."""
    _lambdas_on_path()
    from remediation import engine

    saved = engine.sleep
    engine.sleep = lambda seconds: None
    try:
        yield engine
    finally:
        engine.sleep = saved


def deep_merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(patch)


def build_event(step: dict[str, Any], world: World, scenario: Scenario) -> dict[str, Any]:
    """The event of one step: template or file, bound to the declared names, patched, stamped now."""
    if "template" in step:
        raw = library.template(step["template"])
    else:
        text = (scenario.path.parent / step["file"]).read_text()
        raw = yaml.safe_load(text)
    text = json.dumps(raw)
    bindings = dict(step.get("with") or {})
    if "key" in bindings and "user" not in bindings:
        bindings["user"] = world.key(bindings["key"]).user
    replacements: list[tuple[str, str]] = []
    for kind, name in bindings.items():
        for literal, ref_kind in WITH_PLACEHOLDERS[kind]:
            with contextlib.suppress(Exception):  # e.g. an instance without a private IP
                replacements.append((literal, world.resolve(ref_kind, name)))
    replacements += [(old, str(world.render(new))) for old, new in (step.get("replace") or {}).items()]
    for old, new in sorted(replacements, key=lambda r: -len(r[0])):
        text = text.replace(old, new)
    event = world.render(json.loads(text))
    if step.get("patch"):
        event = deep_merge(event, world.render(step["patch"]))
    event["id"] = str(uuid.uuid4())  # every delivery is a new EventBridge event
    _scenario_ids(event, world)
    return event if step.get("keep_times") else refresh_times(event)


def _scenario_ids(event: dict[str, Any], world: World) -> None:
    """Findings and API calls of one scenario run get ids of their own.

    The templates share their finding ids; against a deployed stack (one incident table
    for every scenario) a second scenario would otherwise continue the first one's incident
    (a "repeat" with its notification window). Within a scenario the same template keeps
    the same finding id, so a repeated finding stays a repeat.
    """
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return
    salt = world.__dict__.setdefault("_run_salt", uuid.uuid4().hex)
    finding_id = detail.get("id")
    if event.get("source") == "aws.guardduty" and isinstance(finding_id, str) and finding_id:
        new_id = uuid.uuid5(uuid.NAMESPACE_OID, f"{salt}:{finding_id}").hex
        detail["id"] = new_id
        if isinstance(detail.get("arn"), str):
            detail["arn"] = detail["arn"].replace(finding_id, new_id)
    if isinstance(detail.get("eventID"), str):
        detail["eventID"] = str(uuid.uuid4())  # every CloudTrail record has its own id


def scheduled_event(rule_id: str, arn: str = "") -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's targets (`arn`: the rule's, default from its id)."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    arn = arn or f"arn:{account.PARTITION}:events:{account.REGION}:{account.ACCOUNT}:rule/{rule_id}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account.ACCOUNT,
        "time": stamp,
        "region": account.REGION,
        "resources": [arn],
        "detail": {},
    }


class LocalTarget:
    """The in-process simulator: the synthesized template's rules and handlers in a moto account."""

    can_interleave = True

    def __init__(self, overrides: dict[str, Any]) -> None:
        import gameday

        self.sim = gameday.simulation(overrides)
        gameday.notifications()  # start from an empty tap

    def dispatch(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        return self.sim.dispatch(event)

    def notifications(self) -> list[dict[str, Any]]:
        return account.notifications()

    def schedule(self, text: str) -> tuple[list[str], list[dict[str, Any]]]:
        ran, results = [], []
        for rule_id, _, targets in template.scheduled_rules(self.sim.template):
            if text in rule_id:
                ran.append(rule_id)
                results += [self.sim.invoke(t, scheduled_event(rule_id), rule=rule_id) for t in targets]
        return ran, results


Schedule = Callable[[str], tuple[list[str], list[dict[str, Any]]]]
"""Run the scheduled rules whose id contains the text: (rules run, invocation results)."""


class CustomTarget:
    """Any `dispatch(event)` of the simulator's shape, e.g. a deployed emulator stack."""

    can_interleave = False

    def __init__(
        self,
        dispatch: Dispatch,
        notifications: Callable[[], list[dict[str, Any]]] | None,
        schedule: Schedule | None = None,
    ) -> None:
        self.dispatch = dispatch
        self._notifications = notifications
        self._schedule = schedule

    def notifications(self) -> list[dict[str, Any]]:
        return self._notifications() if self._notifications else account.notifications()

    def schedule(self, text: str) -> tuple[list[str], list[dict[str, Any]]]:
        if self._schedule is None:
            raise Skip("scheduled rules can only be run by the in-process simulator")
        return self._schedule(text)


def run_scenario(
    scenario: Scenario,
    dispatch: Dispatch | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    notifications: Callable[[], list[dict[str, Any]]] | None = None,
    clients: ClientFactory | None = None,
    playbooks: set[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    check_requires: bool = True,
    schedule: Schedule | None = None,
    skip: Callable[[Scenario], str | None] | None = None,
) -> ScenarioResult:
    """Run one scenario. `overrides` (e.g. --config) win over the scenario's own `config`.

    `check_requires=False` runs it even without its playbooks (a scenario's state, attacker
    moves and expectations can be rehearsed before its playbook exists; they then fail).
    With `dispatch`, `schedule` runs the target's scheduled rules (without it, a scenario
    with a `schedule` step is skipped) and `skip(scenario)` names why the target cannot run
    a scenario (or None), e.g. a deployed stack whose configuration differs from the
    scenario's `config`.
    """
    started = time.perf_counter()
    config = {**scenario.config, **(overrides or {})}
    result = ScenarioResult(scenario.name, scenario.label, scenario.description, "passed", config=config)
    try:
        base = template.synthesize(overrides or {}) if dispatch is None else None
        available = deployed_playbooks(base) if base is not None else playbooks
        if available is not None and check_requires:
            missing = [p for p in scenario.requires if p not in available]
            if missing:
                raise Skip(f"playbook not deployed: {', '.join(missing)}")
        if dispatch is None:
            tmpl = template.synthesize(config if check_requires else overrides or {})
            for step in scenario.events if check_requires else []:
                if step.get("requires_route") and "template" in step:
                    event = refresh_times(library.template(step["template"]))
                    if not routes(tmpl, event, step["requires_route"]):
                        raise Skip(f"no rule routes {step['template']} to the {step['requires_route']} playbook")
            from moto import mock_aws

            fidelity.apply()
            target_config = config if check_requires else overrides or {}
            with mock_aws(), _instant_waits() as engine:
                _execute(scenario, result, LocalTarget(target_config), World(clients), engine, sleep=sleep)
        else:
            if any(s.get("during_wait") for s in scenario.events):
                raise Skip("attacker actions during the wait need the in-process simulator")
            reason = skip(scenario) if skip is not None else None
            if reason:
                raise Skip(reason)
            target = CustomTarget(dispatch, notifications, schedule)
            _execute(scenario, result, target, World(clients), None, sleep=sleep)
    except Skip as exc:
        result.status, result.reason = "skipped", str(exc)
    except Exception as exc:  # a scenario that cannot run is reported with its cause, the others still run
        result.status = "error"
        result.reason = f"{type(exc).__name__}: {exc}"
        result.checks.append(Check("scenario ran to the end", True, traceback.format_exc(limit=4), False))
    result.duration_s = time.perf_counter() - started
    if result.status == "passed" and not all(c.ok for c in result.checks):
        result.status = "failed"
        result.reason = f"{len(result.checks) - result.met} of {len(result.checks)} expectation(s) not met"
    return result


def _execute(
    scenario: Scenario,
    result: ScenarioResult,
    target: Any,
    world: World,
    engine: Any,
    *,
    sleep: Callable[[float], None],
) -> None:
    world.build(scenario.state)
    target.notifications()  # anything the state build caused is not part of the incident
    before = observe(world)
    all_results: list[dict[str, Any]] = []
    all_notes: list[dict[str, Any]] = []
    for index, step in enumerate(scenario.events):
        delay = float(step.get("delay", 0))
        if delay:
            sleep(delay)
        if "attack" in step:
            record = StepRecord("attack", f"step {index + 1}", delay=delay)
            record.attacker = [world.attack(a) for a in step["attack"]]
            result.steps.append(record)
            continue
        if "schedule" in step:
            ran, invoked = target.schedule(step["schedule"])
            record = StepRecord(
                "schedule",
                ", ".join(ran) or f"no scheduled rule matches {step['schedule']!r}",
                results=invoked,
                delay=delay,
            )
        else:
            event = build_event(step, world, scenario)
            record = StepRecord("event", step.get("template") or step.get("file", ""), event=event, delay=delay)
            if step.get("during_wait"):
                record.results = _dispatch_racing(
                    target, event, step["during_wait"], world, engine, record=record, result=result
                )
            else:
                record.results = target.dispatch(event)
        record.notifications = target.notifications()
        for entry in record.results:
            incident = (entry.get("result") or {}).get("incident_id")
            if incident and incident not in world.incidents:
                world.incidents.append(incident)
        all_results += record.results
        all_notes += record.notifications
        result.steps.append(record)
    after = observe(world)
    result.checks += evaluate(
        scenario.expect, world=world, results=all_results, notifications=all_notes, before=before, after=after
    )


def _dispatch_racing(
    target: Any,
    event: dict[str, Any],
    actions: list[dict[str, Any]],
    world: World,
    engine: Any,
    *,
    record: StepRecord,
    result: ScenarioResult,
) -> list[dict[str, Any]]:
    """Deliver the event; the first propagation wait inside a handler is when the attacker moves."""
    fired: list[float] = []

    def attacker_moves(seconds: float) -> None:
        if not fired:
            fired.append(seconds)
            record.attacker += [world.attack(a) for a in actions]

    saved = engine.sleep
    engine.sleep = attacker_moves
    try:
        results: list[dict[str, Any]] = target.dispatch(event)
    finally:
        engine.sleep = saved
    result.checks.append(Check("the attacker moved during the playbook's wait", True, bool(fired), bool(fired)))
    return results
