"""The built-in library: real-format event templates and scenario files.

Event templates are the repository's real-format fixtures (`tests/events/`, documented in
its README): the simulator is a repository tool, and one set of event files serves the
tests and the game days. A template is named by its path without `.json`, e.g.
`guardduty/credential_user_high`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gameday.template import ROOT

EVENTS_DIR = ROOT / "tests" / "events"
SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"


class UnknownTemplate(LookupError):
    """No event template of that name."""


def templates() -> list[str]:
    """Names of every built-in event template."""
    return sorted(str(p.relative_to(EVENTS_DIR).with_suffix("")) for p in EVENTS_DIR.rglob("*.json"))


def template(name: str) -> dict[str, Any]:
    path = EVENTS_DIR / f"{name}.json"
    if not path.is_file() or EVENTS_DIR not in path.resolve().parents:
        close = [t for t in templates() if name.rsplit("/", 1)[-1] in t]
        raise UnknownTemplate(f"no event template {name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    return dict(json.loads(path.read_text()))


def describe(name: str) -> str:
    """One line: detail-type and the most telling field of the template."""
    event = template(name)
    detail = event.get("detail") or {}
    what = (
        detail.get("type")
        or detail.get("eventName")
        or detail.get("eventTypeCode")
        or detail.get("alarmName")
        or detail.get("state", "")
    )
    return f"{event.get('detail-type', '?')}: {what}"


def scenario_files() -> list[Path]:
    """The built-in scenarios, in a stable order."""
    return sorted(SCENARIOS_DIR.rglob("*.yaml"))
