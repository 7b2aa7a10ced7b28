"""Shared fixtures: one event loader, a moto account, the simulator and the synthesized template."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
for _name, _value in {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_METRICS_NAMESPACE": "AutoRemediation",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

EVENTS = Path(__file__).parent / "events"
ACCOUNT = "123456789012"


def load_event(name: str, **replacements: str) -> dict[str, Any]:
    """Load tests/events/<name>.json, replacing placeholder strings (e.g. a key id moto generated).

    Every event EventBridge publishes has its own id, so each load gets a new one; a test
    that means a re-delivery dispatches the same dict again.
    """
    text = (EVENTS / f"{name}.json").read_text()
    for old, new in replacements.items():
        text = text.replace(old, new)
    event = dict(json.loads(text))
    event["id"] = str(uuid.uuid4())
    return event


def fresh(event: dict[str, Any], when: datetime | None = None) -> dict[str, Any]:
    """Move an event's times to now, as if it had just been published."""
    stamp = (when or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    out = copy.deepcopy(event)
    out["time"] = stamp
    detail = out.get("detail")
    if isinstance(detail, dict):
        for key in ("updatedAt", "eventTime"):
            if key in detail:
                detail[key] = stamp
        service = detail.get("service")
        if isinstance(service, dict) and "eventLastSeen" in service:
            service["eventLastSeen"] = stamp
    return out


@pytest.fixture
def aws() -> Iterator[None]:
    """An empty simulated account (moto), with managed policies loaded, and fresh runtime caches."""
    from moto import mock_aws

    from remediation import clients, engine, settings

    with mock_aws(config={"iam": {"load_aws_managed_policies": False}}):
        clients.reset()
        settings.reset()
        saved_sleep = engine.sleep
        engine.sleep = lambda seconds: None
        try:
            yield
        finally:
            engine.sleep = saved_sleep
            clients.reset()
            settings.reset()


@pytest.fixture
def sim(aws: None) -> Any:
    """The simulator for the default configuration, provisioned in the current account."""
    import gameday

    return gameday.simulation()


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """The synthesized template of the default configuration (cdk.json context), cached."""
    from gameday.template import synthesize

    return synthesize()
