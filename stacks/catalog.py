"""Bridge to the runtime's action registry: what each playbook may do, as IAM permissions.

The Lambda asset (`lambdas/`) declares per action the IAM actions it calls; the stack
reads those declarations here so that a role holds exactly what its actions need.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

LAMBDAS = Path(__file__).resolve().parent.parent / "lambdas"
if str(LAMBDAS) not in sys.path:
    sys.path.insert(0, str(LAMBDAS))

from remediation.actions import REGISTRY  # noqa: E402
from remediation.actions.base import RECORD_PERMISSIONS, Permission  # noqa: E402

__all__ = ["LAMBDAS", "REGISTRY", "RECORD_PERMISSIONS", "Permission", "permissions_for"]


def permissions_for(actions: Iterable[str]) -> list[Permission]:
    """Declared permissions of the named actions, plus the shared record/notify ones."""
    out: list[Permission] = []
    for name in actions:
        if name not in REGISTRY:
            raise KeyError(f"unknown action {name!r}; registered: {', '.join(sorted(REGISTRY))}")
        out.extend(REGISTRY[name].permissions)
    out.extend(RECORD_PERMISSIONS)
    return out
