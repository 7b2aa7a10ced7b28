"""`replay --seed`: find the seeder for an event and prepare the simulated account."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# (module, accepts-function name, seed-function name); modules may be absent in a build.
SEEDERS: tuple[tuple[str, str, str], ...] = (
    ("gameday.seeders.credential", "accepts", "seed"),
    ("gameday.seeders.health", "accepts", "seed_alarm_event"),
    ("gameday.seeders.instance", "accepts", "seed"),
    ("gameday.seeders.trail", "accepts", "seed"),
    ("gameday.seeders.risky", "accepts", "seed"),
)


class NoSeeder(LookupError):
    """No seeder knows how to prepare the account for this event."""


def _candidates() -> list[tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], dict[str, Any]]]]:
    out = []
    for module_name, accepts, seed in SEEDERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        if hasattr(module, accepts) and hasattr(module, seed):
            out.append((getattr(module, accepts), getattr(module, seed)))
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
