"""Faults at every AWS call of every playbook, for every fixture the synthesized rules route.

Discovery is generic: each (fixture in tests/events/, function its rules target) pair is a
case, so a new playbook and its fixtures are covered when merged. For each case a clean run
records the handler's calls (and the step each belongs to); then, each time against fresh
copies of the fixture's resources, the first call of every (service, operation, step) fails with
throttling, AccessDenied, a missing resource or a timeout (as after botocore's retries).

Invariants checked after every injected fault:
- the handler raises nothing but `RemediationFailed` (its designed failure signal);
- the failure is visible: a step records the AWS error code, or the engine logged it;
- a failed step makes the incident partial, names the step in the notification and raises,
  so Lambda's retries and then the on-failure queue take over;
- containment is not skipped because another step failed (a destructive containment step
  whose circuit-breaker count could not be taken fails closed, as designed).

Each fault runs against fresh copies of what the fixture names (`gameday.placeholders`:
users, keys, roles, instances with their alarms, trails with their recorded configuration,
security groups with the rules the call created), under fresh event, finding and record ids,
so every run is a first delivery of a new incident.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from gameday import calls, placeholders, template
from gameday.patterns import matches
from tests.conftest import EVENTS, fresh

DONE = ("succeeded", "already_done")


def _cases() -> list[Any]:
    tpl = template.synthesize()
    rules = template.rules(tpl)
    out = []
    for path in sorted(EVENTS.rglob("*.json")):
        event = json.loads(path.read_text())
        for rule in rules:
            if rule.enabled and matches(rule.pattern, event):
                for function_id in rule.targets:
                    name = str(path.relative_to(EVENTS).with_suffix(""))
                    out.append(pytest.param(name, function_id, id=f"{name}->{function_id}"))
    return out


CASES = _cases()


@contextmanager
def account() -> Iterator[Any]:
    """A fresh simulated account with the stack provisioned, retries without back-off."""
    from botocore.retries import standard
    from moto import mock_aws

    import gameday
    from remediation import clients, engine, settings

    saved_sleep, saved_delay = engine.sleep, standard.ExponentialBackoff.delay_amount
    engine.sleep = lambda seconds: None
    standard.ExponentialBackoff.delay_amount = lambda self, context: 0  # type: ignore[method-assign]
    try:
        with mock_aws():
            clients.reset()
            settings.reset()
            yield gameday.simulation()
    finally:
        engine.sleep, standard.ExponentialBackoff.delay_amount = saved_sleep, saved_delay  # type: ignore[method-assign]
        clients.reset()
        settings.reset()


def _run(
    sim: Any, fixture: str, function_id: str, faults: list[calls.Fault], tag: str = ""
) -> tuple[dict[str, Any], calls.Recorder]:
    text = (EVENTS / f"{fixture}.json").read_text()
    event = fresh(placeholders.instance(text, tag=tag))
    _reset_breaker(sim, function_id)
    recorder = calls.Recorder(faults=faults)
    with recorder.active():
        entry = sim.invoke(function_id, event)
    return entry, recorder


def _reset_breaker(sim: Any, function_id: str) -> None:
    """Each run is an independent incident: the account's destructive-action count starts afresh.

    (Dozens of runs in one simulated account would otherwise open the circuit breaker, and
    every destructive step after it would be skipped by design, not because of the fault.)
    """
    import boto3

    db = boto3.client("dynamodb", region_name="us-east-1")
    table = sim.environment(function_id)["INCIDENT_TABLE"]
    found = db.scan(
        TableName=table,
        FilterExpression="begins_with(pk, :breaker)",
        ExpressionAttributeValues={":breaker": {"S": "BREAKER#"}},
    )["Items"]
    for item in found:
        db.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})


def _targets(recorder: calls.Recorder) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []
    for call in recorder.calls:
        key = (call.service, call.operation, call.step)
        if key not in seen:
            seen.append(key)
    return seen


def _visible(entry: dict[str, Any], code: str) -> bool:
    result = entry.get("result") or {}
    for step in result.get("steps", []):
        if step.get("error_code") == code or code in (step.get("detail") or ""):
            return True
    if any(f"({code})" in w for w in result.get("warnings", [])):
        return True
    for line in entry.get("logs", []):
        if isinstance(line, dict) and line.get("level") in ("ERROR", "WARNING") and line.get("error_code") == code:
            return True
    return False


def _incident(sim: Any, function_id: str, incident_id: str) -> dict[str, Any]:
    import boto3

    table = sim.environment(function_id)["INCIDENT_TABLE"]
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=table, Key={"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "META"}}
    )
    return dict(item.get("Item", {}))


@pytest.mark.parametrize("kind", calls.FAULT_KINDS)
@pytest.mark.parametrize(("fixture", "function_id"), CASES)
def test_fault_at_every_call(fixture: str, function_id: str, kind: str) -> None:
    import gameday

    with account() as sim:
        baseline, recorded = _run(sim, fixture, function_id, [], tag="-base")
        assert baseline.get("error") is None, baseline.get("error")
        base_steps = (baseline.get("result") or {}).get("steps", [])
        contained = [s["action"] for s in base_steps if s["status"] in DONE and _is_containment(s["action"])]

        checked = 0
        for i, (service, operation, step) in enumerate(_targets(recorded)):
            fault = calls.Fault(service, operation, step, kind)
            gameday.notifications()  # drain
            entry, _ = _run(sim, fixture, function_id, [fault], tag=f"-{i}")
            where = f"{kind} at {service}:{operation} in {step or 'engine'}"
            if not fault.fired:
                continue  # the path changed before reaching this call (e.g. an earlier guard)
            checked += 1
            error = entry.get("error")
            assert error is None or error["type"] == "RemediationFailed", f"{where}: raised {error}"
            result = entry.get("result") or {}
            if kind != "NotFound":
                assert _visible(entry, fault.code), f"{where}: failure not recorded or logged"
            failed = [s for s in result.get("steps", []) if s["status"] == "failed"]
            if failed:
                assert error is not None and error["type"] == "RemediationFailed", where
                assert result["decision"] == "partial", where
                item = _incident(sim, function_id, result["incident_id"])
                if item and (service, operation) not in (("dynamodb", "PutItem"), ("sns", "Publish")):
                    assert item["status"]["S"] == "partial", where
                if (service, operation) != ("sns", "Publish"):
                    messages = [n["message"] for n in gameday.notifications()]
                    assert any(all(s["action"] in m for s in failed) for m in messages), where
            guard_failed = step and not _is_mutating(step) and _is_repeatable(step)
            if not guard_failed:
                now = {s["action"]: s for s in result.get("steps", [])}
                for action in contained:
                    if action == step or _breaker_failed_closed(now.get(action), service, step):
                        continue
                    status = (now.get(action) or {}).get("status")
                    assert status in DONE, f"{where}: containment {action} is {status}"
    assert checked or not recorded.calls


def _breaker_failed_closed(record: dict[str, Any] | None, service: str, step: str) -> bool:
    """A destructive step refused because the circuit breaker's counter (DynamoDB) failed: fail closed."""
    return (
        record is not None
        and (service, step) == ("dynamodb", "")
        and record["status"] == "failed"
        and record["detail"].startswith("circuit breaker unavailable")
    )


def _is_containment(action: str) -> bool:
    from remediation.actions import REGISTRY

    return action in REGISTRY and REGISTRY[action].containment


def _is_mutating(action: str) -> bool:
    from remediation.actions import REGISTRY

    return action in REGISTRY and REGISTRY[action].mutating


def _is_repeatable(action: str) -> bool:
    from remediation.actions import REGISTRY

    return action in REGISTRY and REGISTRY[action].repeatable


def test_cases_cover_every_playbook_function() -> None:
    """Every playbook function of the template is reached by at least one fixture."""
    functions = set(template.functions(template.synthesize()))
    covered = {case.values[1] for case in CASES}
    assert functions <= covered, f"functions without a routed fixture: {sorted(functions - covered)}"


def test_discovery_sees_the_fixtures() -> None:
    assert Path(EVENTS).is_dir() and CASES
