"""Game days: rehearse incidents offline against an embedded simulated AWS account.

`dispatch(event)` routes an event through the synthesized EventBridge rules and runs the
real handler code, inside the caller's active moto `mock_aws()`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["dispatch", "notifications", "simulation"]


def dispatch(event: dict[str, Any], *, overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    from gameday.simulator import dispatch as _dispatch

    return _dispatch(event, overrides=overrides)


def simulation(overrides: dict[str, Any] | None = None) -> Any:
    from gameday.simulator import simulation as _simulation

    return _simulation(overrides)


def notifications() -> list[dict[str, Any]]:
    from gameday.account import notifications as _notifications

    return _notifications()
