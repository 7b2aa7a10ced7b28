"""`replay --seed`: find the seeder for an event and prepare the simulated account."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def _detail(event: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail")
    return detail if isinstance(detail, dict) else {}


def _guardduty(resource_type: str) -> Callable[[dict[str, Any]], bool]:
    def accepts(event: dict[str, Any]) -> bool:
        resource = _detail(event).get("resource") or {}
        return event.get("source") == "aws.guardduty" and resource.get("resourceType") == resource_type

    return accepts


def _health_ec2(event: dict[str, Any]) -> bool:
    if event.get("source") == "aws.cloudwatch":
        return event.get("detail-type") == "CloudWatch Alarm State Change"
    return event.get("source") == "aws.health" and _detail(event).get("service") == "EC2"


def _credentials_exposed(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.health" and _detail(event).get("eventTypeCode") == "AWS_RISK_CREDENTIALS_EXPOSED"


def _trail(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.cloudtrail" and _detail(event).get("eventSource") == "cloudtrail.amazonaws.com"


def _risky(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.signin" or (
        event.get("source") == "aws.ec2" and _detail(event).get("eventName") == "AuthorizeSecurityGroupIngress"
    )


# (predicate, module, seed-function name); a module may be absent in a build.
SEEDERS: tuple[tuple[Callable[[dict[str, Any]], bool], str, str], ...] = (
    (_guardduty("AccessKey"), "gameday.seeders.credential", "seed"),
    (_credentials_exposed, "gameday.seeders.credential", "seed_exposed_key"),
    (_health_ec2, "gameday.seeders.health", "seed_alarm_event"),
    (_guardduty("Instance"), "gameday.seeders.instance", "seed"),
    (_trail, "gameday.seeders.trail", "seed"),
    (_risky, "gameday.seeders.risky", "seed"),
)


class NoSeeder(LookupError):
    """No seeder knows how to prepare the account for this event."""


def _candidates() -> list[tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], dict[str, Any]]]]:
    out = []
    for accepts, module_name, seed in SEEDERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        if hasattr(module, seed):
            out.append((accepts, getattr(module, seed)))
    return out


def seed(event: dict[str, Any]) -> dict[str, Any]:
    """Create what the event names, rewrite generated ids into it, and move its times to now."""
    for accepts, seeder in _candidates():
        if accepts(event):
            return refresh_times(seeder(event))
    raise NoSeeder(f"no seeder for source={event.get('source')!r} detail-type={event.get('detail-type')!r}")


def refresh_times(event: dict[str, Any]) -> dict[str, Any]:
    """An event replayed now happened now: finding and envelope times follow."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    out = dict(event)
    out["time"] = stamp
    detail = out.get("detail")
    if isinstance(detail, dict):
        detail = dict(detail)
        for key in ("updatedAt", "eventTime"):
            if key in detail:
                detail[key] = stamp
        service = detail.get("service")
        if isinstance(service, dict) and "eventLastSeen" in service:
            detail["service"] = {**service, "eventLastSeen": stamp}
        out["detail"] = detail
    return out
