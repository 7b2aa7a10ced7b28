"""Route events through the synthesized rules and run the real handlers in-process.

`dispatch(event)` must run inside the caller's active moto `mock_aws()`: it provisions
the stack's supporting resources if missing, matches the event against every
`AWS::Events::Rule` pattern of the template (with our EventBridge matcher, which,
unlike moto's, matches into arrays of objects), and invokes each target function's
handler with exactly the environment the template gives that function.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gameday import account, capture, guardrails, template
from gameday.patterns import matches

LAMBDAS = template.ROOT / "lambdas"

_BASE_ENV = {
    "AWS_DEFAULT_REGION": account.REGION,
    "AWS_REGION": account.REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_DEV": "false",
}


@dataclass
class FakeContext:
    """The parts of Lambda's context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{account.REGION}:{account.ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class Simulation:
    """One synthesized template and its resources in the simulated account."""

    overrides: dict[str, Any] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)
    physical: dict[str, account.Physical] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.template = template.synthesize(self.overrides)
        self.physical = account.provision(self.template)
        self.rules = template.rules(self.template)
        self.functions = template.functions(self.template)

    def environment(self, function_id: str) -> dict[str, str]:
        env = account.resolve(self.functions[function_id].environment, self.physical)
        return {k: str(v) for k, v in env.items()}

    def resource(self, logical_prefix: str) -> account.Physical:
        """Physical ids of the resource whose logical id starts with `logical_prefix`."""
        for logical_id, physical in self.physical.items():
            if logical_id.startswith(logical_prefix):
                return physical
        raise KeyError(logical_prefix)

    def dispatch(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        return route(self.rules, event, self.invoke)

    def invoke(self, function_id: str, event: Any, *, rule: str = "") -> dict[str, Any]:
        """Run one function's handler in-process with its template environment."""
        # moto evaluates no IAM policy: enforce the role's protected-tag Deny statements.
        guard = guardrails.enforcer(guardrails.deny_statements(self.template, function_id))
        return invoke_handler(
            self.functions[function_id].handler,
            event,
            rule=rule,
            function_id=function_id,
            function_name=self.physical[function_id].ref,
            env={**_BASE_ENV, **self.environment(function_id)},
            hooks=(guard,),
        )


def route(rules: Iterable[Any], event: dict[str, Any], invoke: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """Match `event` against every enabled rule's pattern; one invocation per target function."""
    results = []
    for rule in rules:
        if not rule.enabled or not matches(rule.pattern, event):
            continue
        for function_id in rule.targets:
            results.append(invoke(function_id, event, rule=rule.logical_id))
    return results


def invoke_handler(
    handler_path: str,
    event: Any,
    *,
    rule: str,
    function_id: str,
    function_name: str,
    env: dict[str, str],
    hooks: tuple[Callable[[Any], None], ...] = (),
    unset: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run a handler in-process as Lambda would: its environment, fresh caches, captured output.

    Returns {rule, function, playbook, result, error?, logs, duration_ms}, JSON-serializable.
    """
    module_name, _, attr = handler_path.rpartition(".")
    saved = dict(os.environ)
    output = io.StringIO()
    entry: dict[str, Any] = {"rule": rule, "function": function_id, "playbook": env.get("PLAYBOOK", "")}
    started = time.perf_counter()
    if str(LAMBDAS) not in sys.path:
        sys.path.insert(0, str(LAMBDAS))
    from remediation import clients, settings  # the runtime, as packaged in the asset

    try:
        for name in unset:
            os.environ.pop(name, None)
        os.environ.update(env)
        settings.reset()
        clients.reset()
        for hook in hooks:
            clients.add_hook(hook)
        handler = getattr(importlib.import_module(module_name), attr)
        with capture.handler_output(output):
            entry["result"] = handler(event, FakeContext(function_name=function_name))
    except Exception as exc:  # reported as Lambda would: the error and its type
        entry["error"] = {"type": type(exc).__name__, "message": str(exc), "trace": traceback.format_exc(limit=6)}
        entry["result"] = getattr(exc, "result", None)
    finally:
        for hook in hooks:
            clients.remove_hook(hook)
        os.environ.clear()
        os.environ.update(saved)
        settings.reset()
        clients.reset()  # clients built for one target must not leak into the next run
    entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    entry["logs"] = [_parse(line) for line in output.getvalue().splitlines() if line.strip()]
    return dict(json.loads(json.dumps(entry, default=str)))


def _parse(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return line


_simulations: dict[str, Simulation] = {}


def simulation(overrides: dict[str, Any] | None = None) -> Simulation:
    """The simulation for these overrides in the current mock account (provisioned on first use)."""
    key = json.dumps(overrides or {}, sort_keys=True)
    sim = _simulations.get(key)
    if sim is None or not _still_there(sim):
        sim = Simulation(overrides=dict(overrides or {}))
        _simulations[key] = sim
    return sim


def _still_there(sim: Simulation) -> bool:
    """A new mock_aws() context starts an empty account: re-provision then."""
    import boto3

    topic = next((p.ref for lid, p in sim.physical.items() if lid.startswith("CoreNotifications")), None)
    if topic is None:
        return True
    arns = [t["TopicArn"] for t in boto3.client("sns", region_name=account.REGION).list_topics()["Topics"]]
    return topic in arns


def dispatch(event: dict[str, Any], *, overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Route one event through the synthesized rules; one entry per function invocation."""
    return simulation(overrides).dispatch(event)
