"""Readable timelines of dispatched events, shared by `replay` and `run`."""

from __future__ import annotations

import re
from typing import Any

MARK = {"succeeded": "+", "already_done": "=", "failed": "!", "planned": "~", "skipped": "-"}


def _short(logical_id: str) -> str:
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)


def format_event(event: dict[str, Any], results: list[dict[str, Any]], notifications: list[dict[str, Any]]) -> str:
    lines = [f"EVENT {event.get('detail-type', '?')} from {event.get('source', '?')} (id {event.get('id', '?')})"]
    if not results:
        lines.append("  no rule matched: nothing invoked")
    for entry in results:
        lines.append(
            f"  rule {_short(entry['rule'])} -> function {_short(entry['function'])} "
            f"[{entry.get('playbook', '')}] {entry.get('duration_ms', 0):.0f} ms"
        )
        result = entry.get("result") or {}
        if result:
            decision = result.get("decision", "?")
            reason = f" ({result['reason']})" if result.get("reason") else ""
            incident = f"  incident {result['incident_id']}" if result.get("incident_id") else ""
            lines.append(f"    decision: {decision}{reason}{incident}")
            for step in result.get("steps", []):
                mark = MARK.get(step["status"], "?")
                code = f" [{step['error_code']}]" if step.get("error_code") else ""
                lines.append(
                    f"    {mark} {step['action']:<28} {step['status']:<12} {step.get('duration_ms', 0):>5} ms  "
                    f"{step['target']}{code}"
                )
                if step.get("detail"):
                    lines.append(f"        {step['detail'][:160]}")
            if result.get("time_to_contain_ms") is not None:
                lines.append(f"    contained {result['time_to_contain_ms']} ms after the handler started")
        if entry.get("error"):
            lines.append(f"    ERROR {entry['error']['type']}: {entry['error']['message'][:300]}")
    for note in notifications:
        lines.append(f"  notified: {note['subject']}")
    return "\n".join(lines)
